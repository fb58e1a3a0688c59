/*
 * singleflight.h — the C ABI of the singleflight engine.
 *
 * singleflight suppresses duplicate concurrent work. When many callers ask
 * for the same key of a group at once, exactly one of them (the leader) runs
 * the work; the others (followers) wait and receive the very same outcome:
 * the same refcounted result bytes, each with a reference of its own, never
 * a copy. Once the outcome is delivered the key is free again: the next
 * caller starts a new flight (nothing is cached).
 *
 * One engine serves every language in a process: the Go, Rust and Python
 * bindings link this library dynamically, so callers written in different
 * languages dedup against each other, above all through named groups
 * (sf_group_open()).
 *
 * What only language bindings need (their fast paths and the rendezvous
 * they share a flight through) is in singleflight_binding.h, which may
 * change within 0.x; this header only grows.
 *
 * The header has six parts:
 *   1. Conventions, versions and statuses.
 *   2. Bytes     — immutable refcounted buffers (sf_bytes_*).
 *   3. Groups    — namespaces of flights, plain or named (sf_group_*).
 *   4. sf_do     — the blocking call: run or join, get the outcome.
 *   5. Split API — join / complete / wait / subscribe / leave, for callers
 *                  that must not block a thread inside the engine (Go
 *                  goroutines, Rust futures, asyncio tasks), or that run the
 *                  work apart from the caller who started it.
 *   6. Fleet groups — named groups shared across processes through Redis.
 *
 * Conventions
 *   - Every name is prefixed sf_ / SF_. Only these symbols are exported.
 *   - Bad input is answered with SF_EINVAL (or NULL where a function returns
 *     a pointer) and changes nothing; no function aborts the process.
 *   - "A new reference" means the caller owns it and must release it;
 *     "borrowed" means valid only as long as the object it came from.
 *   - Retain functions return their argument (NULL stays NULL); release
 *     functions accept NULL as a no-op.
 *   - Every function may be called from any thread unless it says otherwise.
 *     No function throws: no C++ exception crosses this boundary.
 *   - Outputs come last, as in sf_do(); callbacks are followed by their
 *     userdata.
 *   - Status numbers and struct layouts are pinned: new values and new
 *     fields are only ever appended.
 *   - A status passed in (an argument, a work function's return value) may
 *     be any int, as C, cgo and cffi callers can pass it: the engine reads
 *     it as an integer, never as an out-of-range sf_status.
 *   - fork(): the engine is usable in the child of a fork() made while
 *     other threads call it (pthread_atfork handlers make the fork wait
 *     until no engine lock is held). The child inherits its groups (and
 *     their counters) with an empty table: a flight that was running in the
 *     parent has no leader in the child, so it ends there as a hand-off
 *     (a wait of the forking thread on it returns SF_EHANDOFF; a new call
 *     of its key leads a new run), and the subscriptions on it are dropped
 *     without a call (their callbacks belong to the parent's threads). The
 *     inherited flights leave the `live` and `in_table` gauges; their
 *     memory and the tickets of the parent's other threads are not
 *     reclaimed in the child. A leader that forks while it runs its work
 *     ends in the child with its own outcome from sf_do() (or sf_finish(),
 *     singleflight_binding.h); sf_complete() of it there is SF_EINVAL. The parent is not affected.
 *
 * The header is plain C (C89 with 64-bit integers from <stdint.h>) and is
 * read unedited by C++, cgo, bindgen and cffi.
 */
#ifndef SINGLEFLIGHT_H
#define SINGLEFLIGHT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#define SF_BEGIN_DECL extern "C" {
#define SF_END_DECL }
#else
#define SF_BEGIN_DECL
#define SF_END_DECL
#endif

#if defined(_WIN32)
#define SF_EXTERN(type) __declspec(dllimport) type
#elif defined(__GNUC__) || defined(__clang__)
#define SF_EXTERN(type) __attribute__((visibility("default"))) type
#else
#define SF_EXTERN(type) type
#endif

SF_BEGIN_DECL

/* ======================================================================== */
/* 1. Versions and statuses                                                 */
/* ======================================================================== */

/* The version of this header. The library's own is sf_version(); a binding
 * checks both: the header at build time, the library at load time.
 * MAJOR changes break the ABI (and bump the soname); MINOR adds functions,
 * statuses or appended struct fields; PATCH changes no interface. */
#define SF_VERSION_MAJOR 0
#define SF_VERSION_MINOR 1
#define SF_VERSION_PATCH 0
#define SF_VERSION_NUMBER (SF_VERSION_MAJOR * 10000 + SF_VERSION_MINOR * 100 + SF_VERSION_PATCH)

