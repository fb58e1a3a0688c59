// Deadlines and stop tokens: a follower who gives up leaves with a status,
// the flight goes on for the others, and each give-up is counted once.
#include <singleflight.hpp>

#include <atomic>
#include <chrono>
#include <string>

#include "../helpers.h"

using namespace std::chrono_literals;
using sftest::Gate;
using sftest::stats;
using sftest::wait_until;

namespace {

// A flight of `key` whose leader (on its own thread) returns "done" once
// finish() is called.
struct Held : sftest::HeldLeader<sf::group, std::string> {
  Held(sf::group &g, const char *key) : HeldLeader(g, key, "done") {}
};

sf_status status_of(const std::function<void()> &call) {
  try {
    call();
  } catch (const sf::error &e) {
    return e.status();
  }
  return SF_OK;
}

TEST(CppWait, AFollowerTimesOutAndTheFlightGoesOn) {
  sf::group g;
  Held held(g, "k");
  EXPECT_EQ(status_of([&] {
              g.run(
                  "k", [] { return std::string("never"); }, 20ms);
            }),
            SF_ETIMEDOUT);
  auto r = g.try_run(
      "k", [] { return std::string("never"); }, std::chrono::microseconds(500));
  EXPECT_EQ(r.status(), SF_ETIMEDOUT);
  // Counted by the engine's own wait, once per caller.
  EXPECT_EQ(stats(g.get()).timeouts, 2u);
  held.finish();
  EXPECT_EQ(*held.got, "done");
  EXPECT_EQ(stats(g.get()).live, 0u);
}

TEST(CppWait, ATimePointOfAnyClock) {
  sf::group g;
  Held held(g, "k");
  EXPECT_EQ(status_of([&] {
              g.run(
                  "k", [] { return std::string(); }, std::chrono::system_clock::now() + 10ms);
            }),
            SF_ETIMEDOUT);
  EXPECT_EQ(status_of([&] {
              g.run(
                  "k", [] { return std::string(); }, std::chrono::steady_clock::now() + 10ms);
            }),
            SF_ETIMEDOUT);
  held.finish();
  EXPECT_EQ(stats(g.get()).timeouts, 2u);
}

TEST(CppWait, ADeadlineAlreadyPastIsCountedOnce) {
  sf::group g;
  Held held(g, "k");
  // The wait is a poll, which the engine does not count: the binding does.
  EXPECT_EQ(status_of([&] {
              g.run(
                  "k", [] { return std::string(); }, -1s);
            }),
            SF_ETIMEDOUT);
  EXPECT_EQ(status_of([&] {
              g.run(
                  "k", [] { return std::string(); }, 0ns);
            }),
            SF_ETIMEDOUT);
  EXPECT_EQ(stats(g.get()).timeouts, 2u);
  held.finish();
}

TEST(CppWait, ADeadlineDoesNotStopTheLeader) {
  sf::group g;
  // The leader runs its work to the end whatever the deadline.
  auto out = g.run(
      "k",
      [] {
        std::this_thread::sleep_for(5ms);
        return 1;
      },
      1ns);
  EXPECT_EQ(*out, 1);
  EXPECT_EQ(stats(g.get()).timeouts, 0u);
}

TEST(CppWait, AFollowerWithinItsDeadlineGetsTheValue) {
  sf::group g;
  Held held(g, "k");
  std::thread follower([&] {
    auto out = g.run(
        "k", [] { return std::string("never"); }, 1h);
    EXPECT_EQ(*out, "done");
  });
  wait_until([&] { return stats(g.get()).followers == 1; });
  held.finish();
  follower.join();
  EXPECT_EQ(stats(g.get()).timeouts, 0u);
}

#ifdef SF_HPP_HAS_STOP_TOKEN
TEST(CppWait, AStopTokenEndsAFollowersWait) {
  sf::group g;
  Held held(g, "k");
  std::stop_source stop;
  sf_status got = SF_OK;
  std::thread follower([&] {
    got = status_of([&] {
      g.run(
          "k", [] { return std::string(); }, stop.get_token());
    });
  });
  wait_until([&] { return stats(g.get()).followers == 1; });
  stop.request_stop();
  follower.join();
  EXPECT_EQ(got, SF_ECANCELED);
  EXPECT_EQ(stats(g.get()).cancellations, 1u);
  held.finish();
  EXPECT_EQ(*held.got, "done");
}

TEST(CppWait, AStopTokenAlreadyStopped) {
  sf::group g;
  Held held(g, "k");
  std::stop_source stop;
  stop.request_stop();
  EXPECT_EQ(status_of([&] {
              g.run(
                  "k", [] { return std::string(); }, stop.get_token());
            }),
            SF_ECANCELED);
  EXPECT_EQ(stats(g.get()).cancellations, 1u);
  held.finish();
}

TEST(CppWait, ADeadlineAndAStopToken) {
  sf::group g;
  Held held(g, "k");
  std::stop_source stop;
  EXPECT_EQ(status_of([&] {
              g.run(
                  "k", [] { return std::string(); }, sf::options(5ms, stop.get_token()));
            }),
            SF_ETIMEDOUT);
  held.finish();
}
#endif

}  // namespace
