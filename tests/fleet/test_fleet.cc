// Fleet groups in one process, against the test's own redis-server: the
// API's checks, a stampede of threads, the server unreachable, killed and
// restarted, its pub/sub connection killed, deadlines and cancellation of
// waiters whose leader is another process, linger.
#include <atomic>
#include <memory>

#include "fleet_helpers.h"
#include "helpers.h"

namespace sftest {
namespace {

sf_group *open_fleet(const std::string &url, const char *name = "fleet-test",
                     uint32_t lease_ms = 2000, uint32_t linger_ms = 0) {
  sf_fleet_options o = SF_FLEET_OPTIONS_INIT;
  o.url = url.c_str();
  o.lease_ms = lease_ms;
  o.linger_ms = linger_ms;
  o.cooldown_ms = 100;
  o.command_timeout_ms = 5000;
  o.connect_timeout_ms = 2000;
  return sf_group_open_fleet(name, std::strlen(name), &o);
}

// A caller of `key` runs the work itself (no flight, here or elsewhere,
// holds the key).
void expect_runs_fresh(sf_group *g, const std::string &key) {
  Result again;
  EXPECT_EQ(do_key(g, key, value_work("fresh"), &again), SF_OK);
  EXPECT_EQ(str(again.value), "fresh");
}

class Fleet : public FleetTest {};

TEST_F(Fleet, StampedeOfThreadsRunsOnceWithATokenAndSharesTheBytes) {
  sf_group *g = open_fleet(server.url());
  ASSERT_NE(g, nullptr);
  constexpr int kThreads = 50;
  std::atomic<int> arrived{0}, runs{0};
  std::atomic<uint64_t> token{0};
  std::vector<std::string> got(kThreads);
  std::vector<int> shared(kThreads), status(kThreads);
  std::vector<std::thread> ts;
  for (int i = 0; i < kThreads; ++i) {
    ts.emplace_back([&, i] {
      arrived.fetch_add(1);
      Result r;
      status[i] = do_key(
          g, "hot",
          [&](sf_bytes **v, sf_bytes **) {
            runs.fetch_add(1);
            uint64_t t = 0;
            EXPECT_EQ(sf_fence_token(nullptr, &t), SF_OK);
            token = t;
            while (arrived.load() < kThreads) std::this_thread::yield();
            pause_ms(300);  // a grace for the last arrivals to join
            *v = bytes("shared-value");
            return SF_OK;
          },
          &r);
      got[i] = str(r.value);
      shared[i] = r.shared;
    });
  }
  for (auto &t : ts) t.join();
  EXPECT_EQ(runs.load(), 1);
  EXPECT_GT(token.load(), 0u);
  for (int i = 0; i < kThreads; ++i) {
    EXPECT_EQ(status[i], SF_OK);
    EXPECT_EQ(got[i], "shared-value");
    EXPECT_EQ(shared[i], 1);
  }
  sf_stats s = stats(g);
  EXPECT_EQ(s.fleet_led, 1u);
  EXPECT_EQ(s.fleet_fallbacks, 0u);
  // The I/O thread lets go of the flight once it has sent the completion.
  wait_until([&] { return stats(g).live == 0; });
  // The server keeps no lease and no lock behind, once the I/O thread has
  // published the completion (the callers do not wait for it).
  const std::string lease = "{sf:" + hex_of("fleet-test") + ":" + hex_of("hot") + "}:lease";
  for (int i = 0; i < 12000 && server.command({"EXISTS", lease}) != "0"; ++i) pause_ms(5);
  EXPECT_EQ(server.command({"EXISTS", lease}), "0");
  sf_group_release(g);
}

TEST_F(Fleet, SequentialCallsRunFreshUnlessLingerAsks) {
  sf_group *plain = open_fleet(server.url(), "plain");
  sf_group *linger = open_fleet(server.url(), "linger", 2000, 60000);
  std::atomic<int> runs_plain{0}, runs_linger{0};
  for (int i = 0; i < 3; ++i) {
    Result a, b;
    EXPECT_EQ(do_key(plain, "k", value_work("p", &runs_plain), &a), SF_OK);
    EXPECT_EQ(do_key(linger, "k", value_work("l", &runs_linger), &b), SF_OK);
    EXPECT_EQ(str(a.value), "p");
    EXPECT_EQ(str(b.value), "l");
  }
  EXPECT_EQ(runs_plain.load(), 3);   // nothing cached
  EXPECT_EQ(runs_linger.load(), 1);  // the lingering outcome serves the next two
  sf_group_release(plain);
  sf_group_release(linger);
}

TEST(FleetUnreachable, CallsRunLocallyThenFleetFlightsResumeWhenTheServerComes) {
  if (find_redis_server().empty()) GTEST_SKIP() << "redis-server is not installed";
  RedisServer server;  // not started yet: nothing listens on its socket
  sf_group *g = open_fleet(server.url(), "unreachable");
  ASSERT_NE(g, nullptr);
  std::atomic<int> runs{0};
  for (int i = 0; i < 3; ++i) {
    Result r;
    EXPECT_EQ(do_key(g, "k", value_work("local", &runs), &r), SF_OK);
    EXPECT_EQ(str(r.value), "local");
  }
  EXPECT_EQ(runs.load(), 3);
  EXPECT_GE(stats(g).fleet_fallbacks, 1u);
  EXPECT_EQ(stats(g).fleet_led, 0u);
  ASSERT_TRUE(server.start());
  for (int i = 0; i < 3000 && stats(g).fleet_led == 0; ++i) {
    Result r;
    EXPECT_EQ(do_key(g, "k", value_work("fleet"), &r), SF_OK);
    pause_ms(10);
  }
  EXPECT_GE(stats(g).fleet_led, 1u);  // fleet-wide again
  sf_group_release(g);
}

// A worker process leads "hang" and holds the key until `release` exists.
struct RemoteLeader {
  std::string dir;
  std::unique_ptr<Worker> worker;
  RemoteLeader(const RedisServer &server, const std::string &name, const char *group,
               const char *lease = "2000") {
    dir = round_dir(server, name);
    worker = std::make_unique<Worker>(
        std::vector<std::string>{"--url", server.url(), "--dir", dir, "--mode", "hang", "--group",
                                 group, "--key", "s:k", "--lease", lease, "--cooldown", "100"});
    EXPECT_TRUE(await_file(dir + "/leader"));
  }
  WorkerOutput release() {
    touch(dir + "/release");
    return worker->finish();
  }
};

TEST_F(Fleet, WaitersOfAnotherProcessTimeOutAreCancelledAndLeave) {
  sf_group *g = open_fleet(server.url(), "waiters");
  RemoteLeader leader(server, "waiters", "waiters");
  sf_ticket *w1, *k1, *w2, *k2;
  ASSERT_EQ(sf_join(g, "k", 1, 0, &w1, &k1), SF_OK);
  ASSERT_EQ(k1, nullptr);  // the fleet holds the work: a waiter
  ASSERT_EQ(sf_join(g, "k", 1, 0, &w2, &k2), SF_OK);
  ASSERT_EQ(k2, nullptr);
  Result r;
  EXPECT_EQ(sf_wait(w1, 50 * 1000 * 1000, &r), SF_ETIMEDOUT);
  EXPECT_EQ(sf_cancel(w2), SF_OK);
  EXPECT_EQ(sf_wait(w2, -1, &r), SF_ECANCELED);
  sf_leave(w1);
  sf_leave(w2);  // every local caller left: the process drops its interest
  for (int i = 0; i < 3000 && stats(g).live != 0; ++i) pause_ms(5);
  EXPECT_EQ(stats(g).live, 0u);
  sf_stats s = stats(g);
  EXPECT_GE(s.timeouts, 1u);
  EXPECT_GE(s.cancellations, 1u);
  WorkerOutput out = leader.release();
  EXPECT_EQ(out.exit_status, 0);
  // The next caller here runs fresh (the remote flight is over).
  expect_runs_fresh(g, "k");
  sf_group_release(g);
}

TEST_F(Fleet, RemoteOutcomeReachesSubscribersWithoutABlockedThread) {
  sf_group *g = open_fleet(server.url(), "subscribe");
  RemoteLeader leader(server, "subscribe", "subscribe");
  sf_ticket *w, *k;
  ASSERT_EQ(sf_join(g, "k", 1, 0, &w, &k), SF_OK);
  ASSERT_EQ(k, nullptr);
  std::atomic<int> fired{0};
  ASSERT_EQ(sf_subscribe(
                w, [](void *ud) { static_cast<std::atomic<int> *>(ud)->fetch_add(1); }, &fired),
            SF_OK);
  WorkerOutput out = leader.release();
  for (int i = 0; i < 6000 && fired.load() == 0; ++i) pause_ms(5);
  EXPECT_EQ(fired.load(), 1);
  Result r;
  EXPECT_EQ(sf_wait(w, 0, &r), SF_OK);
  EXPECT_EQ(str(r.value), "old");
  EXPECT_EQ(r.shared, 1);
  sf_leave(w);
  EXPECT_EQ(stats(g).fleet_joined, 1u);
  sf_group_release(g);
}

TEST_F(Fleet, KilledPubSubConnectionReconnectsAndTheWaitersStillGetTheOutcome) {
  sf_group *g = open_fleet(server.url(), "pubsub");
  RemoteLeader leader(server, "pubsub", "pubsub");
  std::atomic<int> done{0};
  std::string got;
  std::thread t([&] {
    Result r;
    do_key(g, "k", value_work("ran-here"), &r);
    got = str(r.value);
    done = 1;
  });
  pause_ms(300);  // the caller is waiting for the remote leader
  EXPECT_NE(server.command({"CLIENT", "KILL", "TYPE", "pubsub"}), "");
  for (int i = 0; i < 3000 && stats(g).fleet_reconnects == 0; ++i) pause_ms(5);
  EXPECT_GE(stats(g).fleet_reconnects, 1u);
  leader.release();
  t.join();
  EXPECT_EQ(got, "old");  // the remote outcome, after the reconnect
  sf_group_release(g);
}

TEST_F(Fleet, ServerKilledMidFlightEveryCallerReturnsAndLaterFlightsAreFleetWide) {
  sf_group *g = open_fleet(server.url(), "restart", 1000);
  RemoteLeader leader(server, "restart", "restart", "1000");
  constexpr int kThreads = 8;
  std::vector<std::string> got(kThreads);
  std::vector<std::thread> ts;
  for (int i = 0; i < kThreads; ++i)
    ts.emplace_back([&, i] {
      Result r;
      do_key(g, "k", value_work("local"), &r);
      got[i] = str(r.value);
    });
  pause_ms(300);  // the callers wait for the remote leader
  server.kill9();
  for (auto &t : ts) t.join();  // the breaker ran them here
  for (auto &s : got) EXPECT_EQ(s, "local");
  EXPECT_GE(stats(g).fleet_fallbacks, 1u);
  leader.release();  // its completion cannot be published; it returns anyway
  ASSERT_TRUE(server.start());
  uint64_t led = stats(g).fleet_led;
  for (int i = 0; i < 3000 && stats(g).fleet_led == led; ++i) {
    Result r;
    do_key(g, "k2", value_work("again"), &r);
    pause_ms(10);
  }
  EXPECT_GT(stats(g).fleet_led, led);
  EXPECT_GE(stats(g).fleet_reconnects, 1u);
  sf_group_release(g);
}

TEST_F(Fleet, AForkedChildRunsItsFlightsLocallyAndTheParentStaysAFleetMember) {
  sf_group *g = open_fleet(server.url(), "forked");
  {
    Result r;
    ASSERT_EQ(do_key(g, "k", value_work("parent"), &r), SF_OK);
  }
  ASSERT_EQ(stats(g).fleet_led, 1u);
  pid_t child = fork();
  if (child == 0) {  // no gtest here: the exit status says it
    sf_result r;
    auto work = [](void *, sf_bytes **v, sf_bytes **) -> sf_status {
      *v = sf_bytes_new("child", 5);
      return SF_OK;
    };
    sf_status st = sf_do(g, "k", 1, work, nullptr, &r);
    sf_stats s{};
    sf_group_stats(g, &s, sizeof s);
    bool ok = st == SF_OK && sf_bytes_len(r.value) == 5 && s.fleet_fallbacks == 1 &&
              s.fleet_led == 1;
    sf_group_release(g);  // leaves the parent's fleet alone
    _exit(ok ? 0 : 1);
  }
  ASSERT_GT(child, 0);
  int st = -1;
  pid_t got = 0;
  for (int i = 0; i < 6000 && got == 0; ++i) {
    got = waitpid(child, &st, WNOHANG);
    if (got == 0) pause_ms(5);
  }
  if (got == 0) {
    ::kill(child, SIGKILL);
    waitpid(child, &st, 0);
    FAIL() << "the forked child hung in sf_do";
  }
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  Result r;  // the parent is still a fleet member
  EXPECT_EQ(do_key(g, "k", value_work("again"), &r), SF_OK);
  EXPECT_EQ(stats(g).fleet_led, 2u);
  sf_group_release(g);
}

// A fleet group whose breaker opens on a reply later than 200 ms and stays
// open `cooldown_ms`, after one fleet flight (of "warm") showed it connected.
sf_group *open_connected_quick_breaker(const RedisServer &server, const char *name,
                                       uint32_t cooldown_ms) {
  sf_fleet_options o = SF_FLEET_OPTIONS_INIT;
  std::string url = server.url();
  o.url = url.c_str();
  o.command_timeout_ms = 200;
  o.cooldown_ms = cooldown_ms;
  sf_group *g = sf_group_open_fleet(name, std::strlen(name), &o);
  Result r;
  EXPECT_EQ(do_key(g, "warm", value_work("w"), &r), SF_OK);
  EXPECT_EQ(stats(g).fleet_led, 1u);
  return g;
}

TEST_F(Fleet, PausedServerTripsTheBreakerWithinTheCommandTimeout) {
  sf_group *g = open_connected_quick_breaker(server, "paused", 100);
  server.pause();
  Result r;
  EXPECT_EQ(do_key(g, "k", value_work("b"), &r), SF_OK);
  EXPECT_EQ(str(r.value), "b");
  EXPECT_GE(stats(g).fleet_fallbacks, 1u);
  server.resume();
  sf_group_release(g);
}

// Two callers of "k" held by the fleet while the server is paused: the
// breaker opens and hands both off; *wa and *wb are their woken tickets.
void both_handed_off(sf_group *g, sf_ticket **wa, sf_ticket **wb) {
  sf_ticket *ka, *kb;
  ASSERT_EQ(sf_join(g, "k", 1, 0, wa, &ka), SF_OK);
  ASSERT_EQ(ka, nullptr);  // held by the fleet
  ASSERT_EQ(sf_join(g, "k", 1, 0, wb, &kb), SF_OK);
  ASSERT_EQ(kb, nullptr);
  Result ra, rb;
  EXPECT_EQ(sf_wait(*wa, -1, &ra), SF_EHANDOFF);  // the breaker opened: run it here
  EXPECT_EQ(sf_wait(*wb, -1, &rb), SF_EHANDOFF);
}

// A woken caller joining "k" again after the local leader finished with
// `value`: it reads that outcome instead of running the work again.
void joins_late_and_reads(sf_group *g, const char *value) {
  sf_ticket *w, *k;
  ASSERT_EQ(sf_join(g, "k", 1, 0, &w, &k), SF_OK);
  EXPECT_EQ(k, nullptr);  // no second run
  if (k) {
    sf_complete(k, SF_OK, bytes("twice"), nullptr);
    sf_leave(k);
  }
  Result again;
  EXPECT_EQ(sf_wait(w, -1, &again), SF_OK);
  EXPECT_EQ(str(again.value), value);
  EXPECT_EQ(again.shared, 1);
  sf_leave(w);
}

// The breaker opens while a flight is held: its callers are handed off to
// a local leader. A caller who joins again only after that leader finished
// reads its outcome; the work runs once in this process.
TEST_F(Fleet, BreakerOpeningMidFlightRunsTheWorkOnceInTheProcess) {
  sf_group *g = open_connected_quick_breaker(server, "breaker-race", 60000);  // open for the test
  server.pause();
  sf_ticket *wa, *ka, *wb;
  both_handed_off(g, &wa, &wb);
  sf_leave(wa);
  sf_leave(wb);
  // A joins again first and runs the work; B joins again after it finished.
  Result ra;
  ASSERT_EQ(sf_join(g, "k", 1, 0, &wa, &ka), SF_OK);
  ASSERT_NE(ka, nullptr);
  EXPECT_EQ(sf_finish(wa, ka, SF_OK, bytes("once"), nullptr, nullptr, nullptr, &ra), SF_OK);
  EXPECT_EQ(str(ra.value), "once");
  joins_late_and_reads(g, "once");
  // Later callers run fresh (locally while the breaker is open).
  Result later;
  EXPECT_EQ(do_key(g, "k", value_work("later"), &later), SF_OK);
  EXPECT_EQ(str(later.value), "later");
  server.resume();
  sf_group_release(g);
}

// The same hand-off, with a new caller joining the local leader's flight
// while a caller the hand-off woke still holds its woken ticket: that
// caller, joining again after the leader finished, reads its outcome too
// (the new caller does not stand in for it).
TEST_F(Fleet, AWokenCallerJoiningAfterTheLeaderFinishedReadsItsOutcomeDespiteANewCaller) {
  sf_group *g = open_connected_quick_breaker(server, "late-rejoin", 60000);  // open for the test
  server.pause();
  sf_ticket *wa, *ka, *wb, *wc, *kc;
  both_handed_off(g, &wa, &wb);
  sf_leave(wa);  // B keeps its woken ticket for now
  Result ra;
  ASSERT_EQ(sf_join(g, "k", 1, 0, &wa, &ka), SF_OK);
  ASSERT_NE(ka, nullptr);
  ASSERT_EQ(sf_join(g, "k", 1, 0, &wc, &kc), SF_OK);  // a new caller
  ASSERT_EQ(kc, nullptr);
  EXPECT_EQ(sf_finish(wa, ka, SF_OK, bytes("once"), nullptr, nullptr, nullptr, &ra), SF_OK);
  Result rc;
  EXPECT_EQ(sf_wait(wc, -1, &rc), SF_OK);
  EXPECT_EQ(str(rc.value), "once");
  sf_leave(wc);
  sf_leave(wb);
  joins_late_and_reads(g, "once");
  expect_runs_fresh(g, "k");
  server.resume();
  sf_group_release(g);
}

// A worker process leads "orphan" with the split API: once `go` exists its
// own (only) caller leaves while the work goes on, until `release` exists
// or the flight is abandoned (then it writes `abandoned`).
struct OrphanLeader {
  std::string dir;
  std::unique_ptr<Worker> worker;
  OrphanLeader(const RedisServer &server, const std::string &name, const char *group,
               const char *lease_ms = "600") {
    dir = round_dir(server, name);
    worker = std::make_unique<Worker>(
        std::vector<std::string>{"--url", server.url(), "--dir", dir, "--mode", "orphan", "--group",
                                 group, "--key", "s:k", "--lease", lease_ms, "--cooldown", "100"});
    EXPECT_TRUE(await_file(dir + "/leader"));
  }
};

std::string waiters_key(const char *group) {
  return "{sf:" + hex_of(group) + ":" + hex_of("k") + "}:waiters";
}

// Waits (by count) until the server counts `n` processes waiters of "k".
void await_waiters(const RedisServer &server, const char *group, const char *n) {
  for (int i = 0; i < 12000 && server.command({"HLEN", waiters_key(group)}) != n; ++i) pause_ms(5);
  ASSERT_EQ(server.command({"HLEN", waiters_key(group)}), n);
}

// Joins "k" of `g` as a waiter of the remote leader. Its I/O thread
// registers it only if it has not seen the leader's started notice yet, or
// when the leader calls the roll.
void join_remote(sf_group *g, sf_ticket **wait) {
  sf_ticket *work;
  ASSERT_EQ(sf_join(g, "k", 1, 0, wait, &work), SF_OK);
  ASSERT_EQ(work, nullptr);  // the fleet holds the work: a waiter
}

// Joins "k" of `g` until this process leads it: a join is held while the
// I/O thread asks the server (or, unreachable, until the connection fails)
// and handed off to lead. *work stays NULL if it never leads.
void lead_here(sf_group *g, sf_ticket **wait, sf_ticket **work) {
  *work = nullptr;
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(sf_join(g, "k", 1, 0, wait, work), SF_OK);
    if (*work) return;
    Result r;
    EXPECT_EQ(sf_wait(*wait, -1, &r), SF_EHANDOFF);
    sf_leave(*wait);
  }
}

void store_one(void *ud) { static_cast<std::atomic<int> *>(ud)->store(1); }

// A worker process with one caller of "k" of `group` (a 300 ms lease) in
// `mode`, which waits for this process's leader.
std::unique_ptr<Worker> waiter_process(const RedisServer &server, const std::string &dir,
                                       const char *group, const char *mode) {
  return std::make_unique<Worker>(
      std::vector<std::string>{"--url", server.url(), "--dir", dir, "--mode", mode, "--group",
                               group, "--key", "s:k", "--lease", "300", "--cooldown", "100"});
}

// Waits (by count) until `fired` (the leader's sf_on_abandoned mark). Each
// round reads the mark before the flight's waiters record: a leader
// abandoned while the server still counted a process its waiter fails.
void await_abandoned_without_waiters(const RedisServer &server, const char *group,
                                     const std::atomic<int> &fired) {
  bool abandoned = false;
  for (int i = 0; i < 6000 && !abandoned; ++i) {
    abandoned = fired.load() == 1;
    std::string record = server.command({"EXISTS", waiters_key(group)});
    if (abandoned) EXPECT_EQ(record, "0") << "abandoned while a process was counted a waiter";
    else pause_ms(5);
  }
  EXPECT_TRUE(abandoned);
}

TEST_F(Fleet, ALeaderWhoseOwnCallerLeftGoesOnForTheCallersOfAnotherProcess) {
  // A 3 s lease, renewed every second: a renewal delayed by a loaded
  // machine (sanitizers, a shared CI host) does not lose it.
  sf_group *g = open_fleet(server.url(), "orphan", 3000);
  OrphanLeader leader(server, "orphan", "orphan", "3000");
  sf_ticket *w;
  join_remote(g, &w);
  touch(leader.dir + "/go");             // the leader's own caller leaves: it calls the roll
  await_waiters(server, "orphan", "1");  // this process answered it
  // Three renewals of its lease later, it is still not abandoned: this
  // process waits for it.
  pause_ms(3000);
  EXPECT_FALSE(file_exists(leader.dir + "/abandoned"));
  touch(leader.dir + "/release");
  Result r;
  const sf_stats s = stats(g);
  EXPECT_EQ(sf_wait(w, -1, &r), SF_OK) << "this process: " << s.fleet_taken_over << " taken over, "
                                       << s.fleet_fallbacks << " fallbacks, " << s.fleet_reconnects
                                       << " reconnects, " << s.fleet_leases_lost << " leases lost";
  EXPECT_EQ(str(r.value), "real");  // the leader's own outcome
  EXPECT_EQ(r.shared, 1);
  sf_leave(w);
  WorkerOutput out = leader.worker->finish();
  EXPECT_EQ(out.exit_status, 0);
  ASSERT_EQ(out.calls.size(), 1u);
  EXPECT_EQ(out.calls[0].status, SF_OK);
  EXPECT_FALSE(file_exists(leader.dir + "/abandoned"));
  EXPECT_EQ(server.command({"EXISTS", waiters_key("orphan")}), "0");  // nothing left behind
  sf_group_release(g);
}

// Joins "k" of `g` (join_remote) while another process leads it, after a
// pause for that leader's started notice to come, then pauses for the
// join's script, if any, to reach the server. *before: the server's
// script count before the join.
void join_led_key(const RedisServer &server, sf_group *g, sf_ticket **w, long *before) {
  pause_ms(20);
  *before = script_calls(server);
  join_remote(g, w);
  pause_ms(100);
}

// A process that waits silently (it saw the leader's started notice, so
// it ran no script and the server does not count it a waiter) answers the
// roll call of a leader whose own caller left: it registers, and the leader
// goes on for it. (A round in which this process joined the server anyway
// shows nothing of the roll call; some round does.)
TEST_F(Fleet, ASilentWaiterAnswersTheRollCallOfALeaderWhoseCallerLeft) {
  sf_group *g = open_fleet(server.url(), "roll-call", 3000);
  bool silent = false;
  for (int round = 0; round < 20 && !silent; ++round) {
    OrphanLeader leader(server, "roll-call-" + std::to_string(round), "roll-call", "3000");
    sf_ticket *w;
    long before;
    join_led_key(server, g, &w, &before);
    silent = script_calls(server) == before &&
             server.command({"EXISTS", waiters_key("roll-call")}) == "0";
    touch(leader.dir + "/go");  // the leader's own caller leaves
    // Registered: by the roll call if this process was silent (or by a join
    // that reached the server late).
    await_waiters(server, "roll-call", "1");
    if (silent) {
      pause_ms(1000);  // past the renewal that reads the answers
      EXPECT_FALSE(file_exists(leader.dir + "/abandoned"));
    }
    touch(leader.dir + "/release");
    Result r;
    EXPECT_EQ(sf_wait(w, -1, &r), SF_OK);
    EXPECT_EQ(str(r.value), "real");
    sf_leave(w);
    WorkerOutput out = leader.worker->finish();
    EXPECT_EQ(out.exit_status, 0);
    ASSERT_EQ(out.calls.size(), 1u);
    EXPECT_EQ(out.calls[0].status, SF_OK);  // never abandoned
    EXPECT_EQ(server.command({"EXISTS", waiters_key("roll-call")}), "0");
  }
  EXPECT_TRUE(silent);
  sf_group_release(g);
}

// A process whose caller comes for a key that another process leads, and
// has seen that leader's started notice, asks the server nothing: the
// leader's completion is the only script run while it waits. (A round in
// which the notice came after the caller, or a renewal ran, has more;
// some round has none.)
TEST_F(Fleet, AWaiterOfAStartedFlightSendsNothing) {
  sf_group *g = open_fleet(server.url(), "silent", 3000);
  long fewest = 1 << 30;
  for (int round = 0; round < 20 && fewest > 1; ++round) {
    RemoteLeader leader(server, "silent-" + std::to_string(round), "silent", "3000");
    sf_ticket *w;
    long before;
    join_led_key(server, g, &w, &before);
    EXPECT_EQ(leader.release().exit_status, 0);
    Result r;
    const sf_status st = sf_wait(w, -1, &r);
    if (st == SF_EHANDOFF) {  // its join reached the server after the leader's end (a busy machine)
      sf_leave(w);
      expect_runs_fresh(g, "k");  // it leads the key now
      continue;
    }
    EXPECT_EQ(st, SF_OK);
    EXPECT_EQ(str(r.value), "old");
    EXPECT_EQ(r.shared, 1);
    sf_leave(w);
    fewest = std::min(fewest, script_calls(server) - before);
    EXPECT_EQ(server.command({"EXISTS", waiters_key("silent")}), "0");
  }
  EXPECT_EQ(fewest, 1);
  expect_runs_fresh(g, "k");  // nothing cached: the next caller runs it
  sf_group_release(g);
}

TEST_F(Fleet, EveryCallerOfTheFleetLeavingAbandonsTheLeader) {
  sf_group *g = open_fleet(server.url(), "orphan-left", 600);
  OrphanLeader leader(server, "orphan-left", "orphan-left");
  sf_ticket *w1, *w2;
  join_remote(g, &w1);
  sf_ticket *k2;
  ASSERT_EQ(sf_join(g, "k", 1, 0, &w2, &k2), SF_OK);
  ASSERT_EQ(k2, nullptr);
  touch(leader.dir + "/go");
  Result r;
  EXPECT_EQ(sf_wait(w1, 50 * 1000 * 1000, &r), SF_ETIMEDOUT);
  sf_leave(w1);
  EXPECT_EQ(sf_cancel(w2), SF_OK);
  EXPECT_EQ(sf_wait(w2, -1, &r), SF_ECANCELED);
  sf_leave(w2);  // the last caller of the fleet
  EXPECT_TRUE(await_file(leader.dir + "/abandoned"));
  WorkerOutput out = leader.worker->finish();
  EXPECT_EQ(out.exit_status, 0);
  ASSERT_EQ(out.calls.size(), 1u);
  EXPECT_EQ(out.calls[0].status, SF_EHANDOFF);  // it stopped without completing
  EXPECT_EQ(server.command({"HLEN", waiters_key("orphan-left")}), "0");
  // The key is free: the next caller leads a fresh run.
  expect_runs_fresh(g, "k");
  sf_group_release(g);
}

TEST_F(Fleet, ServerLostWhileOnlyAnotherProcessWaitsAbandonsTheLeaderAsLocally) {
  sf_group *g = open_fleet(server.url(), "orphan-lost", 3000);
  OrphanLeader leader(server, "orphan-lost", "orphan-lost", "3000");
  sf_ticket *w;
  join_remote(g, &w);
  touch(leader.dir + "/go");  // the leader's own caller left: it calls the roll
  await_waiters(server, "orphan-lost", "1");
  pause_ms(1000);  // past the roll call's answer
  EXPECT_FALSE(file_exists(leader.dir + "/abandoned"));
  server.kill9();
  EXPECT_TRUE(await_file(leader.dir + "/abandoned"));  // its breaker opened: local rules
  Result r;
  EXPECT_EQ(sf_wait(w, -1, &r), SF_EHANDOFF);  // here too: run it locally
  sf_leave(w);
  WorkerOutput out = leader.worker->finish();
  EXPECT_EQ(out.exit_status, 0);
  sf_group_release(g);
}

// This process leads "k" of a fleet group (a 300 ms lease) for callers of
// other processes, one of which is killed with SIGKILL while it waits: it
// never leaves, and its record in the flight's waiters hash stays until
// the hash expires (2 × the lease after the last registration).
class FleetKilledWaiter : public FleetTest {
 protected:
  // Opens `name` and leads "k" here: a fleet lead (`token`) whose
  // sf_on_abandoned callback sets `fired`.
  void lead(const char *name) {
    group = name;
    g = open_fleet(server.url(), name, 300);
    ASSERT_NO_FATAL_FAILURE(lead_here(g, &w, &k));
    ASSERT_NE(k, nullptr);
    ASSERT_EQ(sf_fence_token(k, &token), SF_OK);
    ASSERT_GT(token, 0u);
    ASSERT_EQ(sf_on_abandoned(k, store_one, &fired), SF_OK);
  }
  // Every caller left: the leader is abandoned once no process is counted
  // its waiter, it stops without completing, and the next caller runs
  // fresh.
  void expect_abandoned_then_fresh() {
    await_abandoned_without_waiters(server, group, fired);
    EXPECT_EQ(sf_abandoned(k), 1);
    sf_leave(k);
    k = nullptr;
    expect_runs_fresh(g, "k");
  }
  void TearDown() override { sf_group_release(g); }

