// The I/O threads of the process, one per server: the fleet groups on one
// server share its thread (two groups on the test's server, one on a
// server that is not there: two threads), flights of each still dedup with
// a worker process, a server that never answers delays no group on another
// server, and a server's thread ends once its last group is freed, in
// whichever order, from whichever thread.
#include <dirent.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <cstring>
#include <string>
#include <thread>
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

sf_group *open_group(const std::string &url, const std::string &name,
                     std::uint32_t timeout_ms = 5000) {
  sf_fleet_options o = SF_FLEET_OPTIONS_INIT;
  o.url = url.c_str();
  o.lease_ms = 2000;
  o.cooldown_ms = 100;
  o.command_timeout_ms = timeout_ms;
  o.connect_timeout_ms = 2000;
  return sf_group_open_fleet(name.data(), name.size(), &o);
}

// A server that takes connections and never answers: a unix socket that
// listens; the first connection is accepted and never read from.
class SilentServer {
 public:
  explicit SilentServer(std::string path) : path_(std::move(path)) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path_.c_str(), sizeof a.sun_path - 1);
    ok_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0 &&
          ::listen(fd_, 8) == 0;
  }
  ~SilentServer() { close(); }
  bool ok() const { return ok_; }
  std::string url() const { return "unix://" + path_; }

  // Waits until a client connected and sent a command (never answered).
  bool await_command() {
    conn_ = ::accept(fd_, nullptr, nullptr);
    if (conn_ < 0) return false;
    pollfd p{conn_, POLLIN, 0};
    return ::poll(&p, 1, -1) == 1;
  }

  // Goes away: the client reads the end of its connection.
  void close() {
    for (int *fd : {&conn_, &fd_}) {
      if (*fd >= 0) ::close(*fd);
      *fd = -1;
    }
    ::unlink(path_.c_str());
  }

 private:
  std::string path_;
  int fd_ = -1, conn_ = -1;
  bool ok_ = false;
};

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

TEST_F(IoThread, GroupsOfOneServerShareItsThreadAndEachDedupsAcrossProcesses) {
  const int before = thread_count();
  ASSERT_GT(before, 0);
  sf_group *a = open_group(server.url(), "io-a");
  sf_group *b = open_group(server.url(), "io-b");
  sf_group *down = open_group(unreachable(), "io-down");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_NE(down, nullptr);
  EXPECT_EQ(thread_count(), before + 2);  // one per server

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
  EXPECT_EQ(thread_count(), before + 2);

  sf_group_release(b);
  EXPECT_EQ(thread_count(), before + 2);  // a still has the server's thread
  sf_group_release(down);
  EXPECT_EQ(await_threads(before + 1), before + 1);
  sf_group_release(a);
  EXPECT_EQ(await_threads(before), before);
}

TEST_F(IoThread, FreeingTheGroupsInAnyOrderEndsEachServersThreadWithItsLast) {
  const int before = thread_count();
  ASSERT_GT(before, 0);
  std::vector<int> order{0, 1, 2};
  do {
    // 0 and 1 on the test's server, 2 on one that is not there.
    sf_group *g[3] = {open_group(server.url(), "io-1"), open_group(server.url(), "io-2"),
                      open_group(unreachable(), "io-3")};
    for (sf_group *x : g) ASSERT_NE(x, nullptr);
    EXPECT_EQ(thread_count(), before + 2);
    bool open[3] = {true, true, true};
    for (int i : order) {
      sf_group_release(g[i]);
      open[i] = false;
      const int left = before + ((open[0] || open[1]) ? 1 : 0) + (open[2] ? 1 : 0);
      EXPECT_EQ(await_threads(left), left)
          << "order " << order[0] << order[1] << order[2] << ", freed " << i;
    }
  } while (std::next_permutation(order.begin(), order.end()));
}

