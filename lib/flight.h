// flight.h — one execution of the work for one key, and the tickets that
// hold it.
//
// A Flight is taken by its leader's sf_join() from the leader thread's cache
// (flight_cache.h) and lives until its last ticket is left; then it goes
// back to a thread's cache, for reuse by any group (no heap
// allocation in the steady state) — of the leader's thread, or of the thread
// that left last if the leader's thread exited. Its life:
//
//   running ──complete──▶ done (outcome)        every waiter woken
//      │  ╲
//      │   ╲─every wait ticket left──▶ abandoned (still running; a newcomer
//      │                                           lifts it)
//      └──work ticket left undone──▶ done (SF_EHANDOFF): waiters join again
//
// The transitions are in lifecycle.cc (but for a wait that leaves its
// ticket as it reads the outcome, flight_wait): a flight with an outcome
// ends in one function there (end_flight), a leader alone recycles it with
// no outcome, and a fork() child ends it as a hand-off (see Ending there).
//
// Independently of that, the flight is *linked* into its shard's table from
// join until it ends or is forgotten; only a linked flight can be joined.
//
// Tickets. The leader's two tickets (wait and work) are embedded in the
// flight; followers' wait tickets come from the joining thread's cache, else
// the shard's ticket pool, go to the flight's spare list when left and, when
// the flight is recycled, back to the thread that took each (the recycling
// thread's cache for its own and for an exited thread's; what does not fit
// to the shard's pool). `refs` counts live tickets of every kind
// and meetings (sf_join_or_meet).
//
// Locking. Table linkage (hnext, linked) is guarded by the shard mutex;
// everything marked "mu" by the flight's own mutex. Lock
// order: shard, then flight; never the reverse. No callback (subscription,
// abandonment, native or bytes release) runs under either lock.
//
// Memory ordering: the outcome is written under `mu` before `done` is set;
// a waiter reads it under `mu`, and a subscriber is called after the writer
// released `mu`, so what the leader wrote before completing is visible to
// every waiter.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>

#include "detail/spin_mutex.h"
#include "singleflight_binding.h"

namespace sf {

struct Flight;
struct Shard;
struct Home;  // a thread's return lists (flight_cache.cc)

// State of a ticket's one notification (subscription or abandonment).
enum class Notify : std::uint8_t {
  kNone,    // nothing subscribed
  kArmed,   // subscribed, waiting for the event
  kFiring,  // the event happened; a thread is running the callback
  kFired,   // the callback ran (or was dropped): never again
};

enum class Role : std::uint8_t { kWait, kWork };

}  // namespace sf

// The opaque ABI type is the ticket itself.
struct sf_ticket {
  sf::Flight *flight = nullptr;
  sf::Role role = sf::Role::kWait;
  bool canceled = false;  // mu: sf_cancel() was called
  // mu: a follower ticket of the thread that runs the flight's work, which
  // waited and was told SF_EDEADLK: not counted as a caller of the flight.
  bool reentered = false;
  // The notification: completion for a wait ticket, abandonment for a work
  // ticket. fn/ud/prev/next are written under mu; `notify` is atomic because
  // sf_leave() waits for kFiring to end without the lock.
  std::atomic<sf::Notify> notify{sf::Notify::kNone};
  // The process generation (fork.h) in which `notify` became kFiring: a
  // callback that was firing when the process forked has no thread to end
  // it in the child.
  std::atomic<unsigned> firing_generation{0};
  sf_notify_fn fn = nullptr;
  void *ud = nullptr;
  sf_ticket *prev = nullptr;  // mu: in the flight's subscriber list
  sf_ticket *next = nullptr;  // mu: subscriber list, or the spare list
  // The holder's: when its caller joined, for the latency histograms
  // (latency.h); 0 when not recorded.
  std::int64_t began_ns = 0;
  // The thread whose cache took it, where it goes back when another thread
  // recycles it (flight_cache.h); null: wherever it is recycled.
  sf::Home *home = nullptr;
};

