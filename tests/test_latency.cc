// test_latency.cc — the latency histograms (sf_group_record_latency,
// sf_group_latency): what they count, when, and in which bucket.
#include <chrono>

#include "helpers.h"

using sftest::Group;
using sftest::Result;

namespace {

sf_histogram hist(const sf_group *g, int which) {
  sf_histogram h;
  std::memset(&h, 0xab, sizeof h);  // every field must be written
  EXPECT_EQ(sf_group_latency(g, which, &h, sizeof h), SF_OK);
  return h;
}

// The bucket the header's bounds put a sample of `d` nanoseconds in.
int bucket_for(uint64_t d) {
  for (int i = 0; i < SF_LATENCY_BUCKETS - 1; ++i)
    if (d <= SF_LATENCY_BOUND_NS(i)) return i;
  return SF_LATENCY_BUCKETS - 1;
}

// A new group that records latency from the start.
struct RecordingGroup : Group {
  RecordingGroup() { EXPECT_EQ(sf_group_record_latency(g, 1), SF_OK); }
};

// Joins `key` of `g` as its leader (*w, *k), then as a follower (*fw).
void lead_and_follow(sf_group *g, const char *key, sf_ticket **w, sf_ticket **k, sf_ticket **fw) {
  sf_ticket *none;
  ASSERT_EQ(sf_join(g, key, 1, 0, w, k), SF_OK);
  ASSERT_NE(*k, nullptr);
  ASSERT_EQ(sf_join(g, key, 1, 0, fw, &none), SF_OK);
  ASSERT_EQ(none, nullptr);
}

uint64_t bucket_sum(const sf_histogram &h) {
  uint64_t n = 0;
  for (uint64_t b : h.buckets) n += b;
  return n;
}

constexpr auto kHold = std::chrono::milliseconds(2);
constexpr uint64_t kHoldNs = 2000000;

sftest::Work sleeping_work() {
  return [](sf_bytes **v, sf_bytes **) {
    std::this_thread::sleep_for(kHold);
    *v = sftest::bytes("v");
    return SF_OK;
  };
}

}  // namespace

TEST(Latency, OffUntilTurnedOn) {
  Group g;
  Result r;
  ASSERT_EQ(sftest::do_key(g, "k", sftest::value_work("v"), &r), SF_OK);
  for (int which : {SF_LATENCY_WAIT, SF_LATENCY_WORK}) {
    sf_histogram h = hist(g, which);
    EXPECT_EQ(h.count, 0u);
    EXPECT_EQ(h.sum_ns, 0u);
    EXPECT_EQ(bucket_sum(h), 0u);
  }
}

TEST(Latency, WorkOfSfDoIsRecordedInItsBucket) {
  RecordingGroup g;
  Result r;
  ASSERT_EQ(sftest::do_key(g, "k", sleeping_work(), &r), SF_OK);
  sf_histogram work = hist(g, SF_LATENCY_WORK);
  EXPECT_EQ(work.count, 1u);
  EXPECT_GE(work.sum_ns, kHoldNs);
  EXPECT_EQ(work.buckets[bucket_for(work.sum_ns)], 1u);
  EXPECT_GE(bucket_for(work.sum_ns), bucket_for(kHoldNs));
  EXPECT_EQ(hist(g, SF_LATENCY_WAIT).count, 0u);  // a leader does not wait
}

TEST(Latency, BucketBoundsArePowersOfTwoOfNanoseconds) {
  EXPECT_EQ(SF_LATENCY_BOUND_NS(0), 1024u);
  EXPECT_EQ(SF_LATENCY_BOUND_NS(30), uint64_t{1} << 40);
  // A fast work lands in a low bucket, a 2 ms one above 2^20 ns.
  EXPECT_EQ(bucket_for(kHoldNs), 11);
  EXPECT_EQ(bucket_for(SF_LATENCY_BOUND_NS(11)), 11);
  EXPECT_EQ(bucket_for(SF_LATENCY_BOUND_NS(11) + 1), 12);
  EXPECT_EQ(bucket_for(uint64_t{1} << 50), SF_LATENCY_BUCKETS - 1);
}

