/* gosf.c — see gosf.h. Binding glue only: the engine is libsingleflight. */
#include "gosf.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Implemented in Go (export.go). */
extern void gosfNotify(uintptr_t notify);
extern void gosfAbandoned(uintptr_t id);
extern void gosfRendezvous(uintptr_t id);

/* ---- rendezvous ids ---------------------------------------------------- */
/* A rendezvous id is (gen << 32) | (index + 1): the generation tells a
 * follower whether the Go state it finds in the rendezvous is already its
 * flight's. gen is 31 bits, so no id equals GOSF_NO_BYTES. Free ids are kept
 * with the generation they had; taking one bumps it (skipping 0, so that
 * every id taken is at least 1 << 32).
 * A per-thread cache sits in front of one locked stack: the common case (a
 * flight with no follower is joined, completed and left on one thread) takes
 * and returns its id without a lock. Only threads that run Go code use the
 * cache (they live as long as the process, but for a goroutine that exits
 * locked to its thread: up to GOSF_TL_CAP ids are then lost, and fresh
 * ones replace them); an id released on another language's thread goes to
 * the shared stack, so that threads that come and go strand nothing. */
#define GOSF_TL_CAP 32
static __thread uint64_t tl_free[GOSF_TL_CAP];
static __thread int tl_n;
static __thread int tl_go; /* this thread has entered the Go glue */

static pthread_mutex_t free_ids_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t *free_ids;
static size_t free_n, free_cap;
static uint32_t next_fresh;

static uint64_t bump(uint64_t v) {
  uint64_t gen = ((v >> 32) + 1) & 0x7fffffffu;
  if (gen == 0) gen = 1; /* every id taken is above 1 (gosf_end) */
  return (gen << 32) | (v & 0xffffffffu);
}

static uint64_t rv_take(void) {
  uint64_t v;
  if (tl_n > 0) return bump(tl_free[--tl_n]);
  pthread_mutex_lock(&free_ids_mu);
  if (free_n > 0) {
    v = free_ids[--free_n];
    /* refill half the cache at once */
    while (free_n > 0 && tl_n < GOSF_TL_CAP / 2) tl_free[tl_n++] = free_ids[--free_n];
  } else {
    v = (uint64_t)++next_fresh; /* index next_fresh-1, generation 0 */
  }
  pthread_mutex_unlock(&free_ids_mu);
  return bump(v);
}

static void rv_give(uint64_t v) {
  if (!tl_go) {
    pthread_mutex_lock(&free_ids_mu);
    if (free_n == free_cap) {
      size_t cap = free_cap ? free_cap * 2 : 256;
      uint64_t *p = realloc(free_ids, cap * sizeof *p);
      if (p) {
        free_ids = p;
        free_cap = cap;
      }
    }
    if (free_n < free_cap) free_ids[free_n++] = v; /* else lost: out of memory */
    pthread_mutex_unlock(&free_ids_mu);
    return;
  }
  if (tl_n < GOSF_TL_CAP) {
    tl_free[tl_n++] = v;
    return;
  }
  pthread_mutex_lock(&free_ids_mu);
  /* spill half the cache, then keep this one */
  while (tl_n > GOSF_TL_CAP / 2) {
    if (free_n == free_cap) {
      size_t cap = free_cap ? free_cap * 2 : 256;
      uint64_t *p = realloc(free_ids, cap * sizeof *p);
      if (!p) break; /* keep them in the cache */
      free_ids = p;
      free_cap = cap;
    }
    free_ids[free_n++] = tl_free[--tl_n];
  }
  if (tl_n < GOSF_TL_CAP) tl_free[tl_n++] = v;
  /* else: out of memory; the id is lost, a fresh one replaces it */
  pthread_mutex_unlock(&free_ids_mu);
}

void gosf_rendezvous_put(uintptr_t v) { rv_give((uint64_t)v); }

static void gosf_release(void *v) {
  uintptr_t u = (uintptr_t)v;
  if (u == 0 || u == GOSF_NO_BYTES) return;
  rv_give((uint64_t)u);
}

const sf_native_kind gosf_kind = {"go", gosf_release};

static void notify_tramp(void *ud) { gosfNotify((uintptr_t)ud); }
static void rendezvous_tramp(void *ud) { gosfRendezvous((uintptr_t)ud); }
static void abandoned_tramp(void *ud) { gosfAbandoned((uintptr_t)ud); }

#ifdef GOSF_TESTHOOKS
int gosf_test_no_attach;
#define NO_ATTACH gosf_test_no_attach
#else
#define NO_ATTACH 0 /* only the tests switch attachments off */
#endif