/** The library's version as SF_VERSION_NUMBER computes it. Since: 0.1 */
SF_EXTERN(unsigned) sf_version(void);

/** The library's version as "MAJOR.MINOR.PATCH"; static, never NULL. */
SF_EXTERN(const char *) sf_version_string(void);

/** An address unique to this loaded copy of the engine. Two callers that
 * see the same value use the same engine (and so the same named groups);
 * bindings compare it to prove there is one engine per process. */
SF_EXTERN(const void *) sf_engine_id(void);

/** What a call returns. The numbers are pinned. */
typedef enum sf_status {
  SF_OK = 0,        /**< the work succeeded; result->value holds its bytes (may be NULL) */
  SF_EWORK = 1,     /**< the work returned an error; result->error holds its bytes (may be NULL) */
  SF_EPANIC = 2,    /**< the work aborted (C++ exception, Rust panic, Go panic, bad status);
                         result->error holds a readable message */
  SF_EINVAL = 3,    /**< a bad argument; nothing was run, nothing changed */
  SF_ENOMEM = 4,    /**< out of memory; nothing was run, nothing changed */
  SF_EDEADLK = 5,   /**< the calling thread leads the flight it is waiting for */
  SF_ETIMEDOUT = 6, /**< a wait reached its deadline; the flight goes on for the others */
  SF_ECANCELED = 7, /**< a wait was cancelled (sf_cancel()); the flight goes on for the others */
  SF_EHANDOFF = 8,  /**< the leader left without completing: not an outcome of the work.
                         Leave, then join again; one of the callers leads a new run.
                         sf_do() and every binding's Do retry by themselves. */
  SF_ENOBYTES = 9   /**< the leader's outcome is a native value of another language
                         that has no byte form; result->error holds a message naming it */
} sf_status;

/** A readable name for any status value, e.g. "SF_ETIMEDOUT: the wait reached
 * its deadline". Static; never NULL, also for values outside the enum. */
SF_EXTERN(const char *) sf_status_str(sf_status status);

/* ======================================================================== */
/* 2. Bytes                                                                  */
/* ======================================================================== */

/** An immutable, refcounted buffer. Every participant of a flight receives
 * its own reference to the same sf_bytes (the same data pointer). */
typedef struct sf_bytes sf_bytes;

/** A copy of `len` bytes at `data`. `data` may be NULL only when `len` is 0
 * (the empty buffer).
 * @return a new reference (release with sf_bytes_release()), or NULL on bad
 *         input or no memory. */
SF_EXTERN(sf_bytes *) sf_bytes_new(const void *data, size_t len);

/** Adopts memory the caller owns, without a copy. When the last reference
 * goes, `release(ctx)` runs exactly once, on whichever thread drops that
 * reference; it must not call back into the engine's bytes of the same
 * buffer. `release` may be NULL for memory that outlives every reference
 * (static data).
 * `release(ctx)` runs exactly once even when this call fails: on bad input
 * (NULL `data` with a nonzero `len`) or no memory it runs before NULL is
 * returned, so the caller never has to clean up twice.
 * @return a new reference, or NULL on bad input or no memory. */
SF_EXTERN(sf_bytes *) sf_bytes_wrap(void *data, size_t len, void (*release)(void *ctx), void *ctx);

/** Takes one more reference. @return `bytes` (NULL stays NULL). */
SF_EXTERN(sf_bytes *) sf_bytes_retain(sf_bytes *bytes);

/** Drops one reference; the last frees the buffer. NULL is a no-op. */
SF_EXTERN(void) sf_bytes_release(sf_bytes *bytes);

/** Borrowed; valid while a reference to `bytes` is held. Never NULL for a
 * valid buffer (an empty buffer has a valid pointer); NULL for NULL. */
SF_EXTERN(const void *) sf_bytes_data(const sf_bytes *bytes);

/** The length in bytes; 0 for NULL. */
SF_EXTERN(size_t) sf_bytes_len(const sf_bytes *bytes);

/* ======================================================================== */
/* 3. Groups                                                                 */
/* ======================================================================== */

/** A namespace of flights keyed by arbitrary bytes ("a\0b" and "a\0c" are
 * different keys). Thread-safe and refcounted. */
typedef struct sf_group sf_group;

/** A new, private group. @return a new reference (release with
 * sf_group_release()), or NULL only when out of memory. */
SF_EXTERN(sf_group *) sf_group_new(void);

/** The process-wide group called `name` (1 or more arbitrary bytes),
 * created on first open. Components that never pass a pointer to each other
 * (a Go service and the Rust library it links) dedup by opening the same
 * name. A named group lives while anyone holds a reference; once the last
 * goes, a later open creates it afresh.
 * @return a new reference, or NULL on bad input (NULL or empty name) or no
 *         memory. */
