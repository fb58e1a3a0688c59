// table.cc — a shard's hash table of running flights (table.h).
#include "table.h"

#include <cstring>

#include "detail/alloc.h"

namespace sf {

void grow(Shard &s) noexcept {
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

}  // namespace sf
