// The split API: native values: own kind, foreign kinds, bytes and no bytes.
#include "split_helpers.h"

TEST(SplitNative, NativeValueGoesToItsOwnKindOthersGetBytesOrNoBytes) {
  g_alpha_released = 0;
  Group g;
  Join leader(g, "k"), same(g, "k"), other(g, "k"), plain(g, "k");
  ASSERT_EQ(
      sf_complete_native(leader.work, SF_OK, nullptr, nullptr, &kAlpha, new std::string("native!")),
      SF_OK);
  void *native = nullptr;
  Result r1, r2, r3;
  EXPECT_EQ(sf_wait_native(same.wait, 0, &kAlpha, &r1, &native), SF_OK);
  ASSERT_NE(native, nullptr);
  EXPECT_EQ(*static_cast<std::string *>(native), "native!");
  EXPECT_EQ(sf_wait_native(other.wait, 0, &kBeta, &r2, &native), SF_ENOBYTES);
  EXPECT_EQ(native, nullptr);
  EXPECT_NE(str(r2.error).find("native alpha value"), std::string::npos) << str(r2.error);
  EXPECT_EQ(sf_wait(plain.wait, 0, &r3), SF_ENOBYTES);
  EXPECT_EQ(g_alpha_released.load(), 0);
  leader.leave();
  same.leave();
  other.leave();
  plain.leave();
  EXPECT_EQ(g_alpha_released.load(), 1);  // once, with the last ticket
}

TEST(SplitNative, NativeValueWithBytesGivesForeignersTheBytes) {
  g_alpha_released = 0;
  {
    Group g;
    Join leader(g, "k"), other(g, "k");
    sf_complete_native(leader.work, SF_OK, bytes("as bytes"), nullptr, &kAlpha,
                       new std::string("n"));
    void *native = nullptr;
    Result r;
    EXPECT_EQ(sf_wait_native(other.wait, 0, &kBeta, &r, &native), SF_OK);
    EXPECT_EQ(str(r.value), "as bytes");
    EXPECT_EQ(native, nullptr);
  }
  EXPECT_EQ(g_alpha_released.load(), 1);
}

TEST(SplitNative, NativeOnAFailedCompleteIsReleasedAtOnce) {
  g_alpha_released = 0;
  EXPECT_EQ(sf_complete_native(nullptr, SF_OK, nullptr, nullptr, &kAlpha, new std::string("x")),
            SF_EINVAL);
  EXPECT_EQ(g_alpha_released.load(), 1);
}
