// redis_server.h — a real redis-server for one test, on a unix socket in a
// temporary directory, started and stopped by the test itself.
#pragma once

#include <hiredis/hiredis.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

extern char **environ;

namespace sftest {

// The redis-server program on PATH, or "" when there is none.
inline std::string find_redis_server() {
  const char *path = std::getenv("PATH");
  std::string p = path ? path : "/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= p.size()) {
    std::size_t end = p.find(':', start);
    if (end == std::string::npos) end = p.size();
    std::string candidate = p.substr(start, end - start) + "/redis-server";
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return "";
}

inline void pause_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

// Runs `argv` with stdout to `out_fd` (or inherited if -1); its pid, or -1.
inline pid_t spawn(const std::vector<std::string> &args, int out_fd = -1) {
  std::vector<char *> argv;
  for (auto &a : args) argv.push_back(const_cast<char *>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (out_fd >= 0) posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  return rc == 0 ? pid : -1;
}

class RedisServer {
 public:
  RedisServer() {
    char tmpl[] = "/tmp/sf-fleet-XXXXXX";
    if (mkdtemp(tmpl)) dir_ = tmpl;
    sock_ = dir_ + "/redis.sock";
  }
  ~RedisServer() {
    stop();
    std::string cmd = "rm -rf '" + dir_ + "'";
    if (!dir_.empty() && std::system(cmd.c_str()) != 0) {
    }
  }
  RedisServer(const RedisServer &) = delete;
  RedisServer &operator=(const RedisServer &) = delete;

  const std::string &dir() const { return dir_; }
  const std::string &socket_path() const { return sock_; }
  std::string url() const { return "unix://" + sock_; }

  // Starts the server and waits (by count) until it answers. False if it
  // cannot start.
  bool start() {
    std::string prog = find_redis_server();
    if (prog.empty() || dir_.empty()) return false;
    pid_ = spawn({prog, "--port", "0", "--unixsocket", sock_, "--unixsocketperm", "700", "--save",
                  "", "--appendonly", "no", "--dir", dir_, "--loglevel", "warning", "--logfile",
                  dir_ + "/redis.log", "--daemonize", "no"});
    if (pid_ < 0) return false;
    for (int i = 0; i < 3000; ++i) {
      if (redisContext *c = connect()) {
        redisFree(c);
        return true;
      }
      pause_ms(5);
    }
    return false;
  }

  void kill9() { end(SIGKILL); }
  void stop() { end(SIGTERM); }
  void pause() {
    if (pid_ > 0) ::kill(pid_, SIGSTOP);
  }
  void resume() {
    if (pid_ > 0) ::kill(pid_, SIGCONT);
  }

  // A client for the test's own checks; nullptr if the server does not answer.
  redisContext *connect() const {
    timeval tv{1, 0};
    redisContext *c = redisConnectUnixWithTimeout(sock_.c_str(), tv);
    if (c && !c->err) {
      redisReply *r = static_cast<redisReply *>(redisCommand(c, "PING"));
      bool ok = r && r->type == REDIS_REPLY_STATUS;
      if (r) freeReplyObject(r);
      if (ok) return c;
    }
    if (c) redisFree(c);
    return nullptr;
  }

  // One command's integer or string reply as a string ("" on error).
  std::string command(const std::vector<std::string> &args) const {
    redisContext *c = connect();
    if (!c) return "";
    std::vector<const char *> argv;
    std::vector<size_t> lens;
    for (auto &a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    auto *r = static_cast<redisReply *>(
        redisCommandArgv(c, static_cast<int>(args.size()), argv.data(), lens.data()));
    std::string out;
    if (r && r->type == REDIS_REPLY_INTEGER) out = std::to_string(r->integer);
    else if (r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS))
      out.assign(r->str, r->len);
    if (r) freeReplyObject(r);
    redisFree(c);
    return out;
  }

 private:
  void end(int sig) {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGCONT);
    ::kill(pid_, sig);
    int st;
    waitpid(pid_, &st, 0);
    pid_ = -1;
    ::unlink(sock_.c_str());
  }

  std::string dir_, sock_;
  pid_t pid_ = -1;
};

}  // namespace sftest
