// harness.h — one timed run of one scenario with one contender.
//
// The threads are started first and wait at a gate; each then makes its
// calls back to back. A run's time is wall time, from the first thread
// through the gate to the last one done; its time per call is that divided by
// the calls of all threads (so it is the inverse of throughput, and the
// ratio of two contenders is the ratio of their throughputs). Allocations are
// counted on each thread between the gate and its last call, so setting up a
// thread (its value, its keys) is not counted.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "alloc_count.h"
#include "contenders.h"
#include "keys.h"

namespace bench {

struct Scenario {
  const char *name;
  unsigned threads;
  unsigned keys;  // 0: a fresh key on every call; else this many recurring keys
  const char *prefix;
};

struct Run {
  double seconds = 0;
  std::uint64_t calls = 0, runs = 0, shared = 0, allocations = 0;
  double ns_per_call() const { return calls ? seconds * 1e9 / static_cast<double>(calls) : 0; }
};

namespace detail {

using Clock = std::chrono::steady_clock;

struct ThreadRun {
  Clock::time_point start, end;
  std::uint64_t allocations = 0;
  Counts counts;
};

template <class C, class Keys>
ThreadRun calls(C &contender, typename C::Thread &t, Keys &keys, std::uint64_t n,
                const std::atomic<bool> &go) {
  while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
  ThreadRun r;
  const std::uint64_t a0 = thread_allocations();
  r.start = Clock::now();
  for (std::uint64_t i = 0; i < n; ++i) contender.call(t, keys.next());
  r.end = Clock::now();
  r.allocations = thread_allocations() - a0;
  r.counts = t.counts;
  return r;
}

// Unique keys stay unique across runs: each thread of each run takes a
// fresh range of the counter.
inline std::atomic<std::uint64_t> g_unique_next{0};

}  // namespace detail

template <class C>
Run run_once(C &contender, const Scenario &s, std::uint64_t calls_per_thread, std::uint64_t seed) {
  const std::vector<std::string> key_set = bench::key_set(s.prefix, s.keys ? s.keys : 1);
  std::vector<detail::ThreadRun> results(s.threads);
  std::atomic<unsigned> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < s.threads; ++i) {
    threads.emplace_back([&, i] {
      typename C::Thread t = contender.make_thread();
      if (s.keys == 0) {
        UniqueKeys keys(i, detail::g_unique_next.fetch_add(calls_per_thread));
        ready.fetch_add(1);
        results[i] = detail::calls(contender, t, keys, calls_per_thread, go);
      } else {
        RecurringKeys keys(key_set, seed * 64 + i + 1);
        ready.fetch_add(1);
        results[i] = detail::calls(contender, t, keys, calls_per_thread, go);
      }
    });
  }
  while (ready.load() < s.threads) std::this_thread::yield();
  go.store(true, std::memory_order_release);
  for (auto &t : threads) t.join();

  Run run;
  auto first = results[0].start, last = results[0].end;
  for (const auto &r : results) {
    first = std::min(first, r.start);
    last = std::max(last, r.end);
    run.allocations += r.allocations;
    run.runs += r.counts.runs;
    run.shared += r.counts.shared;
  }
  run.seconds = std::chrono::duration<double>(last - first).count();
  run.calls = calls_per_thread * s.threads;
  return run;
}

}  // namespace bench
