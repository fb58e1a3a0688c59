/*
 * singleflight_binding.h — the engine's interface for binding authors.
 *
 * For the authors of language bindings (the Go, Rust and Python bindings of
 * this project, the C++ layer in singleflight.hpp), not for applications:
 * an application calls what singleflight.h declares. These functions are
 * fast paths and hooks a binding uses to share one flight among its
 * language's callers; they are exported by the same library, but they MAY
 * CHANGE WITHIN 0.x, in a minor release, where singleflight.h only grows.
 * A binding that uses them is built against the headers of the engine
 * version it ships with.
 *
 * Everything in singleflight.h holds here too (conventions, threads,
 * ownership); the rules that bind a binding (docs/binding-contract.md):
 *   - No binding code runs while an engine lock is held: every callback and
 *     release function of a binding is called with no engine lock held.
 *   - A binding counts its callers' give-ups the engine cannot see once
 *     (sf_group_count_giveup()), so the group's counters count what users
 *     see.
 *
 * The rendezvous. The callers of one binding who wait on one flight often
 * want to share state of their language (a Go channel, a Rust shared
 * future, an asyncio future): the leader's native value and one wake-up for
 * all of them, without a thread or a ticket each. The engine keeps that
 * state for them as the flight's *rendezvous*: one opaque object per
 * binding kind and flight, installed by sf_attach(), found again by every
 * later caller of that binding, and released through the kind's release
 * function with the flight's last ticket. The engine never looks inside
 * it; the binding keeps it consistent with its own means (its own lock,
 * the GIL, an event loop's thread).
 */
#ifndef SINGLEFLIGHT_BINDING_H
#define SINGLEFLIGHT_BINDING_H

#include "singleflight.h"

SF_BEGIN_DECL

/** Counts a caller that gave up waiting in its binding's own way, not
 * inside sf_wait(): a Go context that ended, a dropped Rust future, a
 * cancelled asyncio task, a deadline timer of the binding. `reason`
 * SF_ETIMEDOUT adds one to stats.timeouts, SF_ECANCELED one to
 * stats.cancellations. Waits inside sf_wait() are counted by the engine
 * itself: a binding reports only the give-ups the engine cannot see, once
 * per caller, so the counters count what users see. Any thread.
 * @return SF_OK, or SF_EINVAL (NULL group, any other reason; nothing
 *         counted). Since: 0.1 */
SF_EXTERN(sf_status) sf_group_count_giveup(sf_group *group, sf_status reason);

/** The leader's whole ending in one call: completes the flight as
 * sf_complete_native(work, status, value, error, kind, native) would, hands
 * the leader its own outcome as sf_wait_native(wait, 0, kind, ...) would
 * (into *result; the native value, the leader's own, is not handed back),
 * and leaves both tickets. When nobody else holds a ticket of the flight it
 * takes one short critical section instead of several: the fast path of a
 * binding's leader. Since: 0.1
 * @param wait the leader's wait ticket (from the same sf_join as `work`).
 * @return the outcome's status with *result filled; SF_EINVAL, with nothing
 *         completed or left and value, error and native released as
 *         sf_complete() does, for NULL tickets, tickets that are not the
 *         pair one sf_join() gave the leader, a NULL result, or a flight
 *         already completed. */
SF_EXTERN(sf_status) sf_finish(sf_ticket *wait, sf_ticket *work, sf_status status, sf_bytes *value,
                               sf_bytes *error, const sf_native_kind *kind, void *native,
                               sf_result *result);

/** The leader's ending when nobody else holds a ticket, with no outcome
 * handed over. If the leader's own two tickets are the only tickets of the
 * flight, ends it (the key is free again; no one can join it any more),
 * leaves both tickets, sets *shared (may be NULL) as sf_result.shared would
 * be, and returns 1: the leader keeps its value to itself, so a binding
 * builds no byte form and no native value for others. Otherwise changes
 * nothing and returns 0: followers hold tickets, and the leader ends with
 * sf_finish() (or sf_complete() and sf_leave()) as before. Also 0 for NULL
 * tickets, tickets that are not the pair one sf_join() gave the leader, or
 * a flight already completed; sf_finish() then says what is wrong. A
 * subscription on the leader's own `wait` is dropped without a call (the
 * leader has its outcome), and the work ticket's sf_on_abandoned() callback
 * never runs (the flight was not abandoned).
 * @param status the outcome's status (SF_OK, SF_EWORK or SF_EPANIC), which
 *               only the group's counters see; any other value counts as a
 *               panic, as in sf_finish().
 * Since: 0.1 */
