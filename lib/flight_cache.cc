#include "flight_cache.h"

#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <mutex>

#include "detail/alloc.h"

namespace sf {

// ---- a thread's return lists ----
// Where other threads give back the flights and tickets this thread took:
// lock-free stacks (pushed by anyone, emptied whole by the owner, so no
// ABA). Heap objects that are never freed: a thread that exits closes its
// lists (what they held goes to the pools) and puts its Home on a free list
// for the next new thread, so an object's `home` never dangles.
struct alignas(64) Home {
  std::atomic<Flight *> flights{nullptr};
  std::atomic<sf_ticket *> tickets{nullptr};
  Home *next_free = nullptr;  // g_mu
};

namespace {

// ---- the engine-wide pool and list, under g_mu ----
std::mutex g_mu;
Flight *g_pool = nullptr;  // idle flights, chained through hnext
int g_pool_count = 0;
Flight *g_all = nullptr;         // every flight object, chained through all_next
sf_ticket *g_tickets = nullptr;  // idle follower tickets, chained through next
int g_ticket_count = 0;

void track_locked(Flight *f) noexcept {
  f->all_prev = nullptr;
  f->all_next = g_all;
  if (g_all) g_all->all_prev = f;
  g_all = f;
}

void untrack_locked(Flight *f) noexcept {
  if (f->all_prev) f->all_prev->all_next = f->all_next;
  else g_all = f->all_next;
  if (f->all_next) f->all_next->all_prev = f->all_prev;
  f->all_prev = f->all_next = nullptr;
}

// Puts a chain of idle flights (through hnext) in the pool; what does not
// fit is freed.
void pool_put(Flight *chain) noexcept {
  Flight *extra = nullptr;
  {
    std::lock_guard<std::mutex> lk(g_mu);
    while (chain) {
      Flight *next = chain->hnext;
      if (g_pool_count < kPoolFlights) {
        chain->hnext = g_pool;
        g_pool = chain;
        ++g_pool_count;
      } else {
        untrack_locked(chain);
        chain->hnext = extra;
        extra = chain;
      }
      chain = next;
    }
  }
  while (extra) {
    Flight *next = extra->hnext;
    detail::destroy(extra);
    extra = next;
  }
}

// How many of a pool of `count` one empty cache takes, at most `n`: an
// eighth of it, at least one, so that threads starting together each find
// some.
inline int share_of(int count, int n) noexcept {
  const int eighth = count / 8 > 1 ? count / 8 : 1;
  return eighth < n ? eighth : n;
}

// Up to `n` flights of the pool (share_of), chained through hnext (nullptr:
// none).
Flight *pool_get(int n, int *got) noexcept {
  std::lock_guard<std::mutex> lk(g_mu);
  Flight *chain = nullptr;
  *got = 0;
  n = share_of(g_pool_count, n);
  while (g_pool && *got < n) {
    Flight *f = g_pool;
    g_pool = f->hnext;
    --g_pool_count;
    f->hnext = chain;
    chain = f;
    ++*got;
  }
  return chain;
}

Home *g_free_homes = nullptr;  // g_mu

// The head of a closed list: its thread exited; pushes go to the pools.
template <class T>
T *closed() noexcept {
  return reinterpret_cast<T *>(std::uintptr_t{1});
}

// Pushes `x` (linked through `link`) on `head`; false if the list is closed.
template <class T, T *T::*link>
bool push_returned(std::atomic<T *> &head, T *x) noexcept {
  T *old = head.load(std::memory_order_relaxed);
  do {
    if (old == closed<T>()) return false;
    x->*link = old;
  } while (
      !head.compare_exchange_weak(old, x, std::memory_order_release, std::memory_order_relaxed));
  return true;
}

Home *home_get() noexcept {
  Home *h;
  {
    std::lock_guard<std::mutex> lk(g_mu);
    h = g_free_homes;
    if (h) g_free_homes = h->next_free;
  }
  if (!h) return detail::make<Home>();
  h->flights.store(nullptr, std::memory_order_relaxed);  // open again
  h->tickets.store(nullptr, std::memory_order_relaxed);
  return h;
}

// ---- this thread's cache ----
enum class CacheState : unsigned char { kUnused, kLive, kGone };

// Trivially destructible, so that it stays usable (as kGone) while other
// thread_local destructors run after CacheOwner's.
struct ThreadCache {
  Flight *flights;     // chained through hnext
  sf_ticket *tickets;  // chained through next
  int nflights;
  int ntickets;
  CacheState state;
  Home *home;  // null: no memory for one; objects go wherever recycled
};
thread_local ThreadCache t_cache;

// Moves what other threads gave back into the cache (the owner alone).
// With `close`, the lists are closed too (the thread is exiting).
void take_returned(ThreadCache &c, bool close) noexcept {
  if (!c.home) return;
  Flight *f =
      c.home->flights.exchange(close ? closed<Flight>() : nullptr, std::memory_order_acquire);
  while (f && f != closed<Flight>()) {
    Flight *next = f->hnext;
    f->hnext = c.flights;
    c.flights = f;
    ++c.nflights;
    f = next;
  }
  sf_ticket *t =
      c.home->tickets.exchange(close ? closed<sf_ticket>() : nullptr, std::memory_order_acquire);
  while (t && t != closed<sf_ticket>()) {
    sf_ticket *next = t->next;
    t->next = c.tickets;
    c.tickets = t;
    ++c.ntickets;
    t = next;
  }
}

// Empties this thread's cache into the pools (what does not fit to the heap).
void release_cache(ThreadCache &c) noexcept {
  Flight *flights = c.flights;
  sf_ticket *tickets = c.tickets;
  c.flights = nullptr;
  c.tickets = nullptr;
  c.nflights = c.ntickets = 0;
  if (flights) pool_put(flights);
  sf_ticket *extra = nullptr;
  if (tickets) {
    std::lock_guard<std::mutex> lk(g_mu);
    while (tickets) {
      sf_ticket *next = tickets->next;
      if (g_ticket_count < kPoolTickets) {
        tickets->next = g_tickets;
        g_tickets = tickets;
        ++g_ticket_count;
      } else {
        tickets->next = extra;
        extra = tickets;
      }
      tickets = next;
    }
  }
  tickets_free(extra);
}

// Hands the cache back when its thread exits: a pthread key's destructor,
// which runs after the thread's C++ thread_local destructors (they may still
// call the engine) and, unlike a thread_local's, needs no allocation to
// register.
void cache_owner_exit(void *) noexcept {
  t_cache.state = CacheState::kGone;
  take_returned(t_cache, true);
  release_cache(t_cache);
  if (Home *h = t_cache.home) {
    t_cache.home = nullptr;
    std::lock_guard<std::mutex> lk(g_mu);
    h->next_free = g_free_homes;
    g_free_homes = h;
  }
}

struct CacheKey {
  pthread_key_t key;
  bool ok;
  CacheKey() noexcept { ok = pthread_key_create(&key, cache_owner_exit) == 0; }
};

// This thread's cache, or nullptr once the thread is exiting (or when no
// key could be made: then nothing is cached, and nothing is lost).
inline ThreadCache *my_cache() noexcept {
  ThreadCache &c = t_cache;
  if (c.state == CacheState::kLive) return &c;
  if (c.state == CacheState::kGone) return nullptr;
  static const CacheKey owner;  // first use in the process
  if (!owner.ok || pthread_setspecific(owner.key, &c) != 0) {
    c.state = CacheState::kGone;
    return nullptr;
  }
  c.home = home_get();
  c.state = CacheState::kLive;
  return &c;
}

}  // namespace

Flight *flight_take() noexcept {
  ThreadCache *c = my_cache();
  Flight *f = nullptr;
  if (c && !c->flights) take_returned(*c, false);
  if (c && c->flights) {
    f = c->flights;
    c->flights = f->hnext;
    --c->nflights;
  } else {
    int got = 0;
    f = pool_get(c ? kThreadFlights / 2 : 1, &got);
    if (f && c) {  // one for now, the rest into the cache
      c->flights = f->hnext;
      c->nflights = got - 1;
    }
  }
  if (!f) {
    // Nothing idle anywhere: a new peak of flights in use. The cache grows
    // by half its bound at once (as far as memory allows), so a thread meets
    // its peaks in its first calls rather than one flight at a time later.
    f = detail::make<Flight>();
    if (!f) return nullptr;
    Flight *more = nullptr;
    int n = 0;
    while (c && n < kThreadFlights / 2 - 1) {
      Flight *g = detail::make<Flight>();
      if (!g) break;
      g->idle = true;
      g->hnext = more;
      more = g;
      ++n;
    }
    {
      std::lock_guard<std::mutex> lk(g_mu);
      track_locked(f);
      for (Flight *g = more; g; g = g->hnext) track_locked(g);
    }
    if (more) {  // the cache is empty here
      c->flights = more;
      c->nflights = n;
    }
  }
  f->hnext = nullptr;
  f->idle = false;
  f->home = c ? c->home : nullptr;
  return f;
}

void flight_give(Flight *f) noexcept {
  f->idle = true;
  ThreadCache *c = my_cache();
  // Another thread's: back to it (never on the fast path of a leader that
  // finishes alone), unless it exited.
  if (f->home && (!c || f->home != c->home) &&
      push_returned<Flight, &Flight::hnext>(f->home->flights, f))
    return;
  if (c && c->nflights < kThreadFlights) {
    f->hnext = c->flights;
    c->flights = f;
    ++c->nflights;
    return;
  }
  // Full (or exiting): this flight and half of the cache go to the pool in
  // one critical section.
  f->hnext = nullptr;
  if (c) {
    for (int i = 0; i < kThreadFlights / 2; ++i) {
      Flight *g = c->flights;
      c->flights = g->hnext;
      --c->nflights;
      g->hnext = f;
      f = g;
    }
  }
  pool_put(f);
}

sf_ticket *ticket_take() noexcept {
  ThreadCache *c = my_cache();
  if (c && !c->tickets) take_returned(*c, false);
  if (c && c->tickets) {
    sf_ticket *t = c->tickets;
    c->tickets = t->next;
    --c->ntickets;
    return t;
  }
  // Empty: a share of the pool (exiting threads' tickets).
  std::lock_guard<std::mutex> lk(g_mu);
  if (!g_tickets) return nullptr;
  int n = share_of(g_ticket_count, c ? kThreadTickets / 2 : 1);
  sf_ticket *t = g_tickets;
  g_tickets = t->next;
  --g_ticket_count;
  while (c && --n > 0 && g_tickets) {
    sf_ticket *more = g_tickets;
    g_tickets = more->next;
    --g_ticket_count;
    more->next = c->tickets;
    c->tickets = more;
    ++c->ntickets;
  }
  return t;
}

sf_ticket *ticket_make() noexcept {
  auto *t = detail::make<sf_ticket>();
  if (!t) return nullptr;
  ThreadCache *c = my_cache();
  while (c && c->ntickets < kThreadTickets / 4) {
    auto *more = detail::make<sf_ticket>();
    if (!more) break;
    more->next = c->tickets;
    c->tickets = more;
    ++c->ntickets;
  }
  return t;
}

Home *ticket_home() noexcept {
  ThreadCache *c = my_cache();
  return c ? c->home : nullptr;
}

sf_ticket *ticket_give(sf_ticket *chain, int *rest_n, sf_ticket **rest_tail) noexcept {
  ThreadCache *c = my_cache();
  Home *mine = c ? c->home : nullptr;
  sf_ticket *rest = nullptr;
  *rest_n = 0;
  *rest_tail = nullptr;
  while (chain) {
    sf_ticket *t = chain;
    chain = t->next;
    if (t->home && t->home != mine &&
        push_returned<sf_ticket, &sf_ticket::next>(t->home->tickets, t))
      continue;  // back to the thread that took it
    if (c && c->ntickets < kThreadTickets) {
      t->next = c->tickets;
      c->tickets = t;
      ++c->ntickets;
      continue;
    }
    t->next = rest;
    if (!rest) *rest_tail = t;
    rest = t;
    ++*rest_n;
  }
  return rest;
}

void tickets_free(sf_ticket *chain) noexcept {
  while (chain) {
    sf_ticket *next = chain->next;
    detail::destroy(chain);
    chain = next;
  }
}

void flights_lock_all() noexcept {
  g_mu.lock();
  for (Flight *f = g_all; f; f = f->all_next) f->mu.lock();
}

void flights_unlock_all() noexcept {
  for (Flight *f = g_all; f; f = f->all_next) f->mu.unlock();
  g_mu.unlock();
}

void flights_for_each_running(void (*fn)(Flight *)) noexcept {
  for (Flight *f = g_all; f; f = f->all_next)
    if (!f->idle) fn(f);
}

void flight_cache_drain() noexcept {
  if (ThreadCache *c = my_cache()) {
    take_returned(*c, false);
    release_cache(*c);
  }
  Flight *chain = nullptr;
  sf_ticket *tickets;
  {
    std::lock_guard<std::mutex> lk(g_mu);
    tickets = g_tickets;
    g_tickets = nullptr;
    g_ticket_count = 0;
    while (g_pool) {
      Flight *f = g_pool;
      g_pool = f->hnext;
      untrack_locked(f);
      f->hnext = chain;
      chain = f;
    }
    g_pool_count = 0;
  }
  while (chain) {
    Flight *next = chain->hnext;
    detail::destroy(chain);
    chain = next;
  }
  tickets_free(tickets);
}

}  // namespace sf
