// abi.cc — the extern "C" entry points: argument checks, then the engine.
//
// Every function here checks its arguments before touching anything, so bad
// input is SF_EINVAL with nothing changed. The engine itself never throws;
// the only exceptions are a C++ work function's, caught in sf_do.
#include <cstring>
#include <exception>

#include "bytes.h"
#include "fleet/current_work.h"
#include "flight.h"
#include "group.h"
#include "latency.h"
#include "registry.h"

#define SF_STR2(x) #x
#define SF_STR(x) SF_STR2(x)

namespace {

const char g_engine_identity = 0;  // its address names this copy of the engine

void clear(sf_result *r) noexcept {
  r->value = nullptr;
  r->error = nullptr;
  r->shared = 0;
}

bool bad_key(const void *key, size_t len) noexcept { return !key && len; }

// The integer a caller passed as an sf_status. C, cgo and cffi callers may
// pass any int, and in C++ an sf_status outside the enum's range is
// undefined behaviour once loaded as one (-fsanitize=enum reports it), so
// every status that comes from outside the engine (an argument, a work
// function's return value) is copied out as the integer it is and never
// read as an sf_status.
int status_value(const sf_status &status) noexcept {
  static_assert(sizeof(sf_status) == sizeof(int), "sf_status is passed as an int");
  int value;
  std::memcpy(&value, &status, sizeof value);
  return value;
}

sf_bytes *panic_message(const char *what) noexcept {
  static const char prefix[] = "the work threw an exception: ";
  size_t n = std::strlen(what);
  sf_bytes *b = nullptr;
  char stackbuf[512];
  if (sizeof prefix + n <= sizeof stackbuf) {
    std::memcpy(stackbuf, prefix, sizeof prefix - 1);
    std::memcpy(stackbuf + sizeof prefix - 1, what, n);
    b = sf_bytes_new(stackbuf, sizeof prefix - 1 + n);
  } else {
    b = sf_bytes_new(what, n);
  }
  return b;
}

sf_status complete(sf_ticket *work, int status, sf_bytes *value, sf_bytes *error,
                   const sf_native_kind *kind, void *native) noexcept {
  if (!work) {
    sf::discard_outcome(value, error, kind, native);
    return SF_EINVAL;
  }
  return sf::group_complete(work, status, value, error, kind, native);
}

}  // namespace

