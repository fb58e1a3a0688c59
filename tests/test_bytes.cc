// Bytes: immutable refcounted buffers, copied or adopted.
#include "helpers.h"

using namespace sftest;

TEST(Bytes, NewCopiesTheData) {
  char buf[] = "hello";
  sf_bytes *b = sf_bytes_new(buf, 5);
  ASSERT_NE(b, nullptr);
  buf[0] = 'J';
  EXPECT_EQ(str(b), "hello");
  EXPECT_NE(sf_bytes_data(b), static_cast<const void *>(buf));
  sf_bytes_release(b);
}

TEST(Bytes, EmptyBufferHasAValidPointer) {
  sf_bytes *b = sf_bytes_new(nullptr, 0);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(sf_bytes_len(b), 0u);
  EXPECT_NE(sf_bytes_data(b), nullptr);
  sf_bytes_release(b);
}

TEST(Bytes, BinaryDataKeepsItsNulBytes) {
  const char data[] = {'a', '\0', 'b'};
  sf_bytes *b = sf_bytes_new(data, 3);
  EXPECT_EQ(sf_bytes_len(b), 3u);
  EXPECT_EQ(std::string(static_cast<const char *>(sf_bytes_data(b)), 3), std::string(data, 3));
  sf_bytes_release(b);
}

TEST(Bytes, BadInputIsNullAndNullIsHarmless) {
  EXPECT_EQ(sf_bytes_new(nullptr, 3), nullptr);
  EXPECT_EQ(sf_bytes_retain(nullptr), nullptr);
  sf_bytes_release(nullptr);
  EXPECT_EQ(sf_bytes_data(nullptr), nullptr);
  EXPECT_EQ(sf_bytes_len(nullptr), 0u);
}

TEST(Bytes, RetainReturnsItsArgumentAndCounts) {
  ReleaseCounter rc;
  static char data[] = "xyz";
  sf_bytes *b = sf_bytes_wrap(data, 3, ReleaseCounter::release, &rc);
  EXPECT_EQ(sf_bytes_retain(b), b);
  sf_bytes_release(b);
  EXPECT_EQ(rc.count.load(), 0);
  sf_bytes_release(b);
  EXPECT_EQ(rc.count.load(), 1);
}

TEST(Bytes, WrapAdoptsWithoutCopy) {
  ReleaseCounter rc;
  static char data[] = "adopted";
  sf_bytes *b = sf_bytes_wrap(data, 7, ReleaseCounter::release, &rc);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(sf_bytes_data(b), static_cast<const void *>(data));
  EXPECT_EQ(sf_bytes_len(b), 7u);
  sf_bytes_release(b);
  EXPECT_EQ(rc.count.load(), 1);
}

TEST(Bytes, WrapReleasesExactlyOnceEvenOnBadInput) {
  ReleaseCounter rc;
  EXPECT_EQ(sf_bytes_wrap(nullptr, 4, ReleaseCounter::release, &rc), nullptr);
  EXPECT_EQ(rc.count.load(), 1);
}

TEST(Bytes, WrapWithoutReleaseIsForStaticMemory) {
  static const char data[] = "static";
  sf_bytes *b = sf_bytes_wrap(const_cast<char *>(data), 6, nullptr, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(str(b), "static");
  sf_bytes_release(b);
  sf_bytes *e = sf_bytes_wrap(nullptr, 0, nullptr, nullptr);
  ASSERT_NE(e, nullptr);
  EXPECT_NE(sf_bytes_data(e), nullptr);
  sf_bytes_release(e);
}

TEST(Bytes, LastReleaseOnAnotherThreadRunsCallbackOnce) {
  ReleaseCounter rc;
  static char data[] = "shared";
  sf_bytes *b = sf_bytes_wrap(data, 6, ReleaseCounter::release, &rc);
  const int n = 16;
  for (int i = 1; i < n; ++i) sf_bytes_retain(b);
  run_threads(n, [&](int) { sf_bytes_release(b); });
  EXPECT_EQ(rc.count.load(), 1);
}