SF_EXTERN(sf_group *) sf_group_open(const void *name, size_t name_len);

/** Takes one more reference. @return `group` (NULL stays NULL). */
SF_EXTERN(sf_group *) sf_group_retain(sf_group *group);

/** Drops one reference. Flights in progress still finish and deliver their
 * outcome to everyone in them; the group's memory goes when the last
 * reference and the last flight are gone. NULL is a no-op. May be called
 * from inside a work function. */
SF_EXTERN(void) sf_group_release(sf_group *group);

/** Counters of one group since it was created. All fields count events,
 * except the last two, which are gauges. Fields are only ever appended. */
typedef struct sf_stats {
  uint64_t flights;       /**< flights started (one per leader) */
  uint64_t followers;     /**< joins that followed a flight already running */
  uint64_t forgets;       /**< flights forgotten while running (sf_forget, sf_forget_unshared) */
  uint64_t panics;        /**< flights that ended with SF_EPANIC */
  uint64_t timeouts;      /**< callers that gave up at their deadline: waits with a
                               positive timeout that reached it, plus what bindings
                               report through sf_group_count_giveup()
                               (singleflight_binding.h) */
  uint64_t cancellations; /**< callers that were cancelled: waits that returned
                               SF_ECANCELED, plus what bindings report through
                               sf_group_count_giveup() */
  uint64_t handoffs;      /**< flights whose leader left without completing */
  uint64_t abandoned;     /**< times a running flight was left by every waiter */
  uint64_t in_table;      /**< gauge: flights a new caller would join right now */
  uint64_t live;          /**< gauge: flights still held by a ticket (0 when idle:
                               anything else is a leaked ticket) */
  /* Fleet groups (section 6); 0 for every other group. Since: 0.1 */
  uint64_t fleet_led;         /**< fleet flights this process led (it held the lease) */
  uint64_t fleet_joined;      /**< flights that ended with another process's outcome */
  uint64_t fleet_taken_over;  /**< leads won from a leader whose lease had run out */
  uint64_t fleet_fenced;      /**< completions the server refused: the lease was lost */
  uint64_t fleet_leases_lost; /**< lease renewals refused (another process took over) */
  uint64_t fleet_fallbacks;   /**< flights run locally because the server was unreachable,
                                   slow or failing (the circuit breaker was open) */
  uint64_t fleet_too_large;   /**< values over max_value_bytes: published as a marker by
                                   this process's leader, or received as one (then the
                                   work ran here) */
  uint64_t fleet_reconnects;  /**< connections to the server made again after a loss */
} sf_stats;

/** Fills `stats` (of `stats_size` bytes: pass sizeof(sf_stats); a smaller
 * size from an older header gets the fields that fit).
 * @return SF_OK, or SF_EINVAL for a NULL group or stats or a size smaller
 *         than one field. */
SF_EXTERN(sf_status) sf_group_stats(const sf_group *group, sf_stats *stats, size_t stats_size);

/* Latency histograms. A group can record two histograms:
 *   SF_LATENCY_WAIT — how long followers waited: per wait ticket of a
 *     follower, from its sf_join() (or sf_do(), sf_join_or_meet()) to
 *     the sf_wait() that handed it the outcome, or to its sf_leave() once
 *     the outcome is there (a binding whose callers wait on a rendezvous
 *     of their own); once per ticket. The first caller of a fleet flight
 *     that waited for another process's outcome counts as a follower. Not
 *     counted: leaders, waits that ended in a hand-off, or left before the
 *     outcome (a timeout, a cancellation), and callers a binding took
 *     in through sf_join_or_meet() (their binding waits for them on a
 *     ticket of its own, which is counted once).
 *   SF_LATENCY_WORK — how long the work ran: per flight this process led,
 *     from the leader's join to its completion (sf_complete(), sf_finish(),
 *     sf_finish_alone(), sf_do()). Not counted: flights that ended in a
 *     hand-off, flights completed with another process's outcome.
 * Recording reads the clock twice per flight (and once more per follower),
 * which would double the cost of the cheapest flights, so it is off until
 * sf_group_record_latency() turns it on for the group. The metrics
 * exporters of the bindings turn it on for the groups they export.
 *
 * Buckets are fixed powers of two of nanoseconds: bucket i (0 <= i < 31)
 * counts samples d with SF_LATENCY_BOUND_NS(i - 1) < d <=
 * SF_LATENCY_BOUND_NS(i) (bucket 0 every d <= 1.024 µs), the last bucket
 * every d over SF_LATENCY_BOUND_NS(30) (2^40 ns, about 18 minutes). The
 * buckets are not cumulative. Since: 0.1 */

