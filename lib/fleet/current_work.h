// fleet/current_work.h — the work ticket of the sf_do() work running on
// this thread, so that its work function, which sees no ticket, can read
// its fencing token (sf_fence_token(NULL, ...)), and whether sf_do() is
// joining on this thread.
#pragma once

#include "singleflight_binding.h"

namespace sf {

extern thread_local sf_ticket *tls_current_work;

// True while sf_do() joins on this thread: a thread that blocks until the
// flight ends anyway, so a fleet group's first caller may run the join
// script itself (fleet/fleet.h, the direct path).
extern thread_local bool tls_join_may_block;

struct BlockingJoin {
  BlockingJoin() noexcept { tls_join_may_block = true; }
  ~BlockingJoin() { tls_join_may_block = false; }
  BlockingJoin(const BlockingJoin &) = delete;
  BlockingJoin &operator=(const BlockingJoin &) = delete;
};

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
