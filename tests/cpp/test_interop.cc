// C++ callers and C callers (sf_do) in one named group: values cross as
// bytes both ways, failures as statuses, C++ values with no byte form as
// SF_ENOBYTES.
#include <singleflight.hpp>

#include <string>
#include <vector>

#include "../helpers.h"

using sftest::Gate;
using sftest::stats;
using sftest::wait_until;

namespace demo {
// A type of the test's own with a byte form through ADL customization.
struct Celsius {
  int degrees;
};
inline std::string to_bytes(const Celsius &c) { return std::to_string(c.degrees) + "C"; }
inline Celsius from_bytes(sf::tag<Celsius>, const sf::bytes &b) {
  return Celsius{std::stoi(b.str())};
}

struct Opaque {
  int x;
};
}  // namespace demo

namespace {

// A C caller leading `key` of `name` through sf_do: its work waits on the
// gate, then ends with `status` and `payload` (value or error bytes).
struct CLeader {
  Gate gate;
  sf_bytes *made = nullptr;  // borrowed: the leader's value bytes
  std::thread t;
  sftest::Result r;
  sf_status got = SF_EINVAL;
  CLeader(const std::string &name, const std::string &key, sf_status status, std::string payload) {
    sf_group *g = sf_group_open(name.data(), name.size());
    t = std::thread([this, g, key, status, payload] {
      got = sftest::do_key(
          g, key,
          [&, status, payload](sf_bytes **v, sf_bytes **e) {
            gate.wait();
            if (status == SF_OK) {
              *v = sftest::bytes(payload);
              made = *v;
            } else {
              *e = sftest::bytes(payload);
            }
            return status;
          },
          &r);
      sf_group_release(g);
    });
    wait_until([&] { return sftest::stats(g).in_table == 1; });
  }
  void finish() {
    gate.open();
    t.join();
  }
};

// A C caller following: runs sf_do on its own thread (its work must not run).
struct CFollower {
  std::thread t;
  sftest::Result r;
  sf_status got = SF_EINVAL;
  CFollower(const std::string &name, const std::string &key) {
    t = std::thread([this, name, key] {
      sf_group *g = sf_group_open(name.data(), name.size());
      got = sftest::do_key(g, key, sftest::value_work("C follower ran"), &r);
      sf_group_release(g);
    });
  }
  void join() { t.join(); }
};

TEST(CppInterop, ACppFollowerOfACLeaderGetsTheBytes) {
  sf::group g = sf::group::open("cpp-interop-c-leads");
  CLeader c("cpp-interop-c-leads", "k", SF_OK, "from C");
  std::thread as_string([&] {
    auto out = g.run("k", [] { return std::string("C++ ran"); });
    EXPECT_EQ(*out, "from C");
    EXPECT_TRUE(out.shared);
  });
  const sf_bytes *got_bytes = nullptr;
  std::thread as_bytes([&] {
    sf::keyed_group<std::string, sf::bytes> kg(g);
    got_bytes = kg.run("k", [] { return sf::bytes("C++ ran"); })->get();
  });
  std::thread as_celsius_text([&] {
    sf::keyed_group<std::string, std::vector<char>> kg(g);
    auto out = kg.run("k", [] { return std::vector<char>(); });
    EXPECT_EQ(std::string(out->begin(), out->end()), "from C");
  });
  wait_until([&] { return stats(g.get()).followers == 3; });
  c.finish();
  as_string.join();
  as_bytes.join();
  as_celsius_text.join();
  EXPECT_EQ(c.got, SF_OK);
  // sf::bytes takes the leader's very buffer, not a copy.
  EXPECT_EQ(got_bytes, c.made);
}

TEST(CppInterop, ACFollowerOfACppLeaderGetsTheBytesWithoutACopy) {
  sf::group g = sf::group::open("cpp-interop-cpp-leads");
  sftest::HeldLeader<sf::group, std::string> leader(g, "k", std::string(100, 'v'));
  CFollower c("cpp-interop-cpp-leads", "k");
  wait_until([&] { return stats(g.get()).followers == 1; });
  leader.finish();
  c.join();
  ASSERT_EQ(c.got, SF_OK);
  EXPECT_EQ(sftest::str(c.r.value), std::string(100, 'v'));
  EXPECT_TRUE(c.r.shared);
  // The bytes are the C++ string's own memory.
  EXPECT_EQ(sf_bytes_data(c.r.value), static_cast<const void *>(leader.got->data()));
}

TEST(CppInterop, CustomCodecsBothWays) {
  sf::group g = sf::group::open("cpp-interop-codec");
  sf::keyed_group<int, demo::Celsius> temps(g);
  {
    Gate gate;
    std::thread leader([&] {
      temps.run(1, [&] {
        gate.wait();
        return demo::Celsius{21};
      });
    });
    wait_until([&] { return stats(g.get()).in_table == 1; });
    CFollower c("cpp-interop-codec", "1");
    wait_until([&] { return stats(g.get()).followers == 1; });
    gate.open();
    leader.join();
    c.join();
    EXPECT_EQ(c.got, SF_OK);
    EXPECT_EQ(sftest::str(c.r.value), "21C");
  }
  {
    CLeader c("cpp-interop-codec", "2", SF_OK, "-4C");
    std::thread follower(
        [&] { EXPECT_EQ(temps.run(2, [] { return demo::Celsius{0}; })->degrees, -4); });
    wait_until([&] { return stats(g.get()).followers == 2; });  // one from the first block
    c.finish();
    follower.join();
  }
}

TEST(CppInterop, AValueWithNoByteFormIsENOBYTESForOthers) {
  sf::group g = sf::group::open("cpp-interop-nobytes");
  sftest::HeldLeader<sf::group, demo::Opaque> leader(g, "k", demo::Opaque{1});
  CFollower c("cpp-interop-nobytes", "k");
  // A C++ follower asking for another type gets SF_ENOBYTES as well.
  sf_status other = SF_OK;
  std::thread cpp_other([&] { other = g.try_run("k", [] { return std::string(); }).status(); });
  wait_until([&] { return stats(g.get()).followers == 2; });
  leader.finish();
  c.join();
  cpp_other.join();
  EXPECT_EQ(c.got, SF_ENOBYTES);
  EXPECT_NE(sftest::str(c.r.error).find("c++"), std::string::npos) << sftest::str(c.r.error);
  EXPECT_EQ(other, SF_ENOBYTES);
}

TEST(CppInterop, ACppFollowerWithNoFromBytesGetsENOBYTES) {
  sf::group g = sf::group::open("cpp-interop-nofrom");
  CLeader c("cpp-interop-nofrom", "k", SF_OK, "bytes");
  sf_status got = SF_OK;
  std::thread follower([&] { got = g.try_run("k", [] { return demo::Opaque{0}; }).status(); });
  wait_until([&] { return stats(g.get()).followers == 1; });
  c.finish();
  follower.join();
  EXPECT_EQ(got, SF_ENOBYTES);
}

TEST(CppInterop, FailuresOfACLeaderArriveAsWorkAndPanicErrors) {
  sf::group g = sf::group::open("cpp-interop-failures");
  {
    CLeader c("cpp-interop-failures", "work", SF_EWORK, "no such row");
    std::thread follower([&] {
      try {
        g.run("work", [] { return 0; });
        ADD_FAILURE() << "no exception";
      } catch (const sf::work_error &e) {
        EXPECT_EQ(e.status(), SF_EWORK);
        EXPECT_EQ(e.bytes().view(), "no such row");
        EXPECT_STREQ(e.what(), "no such row");
      }
    });
    wait_until([&] { return stats(g.get()).followers == 1; });
    c.finish();
    follower.join();
  }
  {
    CLeader c("cpp-interop-failures", "panic", SF_EPANIC, "it broke");
    std::thread follower([&] {
      try {
        g.run("panic", [] { return 0; });
        ADD_FAILURE() << "no exception";
      } catch (const sf::panic_error &e) {
        EXPECT_EQ(e.status(), SF_EPANIC);
        EXPECT_EQ(e.bytes().view(), "it broke");
      }
    });
    wait_until([&] { return stats(g.get()).followers == 2; });
    c.finish();
    follower.join();
  }
}

TEST(CppInterop, ACppExceptionReachesCAsEPANICWithItsMessage) {
  sf::group g = sf::group::open("cpp-interop-throw");
  Gate gate;
  std::thread leader([&] {
    EXPECT_THROW(g.run("k",
                       [&]() -> std::string {
                         gate.wait();
                         throw std::out_of_range("index 9");
                       }),
                 std::out_of_range);
  });
  wait_until([&] { return stats(g.get()).in_table == 1; });
  CFollower c("cpp-interop-throw", "k");
  wait_until([&] { return stats(g.get()).followers == 1; });
  gate.open();
  leader.join();
  c.join();
  EXPECT_EQ(c.got, SF_EPANIC);
  EXPECT_EQ(sftest::str(c.r.error), "index 9");
}

}  // namespace