/** Which histogram sf_group_latency() reads. The numbers are pinned. */
typedef enum sf_latency_kind {
  SF_LATENCY_WAIT = 0, /**< followers' waits */
  SF_LATENCY_WORK = 1  /**< the work's runs */
} sf_latency_kind;

/** How many buckets an sf_histogram has; pinned. */
#define SF_LATENCY_BUCKETS 32

/** The upper bound (inclusive, in nanoseconds) of bucket `i`, for
 * 0 <= i < SF_LATENCY_BUCKETS - 1; the last bucket has none. */
#define SF_LATENCY_BOUND_NS(i) ((uint64_t)1 << (10 + (i)))

/** One histogram of a group since it was created (while recording was on).
 * Fields are only ever appended. */
typedef struct sf_histogram {
  uint64_t count;                       /**< samples: the sum of the buckets */
  uint64_t sum_ns;                      /**< the samples' total, in nanoseconds */
  uint64_t buckets[SF_LATENCY_BUCKETS]; /**< samples per bucket (see above) */
} sf_histogram;

/** Turns the recording of the group's latency histograms on (`on` nonzero)
 * or off. Flights that began while it was off are not recorded when they
 * end; the histograms keep what they recorded. The group is the same for
 * every binding that opened its name: one caller's switch is everyone's.
 * Any thread.
 * @return SF_OK; SF_EINVAL (NULL group); SF_ENOMEM (the first time on,
 *         nothing changed: recording stays off). Since: 0.1 */
SF_EXTERN(sf_status) sf_group_record_latency(sf_group *group, int on);

/** Fills `out` (of `out_size` bytes: pass sizeof(sf_histogram); a smaller
 * size from an older header gets the fields that fit) with the histogram
 * `which` (an sf_latency_kind) of the group: all zero if recording was
 * never on. Read while flights end, a sample may be in `sum_ns` and not yet
 * in its bucket (or the reverse). Any thread.
 * @return SF_OK, or SF_EINVAL for a NULL group or out, an unknown `which`,
 *         or a size smaller than one field. Since: 0.1 */
SF_EXTERN(sf_status) sf_group_latency(const sf_group *group, int which, sf_histogram *out,
                                      size_t out_size);

/* ======================================================================== */
/* 4. sf_do — the blocking call                                              */
/* ======================================================================== */

/** The work. Runs once per flight, on the leader's thread, with no engine
 * lock held; it may call the engine (other keys, other groups, sf_forget).
 * Returns SF_OK and sets *value (or leaves it NULL), or SF_EWORK and sets
 * *error (or leaves it NULL), or SF_EPANIC with a readable message in *error
 * (how a binding reports that its work panicked; a panic with no message,
 * or an empty one, gets the engine's default message). Ownership of what it
 * sets passes to the engine, whatever it returns. Any other return value
 * (any int) is a bug in the caller: the flight ends with SF_EPANIC and a
 * message naming the value. A
 * C++ work function that throws ends the flight with SF_EPANIC and the
 * exception's message. */
typedef sf_status (*sf_work_fn)(void *userdata, sf_bytes **value, sf_bytes **error);

/** What a call hands over. On every status all three fields are written:
 * pointers NULL where there is nothing to hand over, so a caller can always
 * release both. */
typedef struct sf_result {
  sf_bytes *value; /**< a new reference, or NULL: release it */
  sf_bytes *error; /**< a new reference, or NULL: release it */
  int shared;      /**< nonzero when this outcome went to more than one caller */
} sf_result;

/** Runs `work(userdata, ...)` for `key`, or joins the flight already running
 * for it, and blocks until the outcome. A NULL key with length 0 is the empty
 * key. If the leader of the flight hands off (split API), sf_do joins again
 * by itself; it never returns SF_EHANDOFF.
 * Mimic: x/sync singleflight Group.Do. Differences: outcomes are bytes, a
 * panic is a status, and re-entering one's own key is SF_EDEADLK, not a hang.
 * @return the outcome's status: SF_OK, SF_EWORK, SF_EPANIC (result->error has
 *         the message) or SF_ENOBYTES; or SF_EINVAL (NULL group, work or
 *         result, NULL key with nonzero length; work not run), SF_ENOMEM
 *         (work not run), SF_EDEADLK (this thread is running the work of this
 *         very flight; not counted as a caller of it: neither `followers`
 *         nor the leader's `shared` sees it). */
SF_EXTERN(sf_status) sf_do(sf_group *group, const void *key, size_t key_len, sf_work_fn work,
                           void *userdata, sf_result *result);

