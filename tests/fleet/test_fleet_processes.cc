// Fleet groups across processes: workers (worker.cc) spawned by the test
// against the test's own redis-server.
#include <memory>

#include "fleet_helpers.h"

namespace sftest {
namespace {

class FleetProcesses : public FleetTest {
 protected:
  std::vector<std::string> args(const std::string &dir, const std::string &mode, int threads,
                                long expect, std::vector<std::string> more = {}) {
    std::vector<std::string> a{"--url",     server.url(),
                               "--dir",     dir,
                               "--mode",    mode,
                               "--threads", std::to_string(threads),
                               "--expect",  std::to_string(expect)};
    a.insert(a.end(), more.begin(), more.end());
    return a;
  }

  std::vector<WorkerOutput> run_all(const std::string &dir, const std::string &mode, int procs,
                                    int threads, std::vector<std::string> more = {}) {
    std::vector<std::unique_ptr<Worker>> ws;
    for (int i = 0; i < procs; ++i)
      ws.push_back(std::make_unique<Worker>(args(dir, mode, threads, long(procs) * threads, more)));
    std::vector<WorkerOutput> outs;
    for (auto &w : ws) outs.push_back(w->finish());
    for (auto &o : outs) {
      EXPECT_EQ(o.exit_status, 0);
      EXPECT_TRUE(o.complete);
      EXPECT_EQ(o.calls.size(), static_cast<size_t>(threads));
    }
    return outs;
  }

