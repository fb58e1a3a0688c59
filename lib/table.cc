// table.cc — a shard's hash table of running flights (table.h).
#include "table.h"

#include <cstring>

#include "detail/alloc.h"

namespace sf {

static inline std::size_t bucket_of(const Shard &s, std::uint64_t h) noexcept {
  return static_cast<std::size_t>(h >> kShardBits) & (s.nbuckets - 1);
}

Flight *find(Shard &s, std::uint64_t h, const void *key, std::size_t len) noexcept {
  for (Flight *f = s.buckets[bucket_of(s, h)]; f; f = f->hnext)
    if (f->key_equals(h, key, len)) return f;
  return nullptr;
}

// Doubles the bucket array. Failing to allocate is harmless: the chains
// just grow longer until a later attempt succeeds.
static void grow(Shard &s) noexcept {
  const std::uint32_t nb = s.nbuckets * 2;
  auto **nbk = static_cast<Flight **>(detail::allocate(nb * sizeof(Flight *)));
  if (!nbk) return;
  std::memset(nbk, 0, nb * sizeof(Flight *));
  Flight **old = s.buckets;
  const std::uint32_t oldn = s.nbuckets;
  s.buckets = nbk;
  s.nbuckets = nb;
  for (std::uint32_t i = 0; i < oldn; ++i) {
    for (Flight *f = old[i]; f;) {
      Flight *next = f->hnext;
      std::size_t b = bucket_of(s, f->hash);
      f->hnext = nbk[b];
      nbk[b] = f;
      f = next;
    }
  }
  if (old != s.inline_buckets) detail::deallocate(old);
}

void link(Shard &s, Flight *f) noexcept {
  if (s.count >= s.nbuckets) grow(s);
  std::size_t b = bucket_of(s, f->hash);
  f->hnext = s.buckets[b];
  s.buckets[b] = f;
  f->linked = true;
  ++s.count;
}

void unlink(Shard &s, Flight *f) noexcept {
  Flight **pp = &s.buckets[bucket_of(s, f->hash)];
  while (*pp != f) pp = &(*pp)->hnext;
  *pp = f->hnext;
  f->hnext = nullptr;
  f->linked = false;
  --s.count;
}

bool Flight::key_equals(std::uint64_t h, const void *k, std::size_t len) const noexcept {
  return hash == h && key_len == len && (len == 0 || std::memcmp(key, k, len) == 0);
}

}  // namespace sf