  const char *group = nullptr;
  sf_group *g = nullptr;
  sf_ticket *w = nullptr, *k = nullptr;
  uint64_t token = 0;
  std::atomic<int> fired{0};
};

// The only other caller waits in the killed worker. Once this process's
// own callers left (a deadline, a cancellation), the leader is abandoned
// only after the dead worker's record is gone.
TEST_F(FleetKilledWaiter, HoldsTheLeaderOnlyUntilItsRecordExpires) {
  ASSERT_NO_FATAL_FAILURE(lead("dead-waiter"));
  sf_ticket *w2, *k2;
  ASSERT_EQ(sf_join(g, "k", 1, 0, &w2, &k2), SF_OK);  // a second caller here
  ASSERT_EQ(k2, nullptr);
  // The worker's sf_do() of "k" waits for this leader.
  auto waiter = waiter_process(server, round_dir(server, group), group, "value");
  ASSERT_NO_FATAL_FAILURE(await_waiters(server, group, "1"));
  EXPECT_EQ(
      server.command({"EVAL", "return redis.call('HVALS', KEYS[1])[1]", "1", waiters_key(group)}),
      std::to_string(token));  // the worker waits for this token
  EXPECT_EQ(waiter->kill9().exit_status, 128 + SIGKILL);
  Result r;
  EXPECT_EQ(sf_wait(w, 50 * 1000 * 1000, &r), SF_ETIMEDOUT);
  sf_leave(w);
  EXPECT_EQ(sf_cancel(w2), SF_OK);
  EXPECT_EQ(sf_wait(w2, -1, &r), SF_ECANCELED);
  sf_leave(w2);  // every caller here left; the dead worker's record remains
  expect_abandoned_then_fresh();
}

// Two processes wait: one is killed, then, soon after, the other gives up;
// its leave finds the dead one's record still there, so it tells the
// leader nothing. The leader is abandoned once that record expired.
TEST_F(FleetKilledWaiter, HoldsTheLeaderPastTheLastWaiterWhoLeaves) {
  ASSERT_NO_FATAL_FAILURE(lead("dead-and-gone"));
  std::string dir = round_dir(server, group);
  auto dead = waiter_process(server, dir, group, "value");
  ASSERT_NO_FATAL_FAILURE(await_waiters(server, group, "1"));
  auto leaving = waiter_process(server, dir, group, "leave");
  ASSERT_NO_FATAL_FAILURE(await_waiters(server, group, "2"));
  EXPECT_EQ(dead->kill9().exit_status, 128 + SIGKILL);
  EXPECT_EQ(sf_cancel(w), SF_OK);
  Result r;
  EXPECT_EQ(sf_wait(w, -1, &r), SF_ECANCELED);
  sf_leave(w);            // the caller here left
  touch(dir + "/leave");  // the last live waiter of the fleet leaves
  expect_abandoned_then_fresh();
  touch(dir + "/exit");
  WorkerOutput out = leaving->finish();
  EXPECT_EQ(out.exit_status, 0);
  ASSERT_EQ(out.calls.size(), 1u);
  EXPECT_EQ(out.calls[0].status, SF_ETIMEDOUT);  // it gave up, no outcome
}

TEST(FleetUnreachable, ALeaderWhoseCallersLeftIsAbandonedAtOnce) {
  if (find_redis_server().empty()) GTEST_SKIP() << "redis-server is not installed";
  RedisServer server;  // never started
  sf_group *g = open_fleet(server.url(), "unreachable-abandon");
  sf_ticket *w, *k;
  lead_here(g, &w, &k);  // held until the connection fails, then local
  ASSERT_NE(k, nullptr);
  uint64_t token = 1;
  EXPECT_EQ(sf_fence_token(k, &token), SF_OK);
  EXPECT_EQ(token, 0u);  // a local flight
  std::atomic<int> fired{0};
  ASSERT_EQ(sf_on_abandoned(k, store_one, &fired), SF_OK);
  sf_leave(w);
  EXPECT_EQ(fired.load(), 1);  // on this thread, as the caller left
  EXPECT_EQ(sf_abandoned(k), 1);
  sf_leave(k);
  sf_group_release(g);
}

}  // namespace
}  // namespace sftest
