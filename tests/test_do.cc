// sf_do: the blocking call, and the rules DESIGN.md gives for it.
#include <cstring>
#include <stdexcept>

#include "helpers.h"

using namespace sftest;

TEST(Do, RunsTheWorkAndHandsOverItsValue) {
  Group g;
  std::atomic<int> runs{0};
  Result r;
  EXPECT_EQ(do_key(g, "k", value_work("v", &runs), &r), SF_OK);
  EXPECT_EQ(str(r.value), "v");
  EXPECT_EQ(r.error, nullptr);
  EXPECT_EQ(r.shared, 0);
  EXPECT_EQ(runs.load(), 1);
}

TEST(Do, NullValueIsAllowed) {
  Group g;
  Result r;
  EXPECT_EQ(do_key(
                g, "k", [](sf_bytes **, sf_bytes **) { return SF_OK; }, &r),
            SF_OK);
  EXPECT_EQ(r.value, nullptr);
  EXPECT_EQ(r.error, nullptr);
}

TEST(Do, WorkErrorReachesTheCaller) {
  Group g;
  Result r;
  EXPECT_EQ(do_key(
                g, "k",
                [](sf_bytes **, sf_bytes **e) {
                  *e = bytes("db down");
                  return SF_EWORK;
                },
                &r),
            SF_EWORK);
  EXPECT_EQ(r.value, nullptr);
  EXPECT_EQ(str(r.error), "db down");
}

TEST(Do, NothingIsCachedAfterTheFlight) {
  Group g;
  std::atomic<int> runs{0};
  for (int i = 0; i < 3; ++i) {
    Result r;
    EXPECT_EQ(do_key(g, "k", value_work("v", &runs), &r), SF_OK);
  }
  EXPECT_EQ(runs.load(), 3);
  EXPECT_EQ(stats(g).in_table, 0u);
  EXPECT_EQ(stats(g).live, 0u);
}

TEST(Do, ExactlyOnceUnderManyCallers) {
  Group g;
  const int n = 32;
  std::atomic<int> runs{0};
  std::vector<const void *> seen(n);
  std::vector<int> shared(n);
  Work work = [&](sf_bytes **v, sf_bytes **) {
    runs.fetch_add(1);
    wait_until([&] { return stats(g).followers == n - 1; });
    *v = bytes("the one result");
    return SF_OK;
  };
  run_threads(n, [&](int i) {
    Result r;
    EXPECT_EQ(sf_do(g, "key", 3, run_work, &work, &r), SF_OK);
    EXPECT_EQ(str(r.value), "the one result");
    seen[i] = sf_bytes_data(r.value);
    shared[i] = r.shared;
  });
  EXPECT_EQ(runs.load(), 1);
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(seen[i], seen[0]) << "caller " << i << " got another buffer";
    EXPECT_NE(shared[i], 0) << "caller " << i;
  }
  EXPECT_EQ(stats(g).flights, 1u);
  EXPECT_EQ(stats(g).live, 0u);
}

TEST(Do, KeysDifferingAfterANulByteAreDifferentFlights) {
  Group g;
  Gate gate;
  std::atomic<int> runs{0};
  Work slow = gated_work(gate, "x", &runs);
  std::thread t1([&] {
    Result r;
    EXPECT_EQ(sf_do(g, "a\0b", 3, run_work, &slow, &r), SF_OK);
  });
  std::thread t2([&] {
    Result r;
    EXPECT_EQ(sf_do(g, "a\0c", 3, run_work, &slow, &r), SF_OK);
  });
  wait_until([&] { return stats(g).in_table == 2; });  // both ran, neither followed
  EXPECT_EQ(stats(g).followers, 0u);
  gate.open();
  t1.join();
  t2.join();
  EXPECT_EQ(runs.load(), 2);
}

TEST(Do, EmptyKeyIsAKeyLikeAnyOther) {
  Group g;
  std::atomic<int> runs{0};
  Work w = value_work("empty", &runs);
  Result r1, r2;
  EXPECT_EQ(sf_do(g, nullptr, 0, run_work, &w, &r1), SF_OK);
  EXPECT_EQ(sf_do(g, "", 0, run_work, &w, &r2), SF_OK);
  EXPECT_EQ(str(r1.value), "empty");
  EXPECT_EQ(runs.load(), 2);
}

