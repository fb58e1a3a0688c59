/*
 * gosf.h — C glue between the Go binding and libsingleflight.
 *
 * Every helper here folds several engine calls into one, so that a Go
 * caller pays for as few cgo transitions as possible: a fresh flight led by
 * Go costs gosf_join() and gosf_finish() (sf_finish), two cgo calls in all.
 *
 * Go-side state of a flight (an outcome as Go values, a channel to park on)
 * lives in a Go "slot": an entry of a table indexed by a small integer, whose
 * value is ((generation << 32) | (slot + 1), 64-bit). Free slots are kept in
 * C, so taking and giving one back costs no callback into Go. A slot goes to
 * the engine in one of two ways, and the engine gives it back through
 * gosf_kind.release when the flight's last ticket is left (at once when
 * nobody else held one), and only then is it reused:
 *  - a leader's slot holds its outcome and is the native value of the
 *    outcome (sf_finish / sf_complete_native); Do's leader attaches nothing,
 *    so its fast path costs no flight lock;
 *  - a rendezvous, attached to the flight (sf_attach): the first Go follower
 *    attaches its slot, parks its Go peers there and subscribes one wait
 *    ticket (gosfRendezvous); DoContext's leader attaches its own slot, so
 *    that the caller who started the flight and its work goroutine meet.
 */
#ifndef GOSF_H
#define GOSF_H

#include <stdint.h>
#include <stddef.h>
#include <singleflight_binding.h>

/* The tag of this copy of the binding's native values. */
extern const sf_native_kind gosf_kind;

/* A native value marking a Go value with no byte form. Never a slot value. */
#define GOSF_NO_SLOT ((uintptr_t)-1)

/* gosf_join flags */
#define GOSF_ON_ABANDONED 1u /* if leading, call gosfAbandoned(slot) when abandoned */
#define GOSF_ATTACH 2u       /* if leading, attach the slot as the rendezvous */

/* Engine objects cross as integers (uintptr_t): cgo then has no pointer to
 * check on each call of the fast path. */
typedef struct gosf_joined {
  uintptr_t wait;  /* sf_ticket * */
  uintptr_t work;  /* sf_ticket *: non-zero when this caller leads */
  uintptr_t cur;   /* the flight's Go rendezvous (a slot value), or 0 */
  uintptr_t slot;  /* a leader's own slot value; for a follower, its slot
                      when it made the rendezvous (cur == slot), else 0 */
  uintptr_t status; /* sf_status of the join */
} gosf_joined;

/* Joins key (len bytes at key, or with key == NULL and len == 8 the 8
 * little-endian bytes of u64) and fills *j. */
void gosf_join(uintptr_t g, const char *key, size_t key_len, uint64_t u64,
               unsigned flags, gosf_joined *j);

/* A Go leader's whole ending, through sf_finish: completes with the outcome
 * (copying value and error bytes into engine buffers), reads whether it was
 * shared and leaves both tickets, in one engine call (one shard lock and no
 * flight lock when nobody else holds a ticket).
 * native: 0, GOSF_NO_SLOT (marks a Go value with no byte form), or a slot
 * value handed to the engine as the outcome's native value.
 * slot_back: 0, or the leader's slot, given back at once (the outcome did
 * not need it), here where no Go follower can be reading it any more.
 * Returns shared (0/1), or -1 if the completion was refused (the tickets
 * are left all the same). */
int gosf_finish(uintptr_t wait, uintptr_t work, int status,
                const char *val, size_t val_len, int has_val,
                const char *err, size_t err_len, int has_err,
                uintptr_t native, uintptr_t slot_back);

/* Completes with the outcome (as gosf_finish) holding the work ticket
 * alone (DoContext's work goroutine), and leaves it if leave_work; then
 * gives back slot_back (if not 0 and leave_work).
 * Returns 0, or -1 if the completion was refused. */
int gosf_complete(uintptr_t work, int status,
                  const char *val, size_t val_len, int has_val,
                  const char *err, size_t err_len, int has_err,
                  uintptr_t native, int leave_work, uintptr_t slot_back);

/* Reads whether the outcome was shared (0 when not completed) and leaves the
 * ticket. */
int gosf_wait_leave(uintptr_t wait);

/* sf_leave. */
void gosf_leave(uintptr_t ticket);

/* Leaves n tickets. */
void gosf_leave_all(const uintptr_t *tickets, size_t n);

/* Subscribes gosfNotify(handle) on a wait ticket. */
int gosf_subscribe(uintptr_t wait, uintptr_t handle);

/* Subscribes gosfRendezvous(slot) on a wait ticket parked in that slot. */
int gosf_subscribe_rendezvous(uintptr_t wait, uintptr_t slot);

/* A polled outcome for a follower that is not a Go rendezvous. */
typedef struct gosf_outcome {
  int status;
  int shared;
  uintptr_t native;          /* a Go leader's slot value, or 0 */
  sf_bytes *value, *error;   /* new references: gosf_outcome_release */
  const char *val_data, *err_data;
  size_t val_len, err_len;
} gosf_outcome;

gosf_outcome gosf_poll(uintptr_t wait);
void gosf_outcome_release(gosf_outcome *o);

/* sf_fence_token of a work ticket (0 for a local flight). */
uint64_t gosf_fence_token(uintptr_t work);

/* Returns a slot value that was never handed to the engine. */
void gosf_slot_put(uintptr_t slot);

/* Tests set this to make Go participants attach no rendezvous, so that Go
 * followers take the engine path (one subscription each). */
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
