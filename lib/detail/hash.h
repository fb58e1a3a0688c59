// detail/hash.h — the hash of a key: picks the shard and the bucket.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace sf::detail {

inline std::uint64_t mix(std::uint64_t a, std::uint64_t b) noexcept {
  __uint128_t r = static_cast<__uint128_t>(a) * b;
  return static_cast<std::uint64_t>(r) ^ static_cast<std::uint64_t>(r >> 64);
}

// A fast 64-bit hash of arbitrary bytes (8 at a time, folded by 128-bit
// multiplication). Not cryptographic: keys come from the program, and each
// shard's chains are short whatever the hash.
inline std::uint64_t hash_bytes(const void *data, std::size_t len) noexcept {
  const auto *p = static_cast<const unsigned char *>(data);
  const std::uint64_t k0 = 0xa0761d6478bd642full, k1 = 0xe7037ed1a0b428dbull;
  std::uint64_t h = k0 ^ (len * k1);
  while (len >= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    h = mix(h ^ w, k1);
    p += 8;
    len -= 8;
  }
  if (len) {
    std::uint64_t w = 0;
    std::memcpy(&w, p, len);
    h = mix(h ^ w ^ (static_cast<std::uint64_t>(len) << 56), k0);
  }
  return mix(h, k1 ^ 0x8ebc6af09c88c6e3ull);
}

}  // namespace sf::detail
