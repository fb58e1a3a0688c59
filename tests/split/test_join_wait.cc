// The split API: joining, completing, waiting with deadlines, cancelling, re-entry and bad completions.
#include "split_helpers.h"

TEST(SplitWait, FirstJoinLeadsLaterJoinsFollow) {
  Group g;
  Join a(g, "k"), b(g, "k"), c(g, "other");
  ASSERT_EQ(a.status, SF_OK);
  EXPECT_NE(a.work, nullptr);
  EXPECT_EQ(b.work, nullptr);
  EXPECT_NE(c.work, nullptr);
  EXPECT_EQ(sf_complete(a.work, SF_OK, bytes("v"), nullptr), SF_OK);
  Result ra, rb;
  EXPECT_EQ(sf_wait(a.wait, 0, &ra), SF_OK);
  EXPECT_EQ(sf_wait(b.wait, -1, &rb), SF_OK);
  EXPECT_EQ(sf_bytes_data(ra.value), sf_bytes_data(rb.value));
  EXPECT_NE(ra.shared, 0);
  EXPECT_EQ(sf_complete(c.work, SF_EWORK, nullptr, bytes("e")), SF_OK);
  Result rc;
  EXPECT_EQ(sf_wait(c.wait, 0, &rc), SF_EWORK);
  EXPECT_EQ(str(rc.error), "e");
  EXPECT_EQ(rc.shared, 0);
}

TEST(SplitWait, CompletedKeyIsFreeForANewFlight) {
  Group g;
  Join a(g, "k");
  sf_complete(a.work, SF_OK, nullptr, nullptr);
  Join b(g, "k");  // a's tickets are still held, but its flight is done
  EXPECT_NE(b.work, nullptr);
}

TEST(SplitWait, DeadlineExpiresAndTheFlightGoesOn) {
  Group g;
  Join leader(g, "k"), follower(g, "k");
  Result r;
  EXPECT_EQ(sf_wait(follower.wait, 0, &r), SF_ETIMEDOUT);  // a poll
  EXPECT_EQ(sf_wait(follower.wait, 2 * kMs, &r), SF_ETIMEDOUT);
  EXPECT_EQ(r.value, nullptr);
  EXPECT_EQ(stats(g).timeouts, 1u);  // polls are not timeouts
  EXPECT_EQ(stats(g).in_table, 1u);
  sf_complete(leader.work, SF_OK, bytes("late"), nullptr);
  EXPECT_EQ(sf_wait(follower.wait, 2 * kMs, &r), SF_OK);
  EXPECT_EQ(str(r.value), "late");
}

TEST(SplitWait, HugeTimeoutDoesNotOverflow) {
  Group g;
  Join leader(g, "k"), follower(g, "k");
  std::thread t([&] {
    Result r;
    EXPECT_EQ(sf_wait(follower.wait, INT64_MAX, &r), SF_OK);
  });
  // With an overflowed deadline the wait would return SF_ETIMEDOUT at once.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  sf_complete(leader.work, SF_OK, nullptr, nullptr);
  t.join();
}

TEST(SplitWait, CancelWakesOnlyThatWaiter) {
  Group g;
  Join leader(g, "k"), f1(g, "k"), f2(g, "k");
  std::atomic<int> woke{0};
  std::thread t1([&] {
    Result r;
    EXPECT_EQ(sf_wait(f1.wait, -1, &r), SF_ECANCELED);
    woke = 1;
  });
  std::thread t2([&] {
    Result r;
    EXPECT_EQ(sf_wait(f2.wait, -1, &r), SF_OK);
    EXPECT_EQ(str(r.value), "for the others");
  });
  EXPECT_EQ(sf_cancel(f1.wait), SF_OK);
  t1.join();
  EXPECT_EQ(woke.load(), 1);
  Result again;
  EXPECT_EQ(sf_wait(f1.wait, 0, &again), SF_ECANCELED);  // sticky
  sf_complete(leader.work, SF_OK, bytes("for the others"), nullptr);
  t2.join();
  EXPECT_EQ(sf_wait(f1.wait, 0, &again), SF_OK);  // the outcome wins once there
  EXPECT_GE(stats(g).cancellations, 2u);
}

TEST(SplitWait, RunHereLeaderWaitingOnItselfIsDeadlock) {
  Group g;
  Join leader(g, "k", SF_JOIN_RUN_HERE);
  Join same_thread(g, "k");
  Result r;
  EXPECT_EQ(sf_wait(same_thread.wait, -1, &r), SF_EDEADLK);
  EXPECT_EQ(sf_wait(same_thread.wait, 5 * kMs, &r), SF_EDEADLK);
  EXPECT_EQ(sf_wait(same_thread.wait, 0, &r), SF_ETIMEDOUT);  // polling is fine
  std::thread other([&] {
    Join o(g, "k");
    Result ro;
    EXPECT_EQ(sf_wait(o.wait, 1 * kMs, &ro), SF_ETIMEDOUT);  // another thread just waits
  });
  other.join();
  sf_complete(leader.work, SF_OK, nullptr, nullptr);
  EXPECT_EQ(sf_wait(same_thread.wait, -1, &r), SF_OK);
}

TEST(SplitWait, CompleteTwiceOrAsFollowerIsInvalidAndReleases) {
  Group g;
  Join leader(g, "k"), follower(g, "k");
  ReleaseCounter rc;
  static char data[] = "x";
  EXPECT_EQ(sf_complete(follower.wait, SF_OK, sf_bytes_wrap(data, 1, ReleaseCounter::release, &rc),
                        nullptr),
            SF_EINVAL);
  EXPECT_EQ(rc.count.load(), 1);
  EXPECT_EQ(stats(g).in_table, 1u);  // nothing changed
  EXPECT_EQ(sf_complete(leader.work, SF_OK, bytes("first"), nullptr), SF_OK);
  EXPECT_EQ(sf_complete(leader.work, SF_OK, sf_bytes_wrap(data, 1, ReleaseCounter::release, &rc),
                        nullptr),
            SF_EINVAL);
  EXPECT_EQ(rc.count.load(), 2);
  Result r;
  EXPECT_EQ(sf_wait(follower.wait, 0, &r), SF_OK);
  EXPECT_EQ(str(r.value), "first");
}

TEST(SplitWait, CompleteWithABadStatusIsAPanic) {
  Group g;
  Join leader(g, "k");
  EXPECT_EQ(sf_complete(leader.work, SF_EDEADLK, bytes("v"), nullptr), SF_OK);
  Result r;
  EXPECT_EQ(sf_wait(leader.wait, 0, &r), SF_EPANIC);
  EXPECT_NE(str(r.error).find("status 5"), std::string::npos);
  EXPECT_EQ(r.value, nullptr);
}