namespace sf {

// Keys up to this length live inside the flight (no allocation).
inline constexpr std::size_t kInlineKey = 64;

struct Flight {
  // ---- shard mutex ----
  Flight *hnext = nullptr;  // next in the bucket chain, or in the pool
  bool linked = false;      // in the table: new callers join this flight
  bool idle = false;        // in a thread's cache or the pool (flight_cache.h)
  bool orphan = false;      // inherited by a fork() child (fork.h): not in `live`
  // ---- the engine-wide list's mutex (flight_cache.cc) ----
  Flight *all_prev = nullptr, *all_next = nullptr;  // every flight object
  // ---- set by flight_take ----
  Home *home = nullptr;  // the thread whose cache it goes back to (flight_cache.h)
  // ---- fixed while the flight lives (set by its leader's join) ----
  Shard *shard = nullptr;
  std::uint64_t hash = 0;
  std::size_t key_len = 0;
  unsigned char *key = nullptr;  // inline_key, or a heap copy of a long key
  // ---- atomic ----
  std::atomic<int> refs{0};           // live tickets
  std::atomic<bool> finished{false};  // mirrors `done` for waiters spinning without mu
  // ---- mu ----
  // A spinlock, as the shard's: the critical sections are short and call
  // nothing outside the engine, and a hot key's callers take this lock from
  // every core at once (a futex mutex there puts them to sleep and wakes them
  // by the thousand). Sleeping waiters use `cv`, which works with any lock.
  detail::SpinMutex mu;
  std::condition_variable_any cv;
  int sleepers = 0;        // threads blocked on cv
  bool done = false;       // the outcome (or a hand-off) is there
  bool work_held = false;  // the work ticket is not yet left
  bool abandoned = false;  // no waiter left, not done
  bool run_here = false;   // the leader runs the work on run_thread
  // fleet groups (fleet/hooks.h); fixed from join until recycled
  bool fleet_held = false;     // the fleet's I/O thread holds the work ticket
  std::uint64_t fence = 0;     // the leader's fencing token; 0: a local flight
  bool fleet_granted = false;  // led through the fleet's local grant (FleetRole::kLocalGrant)
  // The I/O thread's hand-off of a held flight to a local leader: the held
  // flight's (set under mu before it ends) and its leader's; 0: none
  std::uint64_t fleet_handoff = 0;
  // mu: every local waiter of a fleet leader (fence) left, and the fleet is
  // asking whether callers of other processes still wait (fleet_leader_alone)
  bool fleet_asking = false;
  std::thread::id run_thread;  // see SF_JOIN_RUN_HERE
  int waiters = 0;             // live wait tickets
  std::uint32_t joined = 0;    // wait tickets ever handed out
  sf_ticket *subs = nullptr;   // armed subscriptions (doubly linked)
  sf_ticket *spare = nullptr;  // left follower tickets; to the shard's pool at recycle
  sf_ticket *spare_tail = nullptr;
  int spare_count = 0;
  // the outcome (mu; immutable once done)
  sf_status status = SF_OK;
  sf_bytes *value = nullptr;
  sf_bytes *error = nullptr;
  const sf_native_kind *native_kind = nullptr;
  void *native = nullptr;
  sf_bytes *nobytes_message = nullptr;  // made on first foreign read
  // the bindings' rendezvous objects (sf_attach), one per kind
  const sf_native_kind *attach_kind[SF_ATTACH_MAX] = {};
  void *attach[SF_ATTACH_MAX] = {};
  // the leader's tickets
  sf_ticket lead_wait;
  sf_ticket work;
  unsigned char inline_key[kInlineKey];

  Flight() {
    key = inline_key;
    lead_wait.flight = this;
    lead_wait.role = Role::kWait;
    work.flight = this;
    work.role = Role::kWork;
  }
  Flight(const Flight &) = delete;
  Flight &operator=(const Flight &) = delete;

  bool key_equals(std::uint64_t h, const void *k, std::size_t len) const noexcept;
};

// The flight's operations after the join; each takes and releases `mu`
// itself. Defined in flight.cc, except flight_release (lifecycle.cc, with
// the rest of a flight's ending).
// Waits for the outcome (sf_wait_native). With `left`, a wait that returns
// the outcome also leaves the ticket, in the same critical section, and sets
// *left; any other return leaves the ticket held.
sf_status flight_wait(sf_ticket *t, std::int64_t timeout_ns, const sf_native_kind *kind,
                      sf_result *result, void **native, bool *left = nullptr) noexcept;
// Hands the outcome of a done flight to one waiter (under mu).
sf_status read_outcome(Flight *f, const sf_native_kind *kind, sf_result *result,
                       void **native) noexcept;
// Drops `n` ticket references; the last recycles the flight (no lock held).
void flight_release(Flight *f, int n) noexcept;
sf_status flight_subscribe(sf_ticket *t, sf_notify_fn fn, void *ud) noexcept;
sf_status flight_on_abandoned(sf_ticket *t, sf_notify_fn fn, void *ud) noexcept;
sf_status flight_cancel(sf_ticket *t) noexcept;
int flight_abandoned(const sf_ticket *t) noexcept;
sf_status flight_attach(sf_ticket *t, const sf_native_kind *kind, void *value,
                        void **current) noexcept;

// Keeps a left follower ticket on its flight's spare list (under mu).
inline void keep_spare(Flight *f, sf_ticket *t) noexcept {
  t->next = f->spare;
  if (!f->spare) f->spare_tail = t;
  f->spare = t;
  ++f->spare_count;
}

// Runs the callbacks of a detached chain of subscriptions (state kFiring),
// with no lock held, and marks each kFired.
void fire_chain(sf_ticket *chain) noexcept;

// Marks a ticket whose callback is about to fire (under mu).
void set_firing(sf_ticket *t) noexcept;

// Waits (without a lock) until another thread's call of t's callback ends;
// returns at once if this thread is the one running it, or if the callback
// was firing in the parent of a fork() (no thread of this process runs it).
void await_not_firing(sf_ticket *t) noexcept;

// For a wait ticket leaving `f` (mu held): the fleet's hand-off of a held
// flight whose caller joins again now (fleet_rejoined), or 0.
inline std::uint64_t rejoining_handoff(const Flight *f) noexcept {
  return f->fleet_held && f->done && f->status == SF_EHANDOFF ? f->fleet_handoff : 0;
}

}  // namespace sf
