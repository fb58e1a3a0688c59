/* worker.c — the C worker of the cross-language fleet tests: a process
 * that opens a fleet group with sf_group_open_fleet() and stampedes one
 * key with sf_do() from several threads. It speaks the worker protocol of
 * README.md (configuration in SF_FLEET_* variables, commands on stdin, JSON
 * events on stdout). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <singleflight.h>

static const char *env(const char *name, const char *dflt) {
  const char *v = getenv(name);
  return v && *v ? v : dflt;
}

static sf_group *group;
static const char *key, *mode, *exec_file;
static int callers;
static atomic_int entered;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int started, released, stats_asked, exiting;

static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;

/* Writes s as a JSON string. */
static void put_json_string(const char *s, size_t n) {
  size_t i;
  putchar('"');
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') printf("\\%c", c);
    else if (c == '\n') fputs("\\n", stdout);
    else if (c < 0x20 || c >= 0x7f) printf("\\u%04x", c);
    else putchar(c);
  }
  putchar('"');
}

static void emit_simple(const char *event) {
  pthread_mutex_lock(&out_mu);
  printf("{\"event\":\"%s\",\"pid\":%d,\"lang\":\"c\"}\n", event, (int)getpid());
  fflush(stdout);
  pthread_mutex_unlock(&out_mu);
}

static void wait_for(int *flag) {
  pthread_mutex_lock(&mu);
  while (!*flag) pthread_cond_wait(&cv, &mu);
  pthread_mutex_unlock(&mu);
}

static void set_flag(int *flag) {
  pthread_mutex_lock(&mu);
  *flag = 1;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
}

static void *read_commands(void *arg) {
  char line[64];
  (void)arg;
  while (fgets(line, sizeof line, stdin)) {
    if (strncmp(line, "go", 2) == 0) set_flag(&started);
    else if (strncmp(line, "release", 7) == 0) set_flag(&released);
    else if (strncmp(line, "stats", 5) == 0) set_flag(&stats_asked);
    else if (strncmp(line, "exit", 4) == 0) break;
  }
  set_flag(&released); /* the end of stdin releases everything */
  set_flag(&stats_asked);
  set_flag(&exiting);
  return NULL;
}

static sf_status work(void *userdata, sf_bytes **value, sf_bytes **error) {
  char text[128];
  uint64_t token = 0;
  FILE *f;
  (void)userdata;
  f = fopen(exec_file, "a");
  if (f) {
    fprintf(f, "c %d\n", (int)getpid());
    fclose(f);
  }
  sf_fence_token(NULL, &token);
  pthread_mutex_lock(&out_mu);
  printf("{\"event\":\"leading\",\"pid\":%d,\"lang\":\"c\",\"token\":%llu}\n", (int)getpid(),
         (unsigned long long)token);
  fflush(stdout);
  pthread_mutex_unlock(&out_mu);
  wait_for(&released);
  if (strcmp(mode, "error") == 0) {
    snprintf(text, sizeof text, "work failed in c %d", (int)getpid());
    *error = sf_bytes_new(text, strlen(text));
    return SF_EWORK;
  }
  if (strcmp(mode, "panic") == 0) {
    snprintf(text, sizeof text, "boom in c %d", (int)getpid());
    *error = sf_bytes_new(text, strlen(text));
    return SF_EPANIC;
  }
  snprintf(text, sizeof text, "c %d", (int)getpid());
  *value = sf_bytes_new(text, strlen(text));
  return SF_OK;
}

static void *caller(void *arg) {
  sf_result r;
  sf_status st;
  (void)arg;
  atomic_fetch_add(&entered, 1);
  st = sf_do(group, key, strlen(key), work, NULL, &r);
  pthread_mutex_lock(&out_mu);
  printf("{\"event\":\"result\",\"pid\":%d,\"lang\":\"c\",\"status\":%d,\"shared\":%s,\"value\":",
         (int)getpid(), (int)st, r.shared ? "true" : "false");
  if (r.value) put_json_string(sf_bytes_data(r.value), sf_bytes_len(r.value));
  else fputs("null", stdout);
  fputs(",\"error\":", stdout);
  if (r.error) put_json_string(sf_bytes_data(r.error), sf_bytes_len(r.error));
  else fputs("null", stdout);
  fputs("}\n", stdout);
  fflush(stdout);
  pthread_mutex_unlock(&out_mu);
  sf_bytes_release(r.value);
  sf_bytes_release(r.error);
  return NULL;
}

/* "joined": every caller has entered and joined this process's flight. */
static void *watch_joined(void *arg) {
  const struct timespec ms = {0, 1000000};
  sf_stats s;
  int i;
  (void)arg;
  for (i = 0;; i++) {
    sf_group_stats(group, &s, sizeof s);
    if (atomic_load(&entered) == callers && s.followers + 1 >= (uint64_t)callers) break;
    if (i == 100000) {
      fprintf(stderr, "c worker: the callers never joined\n");
      exit(3);
    }
    nanosleep(&ms, NULL);
  }
  emit_simple("joined");
  return NULL;
}

int main(void) {
  sf_fleet_options o = SF_FLEET_OPTIONS_INIT;
  pthread_t reader, watcher, *threads;
  sf_stats s;
  int i;
  const char *name = env("SF_FLEET_GROUP", "cross");
  key = env("SF_FLEET_KEY", "hot key");
  mode = env("SF_FLEET_MODE", "value");
  exec_file = env("SF_FLEET_EXEC_FILE", "/dev/null");
  callers = atoi(env("SF_FLEET_CALLERS", "4"));
  o.url = env("SF_FLEET_URL", NULL);
  o.lease_ms = (uint32_t)atoi(env("SF_FLEET_LEASE_MS", "0"));
  group = sf_group_open_fleet(name, strlen(name), &o);
  if (!group || callers < 1) {
    fprintf(stderr, "c worker: sf_group_open_fleet refused the options (url %s)\n",
            o.url ? o.url : "(default)");
    return 2;
  }
  threads = calloc((size_t)callers, sizeof *threads);
  pthread_create(&reader, NULL, read_commands, NULL);
  emit_simple("ready");
  wait_for(&started);
  pthread_create(&watcher, NULL, watch_joined, NULL);
  for (i = 0; i < callers; i++) pthread_create(&threads[i], NULL, caller, NULL);
  for (i = 0; i < callers; i++) pthread_join(threads[i], NULL);
  pthread_join(watcher, NULL);
  wait_for(&stats_asked);
  sf_group_stats(group, &s, sizeof s);
  pthread_mutex_lock(&out_mu);
  printf(
      "{\"event\":\"stats\",\"pid\":%d,\"lang\":\"c\",\"stats\":{\"flights\":%llu,"
      "\"followers\":%llu,\"fleet_led\":%llu,\"fleet_joined\":%llu,\"fleet_taken_over\":%llu,"
      "\"fleet_fallbacks\":%llu}}\n",
      (int)getpid(), (unsigned long long)s.flights, (unsigned long long)s.followers,
      (unsigned long long)s.fleet_led, (unsigned long long)s.fleet_joined,
      (unsigned long long)s.fleet_taken_over, (unsigned long long)s.fleet_fallbacks);
  fflush(stdout);
  pthread_mutex_unlock(&out_mu);
  wait_for(&exiting);
  /* The last reference: the I/O thread publishes what is queued, then stops. */
  sf_group_release(group);
  free(threads);
  return 0;
}