TEST(Latency, FollowersWaitsAreRecordedOncePerTicket) {
  RecordingGroup g;
  sf_ticket *lw, *work;
  ASSERT_EQ(sf_join(g, "k", 1, 0, &lw, &work), SF_OK);
  ASSERT_NE(work, nullptr);
  constexpr int kFollowers = 3;
  sf_ticket *fw[kFollowers], *none;
  for (auto &t : fw) {
    ASSERT_EQ(sf_join(g, "k", 1, 0, &t, &none), SF_OK);
    ASSERT_EQ(none, nullptr);
  }
  std::this_thread::sleep_for(kHold);
  ASSERT_EQ(sf_complete(work, SF_OK, sftest::bytes("v"), nullptr), SF_OK);
  for (auto *t : fw) {
    Result r;
    ASSERT_EQ(sf_wait(t, -1, &r), SF_OK);
  }
  sf_histogram wait = hist(g, SF_LATENCY_WAIT);
  EXPECT_EQ(wait.count, uint64_t{kFollowers});
  EXPECT_GE(wait.sum_ns, kFollowers * kHoldNs);
  EXPECT_EQ(bucket_sum(wait), wait.count);
  for (int i = 0; i < bucket_for(kHoldNs); ++i) EXPECT_EQ(wait.buckets[i], 0u) << i;
  {  // the outcome read again from the same ticket: no second sample
    Result r;
    ASSERT_EQ(sf_wait(fw[0], 0, &r), SF_OK);
  }
  {  // the leader's own wait ticket: no sample
    Result r;
    ASSERT_EQ(sf_wait(lw, 0, &r), SF_OK);
  }
  EXPECT_EQ(hist(g, SF_LATENCY_WAIT).count, uint64_t{kFollowers});
  sf_histogram w = hist(g, SF_LATENCY_WORK);
  EXPECT_EQ(w.count, 1u);
  EXPECT_GE(w.sum_ns, kHoldNs);
  for (auto *t : fw) sf_leave(t);
  sf_leave(lw);
  sf_leave(work);
}

TEST(Latency, EveryWayOfEndingTheWorkIsRecordedOnce) {
  RecordingGroup g;
  sf_ticket *w, *k, *fw;
  // sf_finish_alone
  ASSERT_EQ(sf_join(g, "a", 1, 0, &w, &k), SF_OK);
  ASSERT_EQ(sf_finish_alone(w, k, SF_OK, nullptr), 1);
  EXPECT_EQ(hist(g, SF_LATENCY_WORK).count, 1u);
  // sf_finish, alone
  ASSERT_EQ(sf_join(g, "b", 1, 0, &w, &k), SF_OK);
  {
    Result r;
    ASSERT_EQ(sf_finish(w, k, SF_OK, nullptr, nullptr, nullptr, nullptr, &r), SF_OK);
  }
  EXPECT_EQ(hist(g, SF_LATENCY_WORK).count, 2u);
  // sf_finish with a follower
  ASSERT_NO_FATAL_FAILURE(lead_and_follow(g, "c", &w, &k, &fw));
  {
    Result r;
    ASSERT_EQ(sf_finish(w, k, SF_EWORK, nullptr, nullptr, nullptr, nullptr, &r), SF_EWORK);
  }
  EXPECT_EQ(hist(g, SF_LATENCY_WORK).count, 3u);
  {
    Result r;
    ASSERT_EQ(sf_wait(fw, 0, &r), SF_EWORK);
  }
  sf_leave(fw);
  EXPECT_EQ(hist(g, SF_LATENCY_WAIT).count, 1u);
  // sf_complete, then a second completion that is refused: one sample
  ASSERT_EQ(sf_join(g, "d", 1, 0, &w, &k), SF_OK);
  ASSERT_EQ(sf_complete(k, SF_OK, nullptr, nullptr), SF_OK);
  ASSERT_EQ(sf_complete(k, SF_OK, nullptr, nullptr), SF_EINVAL);
  sf_leave(k);
  sf_leave(w);
  EXPECT_EQ(hist(g, SF_LATENCY_WORK).count, 4u);
  // sf_join_or_meet with no rendezvous joins as sf_join does
  static const sf_native_kind kind{"test", nullptr};
  sf_meeting *meeting = nullptr;
  void *rendezvous = nullptr;
  ASSERT_EQ(sf_join_or_meet(g, "e", 1, 0, &kind, &meeting, &rendezvous, &w, &k), SF_OK);
  ASSERT_EQ(meeting, nullptr);
  ASSERT_NE(k, nullptr);
  ASSERT_EQ(sf_finish_alone(w, k, SF_OK, nullptr), 1);
  EXPECT_EQ(hist(g, SF_LATENCY_WORK).count, 5u);
}