  static void expect_all(const std::vector<WorkerOutput> &outs, int status,
                         const std::string &hex) {
    for (auto &o : outs)
      for (auto &c : o.calls) {
        EXPECT_EQ(c.status, status);
        EXPECT_EQ(c.hex, hex);
        EXPECT_EQ(c.shared, 1);
      }
  }
};

TEST_F(FleetProcesses, StampedeOfEightProcessesRunsTheWorkOnce) {
  std::string dir = round_dir(server, "stampede");
  auto outs = run_all(dir, "value", 8, 50);
  EXPECT_EQ(count_records(dir + "/execs", 8), 1);
  expect_all(outs, SF_OK, hex_of("the-value"));
  EXPECT_EQ(sum(outs, kLed), 1u);
  EXPECT_EQ(sum(outs, kJoined), 7u);
  EXPECT_EQ(sum(outs, kFallbacks), 0u);
}

// A waiting process completes from the outcome the leader's completion
// notice carries: at most one join script per process (none for one that
// saw the leader's started notice first) and one completion in all, with
// no second join to read the outcome (the lease outlasts the work, so no
// renewal runs).
TEST_F(FleetProcesses, WaitersCompleteFromTheNoticeWithoutAskingAgain) {
  std::string dir = round_dir(server, "notice");
  const long before = script_calls(server);
  auto outs = run_all(dir, "value", 4, 3, {"--lease", "60000"});
  EXPECT_EQ(count_records(dir + "/execs", 8), 1);
  expect_all(outs, SF_OK, hex_of("the-value"));
  EXPECT_EQ(sum(outs, kJoined), 3u);
  const long scripts = script_calls(server) - before;
  EXPECT_LE(scripts, 4 + 1);
  EXPECT_GE(scripts, 1 + 1);  // the leader's join and completion
}

TEST_F(FleetProcesses, ErrorsAndPanicsReachEveryProcessAndTheNextCallRunsFresh) {
  std::string d1 = round_dir(server, "error");
  auto outs = run_all(d1, "error", 4, 10);
  EXPECT_EQ(count_records(d1 + "/execs", 8), 1);
  expect_all(outs, SF_EWORK, hex_of("boom"));

  std::string d2 = round_dir(server, "panic");
  outs = run_all(d2, "panic", 4, 10);
  EXPECT_EQ(count_records(d2 + "/execs", 8), 1);
  std::string message;
  for (auto &o : outs)
    for (auto &c : o.calls) {
      EXPECT_EQ(c.status, SF_EPANIC);
      if (message.empty()) message = c.hex;
      EXPECT_EQ(c.hex, message);  // the same message bytes everywhere
    }
  EXPECT_NE(message.find(hex_of("kaboom")), std::string::npos);

  std::string d3 = round_dir(server, "after");
  outs = run_all(d3, "value", 4, 10);
  EXPECT_EQ(count_records(d3 + "/execs", 8), 1);
  expect_all(outs, SF_OK, hex_of("the-value"));
}

TEST_F(FleetProcesses, KilledLeaderIsTakenOverOnceAndNobodyHangs) {
  std::string dir = round_dir(server, "kill");
  std::vector<std::unique_ptr<Worker>> ws;
  for (int i = 0; i < 4; ++i)
    ws.push_back(std::make_unique<Worker>(args(dir, "hang", 5, 20, {"--lease", "1000"})));
  ASSERT_TRUE(await_file(dir + "/leader"));
  pid_t leader = std::atoi(read_file(dir + "/leader").c_str());
  std::vector<WorkerOutput> outs;
  for (auto &w : ws) {
    if (w->pid() == leader) {
      EXPECT_EQ(w->kill9().exit_status, 128 + SIGKILL);
    }
  }
  for (auto &w : ws)
    if (w->pid() > 0 && w->pid() != leader) outs.push_back(w->finish());
  ASSERT_EQ(outs.size(), 3u);
  for (auto &o : outs) {
    EXPECT_EQ(o.exit_status, 0);
    for (auto &c : o.calls) {
      EXPECT_EQ(c.status, SF_OK);
      EXPECT_EQ(c.hex, hex_of("new"));
    }
  }
  EXPECT_EQ(count_records(dir + "/execs", 8), 2);  // the killed run and one takeover
  EXPECT_EQ(sum(outs, kTakenOver), 1u);
}

TEST_F(FleetProcesses, StalledLeaderIsFencedAndItsStaleOutcomeIsNeverRead) {
  std::string dir = round_dir(server, "stall");
  std::vector<std::unique_ptr<Worker>> ws;
  for (int i = 0; i < 3; ++i)
    ws.push_back(std::make_unique<Worker>(
        args(dir, "hang", 3, 9, {"--lease", "1000", "--await-fenced", "1"})));
  ASSERT_TRUE(await_file(dir + "/leader"));
  pid_t leader = std::atoi(read_file(dir + "/leader").c_str());
  ::kill(leader, SIGSTOP);  // past its lease: another process takes over
  std::vector<WorkerOutput> others;
  Worker *old_leader = nullptr;
  for (auto &w : ws) {
    if (w->pid() == leader) old_leader = w.get();
    else others.push_back(w->finish());
  }
  ASSERT_NE(old_leader, nullptr);
  for (auto &o : others)
    for (auto &c : o.calls) EXPECT_EQ(c.hex, hex_of("new"));
  touch(dir + "/release");
  ::kill(leader, SIGCONT);
  WorkerOutput stale = old_leader->finish();
  EXPECT_EQ(stale.exit_status, 0);
  for (auto &c : stale.calls) EXPECT_EQ(c.hex, hex_of("old"));  // its own callers: its outcome
  EXPECT_EQ(stale.stats[kFenced], 1u);
  ASSERT_EQ(stale.tokens.size(), 1u);
  std::uint64_t newer = 0;
  for (auto &o : others)
    for (auto t : o.tokens) newer = t;
  EXPECT_GT(newer, stale.tokens[0]);  // the takeover's token is larger
  EXPECT_EQ(count_records(dir + "/execs", 8), 2);

  // A process that comes later never reads the refused outcome.
  std::string after = round_dir(server, "stall-after");
  auto outs = run_all(after, "value", 2, 2);
  expect_all(outs, SF_OK, hex_of("the-value"));
}

TEST_F(FleetProcesses, ValueOverTheLimitMakesEveryProcessRunTheWork) {
  std::string dir = round_dir(server, "big-value");
  auto outs = run_all(dir, "big", 3, 4, {"--max-value", "16"});
  EXPECT_EQ(count_records(dir + "/execs", 8), 3);  // once per process
  for (auto &o : outs)
    for (auto &c : o.calls) {
      EXPECT_EQ(c.status, SF_OK);
      EXPECT_EQ(c.hex, hex_of(std::string(100, 'x')));
    }
  EXPECT_EQ(sum(outs, kTooLarge), 3u);  // one marker published, two received
}

TEST_F(FleetProcesses, ANativeOnlyValueIsNoBytesEverywhereNeverGarbage) {
  std::string dir = round_dir(server, "native");
  auto outs = run_all(dir, "native", 3, 4);
  EXPECT_EQ(count_records(dir + "/execs", 8), 1);
  std::string message;
  for (auto &o : outs)
    for (auto &c : o.calls) {
      EXPECT_EQ(c.status, SF_ENOBYTES);
      EXPECT_NE(c.hex.find(hex_of("test-native")), std::string::npos);  // names the kind
    }
  std::uint64_t tokens = 0;
  for (auto &o : outs)
    for (auto t : o.tokens) {
      EXPECT_GT(t, 0u);  // the split-API leader who joined again holds the fleet's token
      ++tokens;
    }
  EXPECT_EQ(tokens, 1u);
  EXPECT_EQ(sum(outs, kJoined), 2u);
}

TEST_F(FleetProcesses, KeyOf64KiB) {
  std::string dir = round_dir(server, "big-key");
  auto outs = run_all(dir, "value", 3, 5, {"--key", "big"});
  EXPECT_EQ(count_records(dir + "/execs", 8), 1);
  expect_all(outs, SF_OK, hex_of("the-value"));
}

TEST_F(FleetProcesses, BinaryKeys) {
  std::string dir = round_dir(server, "bin-key");
  auto outs = run_all(dir, "value", 3, 5, {"--key", "bin"});
  EXPECT_EQ(count_records(dir + "/execs", 8), 1);
  expect_all(outs, SF_OK, hex_of("the-value"));
}

}  // namespace
}  // namespace sftest