/** Makes the next caller of `key` start a new flight; callers already in
 * the running flight still get its outcome. Forgetting a key with no flight
 * is SF_OK. @return SF_OK, or SF_EINVAL. */
SF_EXTERN(sf_status) sf_forget(sf_group *group, const void *key, size_t key_len);

/** Forgets `key` only if nobody but its leader has joined the running flight
 * (Go's internal ForgetUnshared). *forgotten (which may be NULL) is set to 1
 * when the key is now free (forgotten, or no flight), 0 when followers keep
 * the flight. @return SF_OK, or SF_EINVAL. */
SF_EXTERN(sf_status) sf_forget_unshared(sf_group *group, const void *key, size_t key_len,
                                        int *forgotten);

/* ======================================================================== */
/* 5. The split API                                                          */
/* ======================================================================== */
/*
 * sf_do() blocks the caller's thread and runs the work through a callback.
 * The split API takes the same steps one by one:
 *
 *   sf_join()      — join the flight of a key, or start it. Every caller gets
 *                    a *wait ticket*; the leader also gets a *work ticket*,
 *                    the right (and the duty) to complete the flight.
 *   sf_complete()  — with the work ticket: deliver the outcome to everyone.
 *   sf_wait()      — with a wait ticket: the outcome, with a deadline.
 *   sf_subscribe() — with a wait ticket: a callback when the outcome is ready.
 *   sf_cancel()    — with a wait ticket: wake its blocked sf_wait().
 *   sf_leave()     — give a ticket back. Every ticket must be left once.
 *
 * Waiters and the work are counted apart, so the work can run apart from the
 * caller who started it (a goroutine, a shared future, an asyncio task): a
 * caller who gives up leaves its wait ticket and the work goes on for the
 * others. When every wait ticket has left and the flight has not completed,
 * it is *abandoned*: sf_on_abandoned() tells the holder of the work ticket,
 * which may stop the work early. A caller who joins an abandoned flight lifts
 * the abandonment; if the work had already stopped, its holder leaves the
 * work ticket without completing (a *hand-off*) and the newcomer leads a
 * fresh run.
 *
 * A flight stays in the group's table until it completes, hands off or is
 * forgotten, so two runs of one key never overlap unless someone forgot it.
 *
 * Memory ordering: whatever the leader wrote before sf_complete() is visible
 * to every waiter once its sf_wait() returns the outcome, or its subscribed
 * callback runs.
 *
 * Native values: beside its bytes, an outcome can carry an opaque value of
 * one binding's own language (a Go handle, a Rust Arc<T>, a Python object),
 * tagged with that binding's sf_native_kind. Waiters of the same kind read it
 * with sf_wait_native(); waiters of another kind (and C callers) read the
 * bytes, or, where the leader gave no value bytes, get SF_ENOBYTES with a
 * message naming the kind.
 */

/** One participant's hold on a flight: opaque; not copyable; valid from
 * sf_join() until sf_leave(). A ticket is used by one caller at a time,
 * except sf_cancel(), which any thread may call while the ticket is held. */
typedef struct sf_ticket sf_ticket;

/** Identifies a binding's native values. Each binding defines one static
 * sf_native_kind per loaded copy of itself; its address is the tag, so two
 * copies of a binding never mistake each other's values. */
typedef struct sf_native_kind {
  const char *name; /**< the language, for messages ("go", "rust", "python") */
  /** Releases one native value of this kind: called exactly once per value
   * handed to the engine, on whichever thread drops the flight's last
   * ticket, with no engine lock held. Must not block. */
  void (*release)(void *value);
} sf_native_kind;

/** Flags for sf_join(). */
#define SF_JOIN_RUN_HERE \
  1u /**< if this caller leads, it runs the work on this
                                 thread before it waits: a blocking wait on the
                                 flight from this thread is then SF_EDEADLK, not
                                 a hang (a leader re-entering its own key) */

/** Joins the flight of `key`, or starts one.
 * @param flags 0, or SF_JOIN_RUN_HERE.
 * @param wait  set to a new wait ticket (for every caller).
 * @param work  set to a new work ticket if this caller leads, NULL if it
 *              follows. The holder must sf_complete() the flight, or leave
 *              the work ticket without completing to hand off.
 * @return SF_OK; SF_EINVAL (NULL group, wait or work, NULL key with nonzero
 *         length, unknown flag; nothing changed); SF_ENOMEM (nothing changed).
 *         Both ticket pointers are written NULL on failure. */
SF_EXTERN(sf_status) sf_join(sf_group *group, const void *key, size_t key_len, unsigned flags,
                             sf_ticket **wait, sf_ticket **work);

