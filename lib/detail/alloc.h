// detail/alloc.h — every heap allocation of the engine goes through here.
//
// allocate() returns nullptr when memory runs out (the engine never throws),
// so each caller answers SF_ENOMEM with nothing changed. Tests can make the
// Nth allocation from now fail (fail_allocation_after) to prove that.
#pragma once

#include <cstddef>
#include <new>

namespace sf::detail {

// Uninitialised memory of `size` bytes, suitably aligned for any object, or
// nullptr when out of memory (or when a test injected a failure).
void *allocate(std::size_t size) noexcept;

// Frees what allocate() returned; nullptr is a no-op.
void deallocate(void *p) noexcept;

// Test hook: the allocation `n` calls from now (0 = the next one) fails, once.
// A negative `n` turns injection off. Not part of the ABI.
void fail_allocation_after(long n) noexcept;

// Test hook: how many allocations have succeeded since the process started.
unsigned long allocation_count() noexcept;

// Constructs a T in allocate()d memory; nullptr when out of memory.
template <class T, class... Args>
T *make(Args &&...args) noexcept {
  void *p = allocate(sizeof(T));
  return p ? new (p) T(static_cast<Args &&>(args)...) : nullptr;
}

template <class T>
void destroy(T *p) noexcept {
  if (p) {
    p->~T();
    deallocate(p);
  }
}

}  // namespace sf::detail

