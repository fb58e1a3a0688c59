// fleet/fleet.h — one fleet group's link to the server: the grants the
// engine's threads claim, the queue they post to, and the protocol
// (scripts.h) that the I/O thread of its server (io_thread.h) runs for
// every flight of the group in this process.
//
// A flight of a fleet group, seen from this process:
//
//   first caller joins ──▶ held (the I/O thread holds its work ticket)
//     held, another process's started notice seen (Running) ──▶ wait
//                           silently: no command, until that leader's
//                           notice, its lease's end (then the join script),
//                           or its roll call (then the join script, which
//                           registers it)
//     held ──join script──▶ done: complete it with the fleet's outcome
//                         ▶ lead T: grant T, hand off; the caller who joins
//                           again first leads with token T (the lease is
//                           renewed until its completion is published)
//                         ▶ wait: until the notice of the leader's
//                           completion, or its lease's end; join again
//     held ──server lost──▶ grant "local", hand off: a plain local flight
//     held ──every caller left──▶ dropped (the work ticket left); if the
//                           join answered wait, the leave script unregisters
//                           it, and the last waiter of a token tells that
//                           token's leader (an abandonment notice)
//
// A leader here whose local waiters all left before it completed
// (fleet_leader_alone) is abandoned only when no process waits for its
// token. Its lease's renewal, sent at once, says whether a process is
// registered a waiter; if none is, it publishes a roll call, and the
// processes that wait silently register (a join). The renewal after
// roll_call_wait() abandons it if still none is: a process whose new
// flight comes after the roll call joins, so it registers too. If some
// process is registered, the next renewal or that token's abandonment
// notice asks again. The lease lost, or the server lost: abandoned at
// once, as a local flight.
//
// Threads. The engine's threads touch only what grant_mu guards (taken
// under a shard lock or none: the I/O thread calls nothing under grant_mu)
// and the inbox (under inbox_mu). Everything else belongs to the I/O thread,
// one per server per process, shared by every fleet group on that server
// (io_thread.h), which calls the engine (complete, leave) with none of the
// fleet's locks, and none of its own, held.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "fleet/breaker.h"
#include "fleet/connection.h"
#include "fleet/keys.h"
#include "fleet/options.h"
#include "singleflight_binding.h"

struct sf_group;

namespace sf {

struct Flight;
class IoThread;

using Clock = std::chrono::steady_clock;

// The next local leader of a key, decided by the I/O thread.
struct Grant {
  std::string key;
  std::uint64_t token;    // 0: a plain local flight
  std::uint64_t handoff;  // the hand-off (Handoff::id)
};

// The I/O thread's hand-off of a held flight to a local leader, until that
// leader completes or leaves (grant_mu). When it completes, its hand-off's
// callers who have not joined its flight are late (Stragglers,
// LocalOutcome): at least those still holding their woken ticket, and at
// least `handed` less the callers the leader's flight had (late()).
struct Handoff {
  std::uint64_t id;
  int handed;    // the wait tickets the hand-off woke
  int unjoined;  // ... whose callers have not left them yet to join again
  int late(std::uint32_t callers) const {
    const int fewer = handed - static_cast<int>(callers);
    return fewer > unjoined ? fewer : unjoined;
  }
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
  enum Kind { kHold, kDone, kLeft, kAlone } kind;
  sf_ticket *work = nullptr;  // kHold
  Flight *flight = nullptr;   // kAlone: a reference, for group_fleet_abandon
  std::string key;            // kDone, kLeft, kAlone
  std::uint64_t token = 0;    // kDone, kLeft, kAlone
  int late = 0;               // kDone: callers of the leader's hand-off who did not join it
  sf_status status = SF_OK;   // kDone
  sf_bytes *value = nullptr;  // kDone: owned references
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
  std::string member;        // its field in the flight's waiters hash
  // A join answered wait (or got no answer): the server may count it a waiter.
  bool registered = false;
  // Waits from a started notice (Running): it sent nothing, nor is it registered.
  bool silent() const { return state == kWaiting && !registered; }
  Clock::time_point retry_at{};
  std::atomic<bool> abandoned{false};  // set by the sf_on_abandoned callback
};

// The held flights (I/O thread), with an index by key: a notice finds the
// flights of its key without looking at the others (a process hears of
// every flight of its group in the fleet).
class Pendings {
 public:
  using List = std::list<std::unique_ptr<Pending>>;
  // Adds `p` (its keys set); the reference stays valid until it is erased.
  Pending &add(std::unique_ptr<Pending> p);
  List::iterator erase(List::iterator it) noexcept;
  // Erases the flights given back to the engine (work null).
  void sweep() noexcept;
  void clear() noexcept;
  bool empty() const noexcept { return list_.empty(); }
  List::iterator begin() noexcept { return list_.begin(); }
  List::iterator end() noexcept { return list_.end(); }
  // Calls f(Pending &) for each held flight of the key `hex_key`; f adds
  // and erases none.
  template <class F>
  void of_key(const std::string &hex_key, F &&f) {
    auto range = by_key_.equal_range(hex_key);
    for (auto it = range.first; it != range.second; ++it) f(*it->second);
  }

