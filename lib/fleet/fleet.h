// fleet/fleet.h — one fleet group's link to the server: the grants the
// engine's threads claim, the queue they post to, and the I/O thread that
// runs the protocol (scripts.h) for every flight of the group in this
// process.
//
// A flight of a fleet group, seen from this process:
//
//   first caller joins ──▶ held (its work ticket is the fleet's)
//     held ──join script──▶ done: complete it with the fleet's outcome
//                         ▶ lead T: grant T, hand off; the caller who joins
//                           again first leads with token T (the lease is
//                           renewed until its completion is published)
//                         ▶ wait: until the notice of the leader's
//                           completion, or its lease's end; join again
//     held ──server lost──▶ grant "local", hand off: a plain local flight
//     held ──every caller left──▶ dropped (the work ticket left)
//
// Who runs the join script. The first caller of an sf_do() (a thread that
// blocks anyway) runs it itself on a direct link (connection.h) taken from
// the fleet's pool, while the I/O thread is subscribed (live_epoch): one
// round trip, no thread hop. A wait is then handed to the I/O thread, which
// completes the flight from the notice. Every other held flight (the split
// API's, a re-join, one after a failed direct join) is the I/O thread's.
// A leader that runs in an sf_do() sends its completion script on a direct
// link without waiting for the reply; the I/O thread reads it (drain).
//
// Threads. The engine's threads touch only the grant_mu state (taken
// under a shard lock: the I/O thread calls nothing under grant_mu), the
// inbox (inbox_mu) and the pool of direct links (direct_mu). Everything
// else belongs to the I/O thread, which calls the engine (complete, leave)
// with none of the fleet's locks held.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fleet/breaker.h"
#include "fleet/connection.h"
#include "fleet/keys.h"
#include "fleet/options.h"
#include "singleflight_binding.h"

struct sf_group;

namespace sf {

using Clock = std::chrono::steady_clock;

// The next local leader of a key, decided by the I/O thread.
struct Grant {
  std::string key;
  std::uint64_t token;  // 0: a plain local flight
  int handed = 0;       // local callers the hand-off woke (the leader among them)
};

// A local leader that claimed a grant, while it runs: its token (0: a
// local grant) and the callers its hand-off woke (grant_mu).
struct LocalRun {
  std::string key;
  std::uint64_t token;
  int handed;
};

// Local callers woken by a hand-off who joined again only after the local
// leader of `token` had finished: their new flights read that leader's
// outcome instead of leading a new run (grant_mu).
struct Stragglers {
  std::string key;
  std::uint64_t token;
  int left;  // new flights of `key` that still read it
  Clock::time_point until;
};

// The outcome of such a leader, kept for the callers its hand-off woke who
// joined again only after it finished: their new flights are held and
// completed with it instead of running the work again (grant_mu). Kept
// until `left` flights took it, or `until`.
struct LocalOutcome {
  std::string key;
  int left;   // new flights of `key` that still take it
  int holds;  // held flights of `key` the I/O thread has yet to complete with it
  sf_status status;
  sf_bytes *value, *error;  // owned references
  Clock::time_point until;
};

// What the engine's threads tell the I/O thread.
struct Post {
  // kHold: a held flight; kDone: a leader's completion (to send, or sent
  // on `link`); kLeft: a leader left (release its lease); kLed: a direct
  // join took the lease (renew it); kRelease: a lease a direct join took
  // and did not use.
  enum Kind { kHold, kDone, kLeft, kLed, kRelease } kind;
  sf_ticket *work = nullptr;  // kHold
  std::uint64_t waited = 0;   // kHold: the token waited on (0: none)
  bool waiting = false;       // kHold: a direct join's wait, until retry_at
  Clock::time_point retry_at{};
  std::uint64_t epoch = 0;       // kHold: the live_epoch the direct join ran in
  Clock::time_point taken_at{};  // kLed: when the lease was taken
  std::string key;               // kDone, kLeft, kLed, kRelease
  std::uint64_t token = 0;       // kDone, kLeft, kLed, kRelease
  DirectLink *link = nullptr;    // kDone: sent on it; the I/O thread reads the reply
  sf_status status = SF_OK;      // kDone
  sf_bytes *value = nullptr;     // kDone: owned references
  sf_bytes *error = nullptr;
  std::string native_name;  // kDone: a native-only value of this binding
  bool native_only = false;
  bool too_large = false;  // kDone: over max_value_bytes, not published
};

// A held flight (I/O thread).
struct Pending {
  enum State { kQueued, kSent, kWaiting } state = kQueued;
  struct Fleet *fleet = nullptr;
  sf_ticket *work = nullptr;
  std::string key;
  FlightKeys keys;
  std::uint64_t waited = 0;  // the token of the leader waited on
  Clock::time_point retry_at{};
  std::atomic<bool> abandoned{false};  // set by the sf_on_abandoned callback
};

// A lease this process holds, or a grant not yet claimed (I/O thread).
struct Lease {
  std::string key;
  FlightKeys keys;
  std::uint64_t token = 0;  // 0: a local grant, no lease
  Clock::time_point renew_at{};
  Clock::time_point claim_by{};  // unclaimed grant: given up after this
  bool claimed = false;
};

// A completion notice the I/O thread read lately: a direct join's wait
// handed over after it is joined again (I/O thread).
struct RecentNotice {
  std::size_t key_hash;
  std::uint64_t token;
};

struct Fleet {
  explicit Fleet(const FleetConfig &c, const void *name, std::size_t len);
  ~Fleet();

