// latency.h — a group's latency histograms (sf_group_latency): how long
// followers waited and how long the work ran.
//
// Off until sf_group_record_latency() turns it on: then the group gets a
// table of per-shard histograms (allocated once, freed with the group), and
// every join stamps its ticket with the steady clock. A flight's work is
// recorded by whoever completes it, a follower's wait by the sf_wait() that
// hands its ticket the outcome, each into the histograms of the flight's
// shard: the lines a shard's callers write anyway, never a line shared by
// the whole group. A read sums the shards, as sf_group_stats() does.
//
// With recording off, a join writes a zero stamp and an end reads it: no
// clock, no atomic, no other line.
#pragma once

#include <atomic>
#include <cstdint>

#include "flight.h"
#include "singleflight.h"

struct sf_group;

namespace sf {

struct Shard;
struct LatencyTable;

// The group's member: owns the table once recording was ever on.
class Latency {
 public:
  Latency() = default;
  ~Latency();
  Latency(const Latency &) = delete;
  Latency &operator=(const Latency &) = delete;

  // sf_group_record_latency.
  sf_status set(bool on) noexcept;
  // sf_group_latency (which is SF_LATENCY_WAIT or SF_LATENCY_WORK).
  void read(int which, sf_histogram *out) const noexcept;
  // The table while recording is on, else null.
  LatencyTable *recording() const noexcept { return recording_.load(std::memory_order_acquire); }
  // The table, once recording was ever on (a stamped ticket's flight has one).
  LatencyTable *table() const noexcept { return table_.load(std::memory_order_acquire); }

 private:
  std::atomic<LatencyTable *> recording_{nullptr};  // table, or null while off
  std::atomic<LatencyTable *> table_{nullptr};      // set once, freed with the group
};

// The steady clock in nanoseconds, never 0.
std::int64_t latency_now() noexcept;

// After a successful join (work null for a follower), by the caller who
// holds the tickets: stamps them while recording is on. A join resets the
// stamps of the tickets it hands out to 0 (reset_ticket).
inline void latency_joined(const Latency &lat, sf_ticket *wait, sf_ticket *work) noexcept {
  if (!lat.recording()) return;  // the join reset both stamps to 0
  const std::int64_t now = latency_now();
  wait->began_ns = now;
  if (work) work->began_ns = now;
}

// Records one sample that began at `began_ns` and ends now into shard `s`.
void latency_record(Shard &s, int which, std::int64_t began_ns) noexcept;

// The work of a flight whose work ticket was stamped `began_ns` ended now.
inline void latency_work_ended(Shard &s, std::int64_t began_ns) noexcept {
  if (began_ns) latency_record(s, SF_LATENCY_WORK, began_ns);
}

// Under f's mutex, for a wait ticket `t` that is read or left: its stamp if
// it is a follower's whose wait ends with the outcome now, else 0; either
// way the ticket is not recorded again. A follower that a binding let wait
// on a rendezvous of its own (a Go channel) leaves its ticket once the
// outcome is there without reading it: its wait ends then.
inline std::int64_t latency_take_wait(Flight *f, sf_ticket *t) noexcept {
  const std::int64_t began_ns = t->began_ns;
  if (!began_ns) return 0;
  t->began_ns = 0;
  const bool follower = t != &f->lead_wait || f->fleet_held;  // a fleet's first caller too
  return follower && f->done && f->status != SF_EHANDOFF ? began_ns : 0;
}

// A follower's ticket stamped `began_ns` got its outcome now.
inline void latency_wait_ended(Shard &s, std::int64_t began_ns) noexcept {
  if (began_ns) latency_record(s, SF_LATENCY_WAIT, began_ns);
}

}  // namespace sf
