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

inline std::uint64_t load64(const unsigned char *p) noexcept {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

inline std::uint64_t load32(const unsigned char *p) noexcept {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// A fast 64-bit hash of arbitrary bytes, folded by 128-bit multiplication.
// Short keys (the common case) take two loads that may overlap, never a
// byte loop. Not cryptographic: keys come from the program, and a shard's
// chains stay short whatever the hash.
inline std::uint64_t hash_bytes(const void *data, std::size_t len) noexcept {
  const auto *p = static_cast<const unsigned char *>(data);
  const std::uint64_t k0 = 0xa0761d6478bd642full, k1 = 0xe7037ed1a0b428dbull,
                      k2 = 0x8ebc6af09c88c6e3ull;
  std::uint64_t a = 0, b = 0, seed = k0 ^ len;
  if (len <= 16) {
    if (len >= 8) {
      a = load64(p);
      b = load64(p + len - 8);
    } else if (len >= 4) {
      a = load32(p);
      b = load32(p + len - 4);
    } else if (len > 0) {
      a = (std::uint64_t{p[0]} << 16) | (std::uint64_t{p[len >> 1]} << 8) | p[len - 1];
    }
  } else {
    std::size_t i = len;
    while (i > 16) {
      seed = mix(load64(p) ^ k1, load64(p + 8) ^ seed);
      p += 16;
      i -= 16;
    }
    a = load64(p + i - 16);
    b = load64(p + i - 8);
  }
  return mix(k1 ^ len, mix(a ^ k1, b ^ seed) ^ k2);
}

}  // namespace sf::detail
