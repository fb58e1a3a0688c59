#include "fork.h"

#include <pthread.h>

#include <atomic>
#include <mutex>

#include "flight_cache.h"
#include "registry.h"

namespace sf {
namespace {

std::mutex &groups_mutex() noexcept {
  static std::mutex mu;  // built on first use: safe from any static initialiser
  return mu;
}
Group *g_groups = nullptr;  // guarded by groups_mutex()
std::atomic<unsigned> g_generation{0};

// Takes (or releases) every lock of the engine below the list's mutex: each
// group's shard mutexes, then the flights' list mutex and every flight
// object's mutex (flight_cache.h), the engine's lock order.
void lock_groups() noexcept {
  for (Group *g = g_groups; g; g = g->live_next)
    for (Shard &s : g->shards) s.mu.lock();
  flights_lock_all();
}

void unlock_groups() noexcept {
  flights_unlock_all();
  for (Group *g = g_groups; g; g = g->live_next)
    for (Shard &s : g->shards) s.mu.unlock();
}

void before_fork() noexcept {
  registry_mutex().lock();
  groups_mutex().lock();
  lock_groups();
}

void after_fork_in_parent() noexcept {
  unlock_groups();
  groups_mutex().unlock();
  registry_mutex().unlock();
}

void after_fork_in_child() noexcept {
  flights_for_each_running(flight_after_fork_locked);
  g_generation.fetch_add(1, std::memory_order_relaxed);
  unlock_groups();
  groups_mutex().unlock();
  registry_mutex().unlock();
}

}  // namespace

void fork_track(Group *g) noexcept {
  static const bool registered =
      pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child) == 0;
  (void)registered;  // without the handlers (no memory) a child inherits what is there
  std::lock_guard<std::mutex> lk(groups_mutex());
  g->live_prev = nullptr;
  g->live_next = g_groups;
  if (g_groups) g_groups->live_prev = g;
  g_groups = g;
}

void fork_untrack(Group *g) noexcept {
  std::lock_guard<std::mutex> lk(groups_mutex());
  if (g->live_prev) g->live_prev->live_next = g->live_next;
  else g_groups = g->live_next;
  if (g->live_next) g->live_next->live_prev = g->live_prev;
  g->live_prev = g->live_next = nullptr;
}

unsigned fork_generation() noexcept { return g_generation.load(std::memory_order_relaxed); }

}  // namespace sf
