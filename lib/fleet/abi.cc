// fleet/abi.cc — the fleet entry points of the C ABI (section 6 of the
// header), built with or without hiredis.
#include <new>

#include "fleet/current_work.h"
#include "fleet/hooks.h"
#include "fleet/options.h"
#include "flight.h"
#include "group.h"
#include "registry.h"

namespace sf {

thread_local sf_ticket *tls_current_work = nullptr;

namespace {

struct OpenContext {
  const FleetConfig *config;
  const void *name;
  std::size_t len;
};

bool attach(Group *g, void *ctx) {
  auto *c = static_cast<OpenContext *>(ctx);
  return fleet_attach(g, *c->config, c->name, c->len);
}

}  // namespace
}  // namespace sf

extern "C" {

sf_group *sf_group_open_fleet(const void *name, size_t name_len, const sf_fleet_options *options) {
  if (!name || !name_len) return nullptr;
  try {
    sf::FleetConfig config;
    if (!sf::parse_fleet_options(options, &config)) return nullptr;
    sf::OpenContext ctx{&config, name, name_len};
    return sf::registry_open(name, name_len, sf::kFleetNames, sf::attach, &ctx);
  } catch (const std::bad_alloc &) {
    return nullptr;
  }
}

sf_status sf_fence_token(const sf_ticket *work, uint64_t *token) {
  if (token) *token = 0;
  if (!work) work = sf::tls_current_work;
  if (!work || !token || work->role != sf::Role::kWork) return SF_EINVAL;
  *token = work->flight->fence;
  return SF_OK;
}

}  // extern "C"
