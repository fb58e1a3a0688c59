#include "registry.h"

#include <cstring>
#include <mutex>

#include "detail/alloc.h"

namespace sf {
namespace {

struct Entry {
  Entry *next;
  Group *group;
  int ns;
  std::size_t len;
  unsigned char name[1];  // `len` bytes
};

Entry *g_entries = nullptr;  // guarded by registry_mutex()

}  // namespace

std::mutex &registry_mutex() noexcept {
  static std::mutex mu;  // built on first use: safe from any static initialiser
  return mu;
}

Group *registry_open(const void *name, std::size_t len, int ns, RegistryInit init,
                     void *ctx) noexcept {
  std::lock_guard<std::mutex> lk(registry_mutex());
  for (Entry *e = g_entries; e; e = e->next) {
    if (e->ns == ns && e->len == len && std::memcmp(e->name, name, len) == 0) {
      e->group->refs.fetch_add(1, std::memory_order_relaxed);
      return e->group;
    }
  }
  auto *e = static_cast<Entry *>(detail::allocate(offsetof(Entry, name) + len));
  if (!e) return nullptr;
  Group *g = group_new();
  if (!g) {
    detail::deallocate(e);
    return nullptr;
  }
  g->named = true;
  if (init && !init(g, ctx)) {
    group_dying(g);  // no flight yet: frees it at once
    detail::deallocate(e);
    return nullptr;
  }
  e->group = g;
  e->ns = ns;
  e->len = len;
  std::memcpy(e->name, name, len);
  e->next = g_entries;
  g_entries = e;
  return g;
}

void registry_release(Group *g) noexcept {
  Entry *gone = nullptr;
  {
    std::lock_guard<std::mutex> lk(registry_mutex());
    if (g->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    for (Entry **pp = &g_entries; *pp; pp = &(*pp)->next) {
      if ((*pp)->group == g) {
        gone = *pp;
        *pp = gone->next;
        break;
      }
    }
  }
  detail::deallocate(gone);
  group_dying(g);
}

}  // namespace sf
