/*
 * stampede.c — the cache stampede that singleflight exists for.
 *
 * A popular cache entry ("user:42") has just expired. A thousand request
 * threads miss it at the same moment and each goes to the database for it.
 * Without help that is a thousand identical queries. With sf_do on one
 * group, exactly one thread (the leader) runs the query; the other 999
 * (followers) wait for it and receive the very same result bytes: one
 * buffer, each with a reference of its own.
 *
 * The program checks what it prints and exits non-zero if any of it is false:
 *   - the database was queried once;
 *   - every caller got SF_OK and the row;
 *   - every caller was told the result was shared (result.shared);
 *   - every caller saw the same data pointer (no copies).
 *
 * Build and run (Meson registers it as a test in the suite 'examples'):
 *   ninja -C build && ./build/examples/stampede
 * or against an installed engine:
 *   cc -std=c99 stampede.c $(pkg-config --cflags --libs singleflight) -pthread
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <singleflight.h>

#define CALLERS 1000
#define QUERY_MS 50

/* ---------------------------------------------------------------------- */
/* The "database": slow, and it counts its queries.                        */
/* ---------------------------------------------------------------------- */

static pthread_mutex_t db_lock = PTHREAD_MUTEX_INITIALIZER;
static int db_queries = 0;

static sf_group *cache_group; /* one group: every request thread uses it */

static void sleep_ms(long ms) {
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (ms % 1000) * 1000000L;
  nanosleep(&ts, NULL);
}

/* The work given to sf_do: query the database for the row. It runs on the
 * leader's thread, once per flight. */
static sf_status query_database(void *userdata, sf_bytes **value, sf_bytes **error) {
  const char *key = userdata;
  char row[64];
  int waited_ms = 0;
  sf_stats stats;

  pthread_mutex_lock(&db_lock);
  db_queries++;
  pthread_mutex_unlock(&db_lock);

  /* The query takes QUERY_MS. So that the demo proves the same thing on a
   * slow or loaded machine (sanitizers, CI), it also stays open until every
   * caller has asked: the group counts the callers who joined this flight.
   * (A real query does not wait for anyone; this is the demo's stopwatch.) */
  sleep_ms(QUERY_MS);
  while (sf_group_stats(cache_group, &stats, sizeof stats) == SF_OK &&
         stats.followers < CALLERS - 1 && waited_ms < 10000) {
    sleep_ms(1);
    waited_ms++;
  }

  snprintf(row, sizeof row, "{\"id\": 42, \"name\": \"Ada\"} (row for %s)", key);
  *value = sf_bytes_new(row, strlen(row));
  if (!*value) {
    *error = sf_bytes_new("out of memory", 13);
    return SF_EWORK;
  }
  return SF_OK;
}

/* ---------------------------------------------------------------------- */
/* A request thread: the cache missed, so ask singleflight for the row.    */
/* ---------------------------------------------------------------------- */

struct caller {
  pthread_t thread;
  sf_status status;
  sf_result result;
};

static pthread_barrier_t start_line; /* so that all of them miss at once */
static char key[] = "user:42";

static void *request(void *arg) {
  struct caller *c = arg;
  pthread_barrier_wait(&start_line);
  c->status = sf_do(cache_group, key, strlen(key), query_database, key, &c->result);
  return NULL; /* c->result keeps its reference until main() checks it */
}

int main(void) {
  static struct caller callers[CALLERS];
  pthread_attr_t attr;
  const void *data;
  int i, started = 0, ok = 0, shared = 0, same = 0, failed;
  sf_stats stats;

  cache_group = sf_group_new();
  if (!cache_group) {
    fprintf(stderr, "stampede: sf_group_new: out of memory\n");
    return 1;
  }

  /* 1000 threads at once; small stacks are plenty. */
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  pthread_barrier_init(&start_line, NULL, CALLERS);
  for (i = 0; i < CALLERS; i++) {
    if (pthread_create(&callers[i].thread, &attr, request, &callers[i]) != 0) {
      fprintf(stderr, "stampede: could not start thread %d\n", i);
      return 1; /* the barrier would never open: exit at once */
    }
    started++;
  }
  for (i = 0; i < started; i++) pthread_join(callers[i].thread, NULL);
  pthread_barrier_destroy(&start_line);
  pthread_attr_destroy(&attr);

  /* What every caller got. */
  data = sf_bytes_data(callers[0].result.value);
  for (i = 0; i < CALLERS; i++) {
    const sf_result *r = &callers[i].result;
    if (callers[i].status == SF_OK && r->value) ok++;
    if (r->shared) shared++;
    if (r->value && sf_bytes_data(r->value) == data) same++;
  }

  printf("%d threads missed the cache for \"%s\" at once\n", CALLERS, key);
  printf("  database queries:            %4d  (want 1)\n", db_queries);
  printf("  callers that got the row:    %4d  (want %d)\n", ok, CALLERS);
  printf("  callers told it was shared:  %4d  (want %d)\n", shared, CALLERS);
  printf("  callers with the same bytes: %4d  (want %d): one buffer at %p\n", same, CALLERS, data);
  printf("  the row: %.*s\n", (int)sf_bytes_len(callers[0].result.value),
         data ? (const char *)data : "");
  if (sf_group_stats(cache_group, &stats, sizeof stats) == SF_OK)
    printf("  group stats: %llu flight, %llu followers\n", (unsigned long long)stats.flights,
           (unsigned long long)stats.followers);

  failed = db_queries != 1 || ok != CALLERS || shared != CALLERS || same != CALLERS;

  for (i = 0; i < CALLERS; i++) {
    sf_bytes_release(callers[i].result.value); /* the last one frees the row */
    sf_bytes_release(callers[i].result.error);
  }
  sf_group_release(cache_group);

  printf("%s\n", failed ? "FAIL: the stampede got through" : "ok: one query served everyone");
  return failed ? 1 : 0;
}
