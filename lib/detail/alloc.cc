#include "detail/alloc.h"

#include <atomic>
#include <cstdlib>

namespace sf::detail {
namespace {
// Countdown to an injected failure; negative means none. Read with a relaxed
// load on every allocation: allocations are off the steady-state fast path.
std::atomic<long> g_fail_after{-1};
std::atomic<unsigned long> g_count{0};
}  // namespace

void *allocate(std::size_t size) noexcept {
  if (g_fail_after.load(std::memory_order_relaxed) >= 0) {
    if (g_fail_after.fetch_sub(1, std::memory_order_relaxed) == 0) return nullptr;
  }
  void *p = std::malloc(size ? size : 1);
  if (p) g_count.fetch_add(1, std::memory_order_relaxed);
  return p;
}

void deallocate(void *p) noexcept { std::free(p); }

void fail_allocation_after(long n) noexcept {
  g_fail_after.store(n < 0 ? -1 : n, std::memory_order_relaxed);
}

unsigned long allocation_count() noexcept {
  return g_count.load(std::memory_order_relaxed);
}

}  // namespace sf::detail
