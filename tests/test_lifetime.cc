// Group lifetime, named groups and the engine's identity.
#include "helpers.h"

using namespace sftest;

TEST(Lifetime, RetainReleaseAndNull) {
  sf_group *g = sf_group_new();
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(sf_group_retain(g), g);
  sf_group_release(g);
  sf_group_release(g);
  EXPECT_EQ(sf_group_retain(nullptr), nullptr);
  sf_group_release(nullptr);
}

TEST(Lifetime, GroupReleasedDuringAFlightStillDeliversToEveryone) {
  sf_group *g = sf_group_new();
  Gate gate;
  std::atomic<int> in_flight{0}, followers{0};
  Work slow = [&](sf_bytes **v, sf_bytes **) {
    in_flight = 1;
    gate.wait();
    *v = bytes("delivered");
    return SF_OK;
  };
  std::thread leader([&] {
    Result r;
    EXPECT_EQ(do_key(g, "k", slow, &r), SF_OK);
    EXPECT_EQ(str(r.value), "delivered");
  });
  wait_until([&] { return in_flight.load() == 1; });
  std::thread follower([&] {
    Result r;
    followers = 1;
    EXPECT_EQ(do_key(g, "k", value_work("never"), &r), SF_OK);
    EXPECT_EQ(str(r.value), "delivered");
  });
  wait_until([&] { return followers.load() == 1 && stats(g).followers == 1; });
  sf_group_release(g);  // the last user reference, while two callers are inside
  gate.open();
  leader.join();
  follower.join();
  // AddressSanitizer proves no use after free; LeakSanitizer that it went.
}

TEST(Lifetime, ReleaseFromInsideTheWork) {
  sf_group *g = sf_group_new();
  sf_group *extra = sf_group_retain(g);
  Work w = [&](sf_bytes **v, sf_bytes **) {
    sf_group_release(extra);
    *v = bytes("ok");
    return SF_OK;
  };
  Result r;
  EXPECT_EQ(do_key(g, "k", w, &r), SF_OK);
  sf_group_release(g);
}

TEST(Named, SameNameSameGroup) {
  Group a(sf_group_open("cache", 5)), b(sf_group_open("cache", 5)), c(sf_group_open("other", 5));
  ASSERT_NE(a.g, nullptr);
  EXPECT_EQ(a.g, b.g);
  EXPECT_NE(a.g, c.g);
  Gate gate;
  std::atomic<int> runs{0};
  Work slow = gated_work(gate, "named", &runs);
  std::thread t([&] {
    Result r;
    EXPECT_EQ(do_key(a, "k", slow, &r), SF_OK);
  });
  wait_until([&] { return stats(a).in_table == 1; });
  std::thread u([&] {
    Result r;
    EXPECT_EQ(do_key(b, "k", slow, &r), SF_OK);
    EXPECT_EQ(str(r.value), "named");
  });
  wait_until([&] { return stats(b).followers == 1; });
  gate.open();
  t.join();
  u.join();
  EXPECT_EQ(runs.load(), 1);
}

TEST(Named, BinaryNamesAreDistinct) {
  Group a(sf_group_open("n\0a", 3)), b(sf_group_open("n\0b", 3));
  EXPECT_NE(a.g, b.g);
}

TEST(Named, LivesWhileHeldThenStartsAfresh) {
  sf_group *a = sf_group_open("ephemeral", 9);
  Result r;
  EXPECT_EQ(do_key(a, "k", value_work("v"), &r), SF_OK);
  EXPECT_EQ(stats(a).flights, 1u);
  sf_group_release(a);
  sf_group *b = sf_group_open("ephemeral", 9);
  EXPECT_EQ(stats(b).flights, 0u);  // a fresh group: the old one is gone
  sf_group_release(b);
}

TEST(Named, OpenAndReleaseRaceFromManyThreads) {
  run_threads(8, [](int i) {
    for (int j = 0; j < 2000; ++j) {
      sf_group *g = sf_group_open("raced", 5);
      ASSERT_NE(g, nullptr);
      if ((i + j) % 3 == 0) {
        Result r;
        EXPECT_EQ(do_key(g, "k", value_work("v"), &r), SF_OK);
      }
      sf_group_release(g);
    }
  });
}

TEST(Named, BadNamesAreRejected) {
  EXPECT_EQ(sf_group_open(nullptr, 0), nullptr);
  EXPECT_EQ(sf_group_open(nullptr, 4), nullptr);
  EXPECT_EQ(sf_group_open("x", 0), nullptr);
}

TEST(Stats, BadInputAndShortStructs) {
  Group g;
  sf_stats s;
  EXPECT_EQ(sf_group_stats(nullptr, &s, sizeof s), SF_EINVAL);
  EXPECT_EQ(sf_group_stats(g, nullptr, sizeof s), SF_EINVAL);
  EXPECT_EQ(sf_group_stats(g, &s, 0), SF_EINVAL);
  Result r;
  EXPECT_EQ(do_key(g, "k", value_work("v"), &r), SF_OK);
  uint64_t only_flights = 0;
  EXPECT_EQ(sf_group_stats(g, reinterpret_cast<sf_stats *>(&only_flights), sizeof only_flights),
            SF_OK);
  EXPECT_EQ(only_flights, 1u);
}

#include <dlfcn.h>

#include <cstdlib>

TEST(Engine, TestsRunAgainstTheLibraryThisBuildMade) {
  const char *want = std::getenv("SF_EXPECT_LIBRARY");
  if (!want) GTEST_SKIP() << "run outside meson test";
  Dl_info info{};
  ASSERT_NE(dladdr(reinterpret_cast<void *>(&sf_version), &info), 0);
  char a[4096], b[4096];
  ASSERT_NE(realpath(info.dli_fname, a), nullptr);
  ASSERT_NE(realpath(want, b), nullptr);
  EXPECT_STREQ(a, b) << "the engine under test is not the one this build made";
}
