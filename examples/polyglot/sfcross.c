#define _POSIX_C_SOURCE 200809L
#include "sfcross.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the gate ---- */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_open_flag = 1;

void sfx_gate_close(void) {
  pthread_mutex_lock(&gate_mu);
  gate_open_flag = 0;
  pthread_mutex_unlock(&gate_mu);
}

void sfx_gate_open(void) {
  pthread_mutex_lock(&gate_mu);
  gate_open_flag = 1;
  pthread_cond_broadcast(&gate_cv);
  pthread_mutex_unlock(&gate_mu);
}

void sfx_gate_wait(void) {
  pthread_mutex_lock(&gate_mu);
  while (!gate_open_flag) pthread_cond_wait(&gate_cv, &gate_mu);
  pthread_mutex_unlock(&gate_mu);
}

/* ---- the database ---- */
static pthread_mutex_t db_mu = PTHREAD_MUTEX_INITIALIZER;
static char db_group[128];
static int db_followers;
static long db_queries;
static int db_delay_ms;
static int db_held;
static pthread_cond_t db_cv = PTHREAD_COND_INITIALIZER;

void sfx_db_hold(void) {
  pthread_mutex_lock(&db_mu);
  db_held = 1;
  pthread_mutex_unlock(&db_mu);
}

void sfx_db_release(void) {
  pthread_mutex_lock(&db_mu);
  db_held = 0;
  pthread_cond_broadcast(&db_cv);
  pthread_mutex_unlock(&db_mu);
}

void sfx_db_delay(int ms) {
  pthread_mutex_lock(&db_mu);
  db_delay_ms = ms;
  pthread_mutex_unlock(&db_mu);
}

void sfx_db_configure(const char *group_name, int followers) {
  pthread_mutex_lock(&db_mu);
  snprintf(db_group, sizeof db_group, "%s", group_name);
  db_followers = followers;
  db_queries = 0;
  pthread_mutex_unlock(&db_mu);
}

long sfx_db_queries(void) {
  long n;
  pthread_mutex_lock(&db_mu);
  n = db_queries;
  pthread_mutex_unlock(&db_mu);
  return n;
}

static void sleep_ms(long ms) {
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (ms % 1000) * 1000000L;
  nanosleep(&ts, NULL);
}

sf_bytes *sfx_db_query(const void *key, size_t key_len) {
  char name[128], row[256];
  int want, waited, delay;
  sf_group *g;
  pthread_mutex_lock(&db_mu);
  db_queries++;
  memcpy(name, db_group, sizeof name);
  want = db_followers;
  delay = db_delay_ms;
  pthread_mutex_unlock(&db_mu);
  /* Hold the query open until the whole wave has joined the flight. */
  g = sf_group_open(name, strlen(name));
  for (waited = 0; g && waited < 10000; waited++) {
    sf_stats s;
    sf_group_stats(g, &s, sizeof s);
    if (want <= 0 || s.followers >= (uint64_t)want) break;
    sleep_ms(1);
  }
  sf_group_release(g);
  pthread_mutex_lock(&db_mu);
  while (db_held) pthread_cond_wait(&db_cv, &db_mu);
  pthread_mutex_unlock(&db_mu);
  if (delay > 0) sleep_ms(delay);
  snprintf(row, sizeof row, "row %.*s", (int)key_len, (const char *)key);
  return sf_bytes_new(row, strlen(row));
}

/* ---- the log ---- */
#define LOG_MAX 8192
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t log_cv = PTHREAD_COND_INITIALIZER;
static sfx_entry log_entries[LOG_MAX];
static int log_n;

void sfx_log_reset(void) {
  pthread_mutex_lock(&log_mu);
  log_n = 0;
  pthread_mutex_unlock(&log_mu);
}