 private:
  List list_;
  std::unordered_multimap<std::string, Pending *> by_key_;  // by keys.hex_key
};

// A lease this process holds, or a grant not yet claimed (I/O thread).
struct Lease {
  std::string key;
  FlightKeys keys;
  std::uint64_t token = 0;    // 0: a local grant, no lease
  std::uint64_t handoff = 0;  // the grant's hand-off
  Clock::time_point renew_at{};
  Clock::time_point claim_by{};  // unclaimed grant: given up after this
  bool claimed = false;
  bool lost = false;    // a renewal was refused
  bool called = false;  // alone: its roll call was published (the renewal answered 3)
  // The leader's flight while every local waiter of it is gone and processes
  // may still wait for it (fleet_leader_alone): a reference, given back
  // through group_fleet_abandon.
  Flight *alone = nullptr;
};

// Local callers woken by a hand-off who joined again only after the local
// leader had finished: their new flights read that leader's outcome (its
// token) instead of leading a new run (I/O thread).
struct Stragglers {
  std::string key;
  std::uint64_t token;
  int left;  // new flights of `key` that still read it
  Clock::time_point until;
};

// A flight led by some process of the fleet, from its started notice or
// a join's wait (I/O thread): a new held flight of its key waits for it
// silently, until `until` (its lease's end as this process saw it begin)
// or its completion notice. `called`: its leader's roll call came, so a
// new flight of the key joins (registers) instead.
struct Running {
  std::uint64_t token;
  Clock::time_point until;
  bool called;
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
  std::vector<Handoff> handoffs;             // grant_mu
  std::vector<LocalOutcome> local_outcomes;  // grant_mu
  std::string member_prefix;        // this process's fleet in the waiters hashes (pid and address)
  std::uint64_t members = 0;        // I/O thread: held flights so far
  std::uint64_t handoffs_made = 0;  // I/O thread: Handoff::id of the last one
  std::atomic<int> local_debt{0};   // flights to run locally (a post that could not be made)

  std::mutex inbox_mu;
  std::vector<Post> inbox;  // inbox_mu
  // inbox_mu: posts made, and how many of them the I/O thread has acted on
  // (what they asked sent), for fleet_flush.
  std::uint64_t posted = 0, handled = 0;
  std::condition_variable handled_cv;
  bool stopping = false;  // inbox_mu
  bool detached = false;  // inbox_mu: freed on an I/O thread; its loop frees it

  // The loop (and I/O thread) of the fleet's server, which it is registered with.
  IoThread *io = nullptr;
  std::atomic<bool> woken{true};  // a step is due: posts, an abandonment, a new fleet
  bool finished = false;          // IoThread's lock: stopped and forgotten by the I/O thread
  // The fork generation the fleet was made in (fleet_forked()): a child
  // process has no I/O thread of the parent's, so its fleet groups are local.
  unsigned generation = 0;

  // ---- I/O thread ----
  Connection conn;
  bool ever_connected = false;
  Pendings pendings;
  std::list<Lease> leases;
  std::vector<Stragglers> stragglers;
  std::unordered_map<std::string, Running> running;  // by the key in hex
  Clock::time_point prune_at{};                      // running's next sweep of ended leases
  std::vector<Command> outgoing;                     // completions and releases to send
  enum Out { kOutJoin, kOutRenew, kOutComplete, kOutRelease, kOutLeave };
  std::vector<std::pair<Out, void *>> outgoing_what;
  Clock::time_point due = Clock::time_point::min();  // its next step at the latest
  bool broken = false;  // out of memory once: local only, the inbox drained

  // Any thread.
  void post(Post &&p) noexcept;
  void wake() noexcept;

  // I/O thread (IoThread). One protocol step: the posts, the timers, the
  // batch sent and its replies; true once the fleet is stopping and has
  // nothing left to send (its connection closed then: it is finished).
  bool step() noexcept;
  // When it needs its next step, after a step at `now`.
  Clock::time_point next_round(Clock::time_point now) const noexcept;
  // The socket its notices come on; -1 when closed.
  int notice_fd() const noexcept { return conn.notice_fd(); }
  // Reads the notices (notice_fd() readable); true when a step is to
  // follow: they changed a held flight or a lease here, or the connection
  // was lost.
  bool read_notices() noexcept;
};

}  // namespace sf
