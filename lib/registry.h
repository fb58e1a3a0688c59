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

// Names live in namespaces: sf_group_open()'s (kLocalNames) and
// sf_group_open_fleet()'s (kFleetNames), so a fleet group and a local group
// of the same name are two groups.
enum RegistryNamespace : int { kLocalNames = 0, kFleetNames = 1 };

// Called under the registry lock on a group just created, before anyone
// else can open it; false drops the group (open returns nullptr).
using RegistryInit = bool (*)(Group *g, void *ctx);

// A new reference to the group called `name` in `ns`, created on first open
// (and then passed to `init`, if not null); nullptr when out of memory.
Group *registry_open(const void *name, std::size_t len, int ns = kLocalNames,
                     RegistryInit init = nullptr, void *ctx = nullptr) noexcept;

// Drops a reference to a named group whose count may reach zero.
void registry_release(Group *g) noexcept;

// The registry's lock (the fork handlers take it, fork.h).
std::mutex &registry_mutex() noexcept;

}  // namespace sf