// A server that takes connections and never answers holds up its own
// group's I/O thread (the caller of its group waits) but not the thread of
// the test's server: the flights of a group there keep being led through
// the fleet meanwhile, and the silent server's caller returns only after
// it went away.
TEST_F(IoThread, AServerThatNeverAnswersDelaysNoGroupOnAnotherServer) {
  const int before = thread_count();
  SilentServer silent(server.dir() + "/silent.sock");
  ASSERT_TRUE(silent.ok());
  sf_group *good = open_group(server.url(), "io-good");
  // Its replies time out only after long: the other group's flights are
  // done well before, unless they wait for the silent server's thread.
  sf_group *stalled = open_group(silent.url(), "io-stalled", 30000);
  ASSERT_NE(good, nullptr);
  ASSERT_NE(stalled, nullptr);
  EXPECT_EQ(thread_count(), before + 2);
  ASSERT_TRUE(silent.await_command());  // its thread waits for a reply now

  auto local = [](void *, sf_bytes **v, sf_bytes **) -> sf_status {
    *v = sf_bytes_new("local", 5);
    return SF_OK;
  };
  std::atomic<bool> stalled_done{false};
  sf_status stalled_status = SF_EINVAL;
  std::thread caller([&] {
    Result r;
    stalled_status = sf_do(stalled, "k", 1, local, nullptr, &r);
    stalled_done.store(true);
  });

  auto fenced = [](void *, sf_bytes **v, sf_bytes **) -> sf_status {
    std::uint64_t token = 0;
    if (sf_fence_token(nullptr, &token) != SF_OK || token == 0) return SF_EINVAL;
    *v = sf_bytes_new("fleet", 5);
    return SF_OK;
  };
  for (int i = 0; i < 5; ++i) {
    const std::string key = "g" + std::to_string(i);
    Result r;
    EXPECT_EQ(sf_do(good, key.data(), key.size(), fenced, nullptr, &r), SF_OK);
    EXPECT_EQ(str(r.value), "fleet");  // led with a fencing token
    EXPECT_EQ(stats_of(good).fleet_led, static_cast<std::uint64_t>(i + 1));
  }
  EXPECT_FALSE(stalled_done.load());  // still waiting for the silent server

  silent.close();  // its thread reads the end: the flight runs locally
  caller.join();
  EXPECT_EQ(stalled_status, SF_OK);
  EXPECT_GE(stats_of(stalled).fleet_fallbacks, 1u);
  EXPECT_EQ(stats_of(stalled).fleet_led, 0u);
  sf_group_release(stalled);
  sf_group_release(good);
  EXPECT_EQ(await_threads(before), before);
}

// The last group of a server freed on its I/O thread itself (its last
// flight left there, after a callback released the group), and in the
// same callback the last group of another server: both threads end, and
// the next group on the first server starts a new one.
TEST_F(IoThread, TheLastGroupFreedOnTheThreadItselfEndsItAndANewGroupStartsAnother) {
  const int before = thread_count();
  sf_group *g = open_group(server.url(), "io-self");
  sf_group *other = open_group(unreachable(), "io-other");
  ASSERT_NE(g, nullptr);
  ASSERT_NE(other, nullptr);
  const std::string dir = round_dir(server, "io-self");
  Worker leader({"--url", server.url(), "--dir", dir, "--mode", "hang", "--group", "io-self",
                 "--key", "s:k", "--lease", "2000", "--cooldown", "100"});
  ASSERT_TRUE(await_file(dir + "/leader"));
  struct Ctx {
    sf_group *g, *other;
    sf_ticket *w;
    std::atomic<int> fired{0};
  } ctx{g, other, nullptr};
  sf_ticket *k;
  ASSERT_EQ(sf_join(g, "k", 1, 0, &ctx.w, &k), SF_OK);
  ASSERT_EQ(k, nullptr);
  ASSERT_EQ(sf_subscribe(
                ctx.w,
                [](void *ud) {
                  auto *c = static_cast<Ctx *>(ud);
                  sf_leave(c->w);
                  sf_group_release(c->g);      // the held flight, left next, is its last
                  sf_group_release(c->other);  // freed by its own server's thread
                  c->fired.store(1);
                },
                &ctx),
            SF_OK);
  EXPECT_EQ(thread_count(), before + 2);
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