/** Completes the flight with its outcome and wakes every waiter (after every
 * engine lock is released). Takes ownership of `value` and `error` whatever
 * it returns. The key is free again for a new flight.
 * @param status SF_OK, SF_EWORK or SF_EPANIC (with no error, or an empty
 *               one, the engine's default message); any other value (any
 *               int) completes the flight with SF_EPANIC and a message
 *               naming it.
 * @return SF_OK; SF_EINVAL for a NULL ticket, a wait ticket, or a flight
 *         already completed (the references are released, nothing changes). */
SF_EXTERN(sf_status) sf_complete(sf_ticket *work, sf_status status, sf_bytes *value,
                                 sf_bytes *error);

/** sf_complete() with a native value of `kind` beside the bytes (see above).
 * The engine owns `native` whatever this returns: it calls kind->release on
 * it exactly once (at once on failure). A NULL kind means no native value. */
SF_EXTERN(sf_status) sf_complete_native(sf_ticket *work, sf_status status, sf_bytes *value,
                                        sf_bytes *error, const sf_native_kind *kind, void *native);

/** Waits for the outcome. `timeout_ns` < 0 waits as long as it takes, 0 polls,
 * > 0 waits at most that many nanoseconds (steady clock). May be called again
 * after SF_ETIMEDOUT; each outcome returned hands over new references.
 * @return the outcome's status (SF_OK, SF_EWORK, SF_EPANIC, SF_ENOBYTES) with
 *         *result filled; or, with *result empty: SF_ETIMEDOUT (the flight
 *         goes on), SF_ECANCELED (sf_cancel() was called on this ticket),
 *         SF_EHANDOFF (the leader left without completing: leave and join
 *         again), SF_EDEADLK (a blocking wait, timeout_ns != 0, from the
 *         thread that leads the flight with SF_JOIN_RUN_HERE and has not
 *         completed it; a poll is SF_ETIMEDOUT as usual; a follower's ticket
 *         told so stops counting as a caller of the flight: `followers`,
 *         `shared` and sf_forget_unshared() do not see it), SF_EINVAL (NULL ticket
 *         or result, or a work ticket). */
SF_EXTERN(sf_status) sf_wait(sf_ticket *wait, int64_t timeout_ns, sf_result *result);

/** sf_wait() for a binding with native values of `kind`. When the outcome
 * carries a native value of that kind, *native is set to it (borrowed: valid
 * until this ticket is left) and the status is the outcome's; otherwise
 * *native is NULL and everything is as sf_wait(). `native` may not be NULL;
 * `kind` may (then it is exactly sf_wait()). */
SF_EXTERN(sf_status) sf_wait_native(sf_ticket *wait, int64_t timeout_ns, const sf_native_kind *kind,
                                    sf_result *result, void **native);

/** A callback for sf_subscribe() and sf_on_abandoned(). It runs once, on the
 * thread that completes (or abandons) the flight, after every engine lock is
 * released. It must not block: it wakes a Go channel, a Rust Waker, an
 * asyncio future. Its "own" ticket is the one it was registered on: the
 * wait ticket for sf_subscribe(), the work ticket for sf_on_abandoned(). It
 * may call any engine function, sf_wait(own, 0, ...) and sf_leave(own)
 * included, except sf_leave() of another ticket of the same flight. */
typedef void (*sf_notify_fn)(void *userdata);

/** Calls `fn(userdata)` once when the outcome of the flight is ready (or the
 * leader hands off); at once, on this thread, before returning, if it already
 * is. One subscription per wait ticket. After sf_leave() of the ticket
 * returns, the callback has either run to its end or never will.
 * @return SF_OK; SF_EINVAL (NULL ticket or fn, a work ticket, or a ticket
 *         already subscribed). */
SF_EXTERN(sf_status) sf_subscribe(sf_ticket *wait, sf_notify_fn fn, void *userdata);

/** Makes a blocked (or the next) sf_wait() on this wait ticket return
 * SF_ECANCELED, unless the outcome is already there. Sticky; any thread
 * may call it while the ticket is held. The flight goes on for the others.
 * @return SF_OK, or SF_EINVAL (NULL ticket or a work ticket). */
SF_EXTERN(sf_status) sf_cancel(sf_ticket *wait);

/** Calls `fn(userdata)` at most once, when every wait ticket of the flight has
 * left before it completed; at once, on this thread, if that is so already.
 * The holder may stop the work; it then completes the flight anyway, or
 * leaves the work ticket to hand off to callers who joined since.
 * After the work ticket is left, the callback has either run or never will.
 * @return SF_OK; SF_EINVAL (NULL ticket or fn, a wait ticket, or a callback
 *         already set). */
