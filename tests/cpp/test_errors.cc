// Failures: the work's exceptions rethrown as themselves in every C++
// caller, engine statuses as sf::error, the non-throwing try_run, bad input.
#include <singleflight.hpp>

#include <atomic>
#include <string>
#include <vector>

#include "../helpers.h"

using sftest::Gate;
using sftest::stats;
using sftest::wait_until;

namespace {

// Threads that read one shared exception object meet here before their
// handlers end. libstdc++ frees the object when the last handler ends,
// through a refcount inside the uninstrumented libstdc++.so that
// ThreadSanitizer cannot see; this barrier is the ordering it can see.
class Barrier {
 public:
  explicit Barrier(int n) : left_(n) {}
  void arrive_and_wait() {
    std::unique_lock<std::mutex> lk(mu_);
    if (--left_ == 0) cv_.notify_all();
    cv_.wait(lk, [&] { return left_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int left_;
};

// An exception type of the test's own, not derived from std::exception.
struct NotFound {
  int id;
};

struct Custom : std::runtime_error {
  explicit Custom(const char *m) : std::runtime_error(m) {}
  int extra = 17;
};

TEST(CppErrors, TheSameExceptionObjectReachesEveryCaller) {
  sf::group g;
  Gate gate;
  constexpr int n = 8;
  std::vector<const void *> seen(n);
  std::vector<std::thread> ts;
  Barrier handlers(n);
  auto call = [&](int i) {
    try {
      g.run("k", [&]() -> int {
        gate.wait();
        throw Custom("boom");
      });
      ADD_FAILURE() << "no exception";
    } catch (const Custom &e) {
      seen[i] = &e;
      EXPECT_STREQ(e.what(), "boom");
      EXPECT_EQ(e.extra, 17);
      handlers.arrive_and_wait();
    }
  };
  ts.emplace_back(call, 0);
  wait_until([&] { return stats(g.get()).in_table == 1; });
  for (int i = 1; i < n; ++i) ts.emplace_back(call, i);
  wait_until([&] { return stats(g.get()).followers == n - 1; });
  gate.open();
  for (auto &t : ts) t.join();
  for (int i = 1; i < n; ++i) EXPECT_EQ(seen[i], seen[0]) << "caller " << i;
  EXPECT_EQ(stats(g.get()).panics, 1u);
}

TEST(CppErrors, NonStdExceptionsKeepTheirTypeAndObject) {
  sf::group g;
  Gate gate;
  const NotFound *a = nullptr, *b = nullptr;
  Barrier handlers(2);
  std::thread leader([&] {
    try {
      g.run("k", [&]() -> int {
        gate.wait();
        throw NotFound{5};
      });
    } catch (const NotFound &e) {
      a = &e;
      EXPECT_EQ(e.id, 5);
      handlers.arrive_and_wait();
    }
  });
  wait_until([&] { return stats(g.get()).in_table == 1; });
  std::thread follower([&] {
    try {
      g.run("k", [] { return 0; });
    } catch (const NotFound &e) {
      b = &e;
      handlers.arrive_and_wait();
    }
  });
  wait_until([&] { return stats(g.get()).followers == 1; });
  gate.open();
  leader.join();
  follower.join();
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a, b);
}

TEST(CppErrors, AFailedFlightDoesNotPoisonTheKey) {
  sf::group g;
  EXPECT_THROW(g.run("k", []() -> int { throw std::logic_error("x"); }), std::logic_error);
  EXPECT_EQ(*g.run("k", [] { return 1; }), 1);
}

TEST(CppErrors, TryRunReturnsTheFailure) {
  sf::group g;
  auto r = g.try_run("k", []() -> int { throw Custom("in result"); });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status(), SF_EPANIC);
  EXPECT_EQ(r.error_bytes().view(), "in result");
  ASSERT_TRUE(r.exception());
  EXPECT_THROW(r.rethrow(), Custom);

  auto ok = g.try_run("k", [] { return std::string("v"); });
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, "v");
  EXPECT_FALSE(ok.shared());
  EXPECT_NO_THROW(ok.rethrow());
}

TEST(CppErrors, AWorkErrorReachesOtherLanguagesAsSF_EWORK) {
  sf::group g;
  Gate gate;
  std::thread leader([&] {
    EXPECT_THROW(g.run("k",
                       [&]() -> int {
                         gate.wait();
                         throw sf::work_error(sf::bytes("not found"));
                       }),
                 sf::work_error);
  });
  wait_until([&] { return stats(g.get()).in_table == 1; });
  std::thread c_follower([&] {
    sftest::Result r;
    EXPECT_EQ(sftest::do_key(g.get(), "k", sftest::value_work("c"), &r), SF_EWORK);
    EXPECT_EQ(sftest::str(r.error), "not found");
  });
  wait_until([&] { return stats(g.get()).followers == 1; });
  gate.open();
  leader.join();
  c_follower.join();
}

TEST(CppErrors, ReenteringOnesOwnKeyIsEDEADLK) {
  sf::group g;
  sf_status inner = SF_OK;
  auto out = g.run("k", [&] {
    try {
      g.run("k", [] { return 0; });
    } catch (const sf::error &e) {
      inner = e.status();
    }
    return 1;
  });
  EXPECT_EQ(inner, SF_EDEADLK);
  EXPECT_EQ(*out, 1);
  // Another key from inside the work is fine.
  EXPECT_EQ(*g.run("outer", [&] { return *g.run("inner", [] { return 2; }); }), 2);
}

TEST(CppErrors, BadInput) {
  sf::group g;
  sf::group moved = std::move(g);
  // A moved-from group: every call fails with SF_EINVAL, nothing runs.
  bool ran = false;
  try {
    g.run("k", [&] {  // NOLINT: use after move is the point
      ran = true;
      return 0;
    });
    ADD_FAILURE() << "no exception";
  } catch (const sf::error &e) {
    EXPECT_EQ(e.status(), SF_EINVAL);
  }
  EXPECT_FALSE(ran);
  EXPECT_EQ(g.try_run("k", [] { return 0; }).status(), SF_EINVAL);  // NOLINT
  EXPECT_THROW(g.forget("k"), sf::error);                           // NOLINT
  EXPECT_THROW(g.stats(), sf::error);                               // NOLINT
  auto fut = g.run_async("k", [] { return 0; });                    // NOLINT
  EXPECT_THROW(fut.get(), sf::error);

  // An empty group name is refused.
  try {
    sf::group::open("");
    ADD_FAILURE() << "no exception";
  } catch (const sf::error &e) {
    EXPECT_EQ(e.status(), SF_EINVAL);
  }
  // sf::error's message is the status's when none is given.
  EXPECT_STREQ(sf::error(SF_ETIMEDOUT).what(), sf_status_str(SF_ETIMEDOUT));
  EXPECT_EQ(*moved.run("k", [] { return 3; }), 3);
}

}  // namespace
