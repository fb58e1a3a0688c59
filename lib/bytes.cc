#include "bytes.h"

#include <cstring>

#include "detail/alloc.h"

namespace sf {

sf_bytes *bytes_from_string(const char *s) noexcept { return sf_bytes_new(s, std::strlen(s)); }

}  // namespace sf

extern "C" {

sf_bytes *sf_bytes_new(const void *data, size_t len) {
  if (!data && len) return nullptr;
  if (len > static_cast<size_t>(-1) - sizeof(sf_bytes)) return nullptr;
  void *mem = sf::detail::allocate(sizeof(sf_bytes) + len);
  if (!mem) return nullptr;
  auto *b = static_cast<sf_bytes *>(mem);
  unsigned char *inline_data = reinterpret_cast<unsigned char *>(b + 1);
  if (len) std::memcpy(inline_data, data, len);
  new (&b->refs) std::atomic<std::size_t>(1);
  b->data = inline_data;
  b->len = len;
  b->release = nullptr;
  b->ctx = nullptr;
  return b;
}

sf_bytes *sf_bytes_wrap(void *data, size_t len, void (*release)(void *ctx), void *ctx) {
  // The release callback runs exactly once, also when this call fails.
  if (!data && len) {
    if (release) release(ctx);
    return nullptr;
  }
  void *mem = sf::detail::allocate(sizeof(sf_bytes));
  if (!mem) {
    if (release) release(ctx);
    return nullptr;
  }
  auto *b = static_cast<sf_bytes *>(mem);
  new (&b->refs) std::atomic<std::size_t>(1);
  // An empty wrap of NULL still has a valid data pointer: the header itself.
  b->data = data ? data : static_cast<const void *>(b + 1);
  b->len = len;
  b->release = release;
  b->ctx = ctx;
  return b;
}

sf_bytes *sf_bytes_retain(sf_bytes *bytes) {
  if (bytes) bytes->refs.fetch_add(1, std::memory_order_relaxed);
  return bytes;
}

void sf_bytes_release(sf_bytes *bytes) {
  if (!bytes) return;
  if (bytes->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  void (*release)(void *) = bytes->release;
  void *ctx = bytes->ctx;
  bytes->refs.~atomic();
  sf::detail::deallocate(bytes);
  if (release) release(ctx);
}

const void *sf_bytes_data(const sf_bytes *bytes) { return bytes ? bytes->data : nullptr; }

size_t sf_bytes_len(const sf_bytes *bytes) { return bytes ? bytes->len : 0; }

}  // extern "C"
