// flight.cc — what a ticket's holder does with a joined flight: wait for the
// outcome and read it, subscribe, cancel, watch for abandonment, attach a
// rendezvous; and the running of subscription callbacks. The flight's
// transitions (join, ending, leaving, recycling) are in lifecycle.cc, but
// for a wait that leaves its ticket in the critical section that read the
// outcome (sf_do's followers).
#include "flight.h"

#include <chrono>
#include <cstdio>

#include "bytes.h"
#include "detail/spin_mutex.h"
#include "fleet/hooks.h"
#include "fork.h"
#include "group.h"
#include "latency.h"

namespace sf {
namespace {

// The callback this thread is running, if any, so that a callback may leave
// its own ticket without waiting for itself.
struct Firing {
  sf_ticket *ticket = nullptr;
  bool left = false;
};
thread_local Firing tls_firing;

// How many times a waiter yields before it sleeps.
constexpr int kWaitSpins = 8;

sf_bytes *no_bytes_message(const sf_native_kind *kind) noexcept {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "the leader's value is a native %s value with no byte form: a caller "
                "in another language cannot receive it",
                kind->name ? kind->name : "(unnamed)");
  return bytes_from_string(buf);
}

// Whether no caller waits for the running flight (under mu). A fleet
// leader's flight (fence) is abandoned only once the fleet found no waiter
// in any process either (group_fleet_abandon).
bool abandoned_locked(const Flight *f) noexcept {
  if (f->done) return false;
  return f->fence ? f->abandoned : f->waiters == 0;
}

}  // namespace

// Hands the outcome of a done flight to one waiter (under mu).
sf_status read_outcome(Flight *f, const sf_native_kind *kind, sf_result *result,
                       void **native) noexcept {
  if (f->status == SF_EHANDOFF) return SF_EHANDOFF;
  result->shared = f->joined > 1;
  if (f->native_kind && f->native_kind == kind) *native = f->native;
  if (f->status == SF_OK && f->native_kind && f->native_kind != kind && !f->value) {
    if (!f->nobytes_message) f->nobytes_message = no_bytes_message(f->native_kind);
    result->error = sf_bytes_retain(f->nobytes_message);
    return SF_ENOBYTES;
  }
  result->value = sf_bytes_retain(f->value);
  result->error = sf_bytes_retain(f->error);
  return f->status;
}

void fire_chain(sf_ticket *chain) noexcept {
  for (sf_ticket *t = chain; t;) {
    sf_ticket *next = t->next;
    sf_notify_fn fn = t->fn;
    void *ud = t->ud;
    Firing saved = tls_firing;
    tls_firing = Firing{t, false};
    fn(ud);
    bool left = tls_firing.left;
    tls_firing = saved;
    // A callback that left its own ticket gave it back already.
    if (!left) t->notify.store(Notify::kFired, std::memory_order_release);
    t = next;
  }
}

void set_firing(sf_ticket *t) noexcept {
  t->firing_generation.store(fork_generation(), std::memory_order_relaxed);
  t->notify.store(Notify::kFiring, std::memory_order_relaxed);
}

void await_not_firing(sf_ticket *t) noexcept {
  if (tls_firing.ticket == t) {
    tls_firing.left = true;
    return;
  }
  while (t->notify.load(std::memory_order_acquire) == Notify::kFiring) {
    if (t->firing_generation.load(std::memory_order_relaxed) != fork_generation()) {
      t->notify.store(Notify::kFired, std::memory_order_release);  // its thread is not here
      return;
    }
    std::this_thread::yield();
  }
}

