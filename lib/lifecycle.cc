// lifecycle.cc — a flight's whole life: a leader starts it, followers join
// it (with tickets, or through a binding's rendezvous), it ends once (see
// Ending: with an outcome through end_flight, the one way for that; alone
// with no outcome; in a fork() child), its waiters are woken after the locks
// are released, and its last reference recycles it.
#include <cstring>

#include "bytes.h"
#include "detail/alloc.h"
#include "detail/hash.h"
#include "fleet/hooks.h"
#include "flight_cache.h"
#include "fork.h"
#include "group.h"
#include "latency.h"

namespace sf {
namespace {

struct Leftovers {
  sf_bytes *value = nullptr, *error = nullptr, *message = nullptr;
  const sf_native_kind *native_kind = nullptr;
  void *native = nullptr;
  // Left uninitialised (only the first `nattach` are set): zeroing them on
  // every ending was a `rep stos` on the leader's fast path.
  int nattach = 0;
  const sf_native_kind *attach_kind[SF_ATTACH_MAX];
  void *attach[SF_ATTACH_MAX];
  unsigned char *long_key = nullptr;
  sf_ticket *tickets = nullptr;  // the thread's cache and the shard's ticket pool were full
  Group *last_of_dying = nullptr;
  bool any = false;  // anything at all to do