SF_EXTERN(int) sf_finish_alone(sf_ticket *wait, sf_ticket *work, sf_status status, int *shared);

/** How many kinds can attach to one flight. */
#define SF_ATTACH_MAX 4

/** Per-binding rendezvous object of a flight, one per kind. The first
 * participant of a kind to call this on a flight installs `value` (the engine
 * releases it through kind->release once the flight's last ticket is left)
 * and gets it back in *current; a later caller of the same kind gets the
 * installed value in *current (borrowed: valid while its ticket is held) and
 * keeps ownership of the `value` it passed, which the engine does not take.
 * If SF_ATTACH_MAX other kinds attached already, *current is NULL and the
 * caller keeps its value.
 * Lets the participants of one binding share state of their own per flight
 * (a Rust shared future, a Go channel) without a table of their own.
 * @return SF_OK, or SF_EINVAL (NULL ticket, kind, value or current). */
SF_EXTERN(sf_status) sf_attach(sf_ticket *ticket, const sf_native_kind *kind, void *value,
                               void **current);

/** A meeting: a caller's hold on a flight's rendezvous while its binding
 * decides, with no engine lock held, whether the caller joins the flight
 * through it. It keeps the flight and its rendezvous alive, and counts as
 * no caller, until sf_meeting_end(). Opaque; one caller, one thread. */
typedef struct sf_meeting sf_meeting;

/** Joins the flight of `key` through its binding's rendezvous, or else as
 * sf_join(): one engine call for a binding's caller who would rather wait
 * through the rendezvous (the asyncio callers of one event loop share one
 * wait ticket, say). For a key with no flight it costs what sf_join()
 * costs.
 *  - If a flight runs for `key`, at least one of its wait tickets is held
 *    and a rendezvous of `kind` is attached to it (sf_attach()): *meeting
 *    is a new meeting on it, *rendezvous the object (borrowed: valid until
 *    sf_meeting_end()), *wait and *work NULL. No engine lock is held when
 *    this returns: the binding reads its object with its own means, then
 *    ends the meeting, saying whether the caller joined through it. If not,
 *    the caller joins with sf_join().
 *  - Otherwise *meeting and *rendezvous are NULL and the caller joined as
 *    by sf_join(): *wait is its wait ticket, *work its work ticket if it
 *    leads.
 * Any thread. A NULL key with length 0 is the empty key.
 * @param flags as for sf_join().
 * @return SF_OK; SF_EINVAL (NULL group, kind, meeting, rendezvous, wait or
 *         work, NULL key with a nonzero length, unknown flag; nothing
 *         changed); SF_ENOMEM (nothing changed). On failure every output is
 *         NULL where it can be written.
 * Since: 0.1 */
SF_EXTERN(sf_status) sf_join_or_meet(sf_group *group, const void *key, size_t key_len,
                                     unsigned flags, const sf_native_kind *kind,
                                     sf_meeting **meeting, void **rendezvous, sf_ticket **wait,
                                     sf_ticket **work);

/** Ends a meeting from sf_join_or_meet(); the meeting and the rendezvous
 * pointer it gave are invalid afterwards. `joined` nonzero: the caller
 * joined the flight through the rendezvous and counts as one more caller
 * of it (the `shared` flag of its outcome, the `followers` counter,
 * sf_forget_unshared()); the binding delivers the outcome to it, and keeps
 * a ticket of the flight held for as long as such a caller waits (the
 * engine frees the rendezvous with the flight's last ticket). `joined` 0:
 * nothing is counted. If this ends the flight's last hold, the rendezvous
 * is released here, through its kind's release function, with no engine
 * lock held. NULL is a no-op. */
SF_EXTERN(void) sf_meeting_end(sf_meeting *meeting, int joined);

SF_END_DECL

#endif /* SINGLEFLIGHT_BINDING_H */
