// The split API: completion callbacks: when they fire, and leaving while they run.
#include "split_helpers.h"

TEST(SplitSubscribe, SubscribeFiresOnceAfterLocksAreReleased) {
  Group g;
  Join leader(g, "k"), follower(g, "k");
  struct Probe {
    sf_ticket *t;
    std::atomic<int> calls{0};
    sf_status seen = SF_EINVAL;
    std::string value;
  } probe{follower.wait, {0}, SF_EINVAL, {}};
  auto cb = [](void *ud) {
    auto *p = static_cast<Probe *>(ud);
    p->calls.fetch_add(1);
    Result r;  // would deadlock if the flight's lock were held here
    p->seen = sf_wait(p->t, 0, &r);
    p->value = str(r.value);
  };
  ASSERT_EQ(sf_subscribe(follower.wait, cb, &probe), SF_OK);
  EXPECT_EQ(sf_subscribe(follower.wait, cb, &probe), SF_EINVAL);  // one per ticket
  EXPECT_EQ(probe.calls.load(), 0);
  sf_complete(leader.work, SF_OK, bytes("hello"), nullptr);
  EXPECT_EQ(probe.calls.load(), 1);  // on the completing thread, before complete returned
  EXPECT_EQ(probe.seen, SF_OK);
  EXPECT_EQ(probe.value, "hello");
}

TEST(SplitSubscribe, SubscribeAfterCompletionFiresAtOnce) {
  Group g;
  Join leader(g, "k");
  sf_complete(leader.work, SF_OK, nullptr, nullptr);
  Counter c;
  EXPECT_EQ(sf_subscribe(leader.wait, Counter::bump, &c), SF_OK);
  EXPECT_EQ(c.n.load(), 1);
}

TEST(SplitSubscribe, LeftSubscriptionNeverFires) {
  Group g;
  Join leader(g, "k"), follower(g, "k");
  Counter c;
  sf_subscribe(follower.wait, Counter::bump, &c);
  follower.leave();
  sf_complete(leader.work, SF_OK, nullptr, nullptr);
  EXPECT_EQ(c.n.load(), 0);
}

TEST(SplitSubscribe, LeaveWaitsForItsCallbackRunningElsewhere) {
  Group g;
  Join leader(g, "k");
  sf_ticket *w, *k;
  ASSERT_EQ(sf_join(g, "k", 1, 0, &w, &k), SF_OK);
  struct Slow {
    std::atomic<bool> entered{false}, leaving{false}, finished{false};
  } s;
  sf_subscribe(
      w,
      [](void *ud) {
        auto *p = static_cast<Slow *>(ud);
        p->entered = true;
        wait_until([&] { return p->leaving.load(); });
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        p->finished = true;
      },
      &s);
  std::thread completer([&] { sf_complete(leader.work, SF_OK, nullptr, nullptr); });
  wait_until([&] { return s.entered.load(); });
  s.leaving = true;
  sf_leave(w);  // must not return while the callback still runs
  EXPECT_TRUE(s.finished.load());
  completer.join();
}

TEST(SplitSubscribe, CallbackMayLeaveItsOwnTicket) {
  Group g;
  Join leader(g, "k");
  sf_ticket *w, *k;
  ASSERT_EQ(sf_join(g, "k", 1, 0, &w, &k), SF_OK);
  struct Self {
    sf_ticket *t;
    int calls = 0;
  } self{w, 0};
  sf_subscribe(
      w,
      [](void *ud) {
        auto *p = static_cast<Self *>(ud);
        ++p->calls;
        sf_leave(p->t);
      },
      &self);
  sf_complete(leader.work, SF_OK, nullptr, nullptr);
  EXPECT_EQ(self.calls, 1);
  leader.leave();
  EXPECT_EQ(stats(g).live, 0u);
}

TEST(SplitSubscribe, ManySubscribersAllFire) {
  Group g;
  Join leader(g, "k");
  const int n = 100;
  std::vector<sf_ticket *> ws(n);
  Counter c;
  for (auto &w : ws) {
    sf_ticket *k;
    ASSERT_EQ(sf_join(g, "k", 1, 0, &w, &k), SF_OK);
    ASSERT_EQ(sf_subscribe(w, Counter::bump, &c), SF_OK);
  }
  sf_leave(ws[10]);  // one leaves early: dropped from the list
  sf_leave(ws[0]);
  sf_complete(leader.work, SF_OK, nullptr, nullptr);
  EXPECT_EQ(c.n.load(), n - 2);
  for (int i = 1; i < n; ++i)
    if (i != 10) sf_leave(ws[i]);
}
