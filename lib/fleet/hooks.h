// fleet/hooks.h — what the local engine asks of a fleet group.
//
// A fleet group is a named group with a Fleet attached (sf_group::fleet);
// for every other group the pointer is null and none of these is called.
// The engine calls them at these points of a flight's life:
//
//   a new flight of a fleet group starts (shard lock held) → fleet_new_flight
//     says who the first caller is: a plain local leader (the breaker is
//     open, or a grant without a token), the leader of a fleet flight (a
//     grant with a fencing token), or a waiter of a flight whose work ticket
//     the fleet's I/O thread holds (fleet_hold, after the lock is released);
//   a leader holding a fencing token, or one of a local grant (kLocalGrant),
//   completes → fleet_leader_done;
//   such a leader leaves without completing → fleet_leader_left;
//   a held flight handed to a local leader wakes its waiters →
//     fleet_handed_off, and each of them leaves its ticket → fleet_rejoined;
//   every local waiter of a leader holding a fencing token left before it
//   completed → fleet_leader_alone: the fleet asks the server whether callers
//   of other processes still wait, and abandons the flight
//   (group_fleet_abandon) only when none does.
//
// None of them blocks on the network: they queue for the I/O thread.
// Built without hiredis (fleet/disabled.cc), fleet_attach attaches nothing,
// so the others are never reached.
#pragma once

#include <cstddef>
#include <cstdint>

#include "singleflight_binding.h"

struct sf_group;

namespace sf {

struct Fleet;
struct FleetConfig;
struct Flight;

// Creates the fleet of a fleet group just created (under the registry
// lock) and registers it with the I/O thread of its server (io_thread.h),
// starting the thread if none runs; false when out of resources. Built
// without hiredis it attaches nothing and returns true.
bool fleet_attach(sf_group *g, const FleetConfig &config, const void *name,
                  std::size_t len) noexcept;

enum class FleetRole : std::uint8_t {
  kLocal,       // lead a plain local flight (token 0)
  kLocalGrant,  // lead a local flight the I/O thread handed off (token 0): its
                // completion and its leaving are told as a token leader's are
  kLead,        // lead the fleet flight: *token is the fencing token
  kHold,        // wait: the I/O thread takes the work ticket (fleet_hold)
};

// Under the shard lock of `key`; takes only the fleet's own short lock.
// A leader (kLead, kLocalGrant) gets the hand-off it leads for in *handoff.
FleetRole fleet_new_flight(Fleet *fleet, const void *key, std::size_t len, std::uint64_t *token,
                           std::uint64_t *handoff) noexcept;

// After the shard lock is released: the I/O thread owns `work` from now on.
void fleet_hold(Fleet *fleet, sf_ticket *work) noexcept;

// A leader with a fencing token (or of a local grant: token 0), leading for
// the hand-off `handoff`, completed (before its flight leaves the table and
// its waiters are woken; the outcome is still the caller's); `callers`
// joined its flight so far. The fleet takes its own references.
void fleet_leader_done(Fleet *fleet, const void *key, std::size_t len, std::uint64_t token,
                       std::uint64_t handoff, std::uint32_t callers, sf_status status,
                       sf_bytes *value, sf_bytes *error, const sf_native_kind *kind) noexcept;

// Such a leader left without completing (a hand-off of its own).
void fleet_leader_left(Fleet *fleet, const void *key, std::size_t len, std::uint64_t token,
                       std::uint64_t handoff) noexcept;

// The I/O thread's hand-off `handoff` of a held flight woke `waiters` wait
// tickets (no lock held, before they are woken); each of their callers
// joins again, and fleet_rejoined() counts its ticket's leaving. The ones
// still to leave when the hand-off's leader completes are late: their new
// flights take that leader's outcome instead of running the work again.
void fleet_handed_off(Fleet *fleet, std::uint64_t handoff, int waiters) noexcept;
void fleet_rejoined(Fleet *fleet, std::uint64_t handoff) noexcept;

// Every local waiter of the flight `f`, led with fencing token f->fence,
// left before it completed (no lock held; f->fleet_asking set). The fleet
// takes one reference to `f`, given back through group_fleet_abandon. False
// if it cannot ask (a forked child, no memory): the caller abandons at once.
bool fleet_leader_alone(Fleet *fleet, Flight *f) noexcept;

// Adds the fleet's counters to `out` (the fleet_* fields).
void fleet_stats(const Fleet *fleet, sf_stats *out) noexcept;

// Called when the group's last user reference goes (group_dying), before
// flights that still hold it end: waits until the I/O thread has acted on
// every post made so far and sent what they asked (a completion, above
// all), at most connect_timeout_ms + 2 × command_timeout_ms. A process
// that exits right after releasing its groups so publishes its
// completions, even when a flight's reference delays ~sf_group. Returns at
// once on an I/O thread and in a forked child.
void fleet_flush(Fleet *fleet) noexcept;

// Called from ~sf_group: the I/O thread of its server finishes the fleet
// (a last flush of its completions; the thread ends with the last fleet
// on that server) and the fleet is freed, by its I/O thread when called
// on an I/O thread.
void fleet_free(Fleet *fleet) noexcept;

}  // namespace sf
