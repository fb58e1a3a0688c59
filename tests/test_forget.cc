// sf_forget and sf_forget_unshared.
#include "helpers.h"

using namespace sftest;

TEST(Forget, NewCallerStartsANewFlightOldCallersKeepTheirs) {
  Group g;
  Gate first_gate;
  std::atomic<int> runs{0};
  Work first = gated_work(first_gate, "first", &runs);
  std::thread leader([&] {
    Result r;
    EXPECT_EQ(do_key(g, "k", first, &r), SF_OK);
    EXPECT_EQ(str(r.value), "first");
  });
  wait_until([&] { return stats(g).in_table == 1; });
  std::thread follower([&] {
    Result r;
    EXPECT_EQ(do_key(g, "k", value_work("never"), &r), SF_OK);
    EXPECT_EQ(str(r.value), "first");
  });
  wait_until([&] { return stats(g).followers == 1; });

  EXPECT_EQ(sf_forget(g, "k", 1), SF_OK);
  EXPECT_EQ(stats(g).in_table, 0u);
  EXPECT_EQ(stats(g).forgets, 1u);
  Result fresh;
  EXPECT_EQ(do_key(g, "k", value_work("second", &runs), &fresh), SF_OK);
  EXPECT_EQ(str(fresh.value), "second");

  first_gate.open();
  leader.join();
  follower.join();
  EXPECT_EQ(runs.load(), 2);
  EXPECT_EQ(stats(g).live, 0u);
}

TEST(Forget, KeyWithoutFlightIsOk) {
  Group g;
  EXPECT_EQ(sf_forget(g, "nothing", 7), SF_OK);
  EXPECT_EQ(sf_forget(g, nullptr, 0), SF_OK);
  int forgotten = 0;
  EXPECT_EQ(sf_forget_unshared(g, "nothing", 7, &forgotten), SF_OK);
  EXPECT_EQ(forgotten, 1);
  EXPECT_EQ(stats(g).forgets, 0u);
}

TEST(Forget, UnsharedForgetsOnlyWhileNobodyFollows) {
  Group g;
  sf_ticket *w = nullptr, *k = nullptr;
  ASSERT_EQ(sf_join(g, "k", 1, 0, &w, &k), SF_OK);
  int forgotten = -1;
  EXPECT_EQ(sf_forget_unshared(g, "k", 1, &forgotten), SF_OK);
  EXPECT_EQ(forgotten, 1);
  EXPECT_EQ(stats(g).in_table, 0u);
  sf_complete(k, SF_OK, nullptr, nullptr);
  sf_leave(k);
  sf_leave(w);

  sf_ticket *w1, *k1, *w2, *k2;
  ASSERT_EQ(sf_join(g, "k", 1, 0, &w1, &k1), SF_OK);
  ASSERT_EQ(sf_join(g, "k", 1, 0, &w2, &k2), SF_OK);
  ASSERT_EQ(k2, nullptr);
  EXPECT_EQ(sf_forget_unshared(g, "k", 1, &forgotten), SF_OK);
  EXPECT_EQ(forgotten, 0);
  EXPECT_EQ(stats(g).in_table, 1u);
  EXPECT_EQ(sf_forget_unshared(g, "k", 1, nullptr), SF_OK);  // NULL out-param is fine
  sf_complete(k1, SF_OK, nullptr, nullptr);
  sf_leave(k1);
  sf_leave(w1);
  sf_leave(w2);
  EXPECT_EQ(stats(g).live, 0u);
}

TEST(Forget, FromInsideTheWorkLetsTheNextCallerRunAlongside) {
  Group g;
  std::atomic<int> runs{0};
  Work w = [&](sf_bytes **v, sf_bytes **) {
    runs.fetch_add(1);
    EXPECT_EQ(sf_forget(g, "k", 1), SF_OK);
    // Forgotten: a nested call on the same key is a new flight, not re-entry.
    Result inner;
    if (runs.load() == 1) {
      EXPECT_EQ(do_key(g, "k", value_work("inner", &runs), &inner), SF_OK);
    }
    *v = bytes("outer");
    return SF_OK;
  };
  Result r;
  EXPECT_EQ(do_key(g, "k", w, &r), SF_OK);
  EXPECT_EQ(runs.load(), 2);
}
