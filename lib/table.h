// table.h — a group's shards: each a hash table of running flights with
// its pool of idle follower tickets and its counters (summed on read).
//
// A shard sits on its own cache lines with its own mutex. The table links a
// flight from its leader's join until it completes, hands off or is
// forgotten (Flight::hnext, Flight::linked, under the shard's mutex).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "detail/spin_mutex.h"
#include "flight.h"

struct sf_group;

namespace sf {

using Group = sf_group;

inline constexpr unsigned kShardBits = 6;
inline constexpr unsigned kShards = 1u << kShardBits;
inline constexpr int kTicketPoolMax = 1024;  // idle follower tickets kept per shard
inline constexpr std::uint32_t kInlineBuckets = 4;  // buckets inside the shard's first line

// The first cache line holds everything a fresh key's call touches (the
// lock, the table with its first buckets, the gauges and the flight
// counter), so such a call reads and writes one line of the shard; the rest
// is touched by followers and rarer events.
struct alignas(64) Shard {
  detail::SpinMutex mu;
  // ---- mu ----
  bool dying = false;           // the group has no user reference left
  std::uint32_t count = 0;      // linked flights
  std::uint32_t nbuckets = kInlineBuckets;  // a power of two
  std::uint32_t live = 0;       // flights bound to the shard, not yet recycled
  Flight **buckets = inline_buckets;  // chains through Flight::hnext
  std::uint64_t flights = 0;    // counter: flights led
  Flight *inline_buckets[kInlineBuckets] = {};
  // ---- fixed ----
  alignas(64) Group *group = nullptr;
  // ---- mu ----
  sf_ticket *tickets = nullptr;  // idle follower tickets (chained through next)
  int ticket_count = 0;
  std::uint32_t orphans = 0;     // flights a fork() child inherited (fork.h), not in `live`
  std::uint64_t followers = 0, forgets = 0;  // counters
  // counters bumped outside the shard's mutex (`attached_followers`:
  // callers that joined through a rendezvous, sf_meeting_end)
  // (`reentries`: follower tickets taken back because their join was a
  // leader's work re-entering its own key, SF_EDEADLK)
  std::atomic<std::uint64_t> attached_followers{0}, reentries{0}, panics{0}, timeouts{0},
      cancellations{0}, handoffs{0}, abandoned{0};

  Shard() = default;
  Shard(const Shard &) = delete;
  Shard &operator=(const Shard &) = delete;
};

// The running flight of `key` (hash `h`) in `s`, or null (shard mutex held).
Flight *find(Shard &s, std::uint64_t h, const void *key, std::size_t len) noexcept;
// Links / unlinks a flight (shard mutex held). Linking grows the bucket
// array as the table fills; an allocation failure only lengthens chains.
void link(Shard &s, Flight *f) noexcept;
void unlink(Shard &s, Flight *f) noexcept;

}  // namespace sf