TEST(Latency, HandoffsTimeoutsAndCancellationsAreNotSamples) {
  RecordingGroup g;
  sf_ticket *w, *k, *fw;
  ASSERT_NO_FATAL_FAILURE(lead_and_follow(g, "k", &w, &k, &fw));
  {
    Result r;
    EXPECT_EQ(sf_wait(fw, 0, &r), SF_ETIMEDOUT);
    EXPECT_EQ(sf_wait(fw, 1000, &r), SF_ETIMEDOUT);
    ASSERT_EQ(sf_cancel(fw), SF_OK);
    EXPECT_EQ(sf_wait(fw, -1, &r), SF_ECANCELED);
  }
  sf_leave(k);  // a hand-off
  {
    Result r;
    EXPECT_EQ(sf_wait(w, -1, &r), SF_EHANDOFF);
  }
  sf_leave(fw);
  sf_leave(w);
  EXPECT_EQ(hist(g, SF_LATENCY_WAIT).count, 0u);
  EXPECT_EQ(hist(g, SF_LATENCY_WORK).count, 0u);
}

TEST(Latency, AWaitThatTimedOutCountsWhenItGetsTheOutcome) {
  RecordingGroup g;
  sf_ticket *w, *k, *fw;
  ASSERT_NO_FATAL_FAILURE(lead_and_follow(g, "k", &w, &k, &fw));
  Result r1, r2;
  EXPECT_EQ(sf_wait(fw, 0, &r1), SF_ETIMEDOUT);
  ASSERT_EQ(sf_finish(w, k, SF_OK, nullptr, nullptr, nullptr, nullptr, &r1), SF_OK);
  EXPECT_EQ(sf_wait(fw, 0, &r2), SF_OK);
  sf_leave(fw);
  EXPECT_EQ(hist(g, SF_LATENCY_WAIT).count, 1u);
}

TEST(Latency, TurningOffStopsNewFlightsOnly) {
  RecordingGroup g;
  sf_ticket *w, *k, *w2, *k2;
  ASSERT_EQ(sf_join(g, "began-on", 8, 0, &w, &k), SF_OK);
  ASSERT_EQ(sf_group_record_latency(g, 0), SF_OK);
  ASSERT_EQ(sf_join(g, "began-off", 9, 0, &w2, &k2), SF_OK);
  ASSERT_EQ(sf_group_record_latency(g, 1), SF_OK);
  ASSERT_EQ(sf_finish_alone(w, k, SF_OK, nullptr), 1);    // recorded
  ASSERT_EQ(sf_finish_alone(w2, k2, SF_OK, nullptr), 1);  // began while off: not
  EXPECT_EQ(hist(g, SF_LATENCY_WORK).count, 1u);
  ASSERT_EQ(sf_group_record_latency(g, 0), SF_OK);
  Result r;
  ASSERT_EQ(sftest::do_key(g, "k", sftest::value_work("v"), &r), SF_OK);
  EXPECT_EQ(hist(g, SF_LATENCY_WORK).count, 1u);  // kept, and nothing added
  ASSERT_EQ(sf_group_record_latency(g, 1), SF_OK);
  ASSERT_EQ(sf_group_record_latency(g, 1), SF_OK);  // idempotent
  Result r2;
  ASSERT_EQ(sftest::do_key(g, "k", sftest::value_work("v"), &r2), SF_OK);
  EXPECT_EQ(hist(g, SF_LATENCY_WORK).count, 2u);
}

TEST(Latency, NamedGroupIsOneSwitchForEveryone) {
  Group a(sf_group_open("latency-named", 13)), b(sf_group_open("latency-named", 13));
  ASSERT_EQ(sf_group_record_latency(a, 1), SF_OK);
  Result r;
  ASSERT_EQ(sftest::do_key(b, "k", sftest::value_work("v"), &r), SF_OK);
  EXPECT_EQ(hist(a, SF_LATENCY_WORK).count, 1u);
}

TEST(Latency, BadInputIsRejected) {
  Group g;
  sf_histogram h{};
  EXPECT_EQ(sf_group_record_latency(nullptr, 1), SF_EINVAL);
  EXPECT_EQ(sf_group_latency(nullptr, SF_LATENCY_WAIT, &h, sizeof h), SF_EINVAL);
  EXPECT_EQ(sf_group_latency(g, SF_LATENCY_WAIT, nullptr, sizeof h), SF_EINVAL);
  EXPECT_EQ(sf_group_latency(g, 2, &h, sizeof h), SF_EINVAL);
  EXPECT_EQ(sf_group_latency(g, -1, &h, sizeof h), SF_EINVAL);
  EXPECT_EQ(sf_group_latency(g, SF_LATENCY_WORK, &h, 4), SF_EINVAL);
}

