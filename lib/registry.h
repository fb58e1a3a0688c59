// registry.h — the process-wide table of named groups (sf_group_open).
//
// A named group is found by its name while anyone holds a reference to it.
// The registry mutex guards the list *and* every named group's 1→0 refcount
// transition, so an open can never revive a group that is being torn down:
// once the last reference goes, the name is free and a later open creates a
// fresh group. Named groups are few; a list is enough.
#pragma once

#include <cstddef>
#include <mutex>

#include "group.h"

namespace sf {

// A new reference to the group called `name`, created on first open;
// nullptr when out of memory.
Group *registry_open(const void *name, std::size_t len) noexcept;

// Drops a reference to a named group whose count may reach zero.
void registry_release(Group *g) noexcept;

// The registry's lock (the fork handlers take it, fork.h).
std::mutex &registry_mutex() noexcept;

}  // namespace sf
