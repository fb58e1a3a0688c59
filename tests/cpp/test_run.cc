// The blocking call: exactly once, one object for every C++ caller,
// move-only values, keyed and keyless groups.
#include <singleflight.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "../helpers.h"

using sftest::Gate;
using sftest::stats;
using sftest::wait_until;

namespace {

// Starts `n` callers of `call(i)` while the first flight's leader waits on
// `gate`; returns once all n-1 followers joined (the counter says so).
template <class Call>
std::vector<std::thread> callers(const sf::group &g, int n, Gate &gate, Call call) {
  std::vector<std::thread> ts;
  ts.emplace_back(call, 0);
  wait_until([&] { return stats(g.get()).in_table == 1; });
  for (int i = 1; i < n; ++i) ts.emplace_back(call, i);
  wait_until([&] { return stats(g.get()).followers == static_cast<uint64_t>(n - 1); });
  gate.open();
  return ts;
}

TEST(CppRun, RunsOnceAndEveryCallerGetsTheSameObject) {
  sf::group g;
  Gate gate;
  std::atomic<int> runs{0};
  constexpr int n = 16;
  std::vector<const std::string *> seen(n);
  std::vector<int> shared(n);  // not vector<bool>: its bits share words
  auto ts = callers(g, n, gate, [&](int i) {
    auto out = g.run("key", [&] {
      runs.fetch_add(1);
      gate.wait();
      return std::string("value");
    });
    seen[i] = out.value.get();
    shared[i] = out.shared;
    EXPECT_EQ(*out, "value");
  });
  for (auto &t : ts) t.join();
  EXPECT_EQ(runs.load(), 1);
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(seen[i], seen[0]) << "caller " << i;
    EXPECT_TRUE(shared[i]) << "caller " << i;
  }
  EXPECT_EQ(stats(g.get()).flights, 1u);
  EXPECT_EQ(stats(g.get()).live, 0u);
}

TEST(CppRun, ALeaderAloneIsNotShared) {
  sf::group g;
  auto out = g.run("k", [] { return 5; });
  EXPECT_EQ(*out, 5);
  EXPECT_FALSE(out.shared);
  // Nothing is cached: the next call runs again.
  int runs = 0;
  g.run("k", [&] { return ++runs; });
  g.run("k", [&] { return ++runs; });
  EXPECT_EQ(runs, 2);
}

TEST(CppRun, ExactlyOncePerFlightUnderManyThreads) {
  sf::group g;
  constexpr int threads = 8, rounds = 300;
  std::atomic<int> runs{0};
  std::atomic<int> calls{0};
  sftest::run_threads(threads, [&](int) {
    for (int r = 0; r < rounds; ++r) {
      auto out = g.run("hot", [&] {
        runs.fetch_add(1);
        return std::vector<int>(4, r);
      });
      EXPECT_EQ(out->size(), 4u);
      calls.fetch_add(1);
    }
  });
  EXPECT_EQ(calls.load(), threads * rounds);
  sf_stats s = stats(g.get());
  // One run per flight, each caller either led or followed.
  EXPECT_EQ(static_cast<uint64_t>(runs.load()), s.flights);
  EXPECT_EQ(s.flights + s.followers, static_cast<uint64_t>(threads * rounds));
  EXPECT_EQ(s.live, 0u);
}

TEST(CppRun, MoveOnlyValuesAreShared) {
  sf::group g;
  Gate gate;
  constexpr int n = 4;
  std::vector<const int *> seen(n);
  auto ts = callers(g, n, gate, [&](int i) {
    auto out = g.run("mo", [&] {
      gate.wait();
      return std::make_unique<int>(42);
    });
    EXPECT_EQ(**out, 42);
    seen[i] = out->get();
  });
  for (auto &t : ts) t.join();
  for (int i = 1; i < n; ++i) EXPECT_EQ(seen[i], seen[0]);
}

TEST(CppRun, TheValueOutlivesTheFlightAndTheGroup) {
  std::shared_ptr<const std::string> kept;
  {
    sf::group g;
    kept = g.run("k", [] { return std::string(1000, 'x'); }).value;
  }
  EXPECT_EQ(kept->size(), 1000u);
}

struct Point {
  int x, y;
  bool operator<(const Point &o) const { return x < o.x || (x == o.x && y < o.y); }
};
// A key type of the test's own, through the to_key customization point.
std::string to_key(const Point &p) { return std::to_string(p.x) + "," + std::to_string(p.y); }

enum class Color : int { red = 3 };