TEST(Latency, AnOlderSmallerStructGetsTheFieldsThatFit) {
  RecordingGroup g;
  Result r;
  ASSERT_EQ(sftest::do_key(g, "k", sftest::value_work("v"), &r), SF_OK);
  sf_histogram h;
  std::memset(&h, 0xab, sizeof h);
  ASSERT_EQ(sf_group_latency(g, SF_LATENCY_WORK, &h, 2 * sizeof(uint64_t)), SF_OK);
  EXPECT_EQ(h.count, 1u);
  uint64_t untouched;
  std::memset(&untouched, 0xab, sizeof untouched);
  EXPECT_EQ(h.buckets[0], untouched);
}

// With recording on throughout, every flight is one work sample and every
// follower of sf_do one wait sample: the histograms agree with the counters.
TEST(Latency, StampedeAgreesWithTheCounters) {
  RecordingGroup g;
  sftest::run_threads(4, [&](int) {
    for (int i = 0; i < 3000; ++i) {
      Result r;
      ASSERT_EQ(sftest::do_key(g, std::to_string(i % 8), sftest::value_work("v"), &r), SF_OK);
    }
  });
  sf_stats s = sftest::stats(g);
  sf_histogram work = hist(g, SF_LATENCY_WORK), wait = hist(g, SF_LATENCY_WAIT);
  EXPECT_EQ(work.count, s.flights);
  EXPECT_EQ(wait.count, s.followers);
  EXPECT_EQ(bucket_sum(work), work.count);
  EXPECT_EQ(bucket_sum(wait), wait.count);
}

// Switching and reading while flights run (for the sanitizers).
TEST(Latency, SwitchingAndReadingWhileFlightsRun) {
  Group g;
  std::atomic<bool> stop{false};
  std::thread toggler([&] {
    for (int i = 0; !stop.load(); ++i) {
      sf_group_record_latency(g, i % 2);
      hist(g, i % 2);
      std::this_thread::yield();
    }
  });
  sftest::run_threads(3, [&](int) {
    for (int i = 0; i < 3000; ++i) {
      Result r;
      ASSERT_EQ(sftest::do_key(g, std::to_string(i % 4), sftest::value_work("v"), &r), SF_OK);
    }
  });
  stop = true;
  toggler.join();
  sf_stats s = sftest::stats(g);
  EXPECT_LE(hist(g, SF_LATENCY_WORK).count, s.flights);
  EXPECT_LE(hist(g, SF_LATENCY_WAIT).count, s.followers);
}

// A group released while its flight runs: the work is recorded before the
// group's memory goes with that flight.
TEST(Latency, GroupReleasedInsideTheWork) {
  sf_group *g = sf_group_new();
  ASSERT_EQ(sf_group_record_latency(g, 1), SF_OK);
  Result r;
  sftest::Work w = [g](sf_bytes **, sf_bytes **) {
    sf_group_release(g);
    return SF_OK;
  };
  EXPECT_EQ(sf_do(g, "k", 1, sftest::run_work, &w, &r), SF_OK);
}

// A binding whose followers wait on a rendezvous of its own (Go) leaves
// their tickets once the outcome is there, without reading it: their waits
// end then. A ticket left before the outcome is no sample.
TEST(Latency, AFollowerLeavingAfterTheOutcomeIsASample) {
  RecordingGroup g;
  sf_ticket *w, *k, *early, *late, *none;
  ASSERT_EQ(sf_join(g, "k", 1, 0, &w, &k), SF_OK);
  ASSERT_EQ(sf_join(g, "k", 1, 0, &early, &none), SF_OK);
  ASSERT_EQ(sf_join(g, "k", 1, 0, &late, &none), SF_OK);
  sf_leave(early);
  std::this_thread::sleep_for(kHold);
  ASSERT_EQ(sf_complete(k, SF_OK, nullptr, nullptr), SF_OK);
  sf_leave(late);
  sf_histogram wait = hist(g, SF_LATENCY_WAIT);
  EXPECT_EQ(wait.count, 1u);
  EXPECT_GE(wait.sum_ns, kHoldNs);
  sf_leave(w);  // the leader's own ticket: no sample
  sf_leave(k);
  EXPECT_EQ(hist(g, SF_LATENCY_WAIT).count, 1u);
}
