// The split API: a leader's whole ending: sf_finish and sf_finish_alone.
#include "split_helpers.h"

class SplitFinish : public SplitTest {};

TEST_F(SplitFinish, FinishAloneHandsTheLeaderItsOutcomeAndLeaves) {
  g_alpha_released = 0;
  ASSERT_NO_FATAL_FAILURE(lead());
  Result r;
  EXPECT_EQ(sf_finish(w, k, SF_OK, bytes("mine"), nullptr, &kAlpha, new std::string("n"), &r),
            SF_OK);
  EXPECT_EQ(str(r.value), "mine");
  EXPECT_EQ(r.shared, 0);
  EXPECT_EQ(g_alpha_released.load(), 1);  // nobody else could read it
  EXPECT_EQ(stats(g).live, 0u);
  EXPECT_EQ(stats(g).in_table, 0u);
}

TEST_F(SplitFinish, FinishAloneEndsAFlightNobodyJoinedWithNoOutcome) {
  ASSERT_NO_FATAL_FAILURE(lead());
  int shared = -1;
  EXPECT_EQ(sf_finish_alone(w, k, SF_OK, &shared), 1);
  EXPECT_EQ(shared, 0);
  EXPECT_EQ(stats(g).live, 0u);
  EXPECT_EQ(stats(g).in_table, 0u);
  Join next(g, "k");  // the key is free: a new flight
  EXPECT_NE(next.work, nullptr);
}

TEST_F(SplitFinish, FinishAloneLeavesAFlightWithFollowersAsItWas) {
  ASSERT_NO_FATAL_FAILURE(lead());
  Join follower(g, "k");
  int shared = -1;
  EXPECT_EQ(sf_finish_alone(w, k, SF_OK, &shared), 0);
  EXPECT_EQ(shared, -1);
  EXPECT_EQ(stats(g).in_table, 1u);  // still running, still joinable
  Join late(g, "k");
  EXPECT_EQ(late.work, nullptr);
  Result r;
  EXPECT_EQ(sf_finish(w, k, SF_OK, bytes("v"), nullptr, nullptr, nullptr, &r), SF_OK);
  EXPECT_EQ(r.shared, 1);
  Result rf;
  EXPECT_EQ(sf_wait(follower.wait, 0, &rf), SF_OK);
  EXPECT_EQ(str(rf.value), "v");
}

TEST_F(SplitFinish, FinishAloneAfterAFollowerLeftSaysShared) {
  ASSERT_NO_FATAL_FAILURE(lead());
  {
    Join gone(g, "k");  // joins and leaves (a timed-out caller, say)
  }
  int shared = 0;
  EXPECT_EQ(sf_finish_alone(w, k, SF_EPANIC, &shared), 1);
  EXPECT_EQ(shared, 1);
  EXPECT_EQ(stats(g).panics, 1u);
  EXPECT_EQ(stats(g).live, 0u);
}

TEST_F(SplitFinish, FinishAloneDropsTheLeadersOwnSubscriptionUncalled) {
  ASSERT_NO_FATAL_FAILURE(lead());
  Counter done, abandoned;
  ASSERT_EQ(sf_subscribe(w, Counter::bump, &done), SF_OK);
  ASSERT_EQ(sf_on_abandoned(k, Counter::bump, &abandoned), SF_OK);
  EXPECT_EQ(sf_finish_alone(w, k, SF_OK, nullptr), 1);
  EXPECT_EQ(done.n.load(), 0);
  EXPECT_EQ(abandoned.n.load(), 0);
  // The recycled flight's tickets start clean for the next leader.
  sf_ticket *w2, *k2;
  ASSERT_EQ(sf_join(g, "k", 1, 0, &w2, &k2), SF_OK);
  Counter again;
  EXPECT_EQ(sf_subscribe(w2, Counter::bump, &again), SF_OK);
  EXPECT_EQ(sf_finish_alone(w2, k2, SF_OK, nullptr), 1);
  EXPECT_EQ(stats(g).live, 0u);
}

