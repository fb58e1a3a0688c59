// sf::bytes: references, views, adopting containers without a copy.
#include <singleflight.hpp>

#include <string>
#include <vector>

#include "../helpers.h"

namespace {

TEST(CppBytes, CopyIsAReferenceToTheSameMemory) {
  sf::bytes a("hello");
  sf::bytes b = a;
  EXPECT_EQ(a.get(), b.get());
  EXPECT_EQ(a.data(), b.data());
  EXPECT_EQ(b.view(), "hello");
  EXPECT_EQ(b.str(), "hello");
  EXPECT_EQ(a, b);
  sf::bytes c = std::move(a);
  EXPECT_FALSE(a);  // NOLINT: a moved-from bytes holds nothing
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(a.view(), "");
  EXPECT_EQ(c.get(), b.get());
}

TEST(CppBytes, AdoptsAStringWithoutACopy) {
  std::string s(4096, 'z');
  const char *p = s.data();
  sf::bytes b = sf::bytes::adopt(std::move(s));
  EXPECT_EQ(b.data(), p);
  EXPECT_EQ(b.size(), 4096u);
}

TEST(CppBytes, AdoptsAVectorWithoutACopy) {
  std::vector<unsigned char> v(300, 7);
  const unsigned char *p = v.data();
  sf::bytes b = sf::bytes::adopt(std::move(v));
  EXPECT_EQ(static_cast<const void *>(b.data()), static_cast<const void *>(p));
  EXPECT_EQ(b.size(), 300u);
  std::vector<std::byte> w(3, std::byte{1});
  EXPECT_EQ(sf::bytes::adopt(std::move(w)).size(), 3u);
}

TEST(CppBytes, AdoptAndRetainRawReferences) {
  sf_bytes *raw = sf_bytes_new("ab", 2);
  sf::bytes kept = sf::bytes::retain(raw);
  sf::bytes owned = sf::bytes::adopt(raw);
  EXPECT_EQ(kept.get(), owned.get());
  sf_bytes *given = owned.release();
  EXPECT_EQ(given, raw);
  sf_bytes_release(given);
  EXPECT_EQ(kept.view(), "ab");
}

TEST(CppBytes, EmbeddedNulsAndEmpty) {
  using namespace std::string_literals;
  sf::bytes b("a\0b"s);
  EXPECT_EQ(b.size(), 3u);
  sf::bytes e{std::string_view()};
  EXPECT_TRUE(e);
  EXPECT_TRUE(e.empty());
}

#ifdef SF_HPP_HAS_SPAN
TEST(CppBytes, SpanView) {
  sf::bytes b("xyz");
  std::span<const std::byte> s = b.span();
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[1], std::byte{'y'});
}
#endif

TEST(CppBytes, BytesAsAValueAreSharedNotCopied) {
  sf::group g;
  sf::bytes made("shared buffer");
  auto out = g.run("k", [&] { return made; });
  EXPECT_EQ(out->get(), made.get());
}

}  // namespace
