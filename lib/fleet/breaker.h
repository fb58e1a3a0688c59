// fleet/breaker.h — the circuit breaker of a fleet group.
//
// Closed: flights are fleet flights. A failure (unreachable server, a
// timeout, an error reply) opens it: new flights are local, and the I/O
// thread tries the server again once the cool-down has passed; success
// closes it. The engine's threads read only local_only(); the rest is the
// I/O thread's.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace sf {

class Breaker {
 public:
  using Clock = std::chrono::steady_clock;

  explicit Breaker(std::uint32_t cooldown_ms) : cooldown_(std::chrono::milliseconds(cooldown_ms)) {}

  // Any thread: whether new flights must be local.
  bool local_only() const noexcept { return local_only_.load(std::memory_order_acquire); }

  // I/O thread.
  void trip(Clock::time_point now) noexcept {
    local_only_.store(true, std::memory_order_release);
    retry_at_ = now + cooldown_;
  }
  void close() noexcept { local_only_.store(false, std::memory_order_release); }
  bool may_retry(Clock::time_point now) const noexcept { return now >= retry_at_; }
  Clock::time_point retry_at() const noexcept { return retry_at_; }

 private:
  const Clock::duration cooldown_;
  std::atomic<bool> local_only_{false};  // before the first attempt: fleet flights wait for it
  Clock::time_point retry_at_{};
};

}  // namespace sf