extern "C" {

unsigned sf_version(void) { return SF_VERSION_NUMBER; }

const char *sf_version_string(void) {
  return SF_STR(SF_VERSION_MAJOR) "." SF_STR(SF_VERSION_MINOR) "." SF_STR(SF_VERSION_PATCH);
}

const void *sf_engine_id(void) { return &g_engine_identity; }

const char *sf_status_str(sf_status status) { return sf::status_name(status_value(status)); }

sf_group *sf_group_new(void) { return sf::group_new(); }

sf_group *sf_group_open(const void *name, size_t name_len) {
  if (!name || !name_len) return nullptr;
  return sf::registry_open(name, name_len);
}

sf_group *sf_group_retain(sf_group *group) {
  if (group) group->refs.fetch_add(1, std::memory_order_relaxed);
  return group;
}

void sf_group_release(sf_group *group) {
  if (!group) return;
  if (group->named) {
    long r = group->refs.load(std::memory_order_relaxed);
    while (r > 1) {
      if (group->refs.compare_exchange_weak(r, r - 1, std::memory_order_acq_rel)) return;
    }
    sf::registry_release(group);
    return;
  }
  if (group->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) sf::group_dying(group);
}

sf_status sf_group_stats(const sf_group *group, sf_stats *stats, size_t stats_size) {
  if (!group || !stats || stats_size < sizeof(uint64_t)) return SF_EINVAL;
  sf_stats all;
  sf::group_stats(group, &all);
  std::memcpy(stats, &all, stats_size < sizeof all ? stats_size : sizeof all);
  return SF_OK;
}

sf_status sf_group_count_giveup(sf_group *group, sf_status reason) {
  if (!group) return SF_EINVAL;
  switch (status_value(reason)) {
    case SF_ETIMEDOUT: sf::group_count_giveup(group, SF_ETIMEDOUT); return SF_OK;
    case SF_ECANCELED: sf::group_count_giveup(group, SF_ECANCELED); return SF_OK;
    default: return SF_EINVAL;
  }
}

sf_status sf_group_record_latency(sf_group *group, int on) {
  if (!group) return SF_EINVAL;
  return group->latency.set(on != 0);
}

sf_status sf_group_latency(const sf_group *group, int which, sf_histogram *out, size_t out_size) {
  if (!group || !out || out_size < sizeof(uint64_t)) return SF_EINVAL;
  if (which != SF_LATENCY_WAIT && which != SF_LATENCY_WORK) return SF_EINVAL;
  sf_histogram all;
  group->latency.read(which, &all);
  std::memcpy(out, &all, out_size < sizeof all ? out_size : sizeof all);
  return SF_OK;
}

sf_status sf_do(sf_group *group, const void *key, size_t key_len, sf_work_fn work, void *userdata,
                sf_result *result) {
  if (!result) return SF_EINVAL;
  clear(result);
  if (!group || !work || bad_key(key, key_len)) return SF_EINVAL;
  for (;;) {
    sf_ticket *wait, *lead;
    sf_status st = sf::group_join(group, key, key_len, SF_JOIN_RUN_HERE, &wait, &lead);
    if (st != SF_OK) return st;
    sf::latency_joined(group->latency, wait, lead);
    if (lead) {
      sf_bytes *value = nullptr, *error = nullptr;
      int outcome;
      sf::CurrentWork running(lead);  // sf_fence_token(NULL, ...) in the work
      try {
        const sf_status returned = work(userdata, &value, &error);
        outcome = status_value(returned);
      } catch (const std::exception &e) {
        outcome = SF_EPANIC;
        sf_bytes_release(value);
        sf_bytes_release(error);
        value = nullptr;
        error = panic_message(e.what());
      } catch (...) {
        outcome = SF_EPANIC;
        sf_bytes_release(value);
        sf_bytes_release(error);
        value = nullptr;
        error = panic_message("(not a std::exception)");
      }
      return sf::group_finish_leader(wait, lead, outcome, value, error, nullptr, nullptr, result);
    }
    void *native = nullptr;
    bool left = false;
    st = sf::flight_wait(wait, -1, nullptr, result, &native, &left);
    if (!left) sf::group_leave(wait);
    if (st != SF_EHANDOFF) return st;  // a hand-off: join again
  }
}

sf_status sf_forget(sf_group *group, const void *key, size_t key_len) {
  if (!group || bad_key(key, key_len)) return SF_EINVAL;
  return sf::group_forget(group, key, key_len, false, nullptr);
}

sf_status sf_forget_unshared(sf_group *group, const void *key, size_t key_len, int *forgotten) {
  if (forgotten) *forgotten = 0;
  if (!group || bad_key(key, key_len)) return SF_EINVAL;
  return sf::group_forget(group, key, key_len, true, forgotten);
}

sf_status sf_join(sf_group *group, const void *key, size_t key_len, unsigned flags,
                  sf_ticket **wait, sf_ticket **work) {
  if (wait) *wait = nullptr;
  if (work) *work = nullptr;
  if (!group || !wait || !work || bad_key(key, key_len) || (flags & ~SF_JOIN_RUN_HERE))
    return SF_EINVAL;
  sf_status st = sf::group_join(group, key, key_len, flags, wait, work);
  if (st == SF_OK) sf::latency_joined(group->latency, *wait, *work);
  return st;
}

sf_status sf_complete(sf_ticket *work, sf_status status, sf_bytes *value, sf_bytes *error) {
  return complete(work, status_value(status), value, error, nullptr, nullptr);
}

sf_status sf_complete_native(sf_ticket *work, sf_status status, sf_bytes *value, sf_bytes *error,
                             const sf_native_kind *kind, void *native) {
  return complete(work, status_value(status), value, error, kind, native);
}

sf_status sf_finish(sf_ticket *wait, sf_ticket *work, sf_status status, sf_bytes *value,
                    sf_bytes *error, const sf_native_kind *kind, void *native, sf_result *result) {
  if (result) clear(result);
  if (!wait || !work || !result || wait->role != sf::Role::kWait || work->role != sf::Role::kWork ||
      wait->flight != work->flight) {
    sf::discard_outcome(value, error, kind, native);
    return SF_EINVAL;
  }
  return sf::group_finish_leader(wait, work, status_value(status), value, error, kind, native,
                                 result);
}

int sf_finish_alone(sf_ticket *wait, sf_ticket *work, sf_status status, int *shared) {
  if (!wait || !work || wait->role != sf::Role::kWait || work->role != sf::Role::kWork ||
      wait->flight != work->flight)
    return 0;
  return sf::group_finish_alone(wait, work, status_value(status), shared) ? 1 : 0;
}

sf_status sf_wait(sf_ticket *wait, int64_t timeout_ns, sf_result *result) {
  void *native = nullptr;
  return sf_wait_native(wait, timeout_ns, nullptr, result, &native);
}

sf_status sf_wait_native(sf_ticket *wait, int64_t timeout_ns, const sf_native_kind *kind,
                         sf_result *result, void **native) {
  if (native) *native = nullptr;
  if (result) clear(result);
  if (!wait || !result || !native) return SF_EINVAL;
  return sf::flight_wait(wait, timeout_ns, kind, result, native);
}

sf_status sf_subscribe(sf_ticket *wait, sf_notify_fn fn, void *userdata) {
  if (!wait || !fn) return SF_EINVAL;
  return sf::flight_subscribe(wait, fn, userdata);
}

sf_status sf_cancel(sf_ticket *wait) {
  if (!wait) return SF_EINVAL;
  return sf::flight_cancel(wait);
}

sf_status sf_on_abandoned(sf_ticket *work, sf_notify_fn fn, void *userdata) {
  if (!work || !fn) return SF_EINVAL;
  return sf::flight_on_abandoned(work, fn, userdata);
}

int sf_abandoned(const sf_ticket *ticket) { return ticket ? sf::flight_abandoned(ticket) : 0; }

sf_status sf_attach(sf_ticket *ticket, const sf_native_kind *kind, void *value, void **current) {
  if (current) *current = nullptr;
  if (!ticket || !kind || !value || !current) return SF_EINVAL;
  return sf::flight_attach(ticket, kind, value, current);
}

sf_status sf_join_or_meet(sf_group *group, const void *key, size_t key_len, unsigned flags,
                          const sf_native_kind *kind, sf_meeting **meeting, void **rendezvous,
                          sf_ticket **wait, sf_ticket **work) {
  if (meeting) *meeting = nullptr;
  if (rendezvous) *rendezvous = nullptr;
  if (wait) *wait = nullptr;
  if (work) *work = nullptr;
  if (!group || !kind || !meeting || !rendezvous || !wait || !work || bad_key(key, key_len) ||
      (flags & ~SF_JOIN_RUN_HERE))
    return SF_EINVAL;
  sf_status st =
      sf::group_join_or_meet(group, key, key_len, flags, kind, meeting, rendezvous, wait, work);
  if (st == SF_OK && *wait) sf::latency_joined(group->latency, *wait, *work);
  return st;
}

void sf_meeting_end(sf_meeting *meeting, int joined) {
  if (meeting) sf::meeting_end(meeting, joined != 0);
}

void sf_leave(sf_ticket *ticket) {
  if (ticket) sf::group_leave(ticket);
}

}  // extern "C"
