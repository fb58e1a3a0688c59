// The split API: bad input on every split-API function, and ticket reuse.
#include "split_helpers.h"

TEST(SplitInput, BadInputOnEveryFunction) {
  Group g;
  sf_ticket *w = reinterpret_cast<sf_ticket *>(1), *k = reinterpret_cast<sf_ticket *>(1);
  EXPECT_EQ(sf_join(nullptr, "k", 1, 0, &w, &k), SF_EINVAL);
  EXPECT_EQ(w, nullptr);
  EXPECT_EQ(k, nullptr);
  EXPECT_EQ(sf_join(g, nullptr, 1, 0, &w, &k), SF_EINVAL);
  EXPECT_EQ(sf_join(g, "k", 1, 0, nullptr, &k), SF_EINVAL);
  EXPECT_EQ(sf_join(g, "k", 1, 0, &w, nullptr), SF_EINVAL);
  EXPECT_EQ(sf_join(g, "k", 1, 0x80, &w, &k), SF_EINVAL);
  EXPECT_EQ(stats(g).flights, 0u);

  Result r;
  void *native = &r;
  EXPECT_EQ(sf_complete(nullptr, SF_OK, nullptr, nullptr), SF_EINVAL);
  EXPECT_EQ(sf_wait(nullptr, 0, &r), SF_EINVAL);
  EXPECT_EQ(sf_wait_native(nullptr, 0, nullptr, &r, &native), SF_EINVAL);
  EXPECT_EQ(native, nullptr);
  EXPECT_EQ(sf_subscribe(nullptr, Counter::bump, nullptr), SF_EINVAL);
  EXPECT_EQ(sf_cancel(nullptr), SF_EINVAL);
  EXPECT_EQ(sf_on_abandoned(nullptr, Counter::bump, nullptr), SF_EINVAL);
  EXPECT_EQ(sf_abandoned(nullptr), 0);
  void *cur = &r;
  EXPECT_EQ(sf_attach(nullptr, &kAlpha, &r, &cur), SF_EINVAL);
  EXPECT_EQ(cur, nullptr);
  sf_leave(nullptr);

  Join j(g, "k");
  EXPECT_EQ(sf_wait(j.wait, 0, nullptr), SF_EINVAL);
  EXPECT_EQ(sf_wait_native(j.wait, 0, &kAlpha, &r, nullptr), SF_EINVAL);
  EXPECT_EQ(sf_wait(j.work, 0, &r), SF_EINVAL);  // a work ticket does not wait
  EXPECT_EQ(sf_subscribe(j.wait, nullptr, nullptr), SF_EINVAL);
  EXPECT_EQ(sf_subscribe(j.work, Counter::bump, nullptr), SF_EINVAL);
  EXPECT_EQ(sf_cancel(j.work), SF_EINVAL);
  EXPECT_EQ(sf_on_abandoned(j.wait, Counter::bump, nullptr), SF_EINVAL);
  EXPECT_EQ(sf_on_abandoned(j.work, nullptr, nullptr), SF_EINVAL);
  EXPECT_EQ(sf_attach(j.wait, nullptr, &r, &cur), SF_EINVAL);
  EXPECT_EQ(sf_attach(j.wait, &kAlpha, nullptr, &cur), SF_EINVAL);
  EXPECT_EQ(sf_attach(j.wait, &kAlpha, &r, nullptr), SF_EINVAL);
  EXPECT_EQ(stats(g).in_table, 1u);
}

TEST(SplitInput, TicketsAreReusedWithoutLeaks) {
  Group g;
  for (int round = 0; round < 200; ++round) {
    Join leader(g, "k");
    std::vector<sf_ticket *> ws(70);  // more than the spare list keeps
    for (auto &w : ws) {
      sf_ticket *k;
      ASSERT_EQ(sf_join(g, "k", 1, 0, &w, &k), SF_OK);
    }
    sf_complete(leader.work, SF_OK, nullptr, nullptr);
    for (auto *w : ws) sf_leave(w);
  }
  EXPECT_EQ(stats(g).live, 0u);
}
