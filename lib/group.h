// group.h — sf_group: a namespace of flights, sharded by key hash, and the
// engine's operations on it (group.cc: lifetime and counters; lifecycle.cc:
// flights; messages.cc: texts; the shards' tables in table.h).
//
// A group holds kShards shards (table.h). A call touches one shard, so callers of
// different keys rarely meet on a lock, and the steady-state fast path (a
// fresh key, no contention) takes the shard mutex twice — to join and to
// complete —, touches one line of the shard, takes its flight from the
// calling thread's cache (flight_cache.h), writes no line shared by the
// whole group or process and allocates nothing.
//
// Lifetime: `refs` counts the user's references. When it reaches zero the
// group is *dying*: flights still running finish and deliver their outcome,
// and the group's memory goes with its last flight (sf_group_release may be
// called from inside a work function). Named groups are kept in the
// registry (registry.h), which owns the 1→0 transition of their refs.
//
// Mimic: x/sync singleflight `Group`. Differences: one mutex per shard
// instead of one per group; flights and tickets are cached per thread; outcomes are
// bytes (plus an optional native value); re-entry is SF_EDEADLK.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>

#include "flight.h"
#include "latency.h"
#include "singleflight_binding.h"
#include "table.h"

struct sf_group;

namespace sf {

struct Fleet;

}  // namespace sf

struct sf_group {
  std::atomic<long> refs{1};
  bool named = false;          // in the registry: its refs go 1→0 under the registry lock
  sf::Fleet *fleet = nullptr;  // a fleet group's link to Redis (fleet/hooks.h); else null
  sf::Latency latency;         // the latency histograms (latency.h)
  // Shards still holding live flights when the group began dying, plus one
  // for the releaser; whoever brings it to zero frees the group.
  std::atomic<unsigned> dying_shards{0};
  sf::Shard shards[sf::kShards];
  // In the process-wide list of groups (fork.h), under its mutex.
  sf_group *live_prev = nullptr, *live_next = nullptr;

  sf_group();
  ~sf_group();
  sf_group(const sf_group &) = delete;
  sf_group &operator=(const sf_group &) = delete;
};

namespace sf {

// ---- the group's lifetime and counters (group.cc) ----

Group *group_new() noexcept;

// Called once, when the user's last reference is gone.
void group_dying(Group *g) noexcept;
// A shard of a dying group has no flight left; the last frees the group.
void shard_idle_while_dying(Group *g) noexcept;
void group_stats(const Group *g, sf_stats *out) noexcept;
// sf_group_count_giveup: a binding's caller gave up (SF_ETIMEDOUT or SF_ECANCELED).
void group_count_giveup(Group *g, sf_status reason) noexcept;

// ---- the flight lifecycle (lifecycle.cc) ----

sf_status group_join(Group *g, const void *key, std::size_t len, unsigned flags, sf_ticket **wait,
                     sf_ticket **work) noexcept;
// sf_join_or_meet: a meeting on the running flight's rendezvous of `kind`
// (a flight reference, no lock held on return), or else a join as sf_join.
sf_status group_join_or_meet(Group *g, const void *key, std::size_t len, unsigned flags,
                             const sf_native_kind *kind, sf_meeting **meeting, void **rendezvous,
                             sf_ticket **wait, sf_ticket **work) noexcept;
// sf_meeting_end: counts the caller if it joined, and drops the reference.
void meeting_end(sf_meeting *m, bool joined) noexcept;
// Statuses that come from outside the engine are plain ints here (abi.cc
// reads them so): whatever is not SF_OK, SF_EWORK or SF_EPANIC ends the
// flight with SF_EPANIC and a message naming the number.
sf_status group_complete(sf_ticket *work, int status, sf_bytes *value, sf_bytes *error,
                         const sf_native_kind *kind, void *native) noexcept;
// sf_leave: a wait ticket leaves (the last one left makes a running flight
// abandoned); a work ticket left before the flight ended hands it off.
void group_leave(sf_ticket *t) noexcept;
sf_status group_forget(Group *g, const void *key, std::size_t len, bool only_unshared,
                       int *forgotten) noexcept;

// The leader's whole ending (sf_finish, and sf_do's): completes the flight,
// fills `result` with the leader's own outcome and leaves both tickets.
// When nobody else holds a ticket, takes one shard lock and no flight lock.
sf_status group_finish_leader(sf_ticket *wait, sf_ticket *work, int status, sf_bytes *value,
                              sf_bytes *error, const sf_native_kind *kind, void *native,
                              sf_result *result) noexcept;

// sf_finish_alone: when the leader's two tickets are the flight's only ones,
// ends it with no outcome (nobody would read one) and returns true; else
// changes nothing and returns false. A status other than SF_OK and SF_EWORK
// counts as a panic.
bool group_finish_alone(sf_ticket *wait, sf_ticket *work, int status, int *shared) noexcept;

// Completes a flight held by the fleet's I/O thread with another process's
// outcome: any status (SF_ENOBYTES included), shared with everyone.
sf_status group_complete_remote(sf_ticket *work, sf_status status, sf_bytes *value,
                                sf_bytes *error) noexcept;

// A fleet leader's flight that every local waiter left (fleet_leader_alone):
// the fleet's answer. With `abandon` (no caller of any process waits, or
// the server is lost), the flight is abandoned as a local one would be,
// unless a local caller joined meanwhile, it completed or it was handed
// off. Drops the reference fleet_leader_alone was given. No lock held.
void group_fleet_abandon(Flight *f, bool abandon) noexcept;

// Releases an outcome that was handed over but rejected (bad input): the
// engine owns what it is given, whatever the call returns.
void discard_outcome(sf_bytes *value, sf_bytes *error, const sf_native_kind *kind,
                     void *native) noexcept;

// In a fork() child, for a flight that was running (not idle), with every
// shard's and every flight's mutex held (fork.cc): takes it out of its
// shard's table; if it had not ended it ends as a hand-off (its
// subscriptions dropped); it becomes an orphan, out of `live`; no lock or
// condition variable of it is left to a thread of the parent.
void flight_after_fork_locked(Flight *f) noexcept;

// ---- messages (messages.cc) ----

// Makes the message of a work function that returned a bad status.
sf_bytes *bad_status_message(int status) noexcept;

// sf_status_str of any integer: static, never null.
const char *status_name(int status) noexcept;

}  // namespace sf