SF_EXTERN(sf_status) sf_on_abandoned(sf_ticket *work, sf_notify_fn fn, void *userdata);

/** 1 if every wait ticket of the flight has left and it has not completed
 * (abandoned right now), else 0; 0 for NULL. Any ticket of the flight. */
SF_EXTERN(int) sf_abandoned(const sf_ticket *ticket);

/** Gives a ticket back; the ticket is invalid afterwards. Every ticket from
 * sf_join() must be left exactly once.
 *  - A wait ticket: this caller stops waiting. If it was the last waiter and
 *    the flight has not completed, the flight is abandoned. An unfired
 *    subscription is dropped (or, if firing, waited for).
 *  - A work ticket of a flight not completed: a hand-off. The flight leaves
 *    the table and every waiter is woken with SF_EHANDOFF.
 * NULL is a no-op. */
SF_EXTERN(void) sf_leave(sf_ticket *ticket);

/* ======================================================================== */
/* 6. Fleet groups                                                           */
/* ======================================================================== */
/*
 * A fleet group is a named group whose flights are shared by every process
 * that opened the same name on the same Redis (or Valkey) server: when 8
 * workers of a host, or 40 hosts, stampede one key, the work runs once in
 * the whole fleet and every caller gets the same bytes (`shared` set).
 * To its callers it is a named group like any other: sf_do(), the split
 * API, deadlines, cancellation, sf_forget() and the counters work as in
 * sections 3 to 5, and nothing changes for the bindings.
 *
 * How it works
 *   - Local first: the callers of one process join one local flight; only
 *     that flight talks to the server, so the server sees one conversation
 *     per process and key however many callers wait.
 *   - The engine owns the network: one I/O thread per server per process,
 *     shared by every fleet group of the process on that server (each
 *     with its own connections), speaks to the server (hiredis); it runs
 *     while the process has a fleet group on that server. A server that
 *     does not answer delays only the fleet groups on it (for up to their
 *     connect_timeout_ms or command_timeout_ms each time it is tried).
 *     The first caller of a key does not lead at once: it waits, as every
 *     caller after it, through the ordinary sf_wait()/sf_subscribe(),
 *     while the I/O thread asks the server. If the fleet has an outcome
 *     for the flight, every local caller gets it. If this process is to
 *     lead, the flight is handed off
 *     (SF_EHANDOFF, which sf_do() and every binding's Do retry by
 *     themselves) and the caller who joins again first leads it, holding a
 *     *lease* and a *fencing token*; the I/O thread renews the lease while
 *     the work runs and publishes the outcome when it completes. If another
 *     process leads, the I/O thread waits for its completion notice, or for
 *     its lease to run out (a crashed leader: then exactly one process
 *     takes over); a process that saw that leader's started notice before
 *     its caller came sends the server nothing while it waits. A split-API user sees SF_EHANDOFF as section 5 says and
 *     joins again.
 *   - No caller thread blocks on the network: the I/O thread publishes a
 *     leader's completion; the leader does not wait for it.
 *   - Fencing: a leader whose lease ran out (it stalled; another process
 *     took over) still hands its outcome to its own local callers, but the
 *     server refuses its completion: no other process ever reads it. The
 *     work can read its token (sf_fence_token()) to fence its own writes.
 *   - Never worse than local: when the server is unreachable, slow (a
 *     command timeout) or failing, a circuit breaker makes the group a
 *     local-only group (each process dedups its own callers) and tries the
 *     server again after a cool-down; pending flights are handed to local
 *     leaders at once. A caller never sees a Redis error, and never waits
 *     past its own deadline because of the network.
 *   - Values cross as bytes only: a leader's native-only value gives
 *     callers in other processes SF_ENOBYTES; a value (or error) over
 *     max_value_bytes is not published: the other processes run the work
 *     themselves (stats.fleet_too_large).
 *   - Nothing is cached: a caller who arrives after a flight completed
 *     starts a new one, unless linger_ms asks the server to keep the last
 *     outcome that long.
 *   - fork(): the I/O threads stay in the parent, so in a child process the
 *     fleet groups it inherited run local flights only (stats.fleet_fallbacks
 *     counts them) and never touch the parent's connections; their names
 *     stay taken in the child.
 *   - Abandonment is fleet-wide: when every local caller of a leader's
 *     flight left before it completed, sf_on_abandoned() fires (and
 *     sf_abandoned() reads 1) only once no caller of any process waits for
 *     that leader either: the leader's process asks the server, calls the
 *     roll of the processes that wait without having asked the server,
 *     and is abandoned if none answers within a third of the lease (at
 *     most 500 ms); the last waiting process that answered tells it when
 *     it leaves. A caller who joins meanwhile keeps the flight going. With the server unreachable (or the lease
 *     lost) the flight is abandoned as a local one.
 *
 * The server: Redis 5 or later (or Valkey). Every key of one flight lives
 * in one cluster hash slot ({prefix:group:key} hash tags, group name and
 * key in hex); the completion notices of a group go to one channel,
 * "prefix:group:done" (group in hex), which the I/O thread subscribes to
 * before it asks the server anything.
 *
 * Built without hiredis (meson -Dfleet=disabled, or libhiredis missing),
 * sf_group_open_fleet() checks its options as usual and returns a local
 * named group of that name (among the fleet names, apart from
 * sf_group_open()'s), and sf_fence_token() reads 0.
 */

