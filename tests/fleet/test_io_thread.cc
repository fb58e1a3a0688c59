// The process's one I/O thread: every fleet group of the process shares
// it (two groups on the test's server, one on a server that is not there),
// flights of each still dedup with a worker process, and the thread ends
// once the last group is freed, in whichever order, from whichever thread.
#include <dirent.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "fleet_helpers.h"
#include "helpers.h"

namespace sftest {
namespace {

// The threads of this process.
int thread_count() {
  DIR *d = opendir("/proc/self/task");
  if (!d) return -1;
  int n = 0;
  while (dirent *e = readdir(d))
    if (e->d_name[0] != '.') ++n;
  closedir(d);
  return n;
}

// Waits (by count) until the process has `n` threads: a joined thread
// may still be listed for a moment. The count it settled on.
int await_threads(int n) {
  int got = thread_count();
  for (int i = 0; i < 2000 && got != n; ++i) {
    pause_ms(5);
    got = thread_count();
  }
  return got;
}

sf_group *open_group(const std::string &url, const std::string &name) {
  sf_fleet_options o = SF_FLEET_OPTIONS_INIT;
  o.url = url.c_str();
  o.lease_ms = 2000;
  o.cooldown_ms = 100;
  o.command_timeout_ms = 5000;
  o.connect_timeout_ms = 2000;
  return sf_group_open_fleet(name.data(), name.size(), &o);
}

sf_stats stats_of(sf_group *g) {
  sf_stats s{};
  EXPECT_EQ(sf_group_stats(g, &s, sizeof s), SF_OK);
  return s;
}

class IoThread : public FleetTest {
 protected:
  // A server nobody listens on: its group's flights are local.
  std::string unreachable() const { return "unix://" + server.dir() + "/nobody.sock"; }

