/*
 * gosf.h — C glue between the Go binding and libsingleflight.
 *
 * Every helper here folds several engine calls into one, so that a Go
 * caller pays for as few cgo transitions as possible: a fresh flight led by
 * Go costs gosf_join() and gosf_finish(), two cgo calls in all.
 *
 * Go-side state of a flight (its outcome, its waiters' channel) lives in a
 * Go "slot": an entry of a table indexed by a small integer. The leader takes
 * a free slot inside gosf_join() and hands its value ((generation << 32) |
 * (slot + 1), 64-bit) to the engine, as the flight's attachment (sf_attach)
 * or as the native value of its outcome (sf_complete_native); the engine
 * gives it back through gosf_kind.release when the flight's last ticket is
 * left, and only then is the slot reused. Free slots are kept in C so that
 * this costs no callback into Go.
 */
#ifndef GOSF_H
#define GOSF_H

#include <stdint.h>
#include <stddef.h>
#include <singleflight.h>

/* The tag of this copy of the binding's native values. */
extern const sf_native_kind gosf_kind;

/* What a follower attaches: "no Go state here". Never a slot value. */
#define GOSF_NO_SLOT ((uintptr_t)-1)

/* gosf_join flags */
#define GOSF_ON_ABANDONED 1u /* if leading, call gosfAbandoned(slot) when abandoned */

typedef struct gosf_joined {
  sf_ticket *wait;
  sf_ticket *work; /* non-NULL when this caller leads */
  uintptr_t cur;   /* the flight's Go attachment: a slot value, GOSF_NO_SLOT, or 0 */
  uintptr_t slot;  /* the leader's own slot value (when work != NULL) */
  int status;      /* sf_status of the join */
} gosf_joined;

gosf_joined gosf_join(sf_group *g, const char *key, size_t key_len,
                      unsigned flags);
gosf_joined gosf_join_u64(sf_group *g, uint64_t key, unsigned flags);

/* Completes with the outcome (copying value and error bytes into engine
 * buffers), reads whether it was shared, leaves the work ticket (if
 * leave_work) and, when it was not shared, the wait ticket too.
 * native: 0, GOSF_NO_SLOT (marks a Go value with no byte form), or a slot
 * value handed to the engine as the outcome's native value.
 * wait may be NULL (then the result is 0).
 * Returns shared (0/1), or -1 if the completion was refused. */
int gosf_finish(sf_ticket *work, sf_ticket *wait, int status,
                const char *val, size_t val_len, int has_val,
                const char *err, size_t err_len, int has_err,
                uintptr_t native, int leave_work);

/* Reads whether the outcome was shared (0 when not completed) and leaves the
 * ticket. */
int gosf_wait_leave(sf_ticket *wait);

/* Leaves n wait tickets. */
void gosf_leave_all(void **tickets, size_t n);

/* Subscribes gosfNotify(handle) on a wait ticket. */
int gosf_subscribe(sf_ticket *wait, uintptr_t handle);

/* A polled outcome for a follower that is not a Go rendezvous. */
typedef struct gosf_outcome {
  int status;
  int shared;
  uintptr_t native;          /* a Go leader's slot value, or 0 */
  sf_bytes *value, *error;   /* new references: gosf_outcome_release */
  const char *val_data, *err_data;
  size_t val_len, err_len;
} gosf_outcome;

gosf_outcome gosf_poll(sf_ticket *wait);
void gosf_outcome_release(gosf_outcome *o);

/* Returns a slot value that was never handed to the engine. */
void gosf_slot_put(uintptr_t slot);

/* Tests set this to make Go leaders skip the rendezvous, so that Go
 * followers take the engine path (as with a leader in another language). */
extern int gosf_test_no_attach;

/* Test helpers: a C participant of a flight (a "foreign" caller) that
 * lives on threads of its own, as a Rust or Python caller would. */
typedef struct gosf_cpeer gosf_cpeer;
/* Joins `key` on this thread; leads if the key is free. */
gosf_cpeer *gosf_cpeer_join(sf_group *g, const char *key, size_t key_len);
int gosf_cpeer_leads(const gosf_cpeer *p);
/* Leader: completes and leaves from a new C thread (status, message/value);
 * status -1 completes with a native value of another kind and no bytes. */
void gosf_cpeer_complete_async(gosf_cpeer *p, int status, const char *data,
                               size_t len);
/* Leader: leaves the work ticket without completing (a hand-off). */
void gosf_cpeer_handoff(gosf_cpeer *p);
/* Follower: a new C thread blocks in sf_wait until the outcome. */
void gosf_cpeer_wait_async(gosf_cpeer *p);
/* Joins that thread; returns its outcome (release with
 * gosf_outcome_release) and frees the peer. */
gosf_outcome gosf_cpeer_finish(gosf_cpeer *p);

#endif
