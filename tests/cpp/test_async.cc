// run_async (std::future) and co_await g.async (C++20 coroutines) on a
// thread pool of the test's own.
#include <singleflight.hpp>

#include <atomic>
#include <future>
#include <string>
#include <vector>

#include "../helpers.h"
#include "pool.h"

using sftest::Gate;
using sftest::HeldLeader;
using sftest::Pool;
using sftest::stats;
using sftest::wait_until;

namespace {

struct Custom : std::runtime_error {
  explicit Custom(const char *m) : std::runtime_error(m) {}
};

TEST(CppAsync, TheWorkRunsOnTheExecutor) {
  sf::group g;
  Pool pool(2);
  std::thread::id ran_on;
  auto fut = g.run_async(
      "k",
      [&] {
        ran_on = std::this_thread::get_id();
        return std::string("v");
      },
      pool.exec());
  auto out = fut.get();
  EXPECT_EQ(*out, "v");
  EXPECT_NE(ran_on, std::this_thread::get_id());
  EXPECT_GE(pool.posted(), 1);
  EXPECT_EQ(stats(g.get()).live, 0u);
}

TEST(CppAsync, ANewThreadByDefault) {
  sf::group g;
  auto fut = g.run_async("k", [] { return 9; });
  EXPECT_EQ(*fut.get(), 9);
  wait_until([&] { return stats(g.get()).live == 0; });
}

TEST(CppAsync, FuturesFollowABlockingLeaderAndShareItsObject) {
  sf::group g;
  Pool pool(2);
  Gate gate;
  const std::string *leader_value = nullptr;
  std::thread leader([&] {
    leader_value = g.run("k", [&] {
                      gate.wait();
                      return std::string("v");
                    }).value.get();
  });
  wait_until([&] { return stats(g.get()).in_table == 1; });
  constexpr int n = 10;
  std::vector<std::future<sf::outcome<std::string>>> futs;
  for (int i = 0; i < n; ++i)
    futs.push_back(g.run_async(
        "k", [] { return std::string("never"); }, pool.exec()));
  wait_until([&] { return stats(g.get()).followers == n; });
  gate.open();
  leader.join();
  for (auto &f : futs) {
    auto out = f.get();
    EXPECT_EQ(out.value.get(), leader_value);
    EXPECT_TRUE(out.shared);
  }
  EXPECT_EQ(stats(g.get()).live, 0u);
}

TEST(CppAsync, AFutureRethrowsTheSameException) {
  sf::group g;
  Pool pool(2);
  Gate gate;
  auto lead = g.run_async(
      "k",
      [&]() -> int {
        gate.wait();
        throw Custom("async boom");
      },
      pool.exec());
  wait_until([&] { return stats(g.get()).in_table == 1; });
  auto follow = g.run_async(
      "k", [] { return 0; }, pool.exec());
  wait_until([&] { return stats(g.get()).followers == 1; });
  gate.open();
  const void *a = nullptr, *b = nullptr;
  try {
    lead.get();
  } catch (const Custom &e) {
    a = &e;
  }
  try {
    follow.get();
  } catch (const Custom &e) {
    b = &e;
  }
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a, b);
}

TEST(CppAsync, ACallerWhoDropsItsFutureLeavesTheFlightRunning) {
  sf::group g;
  Pool pool(2);
  Gate gate;
  std::atomic<int> runs{0};
  {
    auto dropped = g.run_async(
        "k",
        [&] {
          runs.fetch_add(1);
          gate.wait();
          return 1;
        },
        pool.exec());
  }
  wait_until([&] { return stats(g.get()).in_table == 1; });
  std::thread follower([&] { EXPECT_EQ(*g.run("k", [] { return 2; }), 1); });
  wait_until([&] { return stats(g.get()).followers == 1; });
  gate.open();
  follower.join();
  EXPECT_EQ(runs.load(), 1);
  wait_until([&] { return stats(g.get()).live == 0; });
}

#ifdef SF_HPP_HAS_STOP_TOKEN
TEST(CppAsync, AStopTokenEndsAFuturesWait) {
  sf::group g;
  Pool pool(2);
  HeldLeader<sf::group, int> leader(g, "k", 1);
  std::stop_source stop;
  auto fut = g.run_async(
      "k", [] { return 0; }, pool.exec(), stop.get_token());
  wait_until([&] { return stats(g.get()).followers == 1; });
  stop.request_stop();
  try {
    fut.get();
    ADD_FAILURE() << "no exception";
  } catch (const sf::error &e) {
    EXPECT_EQ(e.status(), SF_ECANCELED);
  }
  // The binding ended this wait itself: counted once, through the engine.
  EXPECT_EQ(stats(g.get()).cancellations, 1u);
  leader.finish();
}
#endif

#ifdef SF_HPP_HAS_COROUTINES
// A coroutine that starts at once and frees itself at its end.
struct detached {
  struct promise_type {
    detached get_return_object() noexcept { return {}; }
    std::suspend_never initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }
  };
};

struct seen {
  const std::string *value = nullptr;
  bool shared = false;
  sf_status status = SF_OK;
  const void *exception = nullptr;
  std::thread::id resumed_on;
};