sf_status flight_wait(sf_ticket *t, std::int64_t timeout_ns, const sf_native_kind *kind,
                      sf_result *result, void **native, bool *left) noexcept {
  if (left) *left = false;
  if (t->role != Role::kWait) return SF_EINVAL;
  Flight *f = t->flight;
  Shard &s = *f->shard;
  using clock = std::chrono::steady_clock;
  clock::time_point deadline{};
  if (timeout_ns > 0) {
    // Clamp so that the addition cannot overflow the clock's range.
    const std::int64_t max_ns = std::int64_t{1} << 62;
    deadline = clock::now() + std::chrono::nanoseconds(timeout_ns < max_ns ? timeout_ns : max_ns);
  }
  std::unique_lock<detail::SpinMutex> lk(f->mu);
  bool spun = false;
  for (;;) {
    if (f->done) {
      sf_status st = read_outcome(f, kind, result, native);
      const std::int64_t began_ns = latency_take_wait(f, t);  // once per ticket
      if (!left) {
        lk.unlock();
        latency_wait_ended(s, began_ns);
        return st;
      }
      // Leave in the same critical section (sf_do's followers): the flight
      // is done, so no abandonment and no subscription left to fire.
      *left = true;
      if (t->notify.load(std::memory_order_relaxed) == Notify::kArmed) {
        if (t->prev) t->prev->next = t->next;
        else f->subs = t->next;
        if (t->next) t->next->prev = t->prev;
        t->notify.store(Notify::kFired, std::memory_order_relaxed);
      }
      --f->waiters;
      if (t != &f->lead_wait) keep_spare(f, t);
      const std::uint64_t rejoins = rejoining_handoff(f);
      lk.unlock();
      if (rejoins) fleet_rejoined(s.group->fleet, rejoins);
      latency_wait_ended(s, began_ns);  // before the group may go with its last flight
      flight_release(f, 1);
      return st;
    }
    if (t->canceled) {
      s.cancellations.fetch_add(1, std::memory_order_relaxed);
      return SF_ECANCELED;
    }
    if (timeout_ns == 0) return SF_ETIMEDOUT;
    if (f->run_here && f->work_held && f->run_thread == std::this_thread::get_id()) {
      // The leader's work re-entered its own key. It is no follower: its
      // join is taken back (once per ticket), so neither the leader's
      // `shared` nor the `followers` counter nor sf_forget_unshared sees it.
      if (t != &f->lead_wait && !t->reentered) {
        t->reentered = true;
        --f->joined;
        s.reentries.fetch_add(1, std::memory_order_relaxed);
      }
      return SF_EDEADLK;
    }
    if (!spun) {
      // Most flights end within microseconds; a short spin saves sleeping
      // and being woken (two context switches) for those.
      spun = true;
      lk.unlock();
      for (int i = 0; i < kWaitSpins && !f->finished.load(std::memory_order_acquire); ++i)
        std::this_thread::yield();
      lk.lock();
      continue;
    }
    ++f->sleepers;
    bool expired = false;
    if (timeout_ns < 0) f->cv.wait(lk);
    else expired = f->cv.wait_until(lk, deadline) == std::cv_status::timeout;
    --f->sleepers;
    if (expired && !f->done && !t->canceled) {
      s.timeouts.fetch_add(1, std::memory_order_relaxed);
      return SF_ETIMEDOUT;
    }
  }
}

sf_status flight_subscribe(sf_ticket *t, sf_notify_fn fn, void *ud) noexcept {
  if (t->role != Role::kWait) return SF_EINVAL;
  Flight *f = t->flight;
  {
    std::lock_guard<detail::SpinMutex> lk(f->mu);
    if (t->notify.load(std::memory_order_relaxed) != Notify::kNone) return SF_EINVAL;
    t->fn = fn;
    t->ud = ud;
    if (!f->done) {
      t->prev = nullptr;
      t->next = f->subs;
      if (f->subs) f->subs->prev = t;
      f->subs = t;
      t->notify.store(Notify::kArmed, std::memory_order_relaxed);
      return SF_OK;
    }
    t->notify.store(Notify::kFired, std::memory_order_relaxed);
  }
  fn(ud);  // already done: at once, on this thread
  return SF_OK;
}

sf_status flight_on_abandoned(sf_ticket *t, sf_notify_fn fn, void *ud) noexcept {
  if (t->role != Role::kWork) return SF_EINVAL;
  Flight *f = t->flight;
  {
    std::lock_guard<detail::SpinMutex> lk(f->mu);
    if (t->notify.load(std::memory_order_relaxed) != Notify::kNone) return SF_EINVAL;
    t->fn = fn;
    t->ud = ud;
    if (!abandoned_locked(f)) {
      t->notify.store(Notify::kArmed, std::memory_order_relaxed);
      return SF_OK;
    }
    t->notify.store(Notify::kFired, std::memory_order_relaxed);
  }
  fn(ud);
  return SF_OK;
}

sf_status flight_cancel(sf_ticket *t) noexcept {
  if (t->role != Role::kWait) return SF_EINVAL;
  Flight *f = t->flight;
  bool wake;
  {
    std::lock_guard<detail::SpinMutex> lk(f->mu);
    t->canceled = true;
    wake = f->sleepers > 0;
  }
  // Every sleeper wakes and checks its own ticket; cancels are rare.
  if (wake) f->cv.notify_all();
  return SF_OK;
}

int flight_abandoned(const sf_ticket *t) noexcept {
  Flight *f = t->flight;
  std::lock_guard<detail::SpinMutex> lk(f->mu);
  return abandoned_locked(f);
}

sf_status flight_attach(sf_ticket *t, const sf_native_kind *kind, void *value,
                        void **current) noexcept {
  Flight *f = t->flight;
  std::lock_guard<detail::SpinMutex> lk(f->mu);
  for (int i = 0; i < SF_ATTACH_MAX; ++i) {
    if (f->attach_kind[i] == kind) {
      *current = f->attach[i];
      return SF_OK;
    }
    if (!f->attach_kind[i]) {
      f->attach_kind[i] = kind;
      f->attach[i] = value;
      *current = value;
      return SF_OK;
    }
  }
  *current = nullptr;  // every slot taken by other kinds
  return SF_OK;
}

}  // namespace sf
