// The split API: abandonment, newcomers that lift it, and hand-off.
#include "split_helpers.h"

TEST(SplitAbandon, AbandonedWhenEveryWaiterLeaves) {
  Group g;
  Join leader(g, "k"), follower(g, "k");
  Counter c;
  ASSERT_EQ(sf_on_abandoned(leader.work, Counter::bump, &c), SF_OK);
  EXPECT_EQ(sf_on_abandoned(leader.work, Counter::bump, &c), SF_EINVAL);
  leader.leave_wait();
  EXPECT_EQ(sf_abandoned(leader.work), 0);
  EXPECT_EQ(c.n.load(), 0);
  follower.leave();
  EXPECT_EQ(sf_abandoned(leader.work), 1);
  EXPECT_EQ(c.n.load(), 1);
  EXPECT_EQ(stats(g).abandoned, 1u);
  // The work stopped: hand off (nobody waits) and the key runs normally.
  leader.leave_work();
  EXPECT_EQ(stats(g).in_table, 0u);
  Result r;
  EXPECT_EQ(do_key(g, "k", value_work("fresh"), &r), SF_OK);
  EXPECT_EQ(str(r.value), "fresh");
}

TEST(SplitAbandon, OnAbandonedFiresAtOnceIfAlreadyAbandoned) {
  Group g;
  Join leader(g, "k");
  leader.leave_wait();
  Counter c;
  EXPECT_EQ(sf_on_abandoned(leader.work, Counter::bump, &c), SF_OK);
  EXPECT_EQ(c.n.load(), 1);
}

TEST(SplitAbandon, NewcomerRevivesAnAbandonedFlight) {
  Group g;
  Join leader(g, "k");
  leader.leave_wait();
  EXPECT_EQ(sf_abandoned(leader.work), 1);
  Join newcomer(g, "k");
  EXPECT_EQ(newcomer.work, nullptr);  // it joins the running flight
  EXPECT_EQ(sf_abandoned(leader.work), 0);
  sf_complete(leader.work, SF_OK, bytes("kept alive"), nullptr);
  Result r;
  EXPECT_EQ(sf_wait(newcomer.wait, -1, &r), SF_OK);
  EXPECT_EQ(str(r.value), "kept alive");
}

TEST(SplitAbandon, NewcomerAfterTheWorkStoppedLeadsAFreshRun) {
  Group g;
  Join leader(g, "k");
  Counter abandoned;
  sf_on_abandoned(leader.work, Counter::bump, &abandoned);
  leader.leave_wait();
  ASSERT_EQ(abandoned.n.load(), 1);  // the binding cancels its work...
  Join newcomer(g, "k");             // ...while a newcomer arrives
  leader.leave_work();               // the cancelled work hands off
  Result r;
  EXPECT_EQ(sf_wait(newcomer.wait, -1, &r), SF_EHANDOFF);
  newcomer.leave();
  Join again(g, "k");
  EXPECT_NE(again.work, nullptr);  // and leads the fresh run
  EXPECT_EQ(stats(g).handoffs, 1u);
}

TEST(SplitAbandon, HandOffWakesBlockedAndSubscribedWaiters) {
  Group g;
  Join leader(g, "k"), blocked(g, "k"), subscribed(g, "k");
  Counter c;
  sf_subscribe(subscribed.wait, Counter::bump, &c);
  std::thread t([&] {
    Result r;
    EXPECT_EQ(sf_wait(blocked.wait, -1, &r), SF_EHANDOFF);
    EXPECT_EQ(r.value, nullptr);
    EXPECT_EQ(r.error, nullptr);
  });
  leader.leave_work();
  t.join();
  EXPECT_EQ(c.n.load(), 1);
  EXPECT_EQ(stats(g).in_table, 0u);
}

TEST(SplitAbandon, SfDoFollowersRetryAfterAHandOff) {
  Group g;
  Join leader(g, "k");
  const int n = 6;
  std::atomic<int> runs{0};
  Work w = value_work("second run", &runs);
  std::vector<const void *> seen(n);
  std::thread followers([&] {
    run_threads(n, [&](int i) {
      Result r;
      EXPECT_EQ(sf_do(g, "k", 1, run_work, &w, &r), SF_OK);
      EXPECT_EQ(str(r.value), "second run");
      seen[i] = sf_bytes_data(r.value);
    });
  });
  wait_until([&] { return stats(g).followers == static_cast<uint64_t>(n); });
  leader.leave();  // the leader's caller gave up without completing
  followers.join();
  EXPECT_GE(runs.load(), 1);
  EXPECT_LE(runs.load(), n);  // a caller joins the new run unless it completed before it retried
  EXPECT_EQ(stats(g).handoffs, 1u);
  EXPECT_EQ(stats(g).live, 0u);
}

TEST(SplitAbandon, AbandonmentCallbackMayLeaveItsWorkTicket) {
  Group g;
  sf_ticket *w, *k;
  ASSERT_EQ(sf_join(g, "k", 1, 0, &w, &k), SF_OK);
  struct Self {
    sf_ticket *work;
    int calls = 0;
  } self{k, 0};
  ASSERT_EQ(sf_on_abandoned(
                k,
                [](void *ud) {
                  auto *p = static_cast<Self *>(ud);
                  ++p->calls;
                  sf_leave(p->work);  // the work stops: a hand-off, from inside the callback
                },
                &self),
            SF_OK);
  sf_leave(w);  // the last waiter leaves: abandoned
  EXPECT_EQ(self.calls, 1);
  EXPECT_EQ(stats(g).handoffs, 1u);
  EXPECT_EQ(stats(g).live, 0u);
  EXPECT_EQ(stats(g).in_table, 0u);
}
