// test_counters.cc — what the group's counters count: waits inside the
// engine and give-ups that bindings report (sf_group_count_giveup).
#include "helpers.h"

using sftest::Group;

namespace {

// The group counts `timeouts` timeouts and `cancellations` cancellations.
void expect_giveups(const sf_group *g, uint64_t timeouts, uint64_t cancellations) {
  sf_stats s = sftest::stats(g);
  EXPECT_EQ(s.timeouts, timeouts);
  EXPECT_EQ(s.cancellations, cancellations);
}

}  // namespace

TEST(Counters, GiveupsReportedByBindingsCount) {
  Group g;
  EXPECT_EQ(sf_group_count_giveup(g, SF_ETIMEDOUT), SF_OK);
  EXPECT_EQ(sf_group_count_giveup(g, SF_ETIMEDOUT), SF_OK);
  EXPECT_EQ(sf_group_count_giveup(g, SF_ECANCELED), SF_OK);
  expect_giveups(g, 2, 1);
}

TEST(Counters, GiveupFromManyThreadsSums) {
  Group g;
  sftest::run_threads(8, [&](int) {
    for (int j = 0; j < 1000; ++j) sf_group_count_giveup(g, j % 2 ? SF_ECANCELED : SF_ETIMEDOUT);
  });
  expect_giveups(g, 4000, 4000);
}

TEST(Counters, GiveupRejectsBadInput) {
  Group g;
  EXPECT_EQ(sf_group_count_giveup(nullptr, SF_ETIMEDOUT), SF_EINVAL);
  EXPECT_EQ(sf_group_count_giveup(g, SF_OK), SF_EINVAL);
  EXPECT_EQ(sf_group_count_giveup(g, SF_EWORK), SF_EINVAL);
  // Integers outside the enum: test_status_values.cc.
  expect_giveups(g, 0, 0);
}
