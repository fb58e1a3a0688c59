// The split API: join / complete / wait / subscribe / cancel / leave,
// abandonment, hand-off, native values and attachments.
#include <chrono>
#include <cstring>

#include "helpers.h"

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

TEST(Split, FirstJoinLeadsLaterJoinsFollow) {
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

TEST(Split, CompletedKeyIsFreeForANewFlight) {
  Group g;
  Join a(g, "k");
  sf_complete(a.work, SF_OK, nullptr, nullptr);
  Join b(g, "k");  // a's tickets are still held, but its flight is done
  EXPECT_NE(b.work, nullptr);
}

TEST(Split, DeadlineExpiresAndTheFlightGoesOn) {
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

TEST(Split, HugeTimeoutDoesNotOverflow) {
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

TEST(Split, CancelWakesOnlyThatWaiter) {
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

TEST(Split, SubscribeFiresOnceAfterLocksAreReleased) {
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

TEST(Split, SubscribeAfterCompletionFiresAtOnce) {
  Group g;
  Join leader(g, "k");
  sf_complete(leader.work, SF_OK, nullptr, nullptr);
  Counter c;
  EXPECT_EQ(sf_subscribe(leader.wait, Counter::bump, &c), SF_OK);
  EXPECT_EQ(c.n.load(), 1);
}

TEST(Split, LeftSubscriptionNeverFires) {
  Group g;
  Join leader(g, "k"), follower(g, "k");
  Counter c;
  sf_subscribe(follower.wait, Counter::bump, &c);
  follower.leave();
  sf_complete(leader.work, SF_OK, nullptr, nullptr);
  EXPECT_EQ(c.n.load(), 0);
}

TEST(Split, LeaveWaitsForItsCallbackRunningElsewhere) {
  Group g;
  Join leader(g, "k");
  sf_ticket *w, *k;
  ASSERT_EQ(sf_join(g, "k", 1, 0, &w, &k), SF_OK);
  struct Slow {
    std::atomic<bool> entered{false}, leaving{false}, finished{false};
  } s;
  sf_subscribe(w, [](void *ud) {
    auto *p = static_cast<Slow *>(ud);
    p->entered = true;
    wait_until([&] { return p->leaving.load(); });
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    p->finished = true;
  }, &s);
  std::thread completer([&] { sf_complete(leader.work, SF_OK, nullptr, nullptr); });
  wait_until([&] { return s.entered.load(); });
  s.leaving = true;
  sf_leave(w);  // must not return while the callback still runs
  EXPECT_TRUE(s.finished.load());
  completer.join();
}

TEST(Split, CallbackMayLeaveItsOwnTicket) {
  Group g;
  Join leader(g, "k");
  sf_ticket *w, *k;
  ASSERT_EQ(sf_join(g, "k", 1, 0, &w, &k), SF_OK);
  struct Self {
    sf_ticket *t;
    int calls = 0;
  } self{w, 0};
  sf_subscribe(w, [](void *ud) {
    auto *p = static_cast<Self *>(ud);
    ++p->calls;
    sf_leave(p->t);
  }, &self);
  sf_complete(leader.work, SF_OK, nullptr, nullptr);
  EXPECT_EQ(self.calls, 1);
  leader.leave();
  EXPECT_EQ(stats(g).live, 0u);
}

TEST(Split, ManySubscribersAllFire) {
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

TEST(Split, AbandonedWhenEveryWaiterLeaves) {
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

TEST(Split, OnAbandonedFiresAtOnceIfAlreadyAbandoned) {
  Group g;
  Join leader(g, "k");
  leader.leave_wait();
  Counter c;
  EXPECT_EQ(sf_on_abandoned(leader.work, Counter::bump, &c), SF_OK);
  EXPECT_EQ(c.n.load(), 1);
}

TEST(Split, NewcomerRevivesAnAbandonedFlight) {
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

TEST(Split, NewcomerAfterTheWorkStoppedLeadsAFreshRun) {
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

TEST(Split, HandOffWakesBlockedAndSubscribedWaiters) {
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

TEST(Split, SfDoFollowersRetryAfterAHandOff) {
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

TEST(Split, RunHereLeaderWaitingOnItselfIsDeadlock) {
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

TEST(Split, CompleteTwiceOrAsFollowerIsInvalidAndReleases) {
  Group g;
  Join leader(g, "k"), follower(g, "k");
  ReleaseCounter rc;
  static char data[] = "x";
  EXPECT_EQ(sf_complete(follower.wait, SF_OK, sf_bytes_wrap(data, 1, ReleaseCounter::release, &rc), nullptr),
            SF_EINVAL);
  EXPECT_EQ(rc.count.load(), 1);
  EXPECT_EQ(stats(g).in_table, 1u);  // nothing changed
  EXPECT_EQ(sf_complete(leader.work, SF_OK, bytes("first"), nullptr), SF_OK);
  EXPECT_EQ(sf_complete(leader.work, SF_OK, sf_bytes_wrap(data, 1, ReleaseCounter::release, &rc), nullptr),
            SF_EINVAL);
  EXPECT_EQ(rc.count.load(), 2);
  Result r;
  EXPECT_EQ(sf_wait(follower.wait, 0, &r), SF_OK);
  EXPECT_EQ(str(r.value), "first");
}

TEST(Split, CompleteWithABadStatusIsAPanic) {
  Group g;
  Join leader(g, "k");
  EXPECT_EQ(sf_complete(leader.work, SF_EDEADLK, bytes("v"), nullptr), SF_OK);
  Result r;
  EXPECT_EQ(sf_wait(leader.wait, 0, &r), SF_EPANIC);
  EXPECT_NE(str(r.error).find("status 5"), std::string::npos);
  EXPECT_EQ(r.value, nullptr);
}

TEST(Split, NativeValueGoesToItsOwnKindOthersGetBytesOrNoBytes) {
  g_alpha_released = 0;
  Group g;
  Join leader(g, "k"), same(g, "k"), other(g, "k"), plain(g, "k");
  ASSERT_EQ(sf_complete_native(leader.work, SF_OK, nullptr, nullptr, &kAlpha, new std::string("native!")),
            SF_OK);
  void *native = nullptr;
  Result r1, r2, r3;
  EXPECT_EQ(sf_wait_native(same.wait, 0, &kAlpha, &r1, &native), SF_OK);
  ASSERT_NE(native, nullptr);
  EXPECT_EQ(*static_cast<std::string *>(native), "native!");
  EXPECT_EQ(sf_wait_native(other.wait, 0, &kBeta, &r2, &native), SF_ENOBYTES);
  EXPECT_EQ(native, nullptr);
  EXPECT_NE(str(r2.error).find("native alpha value"), std::string::npos) << str(r2.error);
  EXPECT_EQ(sf_wait(plain.wait, 0, &r3), SF_ENOBYTES);
  EXPECT_EQ(g_alpha_released.load(), 0);
  leader.leave();
  same.leave();
  other.leave();
  plain.leave();
  EXPECT_EQ(g_alpha_released.load(), 1);  // once, with the last ticket
}

TEST(Split, NativeValueWithBytesGivesForeignersTheBytes) {
  g_alpha_released = 0;
  {
    Group g;
    Join leader(g, "k"), other(g, "k");
    sf_complete_native(leader.work, SF_OK, bytes("as bytes"), nullptr, &kAlpha, new std::string("n"));
    void *native = nullptr;
    Result r;
    EXPECT_EQ(sf_wait_native(other.wait, 0, &kBeta, &r, &native), SF_OK);
    EXPECT_EQ(str(r.value), "as bytes");
    EXPECT_EQ(native, nullptr);
  }
  EXPECT_EQ(g_alpha_released.load(), 1);
}

TEST(Split, NativeOnAFailedCompleteIsReleasedAtOnce) {
  g_alpha_released = 0;
  EXPECT_EQ(sf_complete_native(nullptr, SF_OK, nullptr, nullptr, &kAlpha, new std::string("x")), SF_EINVAL);
  EXPECT_EQ(g_alpha_released.load(), 1);
}

TEST(Split, AttachRendezvousPerKind) {
  g_alpha_released = 0;
  g_beta_released = 0;
  {
    Group g;
    Join leader(g, "k"), follower(g, "k"), foreign(g, "k");
    auto *mine = new std::string("first");
    void *cur = nullptr;
    ASSERT_EQ(sf_attach(follower.wait, &kAlpha, mine, &cur), SF_OK);
    EXPECT_EQ(cur, mine);  // installed: the engine owns it now
    auto *second = new std::string("second");
    ASSERT_EQ(sf_attach(leader.work, &kAlpha, second, &cur), SF_OK);
    EXPECT_EQ(cur, mine);  // same kind: the installed one; `second` stays ours
    delete second;
    auto *beta = new std::string("beta");
    ASSERT_EQ(sf_attach(foreign.wait, &kBeta, beta, &cur), SF_OK);
    EXPECT_EQ(cur, beta);  // another kind has a slot of its own
    sf_complete(leader.work, SF_OK, nullptr, nullptr);
  }
  EXPECT_EQ(g_alpha_released.load(), 1);
  EXPECT_EQ(g_beta_released.load(), 1);
}

TEST(Split, AttachSlotsRunOutAfterMaxKinds) {
  static std::atomic<int> released{0};
  static const sf_native_kind kinds[SF_ATTACH_MAX + 1] = {
      {"k0", [](void *) { released++; }}, {"k1", [](void *) { released++; }},
      {"k2", [](void *) { released++; }}, {"k3", [](void *) { released++; }},
      {"k4", [](void *) { released++; }}};
  static_assert(SF_ATTACH_MAX == 4, "the table above has SF_ATTACH_MAX + 1 kinds");
  released = 0;
  {
    Group g;
    Join j(g, "k");
    int token[SF_ATTACH_MAX + 1];
    for (int i = 0; i < SF_ATTACH_MAX; ++i) {
      void *cur = nullptr;
      ASSERT_EQ(sf_attach(j.wait, &kinds[i], &token[i], &cur), SF_OK);
      EXPECT_EQ(cur, &token[i]);
    }
    void *cur = &token[0];
    ASSERT_EQ(sf_attach(j.wait, &kinds[SF_ATTACH_MAX], &token[SF_ATTACH_MAX], &cur), SF_OK);
    EXPECT_EQ(cur, nullptr);  // no slot left: the caller keeps its value
    sf_complete(j.work, SF_OK, nullptr, nullptr);
  }
  EXPECT_EQ(released.load(), SF_ATTACH_MAX);
}

// Attaches a new rendezvous object of `kind`, named `name`, to the flight of
// ticket `t` (freed by the engine with the flight's last ticket).
void attach_rv(sf_ticket *t, const sf_native_kind *kind, const char *name) {
  void *cur = nullptr;
  ASSERT_EQ(sf_attach(t, kind, new std::string(name), &cur), SF_OK);
}

// A binding's decision on a flight's rendezvous: what it saw, what it
// answers (made with no engine lock held, after sf_join_or_meet returned).
struct Acceptor {
  int answer = 1;
  int calls = 0;
  void *seen = nullptr;
  int decide(void *rendezvous) {
    ++calls;
    seen = rendezvous;
    return answer;
  }
};

// sf_join_or_meet as a binding uses it: a meeting ends with the binding's
// decision; a caller not taken in joins with sf_join. `accepted` says
// whether it joined through the rendezvous.
struct JoinOrMeet {
  int accepted = -1;
  sf_ticket *wait = nullptr, *work = nullptr;
  JoinOrMeet(sf_group *g, const std::string &key, Acceptor &a) {
    sf_meeting *m = nullptr;
    void *rv = nullptr;
    EXPECT_EQ(sf_join_or_meet(g, key.data(), key.size(), 0, &kAlpha, &m, &rv, &wait, &work), SF_OK);
    accepted = 0;
    if (!m) {
      EXPECT_EQ(rv, nullptr);
      return;
    }
    EXPECT_EQ(wait, nullptr);
    EXPECT_EQ(work, nullptr);
    const int yes = a.decide(rv);
    sf_meeting_end(m, yes);
    if (yes) accepted = 1;
    else EXPECT_EQ(sf_join(g, key.data(), key.size(), 0, &wait, &work), SF_OK);
  }
  ~JoinOrMeet() {
    sf_leave(work);
    sf_leave(wait);
  }
};

TEST(Split, JoinOrMeetLeadsANewKeyWithoutAsking) {
  Group g;
  Acceptor a;
  JoinOrMeet j(g, "k", a);
  EXPECT_EQ(j.accepted, 0);
  EXPECT_NE(j.wait, nullptr);
  EXPECT_NE(j.work, nullptr);
  EXPECT_EQ(a.calls, 0);
  EXPECT_EQ(stats(g).flights, 1u);
}

TEST(Split, JoinOrMeetIsTakenInByTheRendezvous) {
  Group g;
  Join leader(g, "k");
  auto *rv = new std::string("rendezvous");
  void *cur = nullptr;
  ASSERT_EQ(sf_attach(leader.wait, &kAlpha, rv, &cur), SF_OK);
  Acceptor a;
  JoinOrMeet j(g, "k", a);
  EXPECT_EQ(j.accepted, 1);
  EXPECT_EQ(j.wait, nullptr);
  EXPECT_EQ(j.work, nullptr);
  EXPECT_EQ(a.seen, rv);
  EXPECT_EQ(stats(g).followers, 1u);
  EXPECT_EQ(stats(g).live, 1u);  // no ticket of its own
  Result r;
  ASSERT_EQ(sf_finish(leader.wait, leader.work, SF_OK, bytes("v"), nullptr, nullptr, nullptr, &r), SF_OK);
  leader.wait = leader.work = nullptr;
  EXPECT_TRUE(r.shared);
}

TEST(Split, JoinOrMeetFollowsWithATicketWhenNotTakenIn) {
  Group g;
  Join leader(g, "k");
  Acceptor a;
  {
    JoinOrMeet j(g, "k", a);  // nothing attached: not asked
    EXPECT_EQ(j.accepted, 0);
    EXPECT_NE(j.wait, nullptr);
    EXPECT_EQ(j.work, nullptr);
    EXPECT_EQ(a.calls, 0);
  }
  attach_rv(leader.wait, &kAlpha, "rv");
  a.answer = 0;
  JoinOrMeet declined(g, "k", a);  // asked, and declined
  EXPECT_EQ(declined.accepted, 0);
  EXPECT_NE(declined.wait, nullptr);
  EXPECT_EQ(declined.work, nullptr);
  EXPECT_EQ(a.calls, 1);
  EXPECT_EQ(stats(g).followers, 2u);
  Result r;
  ASSERT_EQ(sf_complete(leader.work, SF_OK, bytes("v"), nullptr), SF_OK);
  leader.leave_work();
  ASSERT_EQ(sf_wait(declined.wait, 0, &r), SF_OK);
  EXPECT_EQ(str(r.value), "v");
  EXPECT_TRUE(r.shared);
}

TEST(Split, JoinOrMeetJoinsAnAbandonedFlightWithATicket) {
  Group g;
  Join leader(g, "k");
  attach_rv(leader.wait, &kAlpha, "rv");
  leader.leave_wait();  // every waiter left: nobody delivers to an accepted caller
  ASSERT_EQ(sf_abandoned(leader.work), 1);
  Acceptor a;
  JoinOrMeet j(g, "k", a);
  EXPECT_EQ(j.accepted, 0);
  EXPECT_NE(j.wait, nullptr);
  EXPECT_EQ(j.work, nullptr);
  EXPECT_EQ(a.calls, 0);
  EXPECT_EQ(sf_abandoned(leader.work), 0);  // the newcomer lifted it
}

TEST(Split, JoinOrMeetLeadsAfterAForget) {
  Group g;
  Join leader(g, "k");
  attach_rv(leader.wait, &kAlpha, "rv");
  ASSERT_EQ(sf_forget(g, "k", 1), SF_OK);
  Acceptor a;
  JoinOrMeet j(g, "k", a);
  EXPECT_EQ(j.accepted, 0);
  EXPECT_NE(j.work, nullptr);  // a new flight
  EXPECT_EQ(a.calls, 0);
  EXPECT_EQ(stats(g).flights, 2u);
}

TEST(Split, JoinOrMeetThroughTheLeadersOwnTicketLeavesItAlone) {
  // The caller waits through the leader's wait ticket: once its meeting
  // ended the leader's tickets are the only ones, so sf_finish_alone ends
  // the flight and says shared (the binding delivers to the caller itself).
  Group g;
  Join leader(g, "k");
  attach_rv(leader.wait, &kAlpha, "rv");
  Acceptor a;
  JoinOrMeet j(g, "k", a);
  EXPECT_EQ(j.accepted, 1);
  int shared = -1;
  EXPECT_EQ(sf_finish_alone(leader.wait, leader.work, SF_OK, &shared), 1);
  leader.wait = leader.work = nullptr;
  EXPECT_EQ(shared, 1);
  EXPECT_EQ(stats(g).live, 0u);
}

TEST(Split, MeetingKeepsTheFlightAndItsRendezvousUntilItEnds) {
  g_alpha_released = 0;
  Group g;
  Join leader(g, "k");
  attach_rv(leader.wait, &kAlpha, "rv");
  sf_meeting *m = nullptr;
  void *rv = nullptr;
  sf_ticket *w = nullptr, *k = nullptr;
  ASSERT_EQ(sf_join_or_meet(g, "k", 1, 0, &kAlpha, &m, &rv, &w, &k), SF_OK);
  ASSERT_NE(m, nullptr);
  int shared = -1;
  // Not alone while someone meets on the flight: it ends the ordinary way.
  EXPECT_EQ(sf_finish_alone(leader.wait, leader.work, SF_OK, &shared), 0);
  Result r;
  ASSERT_EQ(sf_finish(leader.wait, leader.work, SF_OK, bytes("v"), nullptr, nullptr, nullptr, &r), SF_OK);
  leader.wait = leader.work = nullptr;
  EXPECT_FALSE(r.shared);
  EXPECT_EQ(stats(g).live, 1u);  // held by the meeting alone
  EXPECT_EQ(*static_cast<std::string *>(rv), "rv");
  EXPECT_EQ(g_alpha_released.load(), 0);
  sf_meeting_end(m, 0);  // declined: counted as nobody
  EXPECT_EQ(g_alpha_released.load(), 1);  // the last hold released it
  EXPECT_EQ(stats(g).live, 0u);
  EXPECT_EQ(stats(g).followers, 0u);
  sf_meeting_end(nullptr, 1);  // a no-op
}

TEST(Split, JoinOrMeetRejectsBadInput) {
  Group g;
  sf_meeting *m = reinterpret_cast<sf_meeting *>(1);
  void *rv = reinterpret_cast<void *>(1);
  sf_ticket *w = reinterpret_cast<sf_ticket *>(1), *k = reinterpret_cast<sf_ticket *>(1);
  auto call = [&](sf_group *gr, const void *key, size_t len, unsigned flags, const sf_native_kind *kind,
                  sf_meeting **mp, void **rp, sf_ticket **wait, sf_ticket **work) {
    return sf_join_or_meet(gr, key, len, flags, kind, mp, rp, wait, work);
  };
  EXPECT_EQ(call(nullptr, "k", 1, 0, &kAlpha, &m, &rv, &w, &k), SF_EINVAL);
  EXPECT_EQ(m, nullptr);
  EXPECT_EQ(rv, nullptr);
  EXPECT_EQ(w, nullptr);
  EXPECT_EQ(k, nullptr);
  EXPECT_EQ(call(g, nullptr, 1, 0, &kAlpha, &m, &rv, &w, &k), SF_EINVAL);
  EXPECT_EQ(call(g, "k", 1, 0x80, &kAlpha, &m, &rv, &w, &k), SF_EINVAL);
  EXPECT_EQ(call(g, "k", 1, 0, nullptr, &m, &rv, &w, &k), SF_EINVAL);
  EXPECT_EQ(call(g, "k", 1, 0, &kAlpha, nullptr, &rv, &w, &k), SF_EINVAL);
  EXPECT_EQ(call(g, "k", 1, 0, &kAlpha, &m, nullptr, &w, &k), SF_EINVAL);
  EXPECT_EQ(call(g, "k", 1, 0, &kAlpha, &m, &rv, nullptr, &k), SF_EINVAL);
  EXPECT_EQ(call(g, "k", 1, 0, &kAlpha, &m, &rv, &w, nullptr), SF_EINVAL);
  EXPECT_EQ(stats(g).flights, 0u);  // nothing changed
  ASSERT_EQ(call(g, nullptr, 0, 0, &kAlpha, &m, &rv, &w, &k), SF_OK);  // the empty key
  EXPECT_EQ(m, nullptr);
  EXPECT_NE(k, nullptr);
  sf_leave(k);
  sf_leave(w);
}

TEST(Split, BindingDecidesUnderItsOwnLockWhileAnotherThreadCallsTheEngine) {
  // The binding's decision on a rendezvous takes the binding's own lock.
  // Another thread holds that lock while it calls the engine on the same
  // flight and key: since the decision runs after every engine lock is
  // released, neither thread waits for the other's lock while holding one.
  Group g;
  Join leader(g, "k");
  attach_rv(leader.wait, &kAlpha, "rv");
  std::mutex binding;
  std::unique_lock<std::mutex> held(binding);
  std::atomic<bool> met{false};
  std::thread visitor([&] {
    sf_meeting *m = nullptr;
    void *rv = nullptr;
    sf_ticket *w = nullptr, *k = nullptr;
    ASSERT_EQ(sf_join_or_meet(g, "k", 1, 0, &kAlpha, &m, &rv, &w, &k), SF_OK);
    ASSERT_NE(m, nullptr);
    met = true;
    std::lock_guard<std::mutex> lk(binding);  // the binding's decision
    EXPECT_EQ(*static_cast<std::string *>(rv), "rv");
    sf_meeting_end(m, 1);
  });
  while (!met) std::this_thread::yield();
  // The visitor waits for `binding`, which this thread holds while it joins,
  // meets, forgets and completes the very flight the visitor met on.
  for (int i = 0; i < 100; ++i) {
    Join follower(g, "k");
    ASSERT_EQ(follower.status, SF_OK);
    int forgotten = -1;
    ASSERT_EQ(sf_forget_unshared(g, "k", 1, &forgotten), SF_OK);
  }
  ASSERT_EQ(sf_complete(leader.work, SF_OK, bytes("v"), nullptr), SF_OK);
  held.unlock();
  visitor.join();
  leader.leave();
  EXPECT_EQ(stats(g).followers, 101u);
  EXPECT_EQ(stats(g).live, 0u);
}

TEST(Split, FinishAloneHandsTheLeaderItsOutcomeAndLeaves) {
  g_alpha_released = 0;
  Group g;
  sf_ticket *w, *k;
  ASSERT_EQ(sf_join(g, "k", 1, 0, &w, &k), SF_OK);
  Result r;
  EXPECT_EQ(sf_finish(w, k, SF_OK, bytes("mine"), nullptr, &kAlpha, new std::string("n"), &r), SF_OK);
  EXPECT_EQ(str(r.value), "mine");
  EXPECT_EQ(r.shared, 0);
  EXPECT_EQ(g_alpha_released.load(), 1);  // nobody else could read it
  EXPECT_EQ(stats(g).live, 0u);
  EXPECT_EQ(stats(g).in_table, 0u);
}

TEST(Split, FinishAloneEndsAFlightNobodyJoinedWithNoOutcome) {
  Group g;
  sf_ticket *w, *k;
  ASSERT_EQ(sf_join(g, "k", 1, 0, &w, &k), SF_OK);
  int shared = -1;
  EXPECT_EQ(sf_finish_alone(w, k, SF_OK, &shared), 1);
  EXPECT_EQ(shared, 0);
  EXPECT_EQ(stats(g).live, 0u);
  EXPECT_EQ(stats(g).in_table, 0u);
  Join next(g, "k");  // the key is free: a new flight
  EXPECT_NE(next.work, nullptr);
}

TEST(Split, FinishAloneLeavesAFlightWithFollowersAsItWas) {
  Group g;
  sf_ticket *w, *k;
  ASSERT_EQ(sf_join(g, "k", 1, 0, &w, &k), SF_OK);
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

TEST(Split, FinishAloneAfterAFollowerLeftSaysShared) {
  Group g;
  sf_ticket *w, *k;
  ASSERT_EQ(sf_join(g, "k", 1, 0, &w, &k), SF_OK);
  {
    Join gone(g, "k");  // joins and leaves (a timed-out caller, say)
  }
  int shared = 0;
  EXPECT_EQ(sf_finish_alone(w, k, SF_EPANIC, &shared), 1);
  EXPECT_EQ(shared, 1);
  EXPECT_EQ(stats(g).panics, 1u);
  EXPECT_EQ(stats(g).live, 0u);
}

TEST(Split, FinishAloneDropsTheLeadersOwnSubscriptionUncalled) {
  Group g;
  sf_ticket *w, *k;
  ASSERT_EQ(sf_join(g, "k", 1, 0, &w, &k), SF_OK);
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

TEST(Split, FinishAloneRejectsBadInput) {
  Group g;
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
  EXPECT_EQ(stats(g).in_table, 1u);  // b untouched
}

TEST(Split, FinishWithFollowersDeliversToThem) {
  g_alpha_released = 0;
  Group g;
  sf_ticket *w, *k;
  ASSERT_EQ(sf_join(g, "k", 1, 0, &w, &k), SF_OK);
  Join same(g, "k"), other(g, "k");
  Counter fired;
  sf_subscribe(other.wait, Counter::bump, &fired);
  Result r;
  EXPECT_EQ(sf_finish(w, k, SF_OK, bytes("shared"), nullptr, &kAlpha, new std::string("n"), &r), SF_OK);
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

TEST(Split, FinishRejectsBadInputAndASecondCompletion) {
  Group g;
  Join a(g, "a"), b(g, "b");
  ReleaseCounter rc;
  static char data[] = "x";
  Result r;
  EXPECT_EQ(sf_finish(a.wait, b.work, SF_OK, sf_bytes_wrap(data, 1, ReleaseCounter::release, &rc), nullptr,
                      nullptr, nullptr, &r),
            SF_EINVAL);  // tickets of two flights
  EXPECT_EQ(rc.count.load(), 1);
  EXPECT_EQ(sf_finish(a.work, a.wait, SF_OK, nullptr, nullptr, nullptr, nullptr, &r), SF_EINVAL);
  Join follower(g, "a");
  EXPECT_EQ(sf_finish(follower.wait, a.work, SF_OK, nullptr, nullptr, nullptr, nullptr, &r),
            SF_EINVAL);  // a follower's wait ticket with the leader's work ticket
  EXPECT_EQ(sf_finish(a.wait, a.work, SF_OK, nullptr, nullptr, nullptr, nullptr, nullptr), SF_EINVAL);
  EXPECT_EQ(sf_finish(nullptr, a.work, SF_OK, nullptr, nullptr, nullptr, nullptr, &r), SF_EINVAL);
  EXPECT_EQ(stats(g).in_table, 2u);  // nothing completed
  ASSERT_EQ(sf_complete(a.work, SF_OK, nullptr, nullptr), SF_OK);
  EXPECT_EQ(sf_finish(a.wait, a.work, SF_OK, sf_bytes_wrap(data, 1, ReleaseCounter::release, &rc), nullptr,
                      nullptr, nullptr, &r),
            SF_EINVAL);  // completed already: the Join still leaves both
  EXPECT_EQ(rc.count.load(), 2);
}

TEST(Split, BadInputOnEveryFunction) {
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

TEST(Split, TicketsAreReusedWithoutLeaks) {
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

TEST(Split, AbandonmentCallbackMayLeaveItsWorkTicket) {
  Group g;
  sf_ticket *w, *k;
  ASSERT_EQ(sf_join(g, "k", 1, 0, &w, &k), SF_OK);
  struct Self {
    sf_ticket *work;
    int calls = 0;
  } self{k, 0};
  ASSERT_EQ(sf_on_abandoned(k, [](void *ud) {
    auto *p = static_cast<Self *>(ud);
    ++p->calls;
    sf_leave(p->work);  // the work stops: a hand-off, from inside the callback
  }, &self), SF_OK);
  sf_leave(w);  // the last waiter leaves: abandoned
  EXPECT_EQ(self.calls, 1);
  EXPECT_EQ(stats(g).handoffs, 1u);
  EXPECT_EQ(stats(g).live, 0u);
  EXPECT_EQ(stats(g).in_table, 0u);
}
