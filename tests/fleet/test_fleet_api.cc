// The fleet API without a server: checks of sf_group_open_fleet() and
// sf_fence_token(), and a fleet group whose server is unreachable behaving
// as a local group. Part of the core suite: it runs in builds with and
// without hiredis alike.
#include <cstring>
#include <functional>

#include "helpers.h"

namespace sftest {
namespace {

TEST(FleetApi, BadInputIsRejected) {
  sf_fleet_options o = SF_FLEET_OPTIONS_INIT;
  o.url = "unix:///nonexistent/sf.sock";
  EXPECT_EQ(sf_group_open_fleet(nullptr, 1, &o), nullptr);
  EXPECT_EQ(sf_group_open_fleet("x", 0, &o), nullptr);
  sf_fleet_options bad = o;
  bad.version = 99;
  EXPECT_EQ(sf_group_open_fleet("x", 1, &bad), nullptr);
  for (const char *url : {"http://h", "redis://", "redis://h:0", "redis://h:70000", "redis://h/x",
                          "unix://", "unix://rel", "unix:///s?db=x", "redis://%zz@h"}) {
    bad = o;
    bad.url = url;
    EXPECT_EQ(sf_group_open_fleet("x", 1, &bad), nullptr) << url;
  }
  for (const char *prefix : {"", "a{b", "a}b", "a:b"}) {
    bad = o;
    bad.key_prefix = prefix;
    EXPECT_EQ(sf_group_open_fleet("x", 1, &bad), nullptr) << prefix;
  }
  for (const char *url : {"redis://127.0.0.1", "redis://:pw@localhost:1/2",
                          "redis://u:p@[::1]:6380/0", "unix:///tmp/x.sock?db=3", "/tmp/x.sock"}) {
    bad = o;
    bad.url = url;
    sf_group *g = sf_group_open_fleet(url, std::strlen(url), &bad);
    EXPECT_NE(g, nullptr) << url;
    sf_group_release(g);
  }
  uint64_t token = 7;
  EXPECT_EQ(sf_fence_token(nullptr, nullptr), SF_EINVAL);
  EXPECT_EQ(sf_fence_token(nullptr, &token), SF_EINVAL);  // outside any sf_do work
  EXPECT_EQ(token, 0u);
}

TEST(FleetApi, AFleetGroupIsNotTheLocalGroupOfTheSameName) {
  sf_fleet_options o = SF_FLEET_OPTIONS_INIT;
  o.url = "unix:///nonexistent/sf.sock";
  sf_group *a = sf_group_open_fleet("same", 4, &o);
  sf_group *b = sf_group_open_fleet("same", 4, nullptr);
  sf_group *local = sf_group_open("same", 4);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, local);
  sf_group_release(a);
  sf_group_release(b);
  sf_group_release(local);
}

TEST(FleetApi, AWaitTicketHasNoToken) {
  Group g;
  sf_ticket *w, *k;
  ASSERT_EQ(sf_join(g, "k", 1, 0, &w, &k), SF_OK);
  uint64_t token = 1;
  EXPECT_EQ(sf_fence_token(w, &token), SF_EINVAL);
  EXPECT_EQ(sf_fence_token(k, &token), SF_OK);
  EXPECT_EQ(token, 0u);  // a local group's flight
  sf_complete(k, SF_OK, nullptr, nullptr);
  sf_leave(k);
  sf_leave(w);
}

TEST(FleetApi, AnUnreachableServerLeavesALocalGroupThatWorks) {
  sf_fleet_options o = SF_FLEET_OPTIONS_INIT;
  o.url = "unix:///nonexistent/sf.sock";
  sf_group *g = sf_group_open_fleet("unreachable-api", 15, &o);
  ASSERT_NE(g, nullptr);
  for (int i = 0; i < 3; ++i) {
    Result r;
    auto work = [](void *, sf_bytes **v, sf_bytes **) -> sf_status {
      uint64_t token = 1;
      EXPECT_EQ(sf_fence_token(nullptr, &token), SF_OK);
      EXPECT_EQ(token, 0u);  // a local flight: no fleet lease
      *v = sf_bytes_new("v", 1);
      return SF_OK;
    };
    EXPECT_EQ(sf_do(g, "k", 1, work, nullptr, &r), SF_OK);
    EXPECT_EQ(str(r.value), "v");
  }
  EXPECT_EQ(stats(g).fleet_led, 0u);
  // The I/O thread may still hold the last flight a moment (it hears of
  // every local flight's end); it lets go of it without the server.
  wait_until([&] { return stats(g).live == 0; });
  sf_group_release(g);
}

}  // namespace
}  // namespace sftest
