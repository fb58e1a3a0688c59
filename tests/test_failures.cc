// Failures: exceptions, bad statuses, re-entry, and that none of them
// poisons a key.
#include <stdexcept>

#include "helpers.h"

using namespace sftest;

namespace {

// Leader and followers all see the same failure; returns the statuses.
void expect_everyone_sees(sf_group *g, Work work, sf_status want, const std::string &needle) {
  const int n = 8;
  Work held = [&](sf_bytes **v, sf_bytes **e) {
    wait_until([&] { return stats(g).followers >= static_cast<uint64_t>(n - 1); });
    return work(v, e);
  };
  run_threads(n, [&](int) {
    Result r;
    EXPECT_EQ(sf_do(g, "k", 1, run_work, &held, &r), want);
    EXPECT_EQ(r.value, nullptr);
    EXPECT_NE(str(r.error).find(needle), std::string::npos) << str(r.error);
  });
}

}  // namespace

TEST(Failures, StdExceptionBecomesPanicWithItsMessage) {
  Group g;
  expect_everyone_sees(
      g,
      [](sf_bytes **, sf_bytes **) -> sf_status { throw std::runtime_error("boom in the work"); },
      SF_EPANIC, "boom in the work");
  EXPECT_EQ(stats(g).panics, 1u);
}

TEST(Failures, NonStandardThrowBecomesPanic) {
  Group g;
  expect_everyone_sees(
      g, [](sf_bytes **, sf_bytes **) -> sf_status { throw 42; }, SF_EPANIC,
      "not a std::exception");
}

TEST(Failures, ValueSetBeforeAThrowIsNotLeaked) {
  Group g;
  Result r;
  EXPECT_EQ(do_key(
                g, "k",
                [](sf_bytes **v, sf_bytes **) -> sf_status {
                  *v = bytes("half-built");
                  throw std::logic_error("late");
                },
                &r),
            SF_EPANIC);
  EXPECT_EQ(r.value, nullptr);  // LeakSanitizer checks the buffer was freed
}

TEST(Failures, BadWorkStatusIsAPanicSayingSo) {
  Group g;
  expect_everyone_sees(
      g,
      [](sf_bytes **v, sf_bytes **) {
        *v = bytes("dropped");
        return SF_ETIMEDOUT;
      },
      SF_EPANIC, "returned status 6");
}

TEST(Failures, WorkMayReportAPanicItself) {
  Group g;
  expect_everyone_sees(
      g,
      [](sf_bytes **, sf_bytes **e) {
        *e = bytes("rust panic: index out of bounds");
        return SF_EPANIC;
      },
      SF_EPANIC, "index out of bounds");
}

TEST(Failures, LeaderReenteringItsOwnKeyIsDeadlockNotAHang) {
  Group g;
  sf_status inner = SF_OK;
  Work outer = [&](sf_bytes **v, sf_bytes **) {
    Work again = value_work("never");
    Result r;
    inner = sf_do(g, "k", 1, run_work, &again, &r);
    EXPECT_EQ(r.value, nullptr);
    *v = bytes("outer");
    return SF_OK;
  };
  Result r;
  EXPECT_EQ(sf_do(g, "k", 1, run_work, &outer, &r), SF_OK);
  EXPECT_EQ(inner, SF_EDEADLK);
  EXPECT_EQ(str(r.value), "outer");
  // The re-entry is no follower: the outcome went to nobody else.
  EXPECT_EQ(r.shared, 0);
  EXPECT_EQ(stats(g).followers, 0u);
}

TEST(Failures, ReentryThroughAnotherKeyIsStillDetected) {
  Group g;
  sf_status innermost = SF_OK;
  Work a = [&](sf_bytes **, sf_bytes **) {
    Work b = [&](sf_bytes **, sf_bytes **) {
      Work a_again = value_work("never");
      Result r;
      innermost = sf_do(g, "a", 1, run_work, &a_again, &r);
      return SF_OK;
    };
    Result r;
    EXPECT_EQ(sf_do(g, "b", 1, run_work, &b, &r), SF_OK);
    return SF_OK;
  };
  Result r;
  EXPECT_EQ(sf_do(g, "a", 1, run_work, &a, &r), SF_OK);
  EXPECT_EQ(innermost, SF_EDEADLK);
}

TEST(Failures, NestedFlightsOnOtherKeysAndGroupsWork) {
  Group g, other;
  Work outer = [&](sf_bytes **v, sf_bytes **) {
    Result r1, r2;
    EXPECT_EQ(do_key(g, "inner", value_work("in"), &r1), SF_OK);
    EXPECT_EQ(do_key(other, "outer", value_work("same key, other group"), &r2), SF_OK);
    *v = bytes(str(r1.value) + "+" + str(r2.value));
    return SF_OK;
  };
  Result r;
  EXPECT_EQ(do_key(g, "outer", outer, &r), SF_OK);
  EXPECT_EQ(str(r.value), "in+same key, other group");
}