TEST_F(SplitFinish, FinishAloneRejectsBadInput) {
  Join a(g, "a"), b(g, "b");
  EXPECT_EQ(sf_finish_alone(nullptr, a.work, SF_OK, nullptr), 0);
  EXPECT_EQ(sf_finish_alone(a.wait, nullptr, SF_OK, nullptr), 0);
  EXPECT_EQ(sf_finish_alone(a.wait, b.work, SF_OK, nullptr), 0);  // two flights
  EXPECT_EQ(sf_finish_alone(a.work, a.wait, SF_OK, nullptr), 0);  // swapped
  Join follower(g, "a");
  EXPECT_EQ(sf_finish_alone(follower.wait, a.work, SF_OK, nullptr), 0);
  follower.leave();
  ASSERT_EQ(sf_complete(a.work, SF_OK, nullptr, nullptr), SF_OK);
  EXPECT_EQ(sf_finish_alone(a.wait, a.work, SF_OK, nullptr), 0);  // completed already
  EXPECT_EQ(stats(g).in_table, 1u);                               // b untouched
}

TEST_F(SplitFinish, FinishWithFollowersDeliversToThem) {
  g_alpha_released = 0;
  ASSERT_NO_FATAL_FAILURE(lead());
  Join same(g, "k"), other(g, "k");
  Counter fired;
  sf_subscribe(other.wait, Counter::bump, &fired);
  Result r;
  EXPECT_EQ(sf_finish(w, k, SF_OK, bytes("shared"), nullptr, &kAlpha, new std::string("n"), &r),
            SF_OK);
  EXPECT_EQ(r.shared, 1);
  EXPECT_EQ(fired.n.load(), 1);
  void *native = nullptr;
  Result rs, ro;
  EXPECT_EQ(sf_wait_native(same.wait, 0, &kAlpha, &rs, &native), SF_OK);
  EXPECT_EQ(*static_cast<std::string *>(native), "n");
  EXPECT_EQ(sf_bytes_data(rs.value), sf_bytes_data(r.value));
  EXPECT_EQ(sf_wait(other.wait, 0, &ro), SF_OK);
  EXPECT_EQ(str(ro.value), "shared");
  same.leave();
  other.leave();
  EXPECT_EQ(g_alpha_released.load(), 1);
  EXPECT_EQ(stats(g).live, 0u);
}

TEST_F(SplitFinish, FinishRejectsBadInputAndASecondCompletion) {
  Join a(g, "a"), b(g, "b");
  ReleaseCounter rc;
  static char data[] = "x";
  Result r;
  EXPECT_EQ(sf_finish(a.wait, b.work, SF_OK, sf_bytes_wrap(data, 1, ReleaseCounter::release, &rc),
                      nullptr, nullptr, nullptr, &r),
            SF_EINVAL);  // tickets of two flights
  EXPECT_EQ(rc.count.load(), 1);
  EXPECT_EQ(sf_finish(a.work, a.wait, SF_OK, nullptr, nullptr, nullptr, nullptr, &r), SF_EINVAL);
  Join follower(g, "a");
  EXPECT_EQ(sf_finish(follower.wait, a.work, SF_OK, nullptr, nullptr, nullptr, nullptr, &r),
            SF_EINVAL);  // a follower's wait ticket with the leader's work ticket
  EXPECT_EQ(sf_finish(a.wait, a.work, SF_OK, nullptr, nullptr, nullptr, nullptr, nullptr),
            SF_EINVAL);
  EXPECT_EQ(sf_finish(nullptr, a.work, SF_OK, nullptr, nullptr, nullptr, nullptr, &r), SF_EINVAL);
  EXPECT_EQ(stats(g).in_table, 2u);  // nothing completed
  ASSERT_EQ(sf_complete(a.work, SF_OK, nullptr, nullptr), SF_OK);
  EXPECT_EQ(sf_finish(a.wait, a.work, SF_OK, sf_bytes_wrap(data, 1, ReleaseCounter::release, &rc),
                      nullptr, nullptr, nullptr, &r),
            SF_EINVAL);  // completed already: the Join still leaves both
  EXPECT_EQ(rc.count.load(), 2);
}
