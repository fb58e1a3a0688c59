// bytes.h — sf_bytes: an immutable, refcounted buffer.
//
// A buffer either holds a copy of its data inline, right after the header
// (sf_bytes_new: one allocation), or adopts memory the caller owns together
// with a release callback (sf_bytes_wrap). The refcount is the only mutable
// state; data and length never change, so any number of threads may read a
// buffer they hold a reference to. The callback runs exactly once, on the
// thread that drops the last reference.
#pragma once

#include <atomic>
#include <cstddef>

#include "singleflight_binding.h"

struct sf_bytes {
  std::atomic<std::size_t> refs;
  const void *data;
  std::size_t len;
  void (*release)(void *ctx);  // nullptr for inline copies and static memory
  void *ctx;
};

namespace sf {

// A new buffer holding a copy of `s` (NUL not included); nullptr when out of
// memory. For engine messages.
sf_bytes *bytes_from_string(const char *s) noexcept;

}  // namespace sf
