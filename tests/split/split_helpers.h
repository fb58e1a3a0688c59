// Helpers of the split-API tests: a pair of tickets left on destruction, a
// fixture that leads a flight, a callback counter, two native kinds that
// count their releases.
#pragma once

#include <chrono>
#include <cstring>

#include "../helpers.h"

using namespace sftest;

namespace {

// A leader's or follower's pair of tickets, left on destruction.
struct Join {
  sf_ticket *wait = nullptr, *work = nullptr;
  sf_status status;
  Join(sf_group *g, const std::string &key, unsigned flags = 0)
      : status(sf_join(g, key.data(), key.size(), flags, &wait, &work)) {}
  ~Join() { leave(); }
  void leave() {
    sf_leave(work);
    sf_leave(wait);
    work = wait = nullptr;
  }
  void leave_work() {
    sf_leave(work);
    work = nullptr;
  }
  void leave_wait() {
    sf_leave(wait);
    wait = nullptr;
  }
};

// A fixture with a group of its own; lead() joins its flight "k" as the
// leader (w, k).
class SplitTest : public ::testing::Test {
 protected:
  void lead() {
    ASSERT_EQ(sf_join(g, "k", 1, 0, &w, &k), SF_OK);
    ASSERT_NE(k, nullptr);
  }
  Group g;
  sf_ticket *w = nullptr, *k = nullptr;
};

struct Counter {
  std::atomic<int> n{0};
  static void bump(void *ud) { static_cast<Counter *>(ud)->n.fetch_add(1); }
};

std::atomic<int> g_alpha_released{0}, g_beta_released{0};
void release_alpha(void *v) {
  g_alpha_released.fetch_add(1);
  delete static_cast<std::string *>(v);
}
void release_beta(void *v) {
  g_beta_released.fetch_add(1);
  delete static_cast<std::string *>(v);
}
const sf_native_kind kAlpha = {"alpha", release_alpha};
const sf_native_kind kBeta = {"beta", release_beta};

constexpr int64_t kMs = 1000 * 1000;

}  // namespace
