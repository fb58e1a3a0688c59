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

// allocate() for a type that asks for more than malloc's alignment (the
// group's shards are alignas(64)): `alignment` is a power of two. Counts
// and fails (injection) as allocate() does.
void *allocate_aligned(std::size_t size, std::size_t alignment) noexcept;

// Frees what allocate() or allocate_aligned() returned; nullptr is a no-op.
void deallocate(void *p) noexcept;

// Test hook: the allocation `n` calls from now (0 = the next one) fails, once.
// A negative `n` turns injection off. Not part of the ABI.
void fail_allocation_after(long n) noexcept;

// Test hook: how many allocations the calling thread has made (succeeded).
unsigned long allocation_count() noexcept;

// Constructs a T in memory with T's alignment; nullptr when out of memory.
template <class T, class... Args>
T *make(Args &&...args) noexcept {
  void *p = alignof(T) > alignof(std::max_align_t) ? allocate_aligned(sizeof(T), alignof(T))
                                                   : allocate(sizeof(T));
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
