// fleet/current_work.h — the work ticket of the sf_do() work running on
// this thread, so that its work function, which sees no ticket, can read
// its fencing token (sf_fence_token(NULL, ...)).
#pragma once

#include "singleflight_binding.h"

namespace sf {

extern thread_local sf_ticket *tls_current_work;

// Sets the current work ticket for a scope (nested sf_do calls restore the
// outer one).
struct CurrentWork {
  sf_ticket *saved;
  explicit CurrentWork(sf_ticket *work) noexcept : saved(tls_current_work) {
    tls_current_work = work;
  }
  ~CurrentWork() { tls_current_work = saved; }
  CurrentWork(const CurrentWork &) = delete;
  CurrentWork &operator=(const CurrentWork &) = delete;
};

}  // namespace sf
