#include "latency.h"

#include <chrono>
#include <mutex>

#include "detail/alloc.h"
#include "group.h"

namespace sf {

// One shard's two histograms, on lines of their own.
struct alignas(64) LatencyShard {
  std::atomic<std::uint64_t> buckets[2][SF_LATENCY_BUCKETS] = {};
  std::atomic<std::uint64_t> sum_ns[2] = {};
};

struct LatencyTable {
  LatencyShard shards[kShards];
};

namespace {

// Serializes the first allocation of a table (sf_group_record_latency is rare).
std::mutex g_create_mu;

int bucket_of(std::uint64_t d) noexcept {
  if (d <= SF_LATENCY_BOUND_NS(0)) return 0;
  const int bits = 64 - __builtin_clzll(d - 1);  // d <= 2^bits
  const int i = bits - 10;
  return i < SF_LATENCY_BUCKETS - 1 ? i : SF_LATENCY_BUCKETS - 1;
}

}  // namespace

Latency::~Latency() { detail::destroy(table_.load(std::memory_order_relaxed)); }

sf_status Latency::set(bool on) noexcept {
  if (!on) {
    recording_.store(nullptr, std::memory_order_release);
    return SF_OK;
  }
  LatencyTable *t = table_.load(std::memory_order_acquire);
  if (!t) {
    std::lock_guard<std::mutex> lk(g_create_mu);
    t = table_.load(std::memory_order_acquire);
    if (!t) {
      t = detail::make<LatencyTable>();
      if (!t) return SF_ENOMEM;
      table_.store(t, std::memory_order_release);
    }
  }
  recording_.store(t, std::memory_order_release);
  return SF_OK;
}

void Latency::read(int which, sf_histogram *out) const noexcept {
  *out = sf_histogram{};
  const LatencyTable *t = table();
  if (!t) return;
  for (const LatencyShard &s : t->shards) {
    for (int i = 0; i < SF_LATENCY_BUCKETS; ++i) {
      const std::uint64_t n = s.buckets[which][i].load(std::memory_order_relaxed);
      out->buckets[i] += n;
      out->count += n;
    }
    out->sum_ns += s.sum_ns[which].load(std::memory_order_relaxed);
  }
}

std::int64_t latency_now() noexcept {
  const std::int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                              std::chrono::steady_clock::now().time_since_epoch())
                              .count();
  return ns ? ns : 1;
}

void latency_record(Shard &s, int which, std::int64_t began_ns) noexcept {
  LatencyTable *t = s.group->latency.table();
  if (!t) return;
  const std::int64_t elapsed = latency_now() - began_ns;
  const std::uint64_t d = elapsed > 0 ? static_cast<std::uint64_t>(elapsed) : 0;
  LatencyShard &h = t->shards[&s - s.group->shards];
  h.buckets[which][bucket_of(d)].fetch_add(1, std::memory_order_relaxed);
  h.sum_ns[which].fetch_add(d, std::memory_order_relaxed);
}

}  // namespace sf
