// detail/spin_mutex.h — the shard and flight locks: a test-and-test-and-set spinlock
// that yields.
//
// Their critical sections are a few dozen instructions (find, link,
// unlink, pool push/pop) and call nothing outside the engine, so a
// waiter is better off spinning a moment than sleeping in the kernel and
// paying two context switches. Unlocking is a plain release store, not an
// atomic read-modify-write: on the uncontended fast path that is half the
// atomic cost of a futex mutex, which must exchange to learn whether anyone
// sleeps. A waiter that spins too long (the holder was preempted) yields
// its core so the holder can run. Memory ordering: lock acquires, unlock
// releases, as std::mutex. Not recursive; meets Lockable, so
// std::lock_guard works with it.
#pragma once

#include <atomic>
#include <thread>

namespace sf::detail {

// Tells the core this thread is spinning (lets a sibling hyperthread run).
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

class SpinMutex {
 public:
  SpinMutex() = default;
  SpinMutex(const SpinMutex &) = delete;
  SpinMutex &operator=(const SpinMutex &) = delete;

  void lock() noexcept {
    if (!held_.exchange(true, std::memory_order_acquire)) return;
    lock_slow();
  }

  void unlock() noexcept { held_.store(false, std::memory_order_release); }

  // Whether some thread holds it right now. Acquire: once it reads false
  // after a holder's unlock, that holder's critical section is visible.

 private:
  void lock_slow() noexcept {
    for (;;) {
      for (int i = 0; i < kSpins; ++i) {
        if (!held_.load(std::memory_order_relaxed) &&
            !held_.exchange(true, std::memory_order_acquire))
          return;
        cpu_relax();
      }
      std::this_thread::yield();  // the holder may be waiting for this core
    }
  }

  static constexpr int kSpins = 64;
  std::atomic<bool> held_{false};
};

}  // namespace sf::detail
