// fleet/disabled.cc — the engine built without hiredis: a fleet group is a
// local named group (no Fleet is ever attached, so the engine never calls
// the hooks below; they exist so that it links).
#include "fleet/hooks.h"

namespace sf {

bool fleet_attach(sf_group *, const FleetConfig &, const void *, std::size_t) noexcept {
  return true;
}

FleetRole fleet_new_flight(Fleet *, const void *, std::size_t, std::uint64_t *,
                           std::uint64_t *) noexcept {
  return FleetRole::kLocal;
}

void fleet_hold(Fleet *, sf_ticket *) noexcept {}

void fleet_leader_done(Fleet *, const void *, std::size_t, std::uint64_t, std::uint64_t,
                       std::uint32_t, sf_status, sf_bytes *, sf_bytes *,
                       const sf_native_kind *) noexcept {}

void fleet_leader_left(Fleet *, const void *, std::size_t, std::uint64_t, std::uint64_t) noexcept {}

void fleet_handed_off(Fleet *, std::uint64_t, int) noexcept {}

void fleet_rejoined(Fleet *, std::uint64_t) noexcept {}

bool fleet_leader_alone(Fleet *, Flight *) noexcept { return false; }

void fleet_stats(const Fleet *, sf_stats *) noexcept {}

void fleet_flush(Fleet *) noexcept {}

void fleet_free(Fleet *) noexcept {}

}  // namespace sf
