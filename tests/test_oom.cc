// Out of memory: every allocation the engine makes can fail, and each
// failure is SF_ENOMEM (or NULL) with nothing changed. White-box: links the
// engine's objects statically to reach the injection hook.
#include "detail/alloc.h"
#include "flight_cache.h"
#include "helpers.h"

using namespace sftest;
using sf::detail::fail_allocation_after;

namespace {
struct NoInjection {
  ~NoInjection() { fail_allocation_after(-1); }
};
}  // namespace

TEST(OutOfMemory, BytesAndGroupsReturnNull) {
  NoInjection guard;
  fail_allocation_after(0);
  EXPECT_EQ(sf_bytes_new("x", 1), nullptr);
  ReleaseCounter rc;
  static char data[] = "x";
  fail_allocation_after(0);
  EXPECT_EQ(sf_bytes_wrap(data, 1, ReleaseCounter::release, &rc), nullptr);
  EXPECT_EQ(rc.count.load(), 1);  // released exactly once even so
  for (long n = 0; n < 20; ++n) {
    fail_allocation_after(n);
    sf_group *g = sf_group_new();
    fail_allocation_after(-1);
    sf_group_release(g);  // NULL or a whole group: never half of one
  }
  for (long n = 0; n < 20; ++n) {
    fail_allocation_after(n);
    sf_group *g = sf_group_open("oom", 3);
    fail_allocation_after(-1);
    sf_group_release(g);
  }
}

TEST(OutOfMemory, EveryFailingAllocationInDoIsEnomemWithNothingChanged) {
  NoInjection guard;
  std::string long_key(500, 'k');  // long keys allocate
  int failures = 0;
  for (long n = 0; n < 10; ++n) {
    Group g;
    sf::flight_cache_drain();  // no idle flight anywhere: join must allocate
    std::atomic<int> runs{0};
    Work w = value_work("v", &runs);
    Result r;
    fail_allocation_after(n);
    sf_status st = do_key(g, long_key, w, &r);
    fail_allocation_after(-1);
    if (st == SF_ENOMEM) {
      ++failures;
      EXPECT_EQ(runs.load(), 0) << "work ran although sf_do failed";
      EXPECT_EQ(r.value, nullptr);
      sf_stats s = stats(g);
      EXPECT_EQ(s.flights, 0u);
      EXPECT_EQ(s.in_table, 0u);
      EXPECT_EQ(s.live, 0u);
      Result again;  // and the key works once memory is back
      EXPECT_EQ(do_key(g, long_key, w, &again), SF_OK);
    } else {
      EXPECT_EQ(st, SF_OK);
    }
  }
  EXPECT_GE(failures, 2) << "the flight and the long key each allocate";
}

TEST(OutOfMemory, FollowerTicketFailureLeavesTheFlightIntact) {
  NoInjection guard;
  Group g;
  sf_ticket *w, *k;
  ASSERT_EQ(sf_join(g, "k", 1, 0, &w, &k), SF_OK);
  sf::flight_cache_drain();  // no idle ticket in this thread's cache
  sf_ticket *fw = reinterpret_cast<sf_ticket *>(1), *fk = reinterpret_cast<sf_ticket *>(1);
  fail_allocation_after(0);
  EXPECT_EQ(sf_join(g, "k", 1, 0, &fw, &fk), SF_ENOMEM);
  fail_allocation_after(-1);
  EXPECT_EQ(fw, nullptr);
  EXPECT_EQ(fk, nullptr);
  EXPECT_EQ(stats(g).followers, 0u);
  ASSERT_EQ(sf_join(g, "k", 1, 0, &fw, &fk), SF_OK);
  EXPECT_EQ(fk, nullptr);
  sf_complete(k, SF_OK, nullptr, nullptr);
  Result r;
  EXPECT_EQ(sf_wait(fw, 0, &r), SF_OK);
  EXPECT_EQ(r.shared, 1);
  sf_leave(fw);
  sf_leave(k);
  sf_leave(w);
  EXPECT_EQ(stats(g).live, 0u);
}

TEST(OutOfMemory, SteadyStateAllocatesNothing) {
  Group g;
  Work w = [](sf_bytes **, sf_bytes **) { return SF_OK; };
  for (int i = 0; i < 1000; ++i) {  // warm the pools
    Result r;
    do_key(g, "key-" + std::to_string(i % 64), w, &r);
  }
  std::vector<std::string> keys;
  for (int i = 0; i < 64; ++i) keys.push_back("key-" + std::to_string(i));
  unsigned long before = sf::detail::allocation_count();
  for (int i = 0; i < 10000; ++i) {
    Result r;
    const std::string &k = keys[i % 64];
    sf_do(g, k.data(), k.size(), run_work, &w, &r);
  }
  EXPECT_EQ(sf::detail::allocation_count() - before, 0u);
}