  // A worker process leads key "k" of `group` and holds it; a caller here
  // waits for it (the group's I/O holds the work), then gets the worker's
  // outcome, shared, without running the work.
  void expect_dedup_with_a_worker(sf_group *g, const std::string &group, const std::string &round) {
    const std::string dir = round_dir(server, round);
    Worker leader({"--url", server.url(), "--dir", dir, "--mode", "hang", "--group", group, "--key",
                   "s:k", "--lease", "2000", "--cooldown", "100"});
    ASSERT_TRUE(await_file(dir + "/leader"));
    sf_ticket *w, *k;
    ASSERT_EQ(sf_join(g, "k", 1, 0, &w, &k), SF_OK);
    EXPECT_EQ(k, nullptr);  // a waiter: the worker leads
    if (k) sf_leave(k);
    // Released once the server counts this process a waiter (by count).
    const std::string waiters = "{sf:" + hex_of(group) + ":" + hex_of("k") + "}:waiters";
    for (int i = 0; i < 12000 && server.command({"HLEN", waiters}) != "1"; ++i) pause_ms(5);
    EXPECT_EQ(server.command({"HLEN", waiters}), "1");
    touch(dir + "/release");
    Result r;
    EXPECT_EQ(sf_wait(w, -1, &r), SF_OK);
    EXPECT_EQ(str(r.value), "old");
    EXPECT_EQ(r.shared, 1);
    sf_leave(w);
    EXPECT_EQ(leader.finish().exit_status, 0);
    EXPECT_EQ(count_records(dir + "/execs", 8), 1);  // the worker's run only
  }
};

TEST_F(IoThread, GroupsOfTwoServersShareOneThreadAndEachDedupsAcrossProcesses) {
  const int before = thread_count();
  ASSERT_GT(before, 0);
  sf_group *a = open_group(server.url(), "io-a");
  sf_group *b = open_group(server.url(), "io-b");
  sf_group *down = open_group(unreachable(), "io-down");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_NE(down, nullptr);
  EXPECT_EQ(thread_count(), before + 1);

  expect_dedup_with_a_worker(a, "io-a", "a1");
  expect_dedup_with_a_worker(b, "io-b", "b1");
  EXPECT_EQ(stats_of(a).fleet_joined, 1u);
  EXPECT_EQ(stats_of(b).fleet_joined, 1u);
  // The group whose server is not there runs its flights here.
  Result r;
  auto work = [](void *, sf_bytes **v, sf_bytes **) -> sf_status {
    *v = sf_bytes_new("local", 5);
    return SF_OK;
  };
  EXPECT_EQ(sf_do(down, "k", 1, work, nullptr, &r), SF_OK);
  EXPECT_EQ(str(r.value), "local");
  EXPECT_GE(stats_of(down).fleet_fallbacks, 1u);
  EXPECT_EQ(stats_of(down).fleet_led, 0u);
  // ... and the others still dedup across processes afterwards.
  expect_dedup_with_a_worker(a, "io-a", "a2");
  EXPECT_EQ(stats_of(a).fleet_joined, 2u);
  EXPECT_EQ(thread_count(), before + 1);

  sf_group_release(b);
  sf_group_release(down);
  EXPECT_EQ(thread_count(), before + 1);
  sf_group_release(a);
  EXPECT_EQ(await_threads(before), before);
}

TEST_F(IoThread, FreeingTheGroupsInAnyOrderEndsTheThreadWithTheLast) {
  const int before = thread_count();
  ASSERT_GT(before, 0);
  std::vector<int> order{0, 1, 2};
  do {
    sf_group *g[3] = {open_group(server.url(), "io-1"), open_group(server.url(), "io-2"),
                      open_group(unreachable(), "io-3")};
    for (sf_group *x : g) ASSERT_NE(x, nullptr);
    EXPECT_EQ(thread_count(), before + 1);
    for (std::size_t i = 0; i < order.size(); ++i) {
      sf_group_release(g[order[i]]);
      if (i + 1 < order.size()) EXPECT_EQ(thread_count(), before + 1);
    }
    EXPECT_EQ(await_threads(before), before) << "order " << order[0] << order[1] << order[2];
  } while (std::next_permutation(order.begin(), order.end()));
}

// The last group freed on the I/O thread itself (its last flight left
// there, after a callback released the group): the thread ends, and the
// next group starts a new one.
TEST_F(IoThread, TheLastGroupFreedOnTheThreadItselfEndsItAndANewGroupStartsAnother) {
  const int before = thread_count();
  sf_group *g = open_group(server.url(), "io-self");
  ASSERT_NE(g, nullptr);
  const std::string dir = round_dir(server, "io-self");
  Worker leader({"--url", server.url(), "--dir", dir, "--mode", "hang", "--group", "io-self",
                 "--key", "s:k", "--lease", "2000", "--cooldown", "100"});
  ASSERT_TRUE(await_file(dir + "/leader"));
  struct Ctx {
    sf_group *g;
    sf_ticket *w;
    std::atomic<int> fired{0};
  } ctx{g, nullptr};
  sf_ticket *k;
  ASSERT_EQ(sf_join(g, "k", 1, 0, &ctx.w, &k), SF_OK);
  ASSERT_EQ(k, nullptr);
  ASSERT_EQ(sf_subscribe(
                ctx.w,
                [](void *ud) {
                  auto *c = static_cast<Ctx *>(ud);
                  sf_leave(c->w);
                  sf_group_release(c->g);  // the held flight, left next, is its last
                  c->fired.store(1);
                },
                &ctx),
            SF_OK);
  EXPECT_EQ(thread_count(), before + 1);
  touch(dir + "/release");
  EXPECT_EQ(leader.finish().exit_status, 0);
  for (int i = 0; i < 6000 && ctx.fired.load() == 0; ++i) pause_ms(5);
  ASSERT_EQ(ctx.fired.load(), 1);
  EXPECT_EQ(await_threads(before), before);

  sf_group *again = open_group(server.url(), "io-self");
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(thread_count(), before + 1);
  Result r;  // led through the new thread: it holds the lease
  auto work = [](void *, sf_bytes **v, sf_bytes **) -> sf_status {
    *v = sf_bytes_new("again", 5);
    return SF_OK;
  };
  EXPECT_EQ(sf_do(again, "k", 1, work, nullptr, &r), SF_OK);
  EXPECT_EQ(str(r.value), "again");
  EXPECT_EQ(stats_of(again).fleet_led, 1u);
  sf_group_release(again);
  EXPECT_EQ(await_threads(before), before);
}

}  // namespace
}  // namespace sftest