void sfx_log(int lang, int status, const void *data, size_t len, int shared) {
  pthread_mutex_lock(&log_mu);
  if (log_n < LOG_MAX) {
    sfx_entry *e = &log_entries[log_n++];
    size_t n = len < sizeof e->text - 1 ? len : sizeof e->text - 1;
    e->lang = lang;
    e->status = status;
    e->addr = (uintptr_t)data;
    e->len = len;
    e->shared = shared;
    if (data && n) memcpy(e->text, data, n);
    e->text[data ? n : 0] = '\0';
  }
  pthread_cond_broadcast(&log_cv);
  pthread_mutex_unlock(&log_mu);
}

int sfx_log_count(void) {
  int n;
  pthread_mutex_lock(&log_mu);
  n = log_n;
  pthread_mutex_unlock(&log_mu);
  return n;
}

int sfx_log_get(int i, sfx_entry *out) {
  int ok;
  pthread_mutex_lock(&log_mu);
  ok = i >= 0 && i < log_n;
  if (ok) *out = log_entries[i];
  pthread_mutex_unlock(&log_mu);
  return ok;
}

void sfx_log_wait(int n) {
  pthread_mutex_lock(&log_mu);
  while (log_n < n) pthread_cond_wait(&log_cv, &log_mu);
  pthread_mutex_unlock(&log_mu);
}

/* ---- the C callers ---- */
typedef struct caller {
  sf_group *group;
  char key[128];
  int work;
} caller;

static sf_status c_work(void *userdata, sf_bytes **value, sf_bytes **error) {
  const caller *c = (const caller *)userdata;
  sf_bytes *row = sfx_db_query(c->key, strlen(c->key));
  switch (c->work) {
    case SFX_WORK_ERROR:
      sf_bytes_release(row);
      *error = sf_bytes_new("C work failed", 13);
      return SF_EWORK;
    case SFX_WORK_PANIC:
      sf_bytes_release(row);
      *error = sf_bytes_new("C work aborted", 14);
      return SF_EPANIC;
    default: *value = row; return SF_OK;
  }
}

static void *c_caller(void *arg) {
  caller *c = (caller *)arg;
  sf_result r;
  sf_status s;
  sfx_gate_wait();
  s = sf_do(c->group, c->key, strlen(c->key), c_work, c, &r);
  if (s == SF_OK) sfx_log(SFX_C, s, sf_bytes_data(r.value), sf_bytes_len(r.value), r.shared);
  else sfx_log(SFX_C, s, sf_bytes_data(r.error), sf_bytes_len(r.error), r.shared);
  sf_bytes_release(r.value);
  sf_bytes_release(r.error);
  sf_group_release(c->group);
  free(c);
  return NULL;
}

static pthread_mutex_t threads_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_t *threads;
static int nthreads, cap_threads;

int sfx_c_stampede(const char *group_name, const char *key, int n, int work) {
  int i;
  for (i = 0; i < n; i++) {
    caller *c = (caller *)calloc(1, sizeof *c);
    pthread_t t;
    if (!c) return -1;
    c->group = sf_group_open(group_name, strlen(group_name));
    snprintf(c->key, sizeof c->key, "%s", key);
    c->work = work;
    if (pthread_create(&t, NULL, c_caller, c) != 0) {
      sf_group_release(c->group);
      free(c);
      return -1;
    }
    pthread_mutex_lock(&threads_mu);
    if (nthreads == cap_threads) {
      cap_threads = cap_threads ? cap_threads * 2 : 64;
      threads = (pthread_t *)realloc(threads, (size_t)cap_threads * sizeof *threads);
    }
    threads[nthreads++] = t;
    pthread_mutex_unlock(&threads_mu);
  }
  return 0;
}

void sfx_c_join(void) {
  int i, n;
  pthread_t *ts;
  pthread_mutex_lock(&threads_mu);
  ts = threads;
  n = nthreads;
  threads = NULL;
  nthreads = cap_threads = 0;
  pthread_mutex_unlock(&threads_mu);
  for (i = 0; i < n; i++) pthread_join(ts[i], NULL);
  free(ts);
}
