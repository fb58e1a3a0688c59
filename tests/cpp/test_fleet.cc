// The C++ API's fleet groups (sf::group::open_fleet, sf::fence_token)
// against a real redis-server the test starts itself (tests/fleet/): a
// stampede of threads, the token, values crossing to and from a process
// of the C API (tests/fleet/worker.cc), the server unreachable, bad input.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <singleflight.hpp>

#include "../fleet/fleet_helpers.h"

namespace {

using namespace std::chrono_literals;
using sftest::FleetTest;
using sftest::pause_ms;

sf::fleet_options options_for(const sftest::RedisServer &server) {
  sf::fleet_options o;
  o.url = server.url();
  o.lease = 2000ms;
  o.cooldown = 100ms;
  o.command_timeout = 5000ms;  // a sanitizer build under load is slow
  o.connect_timeout = 2000ms;
  return o;
}

// Waits (by count) until `n` clients of the server last ran EVALSHA: each
// process that asked the server about a key (its join script) and waits.
bool processes_asked(const sftest::RedisServer &server, int n) {
  for (int i = 0; i < 6000; ++i) {
    std::string list = server.command({"CLIENT", "LIST"});
    int asked = 0;
    for (std::size_t at = list.find("cmd=evalsha "); at != std::string::npos;
         at = list.find("cmd=evalsha ", at + 1))
      ++asked;
    if (asked >= n) return true;
    pause_ms(5);
  }
  return false;
}

class CppFleet : public FleetTest {};

TEST_F(CppFleet, StampedeOfThreadsRunsOnceSharesOneObjectAndReadsItsToken) {
  sf::group g = sf::group::open_fleet("cpp-stampede", options_for(server));
  constexpr int kThreads = 16;
  std::atomic<int> runs{0}, arrived{0};
  std::atomic<std::uint64_t> token{0};
  std::vector<std::shared_ptr<const std::string>> got(kThreads);
  std::vector<std::thread> ts;
  for (int i = 0; i < kThreads; ++i) {
    ts.emplace_back([&, i] {
      arrived.fetch_add(1);
      got[i] =
          g.run("hot", [&] {
             runs.fetch_add(1);
             token = sf::fence_token();
             // The process's first flight waited for the server and was
             // handed off to this one: every caller has arrived, and
             // the first flight is gone once its waiters all rejoined.
             for (int n = 0; n < 20000 && (arrived.load() < kThreads || g.stats().live > 1); ++n)
               pause_ms(1);
             pause_ms(50);  // a grace for the last rejoin
             return std::string("the row");
           }).value;
    });
  }
  for (auto &t : ts) t.join();
  EXPECT_EQ(runs.load(), 1);
  EXPECT_GT(token.load(), 0u);  // a fleet lead: the server's token
  for (auto &v : got) {
    ASSERT_TRUE(v);
    EXPECT_EQ(v.get(), got[0].get());  // the very same object in every caller
    EXPECT_EQ(*v, "the row");
  }
  sf_stats s = g.stats();
  EXPECT_EQ(s.fleet_led, 1u);
  EXPECT_EQ(s.fleet_fallbacks, 0u);
  EXPECT_EQ(s.flights, 1u);
}

TEST_F(CppFleet, EveryNewLeadHasALargerTokenAndNoneOutsideTheWork) {
  sf::group g = sf::group::open_fleet("cpp-tokens", options_for(server));
  std::uint64_t first = *g.run("k", [] { return sf::fence_token(); });
  std::uint64_t second = *g.run("k", [] { return sf::fence_token(); });
  EXPECT_GT(first, 0u);
  EXPECT_GT(second, first);
  EXPECT_EQ(sf::fence_token(), 0u);  // outside any work
  sf::group local;
  EXPECT_EQ(*local.run("k", [] { return sf::fence_token(); }), 0u);  // not a fleet group
  // The asynchronous leader's work reads its token too.
  auto fut = g.run_async("k", [] { return sf::fence_token(); });
  EXPECT_GT(*fut.get(), second);
}

TEST_F(CppFleet, ACppFollowerOfAnotherProcessDecodesItsBytes) {
  // A process of the C API leads key "k" and holds it until released.
  std::string dir = sftest::round_dir(server, "follow");
  sftest::Worker leader({"--url", server.url(), "--dir", dir, "--mode", "hang", "--group",
                         "cpp-follow", "--key", "s:k", "--lease", "2000", "--cooldown", "100"});
  ASSERT_TRUE(sftest::await_file(dir + "/leader"));
  sf::keyed_group<std::string, std::string> g(
      sf::group::open_fleet("cpp-follow", options_for(server)));
  constexpr int kThreads = 4;
  std::atomic<int> runs{0};
  std::vector<sf::outcome<std::string>> got(kThreads);
  std::vector<std::thread> ts;
  for (int i = 0; i < kThreads; ++i)
    ts.emplace_back([&, i] {
      got[i] = g.run("k", [&] {
        runs.fetch_add(1);
        return std::string("mine");
      });
    });
  // Every caller here is in this process's one flight, which waits on the
  // server with the leader's process.
  for (int i = 0; i < 12000 && g.untyped().stats().followers + 1 < kThreads; ++i) pause_ms(5);
  ASSERT_TRUE(processes_asked(server, 2));
  sftest::touch(dir + "/release");
  for (auto &t : ts) t.join();
  sftest::WorkerOutput out = leader.finish();
  EXPECT_EQ(out.exit_status, 0);
  EXPECT_EQ(runs.load(), 0);
  for (auto &o : got) {
    EXPECT_EQ(*o, "old");  // the other process's bytes, decoded by sf::codec
    EXPECT_TRUE(o.shared);
  }
  EXPECT_EQ(g.untyped().stats().fleet_joined, 1u);
}

TEST_F(CppFleet, ACppLeadersValueReachesAnotherProcessAsItsByteForm) {
  sf::group g = sf::group::open_fleet("cpp-lead", options_for(server));
  std::string dir = sftest::round_dir(server, "lead");
  std::unique_ptr<sftest::Worker> follower;
  auto out = g.run("k", [&] {
    // The C process joins while this work runs, then waits on the server.
    follower = std::make_unique<sftest::Worker>(std::vector<std::string>{
        "--url", server.url(), "--dir", dir, "--mode", "value", "--group", "cpp-lead", "--key",
        "s:k", "--threads", "3", "--lease", "2000", "--cooldown", "100"});
    // Its three callers arrive and its process asks the server, plus the
    // grace of the fleet tests for the last arrival to join its flight.
    for (int i = 0; i < 12000 && sftest::count_records(dir + "/arrived", 1) < 3; ++i) pause_ms(5);
    EXPECT_TRUE(processes_asked(server, 2));
    pause_ms(300);
    return std::string("from c++");
  });
  EXPECT_EQ(*out, "from c++");
  sftest::WorkerOutput got = follower->finish();
  EXPECT_EQ(got.exit_status, 0);
  ASSERT_EQ(got.calls.size(), 3u);
  for (auto &c : got.calls) {
    EXPECT_EQ(c.status, SF_OK);
    EXPECT_EQ(c.hex, sftest::hex_of("from c++"));
  }
  EXPECT_TRUE(got.tokens.empty());  // it never ran the work
  EXPECT_EQ(g.stats().fleet_led, 1u);
}

TEST_F(CppFleet, AValueWithoutByteFormIsNoBytesInAnotherProcess) {
  struct Row {
    int id;
  };
  sf::group g = sf::group::open_fleet("cpp-native", options_for(server));
  std::string dir = sftest::round_dir(server, "native");
  std::unique_ptr<sftest::Worker> follower;
  auto out = g.run("k", [&] {
    follower = std::make_unique<sftest::Worker>(std::vector<std::string>{
        "--url", server.url(), "--dir", dir, "--mode", "value", "--group", "cpp-native", "--key",
        "s:k", "--lease", "2000", "--cooldown", "100"});
    EXPECT_TRUE(processes_asked(server, 2));
    return Row{7};
  });
  EXPECT_EQ(out->id, 7);
  sftest::WorkerOutput got = follower->finish();
  ASSERT_EQ(got.calls.size(), 1u);
  EXPECT_EQ(got.calls[0].status, SF_ENOBYTES);
}

TEST(CppFleetUnreachable, CallsRunLocallyWithoutAnErrorAndNoToken) {
  if (sftest::find_redis_server().empty()) GTEST_SKIP() << "redis-server is not installed";
  sftest::RedisServer server;  // never started: nothing listens on its socket
  sf::group g = sf::group::open_fleet("cpp-unreachable", options_for(server));
  for (int i = 0; i < 3; ++i) {
    std::uint64_t token = 1;
    auto out = g.run("k", [&] {
      token = sf::fence_token();
      return std::string("local");
    });
    EXPECT_EQ(*out, "local");
    EXPECT_EQ(token, 0u);
  }
  sf_stats s = g.stats();
  EXPECT_GE(s.fleet_fallbacks, 1u);
  EXPECT_EQ(s.fleet_led, 0u);
}

TEST(CppFleetOptions, BadInputIsAnInvalidArgumentError) {
  auto status_of = [](const std::string &name, const sf::fleet_options &o) {
    try {
      sf::group::open_fleet(name, o);
    } catch (const sf::error &e) {
      return e.status();
    }
    return SF_OK;
  };
  sf::fleet_options ok;
  ok.url = "unix:///nonexistent/sf.sock";
  EXPECT_EQ(status_of("", ok), SF_EINVAL);
  sf::fleet_options bad_url = ok;
  bad_url.url = "http://example.com";
  EXPECT_EQ(status_of("cpp-bad-url", bad_url), SF_EINVAL);
  sf::fleet_options bad_prefix = ok;
  bad_prefix.key_prefix = "a:b";
  EXPECT_EQ(status_of("cpp-bad-prefix", bad_prefix), SF_EINVAL);
  sf::fleet_options negative = ok;
  negative.lease = -1ms;
  EXPECT_EQ(status_of("cpp-negative", negative), SF_EINVAL);
  sf::fleet_options huge = ok;
  huge.linger = std::chrono::milliseconds(std::int64_t(1) << 40);
  EXPECT_EQ(status_of("cpp-huge", huge), SF_EINVAL);
  sf::fleet_options nul = ok;
  nul.url = std::string("unix:///tmp/a\0b", 15);
  EXPECT_EQ(status_of("cpp-nul", nul), SF_EINVAL);
  EXPECT_EQ(status_of("cpp-good", ok), SF_OK);
}

}  // namespace
