// lifecycle.cc — a flight's whole life: a leader starts it, followers join
// it (with tickets, or through a binding's rendezvous), it ends once
// (end_locked: completed, completed by the fleet, or handed off; a leader
// alone recycles it with no outcome), waiters are woken after the locks
// are released (deliver), and its last reference recycles it.
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
  const sf_native_kind *attach_kind[SF_ATTACH_MAX] = {};
  void *attach[SF_ATTACH_MAX] = {};
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
    for (int i = 0; i < SF_ATTACH_MAX && attach_kind[i]; ++i)
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
  f->fleet_asking = false;
  f->finished.store(false, std::memory_order_relaxed);
  f->subs = nullptr;
  // Left follower tickets go to this thread's cache, and what does not fit
  // to the shard, where any flight's followers find them.
  if (f->spare) {
    int rest_n;
    sf_ticket *rest = ticket_give(f->spare, f->spare_count, &rest_n);
    if (rest && s.ticket_count < kTicketPoolMax) {
      f->spare_tail->next = s.tickets;  // the rest ends where the chain ended
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

// Keeps a left follower ticket on its flight's spare list (under mu).
void keep_spare(Flight *f, sf_ticket *t) noexcept {
  t->next = f->spare;
  if (!f->spare) f->spare_tail = t;
  f->spare = t;
  ++f->spare_count;
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

// Ends a flight under its mutex: records the outcome (or a hand-off) and
// detaches what must be woken once the mutex is released (deliver()).
struct Wakeup {
  sf_ticket *chain;
  bool wake;
};

Wakeup end_locked(Flight *f, sf_status status, sf_bytes *value, sf_bytes *error,
                  const sf_native_kind *kind, void *native) noexcept {
  f->status = status;
  f->value = value;
  f->error = error;
  f->native_kind = kind;
  f->native = kind ? native : nullptr;
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

}  // namespace

namespace {

// A fleet leader's outcome goes to the fleet too (fleet/hooks.h). Read
// without the flight's lock: only the work ticket's holder completes, and
// it checks `done` again under the lock (a second completion publishes
// nothing the fleet accepts: its lease is gone).
void tell_fleet_done(Flight *f, sf_status status, sf_bytes *value, sf_bytes *error,
                     const sf_native_kind *kind) noexcept {
  std::uint32_t callers;
  {
    std::lock_guard<detail::SpinMutex> fl(f->mu);
    if (f->done) return;
    callers = f->joined;
  }
  fleet_leader_done(f->shard->group->fleet, f->key, f->key_len, f->fence, callers, status, value,
                    error, kind);
}

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
    const FleetRole role = fleet_new_flight(s.group->fleet, key, len, &f->fence);
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
  Flight *f = t->flight;
  auto reject = [&] {
    discard_outcome(value, error, kind, native);
    return SF_EINVAL;
  };
  if (t->role != Role::kWork) return reject();
  const sf_status status = normalize(raw_status, value, error);
  Shard &s = *f->shard;
  if (f->fence || f->fleet_granted) tell_fleet_done(f, status, value, error, kind);
  {
    std::lock_guard<detail::SpinMutex> lk(s.mu);
    if (f->linked) unlink(s, f);  // the key is free again
  }
  Wakeup w;
  {
    std::lock_guard<detail::SpinMutex> fl(f->mu);
    if (f->done) return reject();
    w = end_locked(f, status, value, error, kind, native);
  }
  if (status == SF_EPANIC) s.panics.fetch_add(1, std::memory_order_relaxed);
  latency_work_ended(s, t->began_ns);
  deliver(f, w);
  return SF_OK;
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
    if (!done) {
      {  // a hand-off: the key is free for a new run
        std::lock_guard<detail::SpinMutex> lk(s.mu);
        if (f->linked) unlink(s, f);
      }
      Wakeup w{nullptr, false};
      {
        std::lock_guard<detail::SpinMutex> fl(f->mu);
        f->work_held = false;
        f->run_here = false;
        if (!f->done) {
          w = end_locked(f, SF_EHANDOFF, nullptr, nullptr, nullptr, nullptr);
          // The fleet handing its held flight to a local leader is no
          // leader leaving: not counted.
          if (!f->fleet_held) s.handoffs.fetch_add(1, std::memory_order_relaxed);
        }
      }
      if (f->fence || f->fleet_granted)
        fleet_leader_left(s.group->fleet, f->key, f->key_len, f->fence);
      deliver(f, w);
    }
    await_not_firing(t);  // an abandonment callback on another thread
    release_ref(f);
    return;
  }
  sf_ticket *abandon = nullptr;
  bool ask_fleet = false;
  const bool spare = t != &f->lead_wait;  // a follower's ticket goes to the spare list
  bool kept = false;
  std::int64_t waited_since = 0;
  {
    std::lock_guard<detail::SpinMutex> fl(f->mu);
    waited_since = latency_take_wait(f, t);
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

// Ends the flight for its leader alone if only the leader's two tickets are
// left (shard lock held): unlinked, it takes no newcomer; recycled, it needs
// no outcome. True if it did. A meeting holds a reference, so a flight
// someone is meeting on is never alone.
static bool end_alone_locked(Shard &s, Flight *f, bool panicked, int *shared,
                             Leftovers &left) noexcept {
  if (f->refs.load(std::memory_order_acquire) != 2 || f->done) return false;
  if (shared) *shared = f->joined > 1;
  if (f->linked) unlink(s, f);
  if (panicked) s.panics.fetch_add(1, std::memory_order_relaxed);
  f->refs.store(0, std::memory_order_relaxed);
  recycle_locked(s, f, left);
  return true;
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
  Shard &s = *f->shard;
  const sf_status status = normalize(raw_status, value, error);
  if (f->fence || f->fleet_granted) tell_fleet_done(f, status, value, error, kind);
  const std::int64_t began_ns = work->began_ns;  // the ticket may be recycled below
  Leftovers left;
  bool alone;
  int shared = 0;
  {
    std::lock_guard<detail::SpinMutex> lk(s.mu);
    // If only the leader's two tickets are left, nobody waits: hand the
    // outcome over directly.
    alone = end_alone_locked(s, f, status == SF_EPANIC, &shared, left);
    if (!alone && f->linked) unlink(s, f);
  }
  if (alone) {
    result->value = value;
    result->error = error;
    result->shared = shared;
    if (kind && kind->release) kind->release(native);  // nobody else will read it
    latency_work_ended(s, began_ns);  // before the group may go with its last flight
    left.release();
    return status;
  }
  // Others hold tickets: complete, take the leader's own outcome and leave
  // both tickets in one critical section of the flight.
  Wakeup w;
  sf_status st;
  {
    std::unique_lock<detail::SpinMutex> fl(f->mu);
    if (f->done && f->status == SF_EHANDOFF && f->work_held) {
      // Ended by fork() while this leader ran its work, in this child (a
      // hand-off needs the work ticket, which the leader still holds): the
      // leader keeps its own outcome and leaves both tickets.
      f->work_held = false;
      f->run_here = false;
      --f->waiters;
      fl.unlock();
      result->value = value;
      result->error = error;
      result->shared = 0;
      if (kind && kind->release) kind->release(native);
      release_ref(f, 2);
      return status;
    }
    if (f->done) {  // completed before (sf_finish after sf_complete): nothing left
      discard_outcome(value, error, kind, native);
      return SF_EINVAL;
    }
    w = end_locked(f, status, value, error, kind, native);
    f->work_held = false;
    f->run_here = false;
    void *own = nullptr;
    st = read_outcome(f, kind, result, &own);
    --f->waiters;  // the leader's own wait ticket
  }
  if (status == SF_EPANIC) s.panics.fetch_add(1, std::memory_order_relaxed);
  latency_work_ended(s, began_ns);
  deliver(f, w);  // on this thread: done before the tickets go
  release_ref(f, 2);
  return st;
}

sf_status group_complete_remote(sf_ticket *t, sf_status status, sf_bytes *value,
                                sf_bytes *error) noexcept {
  Flight *f = t->flight;
  Shard &s = *f->shard;
  {
    std::lock_guard<detail::SpinMutex> lk(s.mu);
    if (f->linked) unlink(s, f);
  }
  Wakeup w;
  {
    std::lock_guard<detail::SpinMutex> fl(f->mu);
    if (f->done) {
      discard_outcome(value, error, nullptr, nullptr);
      return SF_EINVAL;
    }
    ++f->joined;  // the fleet shared it: `shared` for every local caller
    w = end_locked(f, status, value, error, nullptr, nullptr);
  }
  if (status == SF_EPANIC) s.panics.fetch_add(1, std::memory_order_relaxed);
  deliver(f, w);
  return SF_OK;
}

void flight_release(Flight *f, int n) noexcept { release_ref(f, n); }

void flight_after_fork_locked(Flight *f) noexcept {
  Shard &s = *f->shard;
  // Threads of the parent may have been inside the condition variable
  // (its own lock held, or counted as sleepers): this process has none.
  new (&f->cv) std::condition_variable_any();
  f->sleepers = 0;
  if (f->linked) unlink(s, f);  // a new caller of its key leads a new run
  if (!f->done) {
    // Its leader is a thread of the parent. The subscriptions belong to
    // the parent's threads too and are dropped, never called.
    for (sf_ticket *t = f->subs; t; t = t->next)
      t->notify.store(Notify::kFired, std::memory_order_relaxed);
    f->subs = nullptr;
    f->status = SF_EHANDOFF;
    f->done = true;
    f->finished.store(true, std::memory_order_relaxed);
    f->abandoned = false;
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