TEST(Failures, AnotherThreadWaitingOnALeaderIsNotDeadlock) {
  Group g;
  Gate gate;
  Work slow = gated_work(gate, "done");
  std::thread leader([&] {
    Result r;
    EXPECT_EQ(do_key(g, "k", slow, &r), SF_OK);
  });
  wait_until([&] { return stats(g).in_table == 1; });
  std::thread follower([&] {
    Result r;
    EXPECT_EQ(do_key(g, "k", value_work("never"), &r), SF_OK);
    EXPECT_EQ(str(r.value), "done");
  });
  wait_until([&] { return stats(g).followers == 1; });
  gate.open();
  leader.join();
  follower.join();
}

TEST(Failures, NoFailurePoisonsTheKey) {
  Group g;
  Result p;
  EXPECT_EQ(
      do_key(
          g, "k", [](sf_bytes **, sf_bytes **) -> sf_status { throw std::runtime_error("x"); }, &p),
      SF_EPANIC);
  Result e;
  EXPECT_EQ(do_key(
                g, "k", [](sf_bytes **, sf_bytes **) { return SF_EWORK; }, &e),
            SF_EWORK);
  Result ok;
  EXPECT_EQ(do_key(g, "k", value_work("fine"), &ok), SF_OK);
  EXPECT_EQ(str(ok.value), "fine");
  EXPECT_EQ(stats(g).live, 0u);
}

TEST(Failures, PanicWithoutAMessageGetsADefaultOne) {
  Group g;
  expect_everyone_sees(
      g, [](sf_bytes **, sf_bytes **) { return SF_EPANIC; }, SF_EPANIC, "the work panicked");
}

TEST(Failures, PanicWithAnEmptyMessageGetsADefaultOne) {
  Group g;
  expect_everyone_sees(
      g,
      [](sf_bytes **, sf_bytes **e) {
        *e = sf_bytes_new(nullptr, 0);
        return SF_EPANIC;
      },
      SF_EPANIC, "the work panicked");
}

TEST(Failures, SplitPanicWithoutAMessageGetsADefaultOne) {
  for (bool finish : {false, true}) {
    Group g;
    sf_ticket *wait, *work, *follower, *none;
    ASSERT_EQ(sf_join(g, "k", 1, 0, &wait, &work), SF_OK);
    ASSERT_EQ(sf_join(g, "k", 1, 0, &follower, &none), SF_OK);
    Result own;
    if (finish) {
      EXPECT_EQ(sf_finish(wait, work, SF_EPANIC, nullptr, nullptr, nullptr, nullptr, &own),
                SF_EPANIC);
      EXPECT_GT(sf_bytes_len(own.error), 0u);
    } else {
      EXPECT_EQ(sf_complete(work, SF_EPANIC, nullptr, nullptr), SF_OK);
      sf_leave(work);
      sf_leave(wait);
    }
    Result r;
    EXPECT_EQ(sf_wait(follower, 0, &r), SF_EPANIC);
    EXPECT_NE(str(r.error).find("the work panicked"), std::string::npos) << str(r.error);
    sf_leave(follower);
    EXPECT_EQ(stats(g).live, 0u);
  }
}

TEST(Failures, SplitReentryIsNotCountedAsAFollower) {
  // A blocking binding's leader (SF_JOIN_RUN_HERE) whose work joins its own
  // key on the same thread and waits: SF_EDEADLK, however often it asks.
  Group g;
  sf_ticket *wait, *work;
  ASSERT_EQ(sf_join(g, "k", 1, SF_JOIN_RUN_HERE, &wait, &work), SF_OK);
  sf_ticket *again, *none;
  ASSERT_EQ(sf_join(g, "k", 1, SF_JOIN_RUN_HERE, &again, &none), SF_OK);
  ASSERT_EQ(none, nullptr);
  Result r1, r2;
  EXPECT_EQ(sf_wait(again, -1, &r1), SF_EDEADLK);
  EXPECT_EQ(sf_wait(again, 1000, &r2), SF_EDEADLK);
  sf_leave(again);
  EXPECT_EQ(stats(g).followers, 0u);
  int forgotten = 0;  // nobody but the leader is in the flight
  EXPECT_EQ(sf_forget_unshared(g, "k", 1, &forgotten), SF_OK);
  EXPECT_EQ(forgotten, 1);
  Result own;
  EXPECT_EQ(sf_finish(wait, work, SF_OK, bytes("v"), nullptr, nullptr, nullptr, &own), SF_OK);
  EXPECT_EQ(own.shared, 0);
  EXPECT_EQ(stats(g).live, 0u);
}
