// fork.h — what a fork() child inherits: no lock held, an empty table.
//
// fork() copies the memory of the process but only the thread that called
// it. A flight led by another thread would have no leader in the child, and
// an engine lock held by another thread at that moment would stay held for
// ever. So the engine registers pthread_atfork handlers (on the first
// group made) and keeps a process-wide list of its groups:
//
//  - prepare (in the forking thread, before fork): takes the registry mutex,
//    the list's mutex, every shard mutex of every group, then the mutex of
//    the engine-wide list of flight objects and the mutex of every flight
//    object, running or idle (flight_cache.h). The order is the engine's own
//    (shard before flight), and no engine lock is held across anything that
//    waits, so this ends as soon as the critical sections running in other
//    threads end: fork happens at a moment when no engine lock is held.
//  - parent (after fork, in the parent): releases them all.
//  - child (after fork, in the child's one thread): every flight that was
//    running (flight_after_fork_locked) leaves its shard's table and, if it
//    had not ended, ends as a hand-off, so a waiter of this thread joins
//    again and a new caller of its key leads a new run; its subscriptions
//    are dropped (their callbacks belong to the parent's threads); it
//    leaves the `live` gauge (an orphan: tickets of threads that are not in
//    the child hold it; its memory is not reclaimed). Condition variables of
//    inherited flights are made afresh. Idle flights in the caches of the
//    parent's other threads stay where they are, unused. Then the
//    generation goes up (see await_not_firing) and every lock is released.
#pragma once

#include "group.h"

namespace sf {

// Puts a new group on the list the handlers walk (registering the handlers
// on first use), and takes it off before it is destroyed.
void fork_track(Group *g) noexcept;
void fork_untrack(Group *g) noexcept;

// 0 in the process that loaded the engine; one more in each fork() child.
unsigned fork_generation() noexcept;

}  // namespace sf
