// flight_cache.h — idle flights and follower tickets, cached per thread.
//
// Flight and ticket objects belong to the engine, not to a group: a flight
// is bound to a shard when its leader takes it (lead_locked) and unbound
// when its last ticket goes (recycle_locked), so a group may be released
// while other threads' caches hold objects it used, and a thread may exit
// while flights it led are still referenced.
//
// Each thread keeps up to kThreadFlights idle flights and kThreadTickets
// idle follower tickets, touched by that thread alone (no lock, no atomic):
// a thread that leads and finishes alone reuses the same flight, in its own
// cache lines, call after call. An object remembers the thread that took it
// (its `home`): when another thread recycles it (a follower left last), it
// goes back to that thread through the thread's return list (a lock-free
// stack, emptied whole by its owner when its cache is empty), so the objects
// a thread's calls need are bounded by its own calls and by the tickets
// others hold on its flights, and never drift into another thread's cache.
// Past the bound, half of the flights go to the engine-wide pool (one
// mutex, off the fast path) and an empty cache with an empty return list
// takes a share of it (an eighth, so that threads starting together each
// find some); tickets past the bound go back to the caller (the shard's
// ticket pool, else the heap). When nothing idle is found anywhere, the
// thread's cache grows from the heap by a batch (half its bound of flights,
// a quarter of its tickets), so that the peaks of objects in use are met in
// a thread's first calls, not one object at a time. When a thread exits, it
// closes its return lists (objects given back later stay with the thread
// that recycles them), its flights and tickets go to the engine-wide pools
// (what does not fit to the heap), and its return lists (never freed) wait
// for the next new thread; a thread that calls the engine after that (from
// another thread's key destructor) uses the pools directly.
//
// Every flight object ever made is on one engine-wide list (under the same
// mutex), which the fork handlers walk (fork.h). A flight's `idle` flag
// (written under its shard's mutex when it is bound or unbound, or under
// the list's mutex while it sits in the pool) tells the fork child which
// flights were running.
#pragma once

#include "flight.h"

namespace sf {

inline constexpr int kThreadFlights = 16;  // idle flights one thread keeps
inline constexpr int kThreadTickets = 64;  // idle follower tickets one thread keeps
inline constexpr int kPoolFlights = 4096;  // idle flights the engine-wide pool keeps
inline constexpr int kPoolTickets = 4096;  // idle tickets the engine-wide pool keeps

// An idle flight (key inline, no outcome, no ticket), marked not idle, or
// nullptr when out of memory.
Flight *flight_take() noexcept;

// Gives back a flight reset by recycle_locked (no spare ticket left on it).
void flight_give(Flight *f) noexcept;

// An idle follower ticket of this thread's cache, else of the engine-wide
// pool, or nullptr.
sf_ticket *ticket_take() noexcept;

// A new follower ticket from the heap, or nullptr, when no cache or pool
// has an idle one: a new peak of tickets in use. This thread's cache gets a
// batch more beside it (as far as memory allows), so the peaks are met early.
sf_ticket *ticket_make() noexcept;

// The calling thread's return lists, for the tickets it takes (sf_ticket::home);
// null once it is exiting.
Home *ticket_home() noexcept;

// Gives back a chain of idle tickets (linked through next): each one that
// another (live) thread took to that thread's return list, what fits of the
// rest to this thread's cache; returns what is left (its length in *rest_n,
// its last ticket in *rest_tail).
sf_ticket *ticket_give(sf_ticket *chain, int *rest_n, sf_ticket **rest_tail) noexcept;

// Frees a chain of tickets (linked through next).
void tickets_free(sf_ticket *chain) noexcept;

// Fork handlers (fork.cc), after every shard mutex: take (or release) the
// list's mutex and every flight object's mutex.
void flights_lock_all() noexcept;
void flights_unlock_all() noexcept;
// In the fork child, with everything locked: calls fn on every flight that
// is not idle.
void flights_for_each_running(void (*fn)(Flight *)) noexcept;

// Test hook: empties the calling thread's cache (flights to the pool,
// tickets to the heap) and the pool (to the heap), so that the next join
// must allocate.
void flight_cache_drain() noexcept;

}  // namespace sf