/* ---- join / finish ----------------------------------------------------- */
void gosf_join(uintptr_t group, const char *key, size_t key_len, uint64_t u64, unsigned flags,
               gosf_joined *j) {
  sf_ticket *wait, *work;
  void *attached_id = NULL;
  uintptr_t r;
  unsigned char b[8];
  j->attached = j->own = 0;
  tl_go = 1;
  if (!key && key_len == 8) {
    int i;
    for (i = 0; i < 8; i++) b[i] = (unsigned char)(u64 >> (8 * i)); /* little-endian */
    key = (const char *)b;
  }
  j->status = sf_join((sf_group *)group, key, key_len, 0, &wait, &work);
  j->wait = (uintptr_t)wait;
  j->work = (uintptr_t)work;
  if (j->status != SF_OK) return;
  if (work) {
    /* DoContext's leader takes its own rendezvous and attaches it; Do's takes
       one only if others hold tickets when its work is over (gosf_end). */
    if (flags & GOSF_ATTACH) {
      j->own = (uintptr_t)rv_take();
      if (!NO_ATTACH && sf_attach(wait, &gosf_kind, (void *)j->own, &attached_id) == SF_OK)
        j->attached = (uintptr_t)attached_id;
      if ((flags & GOSF_ON_ABANDONED) &&
          sf_on_abandoned(work, abandoned_tramp, (void *)j->own) != SF_OK) {
        /* cannot happen for a fresh work ticket; the flight then simply
           is not cancelled early */
      }
    }
    return;
  }
  /* A follower finds the flight's Go rendezvous, or makes it: the first Go
     follower's own, installed with sf_attach. */
  if (NO_ATTACH) return;
  r = (uintptr_t)rv_take();
  if (sf_attach(wait, &gosf_kind, (void *)r, &attached_id) != SF_OK) attached_id = NULL;
  if ((uintptr_t)attached_id == r) j->own = r; /* made here: the engine now holds it */
  else rv_give((uint64_t)r);                   /* never handed to the engine */
  j->attached = (uintptr_t)attached_id;
}

uintptr_t gosf_end(uintptr_t wait, uintptr_t work, int status) {
  int shared = 0;
  if (sf_finish_alone((sf_ticket *)wait, (sf_ticket *)work, (sf_status)status, &shared))
    return shared != 0;
  return (uintptr_t)rv_take();
}

int gosf_finish(uintptr_t wait_, uintptr_t work_, int status, const char *val, size_t val_len,
                int has_val, const char *err, size_t err_len, int has_err, uintptr_t native,
                uintptr_t give_back) {
  sf_ticket *wait = (sf_ticket *)wait_, *work = (sf_ticket *)work_;
  sf_bytes *v = has_val ? sf_bytes_new(val, val_len) : NULL;
  sf_bytes *e = has_err ? sf_bytes_new(err, err_len) : NULL;
  sf_result r;
  if (give_back) rv_give((uint64_t)give_back);
  sf_status st = sf_finish(wait, work, (sf_status)status, v, e, native ? &gosf_kind : NULL,
                           (void *)native, &r);
  if (st == SF_EINVAL) {
    /* cannot happen with the tickets of a fresh join; nothing was left */
    sf_leave(work);
    sf_leave(wait);
    return -1;
  }
  sf_bytes_release(r.value);
  sf_bytes_release(r.error);
  return r.shared != 0;
}

int gosf_complete(uintptr_t work_, int status, const char *val, size_t val_len, int has_val,
                  const char *err, size_t err_len, int has_err, uintptr_t native, int leave_work,
                  uintptr_t give_back) {
  sf_ticket *work = (sf_ticket *)work_;
  sf_bytes *v = has_val ? sf_bytes_new(val, val_len) : NULL;
  sf_bytes *e = has_err ? sf_bytes_new(err, err_len) : NULL;
  sf_status st =
      sf_complete_native(work, (sf_status)status, v, e, native ? &gosf_kind : NULL, (void *)native);
  if (leave_work) {
    sf_leave(work); /* an abandonment callback has run or never will */
    if (give_back) rv_give((uint64_t)give_back);
  }
  return st == SF_OK ? 0 : -1;
}

int gosf_wait_leave(uintptr_t wait) {
  sf_result r;
  int shared;
  sf_wait((sf_ticket *)wait, 0, &r);
  shared = r.shared != 0;
  sf_bytes_release(r.value);
  sf_bytes_release(r.error);
  sf_leave((sf_ticket *)wait);
  return shared;
}

void gosf_leave(uintptr_t ticket) { sf_leave((sf_ticket *)ticket); }

uint64_t gosf_fence_token(uintptr_t work) {
  uint64_t token = 0;
  sf_fence_token((const sf_ticket *)work, &token);
  return token;
}

void gosf_leave_all(const uintptr_t *tickets, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) sf_leave((sf_ticket *)tickets[i]);
}

int gosf_subscribe(uintptr_t wait, uintptr_t notify) {
  return sf_subscribe((sf_ticket *)wait, notify_tramp, (void *)notify);
}

int gosf_subscribe_rendezvous(uintptr_t wait, uintptr_t id) {
  return sf_subscribe((sf_ticket *)wait, rendezvous_tramp, (void *)id);
}

gosf_outcome gosf_poll(uintptr_t wait_) {
  sf_ticket *wait = (sf_ticket *)wait_;
  gosf_outcome o;
  sf_result r;
  void *native = NULL;
  memset(&o, 0, sizeof o);
  o.status = sf_wait_native(wait, 0, &gosf_kind, &r, &native);
  o.shared = r.shared != 0;
  o.native = (uintptr_t)native;
  o.value = r.value;
  o.error = r.error;
  o.val_data = sf_bytes_data(r.value);
  o.val_len = sf_bytes_len(r.value);
  o.err_data = sf_bytes_data(r.error);
  o.err_len = sf_bytes_len(r.error);
  return o;
}

void gosf_outcome_release(gosf_outcome *o) {
  sf_bytes_release(o->value);
  sf_bytes_release(o->error);
  o->value = o->error = NULL;
}
