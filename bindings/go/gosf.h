/*
 * gosf.h — C glue between the Go binding and libsingleflight.
 *
 * Every helper here folds several engine calls into one, so that a Go
 * caller pays for as few cgo transitions as possible: a fresh flight led by
 * Go that nobody else joined costs gosf_join() and gosf_end()
 * (sf_finish_alone), two cgo calls in all; one that others joined, a third
 * (gosf_finish).
 *
 * The binding's rendezvous: the Go state of a flight (an outcome as Go
 * values, a channel its Go followers park on) lives in a Go table
 * (rendezvous.go) and crosses here as a rendezvous id,
 * (generation << 32) | (index + 1), 64-bit. This file keeps the free ids,
 * so taking and giving one back costs no callback into Go. An id goes to
 * the engine in one of two ways, and the engine gives it back through
 * gosf_kind.release when the flight's last ticket is left (at once when
 * nobody else held one), and only then is it reused:
 *  - as the native value of the outcome (sf_finish / sf_complete_native):
 *    the leader's rendezvous holds its outcome; Do's leader attaches
 *    nothing, and takes its rendezvous only once its work is over and
 *    others hold tickets (gosf_end), so its fast path costs no flight lock
 *    and no rendezvous;
 *  - attached to the flight (sf_attach): the first Go follower attaches its
 *    rendezvous, parks the later Go followers there and subscribes one wait ticket
 *    (gosfRendezvous); DoContext's leader attaches its own, so that the
 *    caller who started the flight and its work goroutine meet.
 */
#ifndef GOSF_H
#define GOSF_H

#include <stdint.h>
#include <stddef.h>
#include <singleflight_binding.h>

/* The tag of this copy of the binding's native values. */
extern const sf_native_kind gosf_kind;

/* A native value marking a Go value with no byte form. Never a rendezvous id. */
#define GOSF_NO_BYTES ((uintptr_t)-1)

/* gosf_join flags */
#define GOSF_ON_ABANDONED 1u /* if leading, call gosfAbandoned(own) when abandoned */
#define GOSF_ATTACH 2u       /* if leading, attach its own rendezvous */

/* Engine objects cross as integers (uintptr_t): cgo then has no pointer to
 * check on each call of the fast path. */
typedef struct gosf_joined {
  uintptr_t wait;     /* sf_ticket * */
  uintptr_t work;     /* sf_ticket *: non-zero when this caller leads */
  uintptr_t attached; /* the id of the flight's attached Go rendezvous, or 0 */
  uintptr_t own;      /* a DoContext leader's own rendezvous id (0 for Do's: see
                         gosf_end); for a follower, its
                         own when it attached it (attached == own), else 0 */
  uintptr_t status;   /* sf_status of the join */
} gosf_joined;

/* Joins key (len bytes at key, or with key == NULL and len == 8 the 8
 * little-endian bytes of u64) and fills *j. */
void gosf_join(uintptr_t g, const char *key, size_t key_len, uint64_t u64, unsigned flags,
               gosf_joined *j);

/* A Go leader's ending when its two tickets are the flight's only ones
 * (sf_finish_alone, with the outcome's status): no outcome is handed over,
 * and it returns 0, or 1 if the outcome was shared (sf_result.shared).
 * Otherwise nothing changes, and it returns a fresh rendezvous id (never 0
 * or 1) for the outcome: store it there, then gosf_finish. */
uintptr_t gosf_end(uintptr_t wait, uintptr_t work, int status);

/* A Go leader's whole ending, through sf_finish: completes with the outcome
 * (copying value and error bytes into engine buffers), reads whether it was
 * shared and leaves both tickets, in one engine call (one shard lock and no
 * flight lock when nobody else holds a ticket).
 * native: 0, GOSF_NO_BYTES (marks a Go value with no byte form), or a
 * rendezvous id handed to the engine as the outcome's native value.
 * give_back: 0, or the leader's rendezvous id, given back at once (the outcome did
 * not need it), here where no Go follower can be reading it any more.
 * Returns shared (0/1), or -1 if the completion was refused (the tickets
 * are left all the same). */
int gosf_finish(uintptr_t wait, uintptr_t work, int status, const char *val, size_t val_len,
                int has_val, const char *err, size_t err_len, int has_err, uintptr_t native,
                uintptr_t give_back);

/* Completes with the outcome (as gosf_finish) holding the work ticket
 * alone (DoContext's work goroutine), and leaves it if leave_work; then
 * gives back give_back (if not 0 and leave_work).
 * Returns 0, or -1 if the completion was refused. */
int gosf_complete(uintptr_t work, int status, const char *val, size_t val_len, int has_val,
                  const char *err, size_t err_len, int has_err, uintptr_t native, int leave_work,
                  uintptr_t give_back);

/* Reads whether the outcome was shared (0 when not completed) and leaves the
 * ticket. */
int gosf_wait_leave(uintptr_t wait);

/* sf_leave. */
void gosf_leave(uintptr_t ticket);

/* Leaves n tickets. */
void gosf_leave_all(const uintptr_t *tickets, size_t n);

/* Subscribes gosfNotify(notify) on a wait ticket: notify is the runtime/cgo
 * handle of the channel gosfNotify closes. */
int gosf_subscribe(uintptr_t wait, uintptr_t notify);

/* Subscribes gosfRendezvous(id) on a wait ticket parked in that rendezvous. */
int gosf_subscribe_rendezvous(uintptr_t wait, uintptr_t id);

/* A polled outcome for a follower that is not a Go rendezvous. */
typedef struct gosf_outcome {
  int status;
  int shared;
  uintptr_t native;        /* a Go leader's rendezvous id, or 0 */
  sf_bytes *value, *error; /* new references: gosf_outcome_release */
  const char *val_data, *err_data;
  size_t val_len, err_len;
} gosf_outcome;

gosf_outcome gosf_poll(uintptr_t wait);
void gosf_outcome_release(gosf_outcome *o);

/* sf_fence_token of a work ticket (0 for a local flight). */
uint64_t gosf_fence_token(uintptr_t work);

/* Gives back a rendezvous id that was never handed to the engine. */
void gosf_rendezvous_put(uintptr_t id);

#endif
