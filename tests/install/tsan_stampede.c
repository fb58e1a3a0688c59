/*
 * tsan_stampede.c — a correct program, built with -fsanitize=thread against
 * the installed (uninstrumented) engine: every round, THREADS threads call
 * sf_do on one key at once. The leader's work writes a plain (non-atomic)
 * record that the followers read once sf_do has returned, every caller reads
 * the shared value bytes, and each caller releases its reference on its own
 * thread, so the last release (the free) happens on any of them.
 *
 * Every ordering the program relies on is made by the engine: the work's
 * completion happens before every follower's sf_do returns, and a buffer is
 * freed after every reference is released. ThreadSanitizer cannot see the
 * engine's atomics, so without the engine's suppressions file it reports
 * those orderings as data races. install/run.sh runs this program with
 * TSAN_OPTIONS=suppressions=<datadir>/singleflight/tsan.supp and expects no
 * report, and without the file and expects the reports (so that the test
 * proves the file is what silences them).
 *
 *   cc -fsanitize=thread -g tsan_stampede.c $(pkg-config --cflags --libs singleflight) -pthread
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <singleflight.h>

#define THREADS 8
#define ROUNDS 20

struct record {
  int round;
  char text[32];
};

static sf_group *group;
static pthread_barrier_t start_line;
static struct record produced[ROUNDS]; /* written by each round's leader, plainly */
static int runs[ROUNDS];               /* likewise: the work ran once per round */
static const struct timespec pause_1ms = {0, 1000000L};
static int bad; /* only main() writes it */

static sf_status produce(void *userdata, sf_bytes **value, sf_bytes **error) {
  struct record *r = userdata;
  int round = (int)(r - produced);
  sf_stats stats;
  int waited = 0;
  (void)error;
  runs[round]++;
  /* The flight stays open until the round's other callers have joined it
   * (bounded: a caller that came late starts a flight of its own). */
  while (sf_group_stats(group, &stats, sizeof stats) == SF_OK &&
         stats.followers < (unsigned long long)(round + 1) * (THREADS - 1) && waited++ < 2000)
    nanosleep(&pause_1ms, NULL);
  r->round = round;
  snprintf(r->text, sizeof r->text, "round %d", round);
  *value = sf_bytes_new(r->text, strlen(r->text) + 1);
  return *value ? SF_OK : SF_ENOMEM;
}

struct caller {
  pthread_t thread;
  int wrong;
};

static void *request(void *arg) {
  struct caller *c = arg;
  int round;
  for (round = 0; round < ROUNDS; round++) {
    sf_result res;
    sf_status s;
    pthread_barrier_wait(&start_line);
    s = sf_do(group, "k", 1, produce, &produced[round], &res);
    if (s != SF_OK || !res.value || produced[round].round != round ||
        strcmp(sf_bytes_data(res.value), produced[round].text) != 0)
      c->wrong++;
    sf_bytes_release(res.value);
    sf_bytes_release(res.error);
    pthread_barrier_wait(&start_line); /* the round is over for everyone */
  }
  return NULL;
}

int main(void) {
  struct caller callers[THREADS];
  int i, flights = 0;
  group = sf_group_new();
  if (!group) return 1;
  pthread_barrier_init(&start_line, NULL, THREADS);
  for (i = 0; i < THREADS; i++) {
    callers[i].wrong = 0;
    if (pthread_create(&callers[i].thread, NULL, request, &callers[i]) != 0) return 1;
  }
  for (i = 0; i < THREADS; i++) {
    pthread_join(callers[i].thread, NULL);
    bad += callers[i].wrong;
  }
  for (i = 0; i < ROUNDS; i++) flights += runs[i];
  sf_group_release(group);
  pthread_barrier_destroy(&start_line);
  printf("tsan_stampede: %d threads x %d rounds, %d runs of the work, %d wrong results\n", THREADS,
         ROUNDS, flights, bad);
  return bad != 0 || flights < ROUNDS;
}
