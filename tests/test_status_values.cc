// Statuses outside the enum, as C, cgo and cffi callers can pass them: the
// header promises sf_status_str names any value and a bad status from a
// work function or a completion ends the flight with SF_EPANIC. The engine
// reads them as integers; under -fsanitize=enum (the ASan+UBSan build, the
// fuzz target) loading one as an sf_status would abort these tests.
#include <climits>

#include "helpers.h"
#include "raw_status.h"

using namespace sftest;

namespace {

// Outside the enum's values; the first ones are outside even the range a
// C++ sf_status can hold (0..15), where a load is undefined behaviour.
const int kBadStatuses[] = {1234, -1, INT_MIN, INT_MAX, 16, 10, 15};

bool names_the_status(const sf_bytes *error, int status) {
  return str(error).find("status " + std::to_string(status)) != std::string::npos;
}

const sf_native_kind kCountedKind = {
    "counted", [](void *v) { static_cast<std::atomic<int> *>(v)->fetch_add(1); }};

}  // namespace

TEST(StatusValues, StatusStrNamesEveryInteger) {
  for (int bad : kBadStatuses) {
    const char *name = sft_status_str(bad);
    ASSERT_NE(name, nullptr) << bad;
    EXPECT_STREQ(name, "unknown sf_status") << bad;
  }
  EXPECT_STREQ(sft_status_str(SF_ETIMEDOUT), sf_status_str(SF_ETIMEDOUT));
  EXPECT_EQ(std::string(sft_status_str(SF_OK)).rfind("SF_OK", 0), 0u);
}

TEST(StatusValues, WorkReturningAnyIntegerIsAPanicSayingSo) {
  for (int bad : kBadStatuses) {
    Group g;
    Result r;
    EXPECT_EQ(sf_do(g, "k", 1, sft_raw_status_work, &bad, &r), SF_EPANIC) << bad;
    EXPECT_EQ(r.value, nullptr);  // what it set is released (LeakSanitizer checks)
    EXPECT_TRUE(names_the_status(r.error, bad)) << str(r.error);
    EXPECT_EQ(stats(g).panics, 1u);
    EXPECT_EQ(stats(g).live, 0u);
  }
}

TEST(StatusValues, CompleteWithAnyIntegerIsAPanicSayingSo) {
  for (int bad : kBadStatuses) {
    Group g;
    sf_ticket *lead_wait, *work, *follower, *none;
    ASSERT_EQ(sf_join(g, "k", 1, 0, &lead_wait, &work), SF_OK);
    ASSERT_EQ(sf_join(g, "k", 1, 0, &follower, &none), SF_OK);
    EXPECT_EQ(sft_complete(work, bad, bytes("dropped"), nullptr), SF_OK);
    Result r;
    EXPECT_EQ(sf_wait(follower, 0, &r), SF_EPANIC);
    EXPECT_EQ(r.value, nullptr);
    EXPECT_TRUE(names_the_status(r.error, bad)) << str(r.error);
    sf_leave(follower);
    sf_leave(work);
    sf_leave(lead_wait);
    EXPECT_EQ(stats(g).panics, 1u);
    EXPECT_EQ(stats(g).live, 0u);
  }
}

TEST(StatusValues, CompleteNativeWithAnyIntegerIsAPanicAndReleasesTheNative) {
  for (int bad : kBadStatuses) {
    Group g;
    std::atomic<int> released{0};
    sf_ticket *wait, *work;
    ASSERT_EQ(sf_join(g, "k", 1, 0, &wait, &work), SF_OK);
    EXPECT_EQ(sft_complete_native(work, bad, nullptr, nullptr, &kCountedKind, &released), SF_OK);
    Result r;
    void *native = nullptr;
    EXPECT_EQ(sf_wait_native(wait, 0, &kCountedKind, &r, &native), SF_EPANIC);
    EXPECT_TRUE(names_the_status(r.error, bad)) << str(r.error);
    sf_leave(work);
    sf_leave(wait);
    EXPECT_EQ(released.load(), 1);
    EXPECT_EQ(stats(g).live, 0u);
  }
}

TEST(StatusValues, FinishWithAnyIntegerIsAPanicSayingSo) {
  for (int bad : kBadStatuses) {
    for (bool alone : {true, false}) {
      Group g;
      sf_ticket *wait, *work, *follower = nullptr, *none;
      ASSERT_EQ(sf_join(g, "k", 1, 0, &wait, &work), SF_OK);
      if (!alone) {
        ASSERT_EQ(sf_join(g, "k", 1, 0, &follower, &none), SF_OK);
      }
      Result r;
      EXPECT_EQ(sft_finish(wait, work, bad, bytes("dropped"), nullptr, nullptr, nullptr, &r),
                SF_EPANIC);
      EXPECT_EQ(r.value, nullptr);
      EXPECT_TRUE(names_the_status(r.error, bad)) << str(r.error);
      if (follower) {
        Result fr;
        EXPECT_EQ(sf_wait(follower, 0, &fr), SF_EPANIC);
        EXPECT_TRUE(names_the_status(fr.error, bad)) << str(fr.error);
        sf_leave(follower);
      }
      EXPECT_EQ(stats(g).panics, 1u);
      EXPECT_EQ(stats(g).live, 0u);
    }
  }
}

TEST(StatusValues, FinishAloneCountsAnyIntegerAsAPanic) {
  for (int bad : kBadStatuses) {
    Group g;
    sf_ticket *wait, *work;
    ASSERT_EQ(sf_join(g, "k", 1, 0, &wait, &work), SF_OK);
    int shared = -1;
    EXPECT_EQ(sft_finish_alone(wait, work, bad, &shared), 1);
    EXPECT_EQ(shared, 0);
    sf_stats s = stats(g);
    EXPECT_EQ(s.panics, 1u);
    EXPECT_EQ(s.live, 0u);
  }
}

TEST(StatusValues, GiveupRejectsEveryOtherInteger) {
  Group g;
  for (int bad : kBadStatuses) EXPECT_EQ(sft_group_count_giveup(g, bad), SF_EINVAL) << bad;
  EXPECT_EQ(sft_group_count_giveup(g, SF_ETIMEDOUT), SF_OK);
  sf_stats s = stats(g);
  EXPECT_EQ(s.timeouts, 1u);
  EXPECT_EQ(s.cancellations, 0u);
}