template <class F>
detached await_one(sf::group &g, Pool &pool, F fn, std::promise<seen> &done) {
  seen s;
  try {
    auto out = co_await g.async("k", fn, pool.exec());
    s.value = out.value.get();
    s.shared = out.shared;
  } catch (const sf::error &e) {
    s.status = e.status();
  } catch (const Custom &e) {
    s.exception = &e;
  }
  s.resumed_on = std::this_thread::get_id();
  done.set_value(s);
}

TEST(CppCoroutine, ManyCoroutinesOneRunNoThreadBlocked) {
  sf::group g;
  Pool pool(2);
  Gate gate;
  std::atomic<int> runs{0};
  constexpr int n = 40;
  std::vector<std::promise<seen>> done(n);
  auto fn = [&] {
    runs.fetch_add(1);
    gate.wait();
    return std::string("co");
  };
  await_one(g, pool, fn, done[0]);
  wait_until([&] { return stats(g.get()).in_table == 1; });
  for (int i = 1; i < n; ++i) await_one(g, pool, fn, done[i]);
  wait_until([&] { return stats(g.get()).followers == n - 1; });
  // n suspended coroutines and one blocked work hold one pool thread: the
  // other still runs tasks.
  std::promise<void> ran;
  pool.post([&] { ran.set_value(); });
  ran.get_future().get();
  gate.open();
  std::vector<seen> got;
  for (auto &d : done) got.push_back(d.get_future().get());
  EXPECT_EQ(runs.load(), 1);
  for (auto &s : got) {
    EXPECT_EQ(s.status, SF_OK);
    EXPECT_EQ(s.value, got[0].value);
    EXPECT_TRUE(s.shared);
    EXPECT_NE(s.resumed_on, std::this_thread::get_id());
  }
  wait_until([&] { return stats(g.get()).live == 0; });
}

TEST(CppCoroutine, ExceptionsKeepTheirIdentity) {
  sf::group g;
  Pool pool(2);
  Gate gate;
  constexpr int n = 5;
  std::vector<std::promise<seen>> done(n);
  auto fn = [&]() -> std::string {
    gate.wait();
    throw Custom("co boom");
  };
  await_one(g, pool, fn, done[0]);
  wait_until([&] { return stats(g.get()).in_table == 1; });
  for (int i = 1; i < n; ++i) await_one(g, pool, fn, done[i]);
  wait_until([&] { return stats(g.get()).followers == n - 1; });
  gate.open();
  std::vector<seen> got;
  for (auto &d : done) got.push_back(d.get_future().get());
  ASSERT_NE(got[0].exception, nullptr);
  for (auto &s : got) EXPECT_EQ(s.exception, got[0].exception);
}

detached await_stoppable(sf::group &g, Pool &pool, std::stop_token stop, std::promise<seen> &done) {
  seen s;
  auto r = co_await g
               .async(
                   "k", [] { return std::string("never"); }, pool.exec(), stop)
               .try_result();
  s.status = r.status();
  done.set_value(s);
}

TEST(CppCoroutine, AStopTokenResumesTheCoroutineAndTheFlightGoesOn) {
  sf::group g;
  Pool pool(2);
  HeldLeader<sf::group, std::string> leader(g, "k", "v");
  std::stop_source stop;
  std::promise<seen> done;
  await_stoppable(g, pool, stop.get_token(), done);
  wait_until([&] { return stats(g.get()).followers == 1; });
  stop.request_stop();
  EXPECT_EQ(done.get_future().get().status, SF_ECANCELED);
  EXPECT_EQ(stats(g.get()).cancellations, 1u);
  // A coroutine already stopped gives up at once.
  std::promise<seen> again;
  await_stoppable(g, pool, stop.get_token(), again);
  EXPECT_EQ(again.get_future().get().status, SF_ECANCELED);
  EXPECT_EQ(stats(g.get()).cancellations, 2u);
  leader.finish();
  wait_until([&] { return stats(g.get()).live == 0; });
}

detached await_keyed(sf::keyed_group<int, int> &kg, sf::single<int> &one, Pool &pool,
                     std::promise<int> &done) {
  auto a = co_await kg.async(
      7, [] { return 40; }, pool.exec());
  auto b = co_await one.async([] { return 2; }, pool.exec());
  done.set_value(*a + *b);
}

TEST(CppCoroutine, KeyedAndKeylessGroups) {
  sf::keyed_group<int, int> kg;
  sf::single<int> one;
  Pool pool(1);
  std::promise<int> done;
  await_keyed(kg, one, pool, done);
  EXPECT_EQ(done.get_future().get(), 42);
}

TEST(CppCoroutine, StressManyKeys) {
  sf::group g;
  Pool pool(3);
  constexpr int n = 400;
  std::vector<std::promise<seen>> done(n);
  std::atomic<int> runs{0};
  auto fn = [&] {
    runs.fetch_add(1);
    return std::string("x");
  };
  for (int i = 0; i < n; ++i) await_one(g, pool, fn, done[i]);
  for (auto &d : done) EXPECT_EQ(d.get_future().get().status, SF_OK);
  sf_stats s = stats(g.get());
  EXPECT_EQ(static_cast<uint64_t>(runs.load()), s.flights);
  EXPECT_EQ(s.flights + s.followers, static_cast<uint64_t>(n));
  wait_until([&] { return stats(g.get()).live == 0; });
}
#endif

}  // namespace
