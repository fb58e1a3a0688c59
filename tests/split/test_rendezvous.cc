// The split API: a binding's rendezvous: sf_attach, and meetings through sf_join_or_meet.
#include "split_helpers.h"

TEST(SplitRendezvous, AttachRendezvousPerKind) {
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

TEST(SplitRendezvous, AttachSlotsRunOutAfterMaxKinds) {
  static std::atomic<int> released{0};
  static const sf_native_kind kinds[SF_ATTACH_MAX + 1] = {{"k0", [](void *) { released++; }},
                                                          {"k1", [](void *) { released++; }},
                                                          {"k2", [](void *) { released++; }},
                                                          {"k3", [](void *) { released++; }},
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

TEST(SplitRendezvous, JoinOrMeetLeadsANewKeyWithoutAsking) {
  Group g;
  Acceptor a;
  JoinOrMeet j(g, "k", a);
  EXPECT_EQ(j.accepted, 0);
  EXPECT_NE(j.wait, nullptr);
  EXPECT_NE(j.work, nullptr);
  EXPECT_EQ(a.calls, 0);
  EXPECT_EQ(stats(g).flights, 1u);
}

TEST(SplitRendezvous, JoinOrMeetIsTakenInByTheRendezvous) {
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
  ASSERT_EQ(sf_finish(leader.wait, leader.work, SF_OK, bytes("v"), nullptr, nullptr, nullptr, &r),
            SF_OK);
  leader.wait = leader.work = nullptr;
  EXPECT_TRUE(r.shared);
}

TEST(SplitRendezvous, JoinOrMeetFollowsWithATicketWhenNotTakenIn) {
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

TEST(SplitRendezvous, JoinOrMeetJoinsAnAbandonedFlightWithATicket) {
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

TEST(SplitRendezvous, JoinOrMeetLeadsAfterAForget) {
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

TEST(SplitRendezvous, JoinOrMeetThroughTheLeadersOwnTicketLeavesItAlone) {
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

TEST(SplitRendezvous, MeetingKeepsTheFlightAndItsRendezvousUntilItEnds) {
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
  ASSERT_EQ(sf_finish(leader.wait, leader.work, SF_OK, bytes("v"), nullptr, nullptr, nullptr, &r),
            SF_OK);
  leader.wait = leader.work = nullptr;
  EXPECT_FALSE(r.shared);
  EXPECT_EQ(stats(g).live, 1u);  // held by the meeting alone
  EXPECT_EQ(*static_cast<std::string *>(rv), "rv");
  EXPECT_EQ(g_alpha_released.load(), 0);
  sf_meeting_end(m, 0);                   // declined: counted as nobody
  EXPECT_EQ(g_alpha_released.load(), 1);  // the last hold released it
  EXPECT_EQ(stats(g).live, 0u);
  EXPECT_EQ(stats(g).followers, 0u);
  sf_meeting_end(nullptr, 1);  // a no-op
}

TEST(SplitRendezvous, JoinOrMeetRejectsBadInput) {
  Group g;
  sf_meeting *m = reinterpret_cast<sf_meeting *>(1);
  void *rv = reinterpret_cast<void *>(1);
  sf_ticket *w = reinterpret_cast<sf_ticket *>(1), *k = reinterpret_cast<sf_ticket *>(1);
  auto call = [&](sf_group *gr, const void *key, size_t len, unsigned flags,
                  const sf_native_kind *kind, sf_meeting **mp, void **rp, sf_ticket **wait,
                  sf_ticket **work) {
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
  EXPECT_EQ(stats(g).flights, 0u);                                     // nothing changed
  ASSERT_EQ(call(g, nullptr, 0, 0, &kAlpha, &m, &rv, &w, &k), SF_OK);  // the empty key
  EXPECT_EQ(m, nullptr);
  EXPECT_NE(k, nullptr);
  sf_leave(k);
  sf_leave(w);
}

TEST(SplitRendezvous, BindingDecidesUnderItsOwnLockWhileAnotherThreadCallsTheEngine) {
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