  FleetConfig config;
  std::string hex_group, channel;
  Breaker breaker;

  std::atomic<std::uint64_t> led{0}, joined{0}, taken_over{0}, fenced{0}, leases_lost{0},
      fallbacks{0}, too_large{0}, reconnects{0};

  std::mutex grant_mu;
  std::vector<Grant> grants;                 // grant_mu
  std::vector<LocalRun> local_runs;          // grant_mu
  std::vector<LocalOutcome> local_outcomes;  // grant_mu
  std::vector<Stragglers> stragglers;        // grant_mu
  std::atomic<int> local_debt{0};  // flights to run locally (a post that could not be made)

  std::mutex inbox_mu;
  std::vector<Post> inbox;  // inbox_mu
  bool stopping = false;    // inbox_mu
  bool detached = false;    // inbox_mu: the I/O thread frees the fleet itself
  int wake_fd[2] = {-1, -1};

  // Nonzero while the I/O thread is connected and subscribed: a number of
  // its own per connection. The script names (sha) are set before it is
  // first nonzero and never change.
  std::atomic<std::uint64_t> live_epoch{0};
  std::string sha[kScripts];
  std::mutex direct_mu;
  std::vector<std::unique_ptr<DirectLink>> direct_free;  // direct_mu

  std::thread thread;
  // The fork generation the fleet was made in (fleet_forked()): a child
  // process has no I/O thread, so its fleet groups are local.
  unsigned generation = 0;

  // ---- I/O thread ----
  Connection conn;
  bool ever_connected = false;
  std::uint64_t epochs = 0;
  std::list<std::unique_ptr<Pending>> pendings;
  std::list<Lease> leases;
  std::vector<std::unique_ptr<DirectLink>> draining;  // owed completion replies
  std::vector<Clock::time_point> draining_since;
  std::vector<RecentNotice> recent;  // a ring of kRecentNotices
  std::size_t recent_next = 0;
  std::vector<Command> outgoing;  // completions and releases to send
  enum Out { kOutJoin, kOutRenew, kOutComplete, kOutRelease };
  std::vector<std::pair<Out, void *>> outgoing_what;

  // Queues `p`; wakes the I/O thread unless the post can wait for its
  // next wake-up (Loop::poll_timeout).
  void post(Post &&p, bool wake_thread = true) noexcept;
  void wake() noexcept;
  void run() noexcept;
};

// Puts a direct link with nothing owed back in the fleet's pool.
void give_link(Fleet *f, std::unique_ptr<DirectLink> link) noexcept;

}  // namespace sf