/** The version of sf_fleet_options this header describes. */
#define SF_FLEET_OPTIONS_VERSION 1

/** Options of a fleet group. Initialize with SF_FLEET_OPTIONS_INIT, then
 * set the fields you need; every 0 or NULL means the default. Fields are
 * only ever appended; `version` says which ones the caller knows. */
typedef struct sf_fleet_options {
  unsigned version; /**< SF_FLEET_OPTIONS_VERSION */
  /** The server: "redis://[[user]:password@]host[:port][/db]" (port 6379,
   * db 0 by default), "unix:///path/to/socket[?db=N]", or a plain socket
   * path starting with '/'. NULL: the SF_REDIS_URL environment variable,
   * else "redis://127.0.0.1:6379". Copied: need not outlive the call. */
  const char *url;
  /** The first part of every Redis key and channel name; NULL: "sf". Must
   * not contain '{', '}' or ':'. Copied. */
  const char *key_prefix;
  uint32_t lease_ms;           /**< a leader's lease, renewed while the work runs; a
                                    crashed leader is taken over after it. 0: 5000 */
  uint32_t max_value_bytes;    /**< largest value (or error) published; 0: 1 MiB */
  uint32_t connect_timeout_ms; /**< 0: 1000 */
  uint32_t command_timeout_ms; /**< a reply later than this trips the breaker; 0: 1000 */
  uint32_t linger_ms;          /**< keep the last outcome of a key this long for
                                    newcomers; 0: nothing cached */
  uint32_t cooldown_ms;        /**< the breaker stays open (local flights) this long
                                    before it tries the server again; 0: 1000 */
} sf_fleet_options;

/** The defaults, for `sf_fleet_options o = SF_FLEET_OPTIONS_INIT;`. */
#define SF_FLEET_OPTIONS_INIT \
  { SF_FLEET_OPTIONS_VERSION, NULL, NULL, 0, 0, 0, 0, 0, 0 }

/** The process-wide fleet group called `name` (1 or more arbitrary bytes),
 * created on first open with `options` (NULL: the defaults); later opens of
 * the same name in this process share it, with its first options. Other
 * processes share its flights when they open the same name on the same
 * server with the same key prefix (and should use the same lease). The
 * connection is made in the background: an unreachable server is no error
 * (flights wait at most connect_timeout_ms for it, then run locally until
 * it answers).
 * Release with sf_group_release(): the release of the last reference
 * waits until the completions queued so far are published (at most
 * connect_timeout_ms + 2 x command_timeout_ms), so a process may exit right
 * after it; once the last flight is gone too, the group leaves the I/O
 * thread, and the thread stops with the process's last fleet group on that
 * server.
 * @return a new reference, or NULL on bad input (NULL or empty name, an
 *         unknown options version, a URL that does not parse, a bad prefix)
 *         or no memory. Since: 0.1 */
SF_EXTERN(sf_group *) sf_group_open_fleet(const void *name, size_t name_len,
                                          const sf_fleet_options *options);

/** The fencing token of a fleet flight's leader: a number the server hands
 * out per key, larger for every new lead, so a store that remembers the
 * largest token it saw can refuse the writes of a leader that was taken
 * over. `work` is the leader's work ticket; NULL means the work of the
 * sf_do() running on this thread (its work function sees no ticket).
 * *token is 0 when the flight is local (not a fleet group, the breaker
 * open, a value too large elsewhere). Any thread, while the ticket is held.
 * @return SF_OK; SF_EINVAL (NULL token, a wait ticket, or NULL outside an
 *         sf_do() work function), with *token 0 where it can be written.
 * Since: 0.1 */
SF_EXTERN(sf_status) sf_fence_token(const sf_ticket *work, uint64_t *token);

SF_END_DECL

#endif /* SINGLEFLIGHT_H */