TEST(CppKeyed, StringIntegerEnumAndCustomKeys) {
  sf::group g;
  sf::keyed_group<std::string, int> by_name(g);
  sf::keyed_group<long long, int> by_id(g);
  sf::keyed_group<Point, int> by_point(g);
  sf::keyed_group<Color, int> by_color(g);
  EXPECT_EQ(*by_name.run("a", [] { return 1; }), 1);
  EXPECT_EQ(*by_id.run(-9223372036854775807LL - 1, [] { return 2; }), 2);
  EXPECT_EQ(*by_point.run(Point{1, 2}, [] { return 3; }), 3);
  EXPECT_EQ(*by_color.run(Color::red, [] { return 4; }), 4);

  // An integer key is its decimal text: the flight of 42 is the flight of
  // "42", whoever asks.
  Gate gate;
  std::thread leader([&] {
    by_id.run(42, [&] {
      gate.wait();
      return 7;
    });
  });
  wait_until([&] { return stats(g.get()).in_table == 1; });
  std::thread follower([&] {
    auto out = g.run("42", [] { return 0; });
    EXPECT_EQ(*out, 7);
    EXPECT_TRUE(out.shared);
  });
  wait_until([&] { return stats(g.get()).followers == 1; });
  gate.open();
  leader.join();
  follower.join();

  // Keys with the same text are one flight; different keys run apart.
  std::atomic<int> runs{0};
  by_point.run(Point{1, 2}, [&] { return ++runs; });
  by_point.run(Point{2, 1}, [&] { return ++runs; });
  EXPECT_EQ(runs.load(), 2);
}

TEST(CppKeyed, ValuesConvertToTheGroupsType) {
  sf::keyed_group<int, std::string> g;
  auto out = g.run(1, [] { return "made from a char pointer"; });
  EXPECT_EQ(*out, "made from a char pointer");
}

TEST(CppKeyed, KeysWithNulBytesAreDistinct) {
  sf::group g;
  using namespace std::string_literals;
  std::atomic<int> runs{0};
  g.run("a\0b"s, [&] { return ++runs; });
  g.run("a\0c"s, [&] { return ++runs; });
  EXPECT_EQ(runs.load(), 2);
}

TEST(CppSingle, OneKeylessFlight) {
  sf::single<std::string> config;
  Gate gate;
  constexpr int n = 6;
  std::atomic<int> runs{0};
  std::vector<const std::string *> seen(n);
  auto ts = callers(config.untyped(), n, gate, [&](int i) {
    seen[i] = config
                  .run([&] {
                    runs.fetch_add(1);
                    gate.wait();
                    return std::string("cfg");
                  })
                  .value.get();
  });
  for (auto &t : ts) t.join();
  EXPECT_EQ(runs.load(), 1);
  for (int i = 1; i < n; ++i) EXPECT_EQ(seen[i], seen[0]);
  config.forget();
}

TEST(CppGroup, CopiesShareFlightsMovesTransfer) {
  sf::group a;
  sf::group b = a;  // one more reference to the same group
  EXPECT_EQ(a.get(), b.get());
  sftest::HeldLeader<sf::group, int> leader(a, "k", 1);
  std::thread follower([&] { EXPECT_TRUE(b.run("k", [] { return 2; }).shared); });
  wait_until([&] { return stats(a.get()).followers == 1; });
  leader.finish();
  follower.join();

  sf::group c = std::move(b);
  EXPECT_EQ(c.get(), a.get());
  EXPECT_FALSE(b);  // NOLINT: a moved-from group holds nothing
}

TEST(CppGroup, ForgetStartsANewFlight) {
  sf::group g;
  Gate gate;
  std::atomic<int> runs{0};
  std::thread first([&] {
    g.run("k", [&] {
      runs.fetch_add(1);
      gate.wait();
      return 1;
    });
  });
  wait_until([&] { return stats(g.get()).in_table == 1; });
  g.forget("k");
  EXPECT_EQ(*g.run("k", [&] { return 10 + runs.fetch_add(1); }), 11);
  gate.open();
  first.join();
  EXPECT_EQ(runs.load(), 2);
  EXPECT_TRUE(g.forget_unshared("nothing"));
}

}  // namespace

namespace {

TEST(CppRun, ASharedPtrFromTheWorkIsSharedAsItIs) {
  sf::group g;
  auto made = std::make_shared<std::string>("kept");
  auto out = g.run("k", [&] { return made; });
  static_assert(std::is_same_v<decltype(out), sf::outcome<std::string>>);
  EXPECT_EQ(out.value.get(), made.get());
  sf::keyed_group<int, std::string> kg;
  EXPECT_EQ(kg.run(1, [&] { return made; }).value.get(), made.get());
  // A null pointer fails the flight.
  EXPECT_THROW(g.run("k", [] { return std::shared_ptr<int>(); }), std::invalid_argument);
}

}  // namespace
