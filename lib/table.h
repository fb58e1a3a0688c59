// table.h — a group's shards: each a hash table of running flights with
// its pool of idle follower tickets and its counters (summed on read).
//
// A shard sits on its own cache lines with its own mutex. The table links a
// flight from its leader's join until it ends or is forgotten
// (Flight::hnext, Flight::linked, under the shard's mutex).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "detail/spin_mutex.h"
#include "flight.h"

struct sf_group;

namespace sf {

using Group = sf_group;

inline constexpr unsigned kShardBits = 6;
inline constexpr unsigned kShards = 1u << kShardBits;
inline constexpr int kTicketPoolMax = 1024;         // idle follower tickets kept per shard
inline constexpr std::uint32_t kInlineBuckets = 4;  // buckets inside the shard's first line

// The first cache line holds everything a fresh key's call touches (the
// lock, the table with its first buckets, the gauges and the flight
// counter), so such a call reads and writes one line of the shard; the rest
// is touched by followers and rarer events.
struct alignas(64) Shard {
  detail::SpinMutex mu;
  // ---- mu ----
  bool dying = false;                       // the group has no user reference left
  std::uint32_t count = 0;                  // linked flights
  std::uint32_t nbuckets = kInlineBuckets;  // a power of two
  std::uint32_t live = 0;                   // flights bound to the shard, not yet recycled
  Flight **buckets = inline_buckets;        // chains through Flight::hnext
  std::uint64_t flights = 0;                // counter: flights led
  Flight *inline_buckets[kInlineBuckets] = {};
  // ---- fixed ----
  alignas(64) Group *group = nullptr;
  // ---- mu ----
  sf_ticket *tickets = nullptr;  // idle follower tickets (chained through next)
  int ticket_count = 0;
  std::uint32_t orphans = 0;  // flights a fork() child inherited (fork.h), not in `live`
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

// Doubles the bucket array (shard mutex held). Failing to allocate is
// harmless: the chains just grow longer until a later attempt succeeds.
void grow(Shard &s) noexcept;

// The rest is inline: it is on every call's fast path.
inline std::size_t bucket_of(const Shard &s, std::uint64_t h) noexcept {
  return static_cast<std::size_t>(h >> kShardBits) & (s.nbuckets - 1);
}

inline bool Flight::key_equals(std::uint64_t h, const void *k, std::size_t len) const noexcept {
  return hash == h && key_len == len && (len == 0 || std::memcmp(key, k, len) == 0);
}

// The running flight of `key` (hash `h`) in `s`, or null (shard mutex held).
inline Flight *find(Shard &s, std::uint64_t h, const void *key, std::size_t len) noexcept {
  for (Flight *f = s.buckets[bucket_of(s, h)]; f; f = f->hnext)
    if (f->key_equals(h, key, len)) return f;
  return nullptr;
}

// Links / unlinks a flight (shard mutex held).
inline void link(Shard &s, Flight *f) noexcept {
  if (s.count >= s.nbuckets) grow(s);
  std::size_t b = bucket_of(s, f->hash);
  f->hnext = s.buckets[b];
  s.buckets[b] = f;
  f->linked = true;
  ++s.count;
}

inline void unlink(Shard &s, Flight *f) noexcept {
  Flight **pp = &s.buckets[bucket_of(s, f->hash)];
  while (*pp != f) pp = &(*pp)->hnext;
  *pp = f->hnext;
  f->hnext = nullptr;
  f->linked = false;
  --s.count;
}

}  // namespace sf
