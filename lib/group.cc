// group.cc — a group's lifetime (creation, dying, freeing with its last
// flight) and its counters. Flights are in lifecycle.cc, the table in
// table.cc, named groups in registry.cc.
#include "group.h"

#include "detail/alloc.h"
#include "fleet/hooks.h"
#include "flight_cache.h"
#include "fork.h"

namespace sf {
namespace {

void destroy_group(Group *g) noexcept {
  fork_untrack(g);
  detail::destroy(g);
}

}  // namespace

void shard_idle_while_dying(Group *g) noexcept {
  if (g->dying_shards.fetch_sub(1, std::memory_order_acq_rel) == 1) destroy_group(g);
}

}  // namespace sf

sf_group::sf_group() {
  for (auto &s : shards) s.group = this;
}

sf_group::~sf_group() {
  if (fleet) sf::fleet_free(fleet);
  for (auto &s : shards) {
    sf::tickets_free(s.tickets);
    if (s.buckets != s.inline_buckets) sf::detail::deallocate(s.buckets);
  }
}

namespace sf {

Group *group_new() noexcept {
  Group *g = detail::make<Group>();
  if (!g) return nullptr;
  fork_track(g);
  return g;
}

void group_dying(Group *g) noexcept {
  if (g->fleet) fleet_flush(g->fleet);  // its queued completions go out first
  g->dying_shards.store(kShards + 1, std::memory_order_relaxed);
  for (auto &s : g->shards) {
    bool idle;
    {
      std::lock_guard<detail::SpinMutex> lk(s.mu);
      s.dying = true;
      idle = s.live == 0 && s.orphans == 0;
    }
    if (idle) shard_idle_while_dying(g);
  }
  shard_idle_while_dying(g);
}

void group_count_giveup(Group *g, sf_status reason) noexcept {
  // Any shard will do: the counters are summed on read. The caller's thread
  // picks one, so give-ups of different threads rarely share a line.
  static std::atomic<unsigned> next{0};
  thread_local unsigned mine = next.fetch_add(1, std::memory_order_relaxed);
  Shard &s = g->shards[mine % kShards];
  (reason == SF_ETIMEDOUT ? s.timeouts : s.cancellations).fetch_add(1, std::memory_order_relaxed);
}

void group_stats(const Group *g, sf_stats *out) noexcept {
  *out = sf_stats{};
  for (auto &cs : g->shards) {
    auto &s = const_cast<Shard &>(cs);
    std::lock_guard<detail::SpinMutex> lk(s.mu);
    out->flights += s.flights;
    // A re-entry was counted at its join, before its wait took it back.
    out->followers += s.followers + s.attached_followers.load(std::memory_order_relaxed) -
                      s.reentries.load(std::memory_order_relaxed);
    out->forgets += s.forgets;
    out->in_table += s.count;
    out->live += s.live;
    out->panics += s.panics.load(std::memory_order_relaxed);
    out->timeouts += s.timeouts.load(std::memory_order_relaxed);
    out->cancellations += s.cancellations.load(std::memory_order_relaxed);
    out->handoffs += s.handoffs.load(std::memory_order_relaxed);
    out->abandoned += s.abandoned.load(std::memory_order_relaxed);
  }
  if (g->fleet) fleet_stats(g->fleet, out);
}

}  // namespace sf
