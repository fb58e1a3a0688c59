// test_counters.cc — what the group's counters count: waits inside the
// engine and give-ups that bindings report (sf_group_count_giveup).
#include "helpers.h"

using sftest::Group;

TEST(Counters, GiveupsReportedByBindingsCount) {
  Group g;
  EXPECT_EQ(sf_group_count_giveup(g, SF_ETIMEDOUT), SF_OK);
  EXPECT_EQ(sf_group_count_giveup(g, SF_ETIMEDOUT), SF_OK);
  EXPECT_EQ(sf_group_count_giveup(g, SF_ECANCELED), SF_OK);
  sf_stats s = sftest::stats(g);
  EXPECT_EQ(s.timeouts, 2u);
  EXPECT_EQ(s.cancellations, 1u);
}

TEST(Counters, GiveupFromManyThreadsSums) {
  Group g;
  std::vector<std::thread> ts;
  for (int i = 0; i < 8; ++i)
    ts.emplace_back([&] {
      for (int j = 0; j < 1000; ++j) sf_group_count_giveup(g, j % 2 ? SF_ECANCELED : SF_ETIMEDOUT);
    });
  for (auto &t : ts) t.join();
  sf_stats s = sftest::stats(g);
  EXPECT_EQ(s.timeouts, 4000u);
  EXPECT_EQ(s.cancellations, 4000u);
}

TEST(Counters, GiveupRejectsBadInput) {
  Group g;
  EXPECT_EQ(sf_group_count_giveup(nullptr, SF_ETIMEDOUT), SF_EINVAL);
  EXPECT_EQ(sf_group_count_giveup(g, SF_OK), SF_EINVAL);
  EXPECT_EQ(sf_group_count_giveup(g, SF_EWORK), SF_EINVAL);
  // Integers outside the enum: test_status_values.cc.
  sf_stats s = sftest::stats(g);
  EXPECT_EQ(s.timeouts, 0u);
  EXPECT_EQ(s.cancellations, 0u);
}
