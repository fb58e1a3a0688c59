// fleet_helpers.h — the fleet tests' workers: spawn, collect, parse.
#pragma once

#include <gtest/gtest.h>
#include <singleflight.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "redis_server.h"

namespace sftest {

inline std::string hex_of(const std::string &s) {
  static const char d[] = "0123456789abcdef";
  std::string h;
  for (unsigned char c : s) {
    h += d[c >> 4];
    h += d[c & 15];
  }
  return h.empty() ? "-" : h;
}

struct CallResult {
  int status;
  int shared;
  std::string hex;  // the value (or error) bytes in hex; "-" for none
};

// What one worker printed.
struct WorkerOutput {
  std::vector<CallResult> calls;
  std::vector<std::uint64_t> tokens;
  // led joined taken_over fenced leases_lost fallbacks too_large reconnects
  std::uint64_t stats[8] = {};
  bool complete = false;  // the "S" line was there
  int exit_status = -1;
};

class Worker {
 public:
  Worker(const std::vector<std::string> &args) {
    const char *prog = std::getenv("SF_FLEET_WORKER");
    int fds[2];
    if (!prog || pipe(fds) != 0) return;
    std::vector<std::string> argv{prog};
    argv.insert(argv.end(), args.begin(), args.end());
    pid_ = spawn(argv, fds[1]);
    ::close(fds[1]);
    out_fd_ = fds[0];
  }
  ~Worker() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int st;
      waitpid(pid_, &st, 0);
    }
    if (out_fd_ >= 0) ::close(out_fd_);
  }
  Worker(const Worker &) = delete;
  Worker &operator=(const Worker &) = delete;

  pid_t pid() const { return pid_; }

  // Kills it with SIGKILL; what it printed until then.
  WorkerOutput kill9() {
    if (pid_ > 0) ::kill(pid_, SIGKILL);
    return finish();
  }

  // Reads everything it prints until it exits.
  WorkerOutput finish() {
    WorkerOutput out;
    std::string text;
    char buf[65536];
    ssize_t n;
    while (out_fd_ >= 0 && (n = ::read(out_fd_, buf, sizeof buf)) > 0) text.append(buf, n);
    if (pid_ > 0) {
      int st;
      waitpid(pid_, &st, 0);
      out.exit_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      pid_ = -1;
    }
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream ls(line);
      std::string tag;
      ls >> tag;
      if (tag == "R") {
        CallResult r{};
        ls >> r.status >> r.shared >> r.hex;
        out.calls.push_back(r);
      } else if (tag == "T") {
        std::uint64_t t = 0;
        ls >> t;
        out.tokens.push_back(t);
      } else if (tag == "S") {
        for (auto &v : out.stats) ls >> v;
        out.complete = true;
      }
    }
    return out;
  }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
};

enum StatField {
  kLed,
  kJoined,
  kTakenOver,
  kFenced,
  kLeasesLost,
  kFallbacks,
  kTooLarge,
  kReconnects
};

inline std::uint64_t sum(const std::vector<WorkerOutput> &outs, StatField f) {
  std::uint64_t s = 0;
  for (auto &o : outs) s += o.stats[f];
  return s;
}

inline long count_records(const std::string &path, long record) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  return f ? static_cast<long>(f.tellg()) / record : 0;
}

inline bool file_exists(const std::string &path) { return access(path.c_str(), F_OK) == 0; }

inline std::string read_file(const std::string &path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline void touch(const std::string &path) { std::ofstream(path) << "1"; }

// A fresh directory for one round of workers.
inline std::string round_dir(const RedisServer &server, const std::string &name) {
  std::string d = server.dir() + "/" + name;
  mkdir(d.c_str(), 0755);
  return d;
}

// Waits (by count) until `path` exists; false if it never does.
inline bool await_file(const std::string &path) {
  for (int i = 0; i < 12000; ++i) {
    if (file_exists(path)) return true;
    pause_ms(5);
  }
  return false;
}

// How many scripts (EVALSHA) the server ran since it started.
inline long script_calls(const RedisServer &server) {
  redisContext *c = server.connect();
  if (!c) return -1;
  long calls = 0;
  auto *r = static_cast<redisReply *>(redisCommand(c, "INFO commandstats"));
  if (r && r->type == REDIS_REPLY_STRING) {
    std::string text(r->str, r->len);
    std::size_t at = text.find("cmdstat_evalsha:calls=");
    if (at != std::string::npos) calls = std::atol(text.c_str() + at + 22);
  }
  if (r) freeReplyObject(r);
  redisFree(c);
  return calls;
}

// A fixture that starts its own redis-server; skips if there is none.
class FleetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (find_redis_server().empty())
      GTEST_SKIP() << "redis-server is not installed (scripts/bootstrap.sh installs it)";
    ASSERT_TRUE(server.start()) << "redis-server did not start";
  }
  RedisServer server;
};

}  // namespace sftest
