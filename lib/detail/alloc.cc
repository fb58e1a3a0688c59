#include "detail/alloc.h"

#include <atomic>
#include <cstdlib>

#include <stdlib.h>  // posix_memalign

namespace sf::detail {
namespace {
// Countdown to an injected failure; negative means none. Read with a relaxed
// load on every allocation and written only by tests, so its line stays
// shared by every core; on a line of its own, away from anything written.
alignas(64) std::atomic<long> g_fail_after{-1};
// Allocations of this thread: a work function that allocates its value on
// every run (sf_bytes_new) bumps no counter that another core writes.
thread_local unsigned long t_count = 0;

// Whether a test made this allocation fail.
bool injected_failure() noexcept {
  return g_fail_after.load(std::memory_order_relaxed) >= 0 &&
         g_fail_after.fetch_sub(1, std::memory_order_relaxed) == 0;
}
}  // namespace

void *allocate(std::size_t size) noexcept {
  if (injected_failure()) return nullptr;
  void *p = std::malloc(size ? size : 1);
  if (p) ++t_count;
  return p;
}

void *allocate_aligned(std::size_t size, std::size_t alignment) noexcept {
  if (injected_failure()) return nullptr;
  if (alignment < sizeof(void *)) alignment = sizeof(void *);  // posix_memalign's minimum
  void *p = nullptr;
  if (posix_memalign(&p, alignment, size ? size : 1) != 0) return nullptr;
  ++t_count;
  return p;
}

// posix_memalign()ed memory is freed with free() too.
void deallocate(void *p) noexcept { std::free(p); }

void fail_allocation_after(long n) noexcept {
  g_fail_after.store(n < 0 ? -1 : n, std::memory_order_relaxed);
}

unsigned long allocation_count() noexcept { return t_count; }

}  // namespace sf::detail