  void release() noexcept {
    if (!any) return;
    if (value) sf_bytes_release(value);
    if (error) sf_bytes_release(error);
    if (message) sf_bytes_release(message);
    if (native_kind && native_kind->release) native_kind->release(native);
    for (int i = 0; i < nattach; ++i)
      if (attach_kind[i]->release) attach_kind[i]->release(attach[i]);
    if (long_key) detail::deallocate(long_key);
    tickets_free(tickets);
    if (last_of_dying) shard_idle_while_dying(last_of_dying);
  }
};

// Resets a flight whose last ticket is gone, unbinds it from its shard and
// gives it to this thread's cache. The caller holds the shard mutex; nobody
// else references `f`.
void recycle_locked(Shard &s, Flight *f, Leftovers &out) noexcept {
  if (f->value || f->error || f->nobytes_message || f->native_kind || f->attach_kind[0] ||
      f->key != f->inline_key) {
    out.any = true;
    out.value = f->value;
    out.error = f->error;
    out.message = f->nobytes_message;
    out.native_kind = f->native_kind;
    out.native = f->native;
    for (int i = 0; i < SF_ATTACH_MAX && f->attach_kind[i]; ++i) {
      out.attach_kind[i] = f->attach_kind[i];
      out.attach[i] = f->attach[i];
      out.nattach = i + 1;
      f->attach_kind[i] = nullptr;
      f->attach[i] = nullptr;
    }
    if (f->key != f->inline_key) out.long_key = f->key;
    f->key = f->inline_key;
    f->value = f->error = f->nobytes_message = nullptr;
    f->native_kind = nullptr;
    f->native = nullptr;
  }
  f->status = SF_OK;
  f->done = f->work_held = f->abandoned = f->run_here = f->fleet_held = false;
  f->fence = 0;
  f->fleet_granted = false;
  f->fleet_handoff = 0;
  f->fleet_asking = false;
  f->finished.store(false, std::memory_order_relaxed);
  f->subs = nullptr;
  // Left follower tickets go to this thread's cache, and what does not fit
  // to the shard, where any flight's followers find them.
  if (f->spare) {
    int rest_n;
    sf_ticket *rest_tail;
    sf_ticket *rest = ticket_give(f->spare, &rest_n, &rest_tail);
    if (rest && s.ticket_count < kTicketPoolMax) {
      rest_tail->next = s.tickets;
      s.tickets = rest;
      s.ticket_count += rest_n;
    } else if (rest) {
      out.any = true;
      out.tickets = rest;
    }
    f->spare = f->spare_tail = nullptr;
    f->spare_count = 0;
  }
  if (f->orphan) {
    f->orphan = false;
    --s.orphans;
  } else {
    --s.live;
  }
  flight_give(f);
  if (s.dying && s.live == 0 && s.orphans == 0) {
    out.any = true;
    out.last_of_dying = s.group;
  }
}

void release_ref(Flight *f, int n = 1) noexcept {
  if (f->refs.fetch_sub(n, std::memory_order_acq_rel) != n) return;
  Shard &s = *f->shard;
  Leftovers left;
  {
    std::lock_guard<detail::SpinMutex> lk(s.mu);
    recycle_locked(s, f, left);
  }
  left.release();
}

void reset_ticket(sf_ticket *t) noexcept {
  t->canceled = false;
  t->reentered = false;
  t->notify.store(Notify::kNone, std::memory_order_relaxed);
  t->fn = nullptr;
  t->ud = nullptr;
  t->prev = t->next = nullptr;
  t->began_ns = 0;
}

// Detaches the armed subscriptions of a flight that is now done (under mu).
sf_ticket *detach_subscriptions(Flight *f) noexcept {
  sf_ticket *chain = f->subs;
  for (sf_ticket *t = chain; t; t = t->next) set_firing(t);
  f->subs = nullptr;
  return chain;
}

// The outcome's status from what the work (or its holder) gave: SF_OK and
// SF_EWORK as they are; any other integer is a panic. A bad status gets a
// message naming it, and a panic without a message (or with an empty one)
// a default message, so every caller's panic carries readable text.
sf_status normalize(int raw, sf_bytes *&value, sf_bytes *&error) noexcept {
  if (raw == SF_OK) return SF_OK;
  if (raw == SF_EWORK) return SF_EWORK;
  if (raw != SF_EPANIC) {
    sf_bytes_release(value);
    sf_bytes_release(error);
    value = nullptr;
    error = bad_status_message(raw);
  } else if (!error || sf_bytes_len(error) == 0) {
    sf_bytes_release(error);
    error = bytes_from_string("the work panicked without a message");
  }
  return SF_EPANIC;
}

// How a flight ends. A flight ends once, in one of these ways:
//
//  - with an outcome, through end_flight() below, the one way for that:
//    sf_complete (Ending::kComplete), another process's outcome given by the
//    fleet (kByFleet), the work ticket left undone (kHandoff: SF_EHANDOFF,
//    the waiters join again), and the leader's finish (kLeader: sf_finish,
//    sf_do's leader);
//  - recycled with no outcome, when the leader's two tickets are the
//    flight's only ones (end_alone_locked: sf_finish_alone, and the leader's
//    finish when nobody else holds a ticket);
//  - in a fork() child, as a hand-off with nobody to wake
//    (flight_after_fork_locked).
enum class Ending : std::uint8_t { kComplete, kByFleet, kHandoff, kLeader };

struct Outcome {
  sf_status status;
  sf_bytes *value, *error;
  const sf_native_kind *kind;
  void *native;
};

// Records the outcome under the flight's mutex and detaches what must be
// woken once the mutex is released (deliver()).
struct Wakeup {
  sf_ticket *chain;
  bool wake;
};

Wakeup end_locked(Flight *f, const Outcome &o) noexcept {
  f->status = o.status;
  f->value = o.value;
  f->error = o.error;
  f->native_kind = o.kind;
  f->native = o.kind ? o.native : nullptr;
  f->done = true;
  f->finished.store(true, std::memory_order_release);
  f->abandoned = false;
  return Wakeup{detach_subscriptions(f), f->sleepers > 0};
}

// Wakes the sleepers and runs the subscriptions, with no lock held.
void deliver(Flight *f, Wakeup w) noexcept {
  if (w.wake) f->cv.notify_all();
  fire_chain(w.chain);
}

// A fleet leader's outcome goes to the fleet too (fleet/hooks.h). Read
// without the flight's lock: only the work ticket's holder completes, and
// it checks `done` again under the lock (a second completion publishes
// nothing the fleet accepts: its lease is gone).
void tell_fleet_done(Flight *f, const Outcome &o) noexcept {
  std::uint32_t callers;
  {
    std::lock_guard<detail::SpinMutex> fl(f->mu);
    if (f->done) return;
    callers = f->joined;
  }
  fleet_leader_done(f->shard->group->fleet, f->key, f->key_len, f->fence, f->fleet_handoff, callers,
                    o.status, o.value, o.error, o.kind);
}

// The ending with no outcome: if only the leader's two tickets are left
// (shard lock held), unlinks the flight, so it takes no newcomer, and
// recycles it, since nobody would read an outcome. True if it did. A meeting
// holds a reference, so a flight someone is meeting on is never alone.
bool end_alone_locked(Shard &s, Flight *f, bool panicked, int *shared, Leftovers &left) noexcept {
  if (f->refs.load(std::memory_order_acquire) != 2 || f->done) return false;
  if (shared) *shared = f->joined > 1;
  if (f->linked) unlink(s, f);
  if (panicked) s.panics.fetch_add(1, std::memory_order_relaxed);
  f->refs.store(0, std::memory_order_relaxed);
  recycle_locked(s, f, left);
  return true;
}

// The leader's own outcome, which nobody else reads: to `own` as it is.
sf_status keep_own(const Outcome &o, int shared, sf_result *own) noexcept {
  own->value = o.value;
  own->error = o.error;
  own->shared = shared;
  if (o.kind && o.kind->release) o.kind->release(o.native);
  return o.status;
}

// Ends `f` with outcome `o`, the one way (see Ending), in this order:
//  1. a fleet leader's outcome goes to the fleet (kComplete, kLeader);
//  2. under the shard's mutex: out of the table, so its key is free for a
//     new run (for kLeader, the ending with no outcome instead if the
//     leader is alone: `o` goes to `own` and the flight is recycled);
//  3. under the flight's mutex: unless the flight ended already, `o` is
//     recorded and a panic or a hand-off counted (before any waiter can see
//     it); the work ticket goes with a hand-off and the leader's finish, and
//     the leader's finish takes its own outcome and leaves its wait ticket;
//  4. a fleet leader's hand-off is told to the fleet, before its waiters
//     join again (the I/O thread's hand-off of a held flight is told in
//     step 2, with the waiters it wakes); the work's time is recorded;
//  5. with no lock held, the waiters are woken and the subscriptions run
//     (deliver), and the leader's finish drops both tickets.
// Returns SF_OK (kLeader: the leader's own status), or SF_EINVAL with `o`
// discarded if the flight ended already (sf_complete twice, sf_finish after
// sf_complete). A template so that each caller's fast path is its own code.
template <Ending how>
sf_status end_flight(Flight *f, Outcome o, sf_result *own = nullptr) noexcept {
  Shard &s = *f->shard;
  const bool fleet_leader = f->fence || f->fleet_granted;
  constexpr bool outcome_of_work = how == Ending::kComplete || how == Ending::kLeader;
  if (outcome_of_work && fleet_leader) tell_fleet_done(f, o);
  // The work ticket's stamp, read now: the leader's finish recycles it.
  const std::int64_t began_ns = outcome_of_work ? f->work.began_ns : 0;
  Leftovers left;
  bool alone = false;
  int shared = 0;
  {
    std::lock_guard<detail::SpinMutex> lk(s.mu);
    if constexpr (how == Ending::kLeader)
      alone = end_alone_locked(s, f, o.status == SF_EPANIC, &shared, left);
    if (!alone && f->linked) unlink(s, f);
    // The I/O thread's hand-off of a held flight: its waiters are counted
    // before a new flight of the key can exist (the next leader's
    // completion reads the count).
    if constexpr (how == Ending::kHandoff) {
      if (f->fleet_held && f->fleet_handoff) {
        int waiters;
        {
          std::lock_guard<detail::SpinMutex> fl(f->mu);
          waiters = f->done ? 0 : f->waiters;
        }
        fleet_handed_off(s.group->fleet, f->fleet_handoff, waiters);
      }
    }
  }
  if (alone) {
    const sf_status st = keep_own(o, shared, own);
    latency_work_ended(s, began_ns);  // before the group may go with its last flight
    left.release();
    return st;
  }
  Wakeup w{nullptr, false};
  bool ended = false;
  sf_status st = SF_OK;
  {
    std::unique_lock<detail::SpinMutex> fl(f->mu);
    if (!f->done) {
      if constexpr (how == Ending::kByFleet)
        ++f->joined;  // the fleet shared it: `shared` for every caller
      w = end_locked(f, o);
      ended = true;
      if (o.status == SF_EPANIC) s.panics.fetch_add(1, std::memory_order_relaxed);
      // The fleet handing its held flight to a local leader is no leader
      // leaving: not counted.
      if constexpr (how == Ending::kHandoff)
        if (!f->fleet_held) s.handoffs.fetch_add(1, std::memory_order_relaxed);
    }
    if constexpr (how == Ending::kHandoff) {
      f->work_held = false;  // the work ticket goes, whoever ended the flight
      f->run_here = false;
    }
    if constexpr (how == Ending::kLeader) {
      // Ended by fork() while this leader ran its work, in this child (a
      // hand-off needs the work ticket, which the leader still holds): the
      // leader keeps its own outcome, as if alone, and leaves both tickets.
      const bool forked = !ended && f->status == SF_EHANDOFF && f->work_held;
      if (ended || forked) {
        f->work_held = false;
        f->run_here = false;
        --f->waiters;  // the leader's own wait ticket
      }
      if (ended) {
        void *unused = nullptr;
        st = read_outcome(f, o.kind, own, &unused);
      } else if (forked) {
        fl.unlock();
        st = keep_own(o, 0, own);
        release_ref(f, 2);
        return st;
      }
    }
  }
  if constexpr (how == Ending::kHandoff) {
    if (fleet_leader)
      fleet_leader_left(s.group->fleet, f->key, f->key_len, f->fence, f->fleet_handoff);
  }
  if (!ended) {
    discard_outcome(o.value, o.error, o.kind, o.native);
    return SF_EINVAL;  // a hand-off's caller ignores it
  }
  latency_work_ended(s, began_ns);
  deliver(f, w);  // the leader's finish: on this thread, done before its tickets go
  if constexpr (how == Ending::kLeader) release_ref(f, 2);
  return st;
}

}  // namespace

namespace {

// A follower joins `f` with a wait ticket (the shard's and f's mutex held).
sf_status follow_locked(Shard &s, Flight *f, sf_ticket **wait, sf_ticket **work) noexcept {
  sf_ticket *t = ticket_take();
  if (!t && (t = s.tickets)) {
    s.tickets = t->next;
    --s.ticket_count;
  } else if (!t) {
    t = ticket_make();
    if (!t) return SF_ENOMEM;
  }
  t->flight = f;
  t->home = ticket_home();  // it goes back to this thread when left
  reset_ticket(t);
  ++f->waiters;
  ++f->joined;
  f->abandoned = false;  // a newcomer lifts the abandonment
  f->refs.fetch_add(1, std::memory_order_relaxed);
  ++s.followers;
  *wait = t;
  *work = nullptr;
  return SF_OK;
}

// The leader starts a flight for `key`, which has none (the shard's mutex held).
sf_status lead_locked(Shard &s, std::uint64_t h, const void *key, std::size_t len, unsigned flags,
                      sf_ticket **wait, sf_ticket **work) noexcept {
  Flight *f = flight_take();
  if (!f) return SF_ENOMEM;
  f->shard = &s;
  if (len > kInlineKey) {
    auto *k = static_cast<unsigned char *>(detail::allocate(len));
    if (!k) {  // back to the cache: nothing changed
      flight_give(f);
      return SF_ENOMEM;
    }
    f->key = k;
  }
  if (len) std::memcpy(f->key, key, len);
  f->key_len = len;
  f->hash = h;
  f->work_held = true;
  f->waiters = 1;
  f->joined = 1;
  f->run_here = (flags & SF_JOIN_RUN_HERE) != 0;
  if (f->run_here) f->run_thread = std::this_thread::get_id();
  reset_ticket(&f->lead_wait);
  reset_ticket(&f->work);
  f->refs.store(2, std::memory_order_relaxed);
  link(s, f);
  ++s.live;
  *wait = &f->lead_wait;
  *work = &f->work;
  // A fleet group's first caller may wait for the fleet instead of leading:
  // the caller that joined returns the work ticket to fleet_hold().
  if (s.group->fleet) {
    const FleetRole role = fleet_new_flight(s.group->fleet, key, len, &f->fence, &f->fleet_handoff);
    if (role == FleetRole::kHold) {
      f->fleet_held = true;
      f->run_here = false;
      *work = nullptr;
      return SF_OK;
    }
    f->fleet_granted = role == FleetRole::kLocalGrant;
  }
  ++s.flights;
  return SF_OK;
}

// After sf_join of a fleet group: a flight just started whose work ticket
// the fleet's I/O thread takes (no lock held).
void hand_to_fleet(Group *g, sf_ticket *wait, sf_ticket *work) noexcept {
  if (!g->fleet || !wait || work || wait != &wait->flight->lead_wait) return;
  if (wait->flight->fleet_held) fleet_hold(g->fleet, &wait->flight->work);
}

// sf_join under the shard's mutex.
sf_status join_locked(Shard &s, std::uint64_t h, const void *key, std::size_t len, unsigned flags,
                      sf_ticket **wait, sf_ticket **work) noexcept {
  if (Flight *f = find(s, h, key, len)) {
    std::lock_guard<detail::SpinMutex> fl(f->mu);
    return follow_locked(s, f, wait, work);
  }
  return lead_locked(s, h, key, len, flags, wait, work);
}

// f's attachment of `kind`, if a holder of a wait ticket can still deliver
// to the callers it accepts (f's mutex held); else null.
void **attachment_locked(Flight *f, const sf_native_kind *kind) noexcept {
  if (f->waiters == 0) return nullptr;  // abandoned: no holder waits for anyone
  for (int i = 0; i < SF_ATTACH_MAX && f->attach_kind[i]; ++i)
    if (f->attach_kind[i] == kind) return &f->attach[i];
  return nullptr;
}

// Marks a running flight that no caller waits for abandoned (f's mutex
// held): the work ticket's armed callback, to fire once the lock is
// released, or null.
sf_ticket *abandon_locked(Shard &s, Flight *f) noexcept {
  f->abandoned = true;
  s.abandoned.fetch_add(1, std::memory_order_relaxed);
  if (f->work.notify.load(std::memory_order_relaxed) != Notify::kArmed) return nullptr;
  set_firing(&f->work);
  f->work.next = nullptr;
  return &f->work;
}

}  // namespace

sf_status group_join(Group *g, const void *key, std::size_t len, unsigned flags, sf_ticket **wait,
                     sf_ticket **work) noexcept {
  const std::uint64_t h = detail::hash_bytes(key, len);
  Shard &s = g->shards[h & (kShards - 1)];
  sf_status st;
  {
    std::lock_guard<detail::SpinMutex> lk(s.mu);
    st = join_locked(s, h, key, len, flags, wait, work);
  }
  if (st == SF_OK) hand_to_fleet(g, *wait, *work);
  return st;
}

sf_status group_join_or_meet(Group *g, const void *key, std::size_t len, unsigned flags,
                             const sf_native_kind *kind, sf_meeting **meeting, void **rendezvous,
                             sf_ticket **wait, sf_ticket **work) noexcept {
  const std::uint64_t h = detail::hash_bytes(key, len);
  Shard &s = g->shards[h & (kShards - 1)];
  sf_status st;
  {
    std::lock_guard<detail::SpinMutex> lk(s.mu);
    Flight *f = find(s, h, key, len);
    if (f) {
      std::lock_guard<detail::SpinMutex> fl(f->mu);
      if (void **at = attachment_locked(f, kind)) {
        // The meeting holds a reference: the flight and its rendezvous stay
        // until sf_meeting_end, and a leader ending alone sees it.
        f->refs.fetch_add(1, std::memory_order_relaxed);
        *meeting = reinterpret_cast<sf_meeting *>(f);
        *rendezvous = *at;
        return SF_OK;
      }
      return follow_locked(s, f, wait, work);
    }
    st = lead_locked(s, h, key, len, flags, wait, work);
  }
  if (st == SF_OK) hand_to_fleet(g, *wait, *work);
  return st;
}

void meeting_end(sf_meeting *m, bool joined) noexcept {
  Flight *f = reinterpret_cast<Flight *>(m);
  if (joined) {
    {
      std::lock_guard<detail::SpinMutex> fl(f->mu);
      ++f->joined;
    }
    f->shard->attached_followers.fetch_add(1, std::memory_order_relaxed);
  }
  release_ref(f);
}

sf_status group_complete(sf_ticket *t, int raw_status, sf_bytes *value, sf_bytes *error,
                         const sf_native_kind *kind, void *native) noexcept {
  if (t->role != Role::kWork) {
    discard_outcome(value, error, kind, native);
    return SF_EINVAL;
  }
  const sf_status status = normalize(raw_status, value, error);
  return end_flight<Ending::kComplete>(t->flight, Outcome{status, value, error, kind, native});
}

void group_leave(sf_ticket *t) noexcept {
  Flight *f = t->flight;
  Shard &s = *f->shard;
  if (t->role == Role::kWork) {
    bool done;
    {
      std::lock_guard<detail::SpinMutex> fl(f->mu);
      done = f->done;
      if (done) {  // the common case: the work completed; one critical section
        f->work_held = false;
        f->run_here = false;
      }
    }
    if (!done)
      end_flight<Ending::kHandoff>(f, Outcome{SF_EHANDOFF, nullptr, nullptr, nullptr, nullptr});
    await_not_firing(t);  // an abandonment callback on another thread
    release_ref(f);
    return;
  }
  sf_ticket *abandon = nullptr;
  bool ask_fleet = false;
  const bool spare = t != &f->lead_wait;  // a follower's ticket goes to the spare list
  bool kept = false;
  std::int64_t waited_since = 0;
  std::uint64_t rejoins = 0;  // woken by this fleet hand-off of a held flight: joins again
  {
    std::lock_guard<detail::SpinMutex> fl(f->mu);
    waited_since = latency_take_wait(f, t);
    rejoins = rejoining_handoff(f);
    if (t->notify.load(std::memory_order_relaxed) == Notify::kArmed) {
      if (t->prev) t->prev->next = t->next;
      else f->subs = t->next;
      if (t->next) t->next->prev = t->prev;
      t->notify.store(Notify::kFired, std::memory_order_relaxed);
    }
    if (--f->waiters == 0 && !f->done && f->work_held && !f->abandoned && !f->fleet_asking) {
      if (f->fence) {  // a fleet leader: callers of other processes may wait for it
        f->fleet_asking = true;
        f->refs.fetch_add(1, std::memory_order_relaxed);
        ask_fleet = true;
      } else {
        abandon = abandon_locked(s, f);
      }
    }
    // Unless its subscription is firing (waited for below, outside the
    // lock), the ticket is free now: kept in this same critical section.
    // Acquire: a callback that fired is over, its reads of the ticket too.
    if (spare && t->notify.load(std::memory_order_acquire) != Notify::kFiring) {
      keep_spare(f, t);
      kept = true;
    }
  }
  fire_chain(abandon);
  if (ask_fleet && !fleet_leader_alone(s.group->fleet, f)) group_fleet_abandon(f, true);
  if (rejoins) fleet_rejoined(s.group->fleet, rejoins);
  latency_wait_ended(s, waited_since);
  if (!kept) await_not_firing(t);  // its subscription firing: on this thread, or another
  if (spare && !kept) {
    std::lock_guard<detail::SpinMutex> fl(f->mu);
    keep_spare(f, t);
  }
  release_ref(f);
}

void group_fleet_abandon(Flight *f, bool abandon) noexcept {
  sf_ticket *fire = nullptr;
  {
    std::lock_guard<detail::SpinMutex> fl(f->mu);
    f->fleet_asking = false;
    if (abandon && f->waiters == 0 && !f->done && f->work_held && !f->abandoned)
      fire = abandon_locked(*f->shard, f);
  }
  fire_chain(fire);
  release_ref(f);
}

bool group_finish_alone(sf_ticket *wait, sf_ticket *work, int status, int *shared) noexcept {
  Flight *f = work->flight;
  if (wait != &f->lead_wait) return false;  // not the leader's own pair of tickets
  // A fleet leader's outcome goes to other processes, or to its late callers.
  if (f->fence || f->fleet_granted) return false;
  Shard &s = *f->shard;
  const std::int64_t began_ns = work->began_ns;  // the ticket is recycled below
  Leftovers left;
  {
    std::lock_guard<detail::SpinMutex> lk(s.mu);
    const bool panicked = status != SF_OK && status != SF_EWORK;
    if (!end_alone_locked(s, f, panicked, shared, left)) return false;
  }
  latency_work_ended(s, began_ns);  // before the group may go with its last flight
  left.release();
  return true;
}

sf_status group_finish_leader(sf_ticket *wait, sf_ticket *work, int raw_status, sf_bytes *value,
                              sf_bytes *error, const sf_native_kind *kind, void *native,
                              sf_result *result) noexcept {
  Flight *f = work->flight;
  if (wait != &f->lead_wait) {  // not the leader's own pair of tickets
    discard_outcome(value, error, kind, native);
    return SF_EINVAL;
  }
  const sf_status status = normalize(raw_status, value, error);
  return end_flight<Ending::kLeader>(f, Outcome{status, value, error, kind, native}, result);
}

sf_status group_complete_remote(sf_ticket *t, sf_status status, sf_bytes *value,
                                sf_bytes *error) noexcept {
  return end_flight<Ending::kByFleet>(t->flight, Outcome{status, value, error, nullptr, nullptr});
}

void flight_release(Flight *f, int n) noexcept { release_ref(f, n); }

// The fork() ending (see Ending): in the child, with every lock held, a
// running flight's leader is a thread of the parent, so it ends as a
// hand-off recorded as end_flight records it, with nothing to deliver: no
// thread of this process sleeps on it, and its subscriptions belong to the
// parent's threads (dropped, never called).
void flight_after_fork_locked(Flight *f) noexcept {
  Shard &s = *f->shard;
  // Threads of the parent may have been inside the condition variable
  // (its own lock held, or counted as sleepers): this process has none.
  new (&f->cv) std::condition_variable_any();
  f->sleepers = 0;
  if (f->linked) unlink(s, f);  // a new caller of its key leads a new run
  if (!f->done) {
    const Wakeup dropped = end_locked(f, Outcome{SF_EHANDOFF, nullptr, nullptr, nullptr, nullptr});
    for (sf_ticket *t = dropped.chain; t; t = t->next)
      t->notify.store(Notify::kFired, std::memory_order_relaxed);
  }
  if (!f->orphan) {  // tickets of threads that are not here hold it for ever
    f->orphan = true;
    --s.live;
    ++s.orphans;
  }
}

void discard_outcome(sf_bytes *value, sf_bytes *error, const sf_native_kind *kind,
                     void *native) noexcept {
  sf_bytes_release(value);
  sf_bytes_release(error);
  if (kind && kind->release) kind->release(native);
}

sf_status group_forget(Group *g, const void *key, std::size_t len, bool only_unshared,
                       int *forgotten) noexcept {
  const std::uint64_t h = detail::hash_bytes(key, len);
  Shard &s = g->shards[h & (kShards - 1)];
  std::lock_guard<detail::SpinMutex> lk(s.mu);
  Flight *f = find(s, h, key, len);
  if (f && only_unshared) {
    std::lock_guard<detail::SpinMutex> fl(f->mu);
    if (f->joined > 1) {
      if (forgotten) *forgotten = 0;
      return SF_OK;
    }
  }
  if (f) {
    unlink(s, f);
    ++s.forgets;
  }
  if (forgotten) *forgotten = 1;
  return SF_OK;
}

}  // namespace sf