TEST(Do, LongKeysAreComparedInFull) {
  Group g;
  Gate gate;
  std::string k1(1000, 'x'), k2(1000, 'x');
  k2[999] = 'y';
  std::atomic<int> runs{0};
  Work slow = gated_work(gate, "long", &runs);
  std::thread t1([&] {
    Result r;
    EXPECT_EQ(do_key(g, k1, slow, &r), SF_OK);
  });
  std::thread t2([&] {
    Result r;
    EXPECT_EQ(do_key(g, k2, slow, &r), SF_OK);
  });
  wait_until([&] { return stats(g).in_table == 2; });
  std::thread t3([&] {
    Result r;
    EXPECT_EQ(do_key(g, k1, slow, &r), SF_OK);
    EXPECT_EQ(str(r.value), "long");
  });
  wait_until([&] { return stats(g).followers == 1; });
  gate.open();
  t1.join();
  t2.join();
  t3.join();
  EXPECT_EQ(runs.load(), 2);
}

TEST(Do, BadInputChangesNothing) {
  Group g;
  Work w = value_work("v");
  Result r;
  EXPECT_EQ(sf_do(nullptr, "k", 1, run_work, &w, &r), SF_EINVAL);
  EXPECT_EQ(r.value, nullptr);
  EXPECT_EQ(sf_do(g, "k", 1, nullptr, &w, &r), SF_EINVAL);
  EXPECT_EQ(sf_do(g, "k", 1, run_work, &w, nullptr), SF_EINVAL);
  EXPECT_EQ(sf_do(g, nullptr, 1, run_work, &w, &r), SF_EINVAL);
  EXPECT_EQ(sf_forget(nullptr, "k", 1), SF_EINVAL);
  EXPECT_EQ(sf_forget(g, nullptr, 2), SF_EINVAL);
  int forgotten = 7;
  EXPECT_EQ(sf_forget_unshared(nullptr, "k", 1, &forgotten), SF_EINVAL);
  EXPECT_EQ(forgotten, 0);
  EXPECT_EQ(sf_forget_unshared(g, nullptr, 1, nullptr), SF_EINVAL);
  EXPECT_EQ(stats(g).flights, 0u);
}

TEST(Do, ResultIsFullyWrittenOnEveryStatus) {
  Group g;
  Work w = value_work("v");
  sf_result raw;
  raw.value = reinterpret_cast<sf_bytes *>(&raw);  // garbage that must be overwritten
  raw.error = reinterpret_cast<sf_bytes *>(&raw);
  raw.shared = 42;
  EXPECT_EQ(sf_do(nullptr, "k", 1, run_work, &w, &raw), SF_EINVAL);
  EXPECT_EQ(raw.value, nullptr);
  EXPECT_EQ(raw.error, nullptr);
  EXPECT_EQ(raw.shared, 0);
}

TEST(Do, StatusStringsNameEveryStatusAndNeverNull) {
  for (int s = SF_OK; s <= SF_ENOBYTES; ++s) {
    const char *text = sf_status_str(static_cast<sf_status>(s));
    ASSERT_NE(text, nullptr);
    EXPECT_EQ(std::strncmp(text, "SF_", 3), 0) << s;
  }
  EXPECT_NE(sf_status_str(static_cast<sf_status>(1234)), nullptr);
  EXPECT_NE(sf_status_str(static_cast<sf_status>(-1)), nullptr);
  EXPECT_STRNE(sf_status_str(SF_ETIMEDOUT), sf_status_str(SF_ECANCELED));
}

TEST(Do, VersionMatchesTheHeader) {
  EXPECT_EQ(sf_version(), static_cast<unsigned>(SF_VERSION_NUMBER));
  EXPECT_STREQ(sf_version_string(), "0.1.0");
  EXPECT_NE(sf_engine_id(), nullptr);
}
