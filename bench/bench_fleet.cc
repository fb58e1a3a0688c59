// bench_fleet — fleet groups against the recipe users write by hand, in one
// run, against a redis-server this program starts itself:
//   the recipe: SET lock NX PX, the winner runs the work and SETs the result
//   with a TTL; the others poll GET every 10 ms;
//   the floor: one PUBLISH at the work's end, heard by a subscribed thread
//   in every process that wakes its callers (no lock, no script, no
//   engine): what any design pays whose waiters a Redis message wakes.
// The work lasts 20 ms plus a jitter of 0–10 ms drawn per round.
// Printed per contender: executions per stampede of P processes × T
// threads, the time a waiter adds after the leader finished (median and
// 90th percentile, over every caller, and over the first caller to return
// in each process that did not run the work: the fleet's own latency,
// without the time the process takes to wake all of its callers), and
// the median over rounds of the last caller's, Redis commands per stampede (INFO
// commandstats), and for one caller with no contention the time per flight
// over a local group's, in server round trips (PING), beside the protocol's
// floor: the same two scripts sent by one blocking client, with no engine;
// a round trip after 25 ms of idleness, as a stampede's waiter meets it;
// last, the CPU time a process spends per notice of a key it does not wait
// for, holding 1 and 1,000 waiting flights.
//
//   ./build/bench/bench_fleet [--procs 8] [--threads 20] [--rounds 10]
#include <fcntl.h>
#include <singleflight.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fleet/keys.h"
#include "fleet/scripts.h"
#include "redis_server.h"

namespace {

using sftest::pause_ms;

std::string arg(int argc, char **argv, const char *name, const char *fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  return fallback;
}

int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);  // one clock for every process of the host
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

off_t file_size(const std::string &p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 ? st.st_size : 0;
}

void append(const std::string &path, const std::string &what) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0644);
  if (fd < 0) return;
  ::flock(fd, LOCK_EX);
  if (::write(fd, what.data(), what.size()) < 0) std::perror(path.c_str());
  ::flock(fd, LOCK_UN);
  ::close(fd);
}

// The "database query": 20 ms plus a jitter of 0–10 ms drawn per round
// (the same draws for every contender), so that the end of the work does
// not fall in step with the recipe's 10 ms polls.
constexpr int kWorkMs = 20, kJitterMs = 10;
int work_us(int round) {
  const std::uint32_t h = static_cast<std::uint32_t>(round + 1) * 2654435761u;
  return kWorkMs * 1000 + static_cast<int>((h >> 8) % (kJitterMs * 1000));
}

struct Work {
  std::string dir;
  int round;
};

// When the work finished, per round, in this process: kept in memory and
// printed at the end, so that writing the stamp down is not counted as
// time the caller waits for.
std::mutex g_finish_mu;
std::vector<std::pair<int, int64_t>> g_finish;  // g_finish_mu

// The work: counted, work_us(round) long, stamps when it finished.
void run_work(const Work &w) {
  append(w.dir + "/execs." + std::to_string(w.round), "x");
  append(w.dir + "/leaders." + std::to_string(w.round), std::to_string(::getpid()) + "\n");
  std::this_thread::sleep_for(std::chrono::microseconds(work_us(w.round)));
  const int64_t fin = now_ns();
  std::lock_guard<std::mutex> lk(g_finish_mu);
  g_finish.emplace_back(w.round, fin);
}

sf_status fleet_work(void *ud, sf_bytes **value, sf_bytes **) {
  run_work(*static_cast<Work *>(ud));
  *value = sf_bytes_new("the-value", 9);
  return SF_OK;
}

redisReply *cmd(redisContext *c, const std::vector<std::string> &args) {
  std::vector<const char *> argv;
  std::vector<size_t> lens;
  for (auto &a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  return static_cast<redisReply *>(
      redisCommandArgv(c, static_cast<int>(args.size()), argv.data(), lens.data()));
}

// The hand-written recipe, one caller.
void recipe_call(redisContext *c, const std::string &key, const Work &w) {
  redisReply *r = cmd(c, {"SET", "lock:" + key, "1", "NX", "PX", "5000"});
  bool lead = r && r->type == REDIS_REPLY_STATUS;
  if (r) freeReplyObject(r);
  if (lead) {
    run_work(w);
    r = cmd(c, {"SET", "result:" + key, "the-value", "PX", "5000"});
    if (r) freeReplyObject(r);
    return;
  }
  for (int i = 0; i < 100000; ++i) {
    r = cmd(c, {"GET", "result:" + key});
    bool got = r && r->type == REDIS_REPLY_STRING;
    if (r) freeReplyObject(r);
    if (got) return;
    pause_ms(10);
  }
}

// Waits until `path` exists, up to a minute; false if it never came.
bool await_file(const std::string &path) {
  for (int i = 0; i < 60000; ++i) {
    if (::access(path.c_str(), F_OK) == 0) return true;
    pause_ms(1);
  }
  std::fprintf(stderr, "bench_fleet: %s never came\n", path.c_str());
  return false;
}

int64_t cpu_us() {
  rusage u;
  ::getrusage(RUSAGE_SELF, &u);
  return int64_t(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000000 + u.ru_utime.tv_usec +
         u.ru_stime.tv_usec;
}

std::mutex g_release_mu;
std::condition_variable g_release_cv;
bool g_release = false;  // g_release_mu

// The notice scenario's lease: longer than the scenario, so that the
// waiting process asks the server nothing meanwhile (a waiter joins again
// when the lease it saw ends).
constexpr std::uint32_t kScanLeaseMs = 120000;

// The work of a held key: counted, then runs until the parent releases it.
sf_status held_work(void *ud, sf_bytes **value, sf_bytes **) {
  append(*static_cast<const std::string *>(ud) + "/leading", "x");
  std::unique_lock<std::mutex> lk(g_release_mu);
  g_release_cv.wait(lk, [] { return g_release; });
  *value = sf_bytes_new("held", 4);
  return SF_OK;
}

// The notice scenario's child: one caller on each of `keys` keys of the
// group "scan" (the leader's process runs their work until released; the
// waiter's waits for it), and for the waiter, the CPU time the process
// spent between the parent's begin and end files ("C us").
int hold_child(int argc, char **argv) {
  const std::string role = arg(argc, argv, "--child", "");
  const std::string dir = arg(argc, argv, "--dir", "/tmp");
  const std::string url = arg(argc, argv, "--url", "");
  const int keys = std::atoi(arg(argc, argv, "--keys", "1").c_str());
  sf_fleet_options o = SF_FLEET_OPTIONS_INIT;
  o.url = url.c_str();
  o.lease_ms = kScanLeaseMs;
  sf_group *g = sf_group_open_fleet("scan", 4, &o);
  std::vector<std::thread> ts;
  for (int i = 0; i < keys; ++i) {
    ts.emplace_back([&, i] {
      const std::string key = "held-" + std::to_string(i);
      sf_result r;
      sf_do(g, key.data(), key.size(), held_work, const_cast<std::string *>(&dir), &r);
      sf_bytes_release(r.value);
      sf_bytes_release(r.error);
    });
  }
  if (role == "wait") {
    sf_stats st{};
    for (int i = 0; i < 60000 && st.in_table < static_cast<std::uint64_t>(keys); ++i) {
      pause_ms(1);
      sf_group_stats(g, &st, sizeof st);
    }
    pause_ms(500);  // every caller's flight joined and waits
    append(dir + "/waiting", "w");
    if (await_file(dir + "/begin")) {
      const int64_t c0 = cpu_us();
      append(dir + "/begun", "b");
      if (await_file(dir + "/end")) {
        std::printf("C %lld\n", static_cast<long long>(cpu_us() - c0));
        std::fflush(stdout);  // read before the parent releases the keys
      }
    }
  }
  await_file(dir + "/release");
  {
    std::lock_guard<std::mutex> lk(g_release_mu);
    g_release = true;
  }
  g_release_cv.notify_all();
  for (auto &t : ts) t.join();
  sf_group_release(g);
  return 0;
}

// The floor of any design whose waiters hear of the outcome by a Redis
// message, read on a thread that is not a caller's (no caller thread
// blocks on the network): one process (--lead) runs the work on its first
// caller's thread and PUBLISHes the round on its own connection right
// after, with no lock, no script and no I/O thread in between; in every
// process one thread, subscribed before the round starts, reads the
// message and wakes the callers that wait for it.
class BareSubscriber {
 public:
  explicit BareSubscriber(const std::string &sock) : c_(redisConnectUnix(sock.c_str())) {
    redisReply *r = c_ ? cmd(c_, {"SUBSCRIBE", "floor"}) : nullptr;
    ok_ = r != nullptr;
    if (r) freeReplyObject(r);
    if (ok_) reader_ = std::thread([this] { read(); });
  }
  ~BareSubscriber() {
    if (reader_.joinable()) {
      ::shutdown(c_->fd, SHUT_RDWR);
      reader_.join();
    }
    if (c_) redisFree(c_);
  }
  bool ok() const { return ok_; }
  // Blocks until the message of `round` came.
  void await(int round) {
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait(lk, [&] { return heard_ > round; });
  }

 private:
  void read() {
    void *reply;
    while (redisGetReply(c_, &reply) == REDIS_OK) {
      auto *r = static_cast<redisReply *>(reply);
      if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
          r->element[2]->type == REDIS_REPLY_STRING) {
        const int round = std::atoi(r->element[2]->str);
        std::lock_guard<std::mutex> lk(mu_);
        heard_ = std::max(heard_, round + 1);
        cv_.notify_all();
      }
      freeReplyObject(r);
    }
  }
  redisContext *c_;
  bool ok_ = false;
  std::mutex mu_;
  std::condition_variable cv_;
  int heard_ = 0;  // mu_: rounds whose message came
  std::thread reader_;
};

// A child process: `threads` callers per round, released together by the
// parent's go file; prints "L ns" (return time) per caller.
int child(int argc, char **argv) {
  std::string mode = arg(argc, argv, "--child", "fleet");
  std::string dir = arg(argc, argv, "--dir", "/tmp");
  std::string url = arg(argc, argv, "--url", "");
  int threads = std::atoi(arg(argc, argv, "--threads", "20").c_str());
  int rounds = std::atoi(arg(argc, argv, "--rounds", "10").c_str());
  sf_fleet_options o = SF_FLEET_OPTIONS_INIT;
  o.url = url.c_str();
  sf_group *g = mode == "fleet" ? sf_group_open_fleet("bench", 5, &o) : nullptr;
  std::string sock = url.substr(7);
  const bool lead = arg(argc, argv, "--lead", "0") == "1";
  std::unique_ptr<BareSubscriber> sub;
  redisContext *pub = nullptr;
  if (mode == "pubsub") {
    sub = std::make_unique<BareSubscriber>(sock);
    if (!sub->ok()) return 1;
    if (lead && !(pub = redisConnectUnix(sock.c_str()))) return 1;
  }
  std::vector<std::string> lines;
  std::mutex mu;
  for (int round = 0; round < rounds; ++round) {
    Work w{dir, round};
    std::string key = "k" + std::to_string(round);
    std::string go = dir + "/go." + std::to_string(round);
    std::vector<std::thread> ts;
    std::atomic<int> ready{0};
    for (int t = 0; t < threads; ++t) {
      ts.emplace_back([&, t] {
        redisContext *c = nullptr;
        if (mode == "recipe") c = redisConnectUnix(sock.c_str());
        ready.fetch_add(1);
        while (::access(go.c_str(), F_OK) != 0)
          std::this_thread::sleep_for(std::chrono::microseconds(200));
        if (g) {
          sf_result r;
          sf_do(g, key.data(), key.size(), fleet_work, &w, &r);
          sf_bytes_release(r.value);
          sf_bytes_release(r.error);
        } else if (sub) {
          if (lead && t == 0) {
            run_work(w);
            freeReplyObject(cmd(pub, {"PUBLISH", "floor", std::to_string(round)}));
          } else {
            sub->await(round);
          }
        } else {
          recipe_call(c, key, w);
        }
        int64_t t_ret = now_ns();
        if (c) redisFree(c);
        std::lock_guard<std::mutex> lk(mu);
        lines.push_back("L " + std::to_string(round) + " " + std::to_string(t_ret));
      });
    }
    while (ready.load() < threads) pause_ms(1);
    append(dir + "/ready." + std::to_string(round), "r");
    for (auto &t : ts) t.join();
  }
  std::printf("P %d\n", static_cast<int>(::getpid()));
  for (auto &f : g_finish) std::printf("F %d %lld\n", f.first, static_cast<long long>(f.second));
  for (auto &l : lines) std::printf("%s\n", l.c_str());
  sf_group_release(g);
  if (pub) redisFree(pub);
  return 0;
}

std::string self_path() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, n) : "";
}

// Commands the server ran since the last reset: all of them (those the
// scripts call included), and the EVALSHA calls alone.
struct Commands {
  long all = 0, scripts = 0;
};

Commands total_commands(const sftest::RedisServer &server) {
  redisContext *c = server.connect();
  Commands total;
  if (!c) return total;
  redisReply *r = cmd(c, {"INFO", "commandstats"});
  if (r && r->type == REDIS_REPLY_STRING) {
    std::istringstream in(std::string(r->str, r->len));
    std::string line;
    while (std::getline(in, line)) {
      if (line.compare(0, 8, "cmdstat_") != 0) continue;
      std::string name = line.substr(8, line.find(':') - 8);
      if (name == "info" || name == "config" || name == "ping" || name == "script" ||
          name == "subscribe" || name == "select" || name == "flushall")
        continue;
      std::size_t p = line.find("calls=");
      if (p == std::string::npos) continue;
      long calls = std::atol(line.c_str() + p + 6);
      total.all += calls;
      if (name == "evalsha" || name == "eval") total.scripts += calls;
    }
  }
  if (r) freeReplyObject(r);
  redisFree(c);
  return total;
}

void reset_stats(const sftest::RedisServer &server) {
  redisContext *c = server.connect();
  if (!c) return;
  freeReplyObject(cmd(c, {"FLUSHALL"}));
  freeReplyObject(cmd(c, {"CONFIG", "RESETSTAT"}));
  redisFree(c);
}

struct Row {
  double execs_per_stampede;
  double waiter_p50_ms, waiter_p90_ms;    // every caller
  double process_p50_ms, process_p90_ms;  // the first caller of each process that ran no work
  double last_p50_ms;                     // the last caller of a stampede to return (median)
  double client_commands;                 // commands clients sent (a script is one)
  double server_commands;                 // what the server ran, inside scripts too
};

Row stampede(const sftest::RedisServer &server, const std::string &mode, int procs, int threads,
             int rounds) {
  std::string dir = server.dir() + "/" + mode;
  ::mkdir(dir.c_str(), 0755);
  reset_stats(server);
  std::vector<std::pair<pid_t, int>> kids;
  for (int p = 0; p < procs; ++p) {
    int fds[2];
    if (pipe(fds) != 0) return {};
    pid_t pid = sftest::spawn(
        {self_path(), "--child", mode, "--dir", dir, "--url", server.url(), "--threads",
         std::to_string(threads), "--rounds", std::to_string(rounds), "--lead", p == 0 ? "1" : "0"},
        fds[1]);
    ::close(fds[1]);
    kids.emplace_back(pid, fds[0]);
  }
  for (int round = 0; round < rounds; ++round) {
    std::string ready = dir + "/ready." + std::to_string(round);
    while (file_size(ready) < procs) pause_ms(1);
    pause_ms(20);  // every caller is spinning on the go file
    std::ofstream(dir + "/go." + std::to_string(round)) << "go";
  }
  std::vector<std::string> out;
  for (auto &k : kids) {
    std::string text;
    char buf[65536];
    ssize_t n;
    while ((n = ::read(k.second, buf, sizeof buf)) > 0) text.append(buf, n);
    ::close(k.second);
    int st;
    waitpid(k.first, &st, 0);
    out.push_back(text);
  }
  Row row{};
  long execs = 0;
  std::vector<double> added;
  std::map<int, int64_t> last_finish;
  std::map<int, std::vector<int>> leaders;  // per round: the pids that ran the work
  for (int round = 0; round < rounds; ++round) {
    execs += file_size(dir + "/execs." + std::to_string(round));
    std::ifstream l(dir + "/leaders." + std::to_string(round));
    int pid;
    while (l >> pid) leaders[round].push_back(pid);
  }
  for (auto &text : out) {  // "F round ns": the work finished
    std::istringstream in(text);
    std::string tag;
    int round;
    int64_t t;
    in >> tag >> round;  // "P pid"
    while (in >> tag >> round >> t)
      if (tag == "F") last_finish[round] = std::max(last_finish[round], t);
  }
  std::vector<double> first;      // per process and round: its first caller's return
  std::map<int, int64_t> latest;  // per round: the last caller's return
  for (auto &text : out) {
    std::istringstream in(text);
    std::string tag;
    int pid = 0;
    in >> tag >> pid;  // "P pid"
    std::map<int, int64_t> earliest;
    int round;
    int64_t t;
    while (in >> tag >> round >> t) {
      if (tag != "L") continue;
      added.push_back((t - last_finish[round]) / 1e6);
      latest[round] = std::max(latest[round], t);
      auto e = earliest.find(round);
      if (e == earliest.end() || t < e->second) earliest[round] = t;
    }
    for (auto &e : earliest) {
      auto &l = leaders[e.first];
      if (std::find(l.begin(), l.end(), pid) == l.end())
        first.push_back((e.second - last_finish[e.first]) / 1e6);
    }
  }
  std::sort(added.begin(), added.end());
  std::sort(first.begin(), first.end());
  row.execs_per_stampede = double(execs) / rounds;
  if (!added.empty()) {
    row.waiter_p50_ms = added[added.size() / 2];
    row.waiter_p90_ms = added[added.size() * 9 / 10];
  }
  std::vector<double> last;
  for (auto &l : latest) last.push_back((l.second - last_finish[l.first]) / 1e6);
  std::sort(last.begin(), last.end());
  if (!last.empty()) row.last_p50_ms = last[last.size() / 2];
  if (!first.empty()) {
    row.process_p50_ms = first[first.size() / 2];
    row.process_p90_ms = first[first.size() * 9 / 10];
  }
  Commands c = total_commands(server);
  row.server_commands = double(c.all) / rounds;
  row.client_commands = double(c.scripts ? c.scripts : c.all) / rounds;
  return row;
}

sf_status quick_work(void *, sf_bytes **value, sf_bytes **) {
  *value = sf_bytes_new("v", 1);
  return SF_OK;
}

// Sequential calls on fresh keys: µs per call.
double uncontended_us(sf_group *g, int n, const std::string &prefix) {
  int64_t t0 = now_ns();
  for (int i = 0; i < n; ++i) {
    std::string key = prefix + std::to_string(i);
    sf_result r;
    sf_do(g, key.data(), key.size(), quick_work, nullptr, &r);
    sf_bytes_release(r.value);
    sf_bytes_release(r.error);
  }
  return (now_ns() - t0) / 1e3 / n;
}

// One call of `key`: ns.
int64_t one_call_ns(sf_group *g, const std::string &key) {
  int64_t t0 = now_ns();
  sf_result r;
  sf_do(g, key.data(), key.size(), quick_work, nullptr, &r);
  int64_t t = now_ns() - t0;
  sf_bytes_release(r.value);
  sf_bytes_release(r.error);
  return t;
}

// The protocol's floor: the two scripts of an uncontended flight (join,
// answered "lead"; complete), sent by one blocking client on a fresh key,
// with no engine and no I/O thread.
struct Floor {
  redisContext *c;
  std::string sha[2];
  std::string group = sf::to_hex("bench-floor", 11);
  std::string channel = sf::done_channel("sf", group);

  explicit Floor(const sftest::RedisServer &server) : c(server.connect()) {
    const sf::FleetScript which[2] = {sf::kJoin, sf::kComplete};
    for (int i = 0; i < 2; ++i) {
      redisReply *r = cmd(c, {"SCRIPT", "LOAD", sf::fleet_script(which[i])});
      if (r && r->type == REDIS_REPLY_STRING) sha[i].assign(r->str, r->len);
      if (r) freeReplyObject(r);
    }
  }
  ~Floor() { redisFree(c); }

  int64_t flight_ns(const std::string &key) {
    const sf::FlightKeys k = sf::flight_keys("sf", group, key.data(), key.size());
    int64_t t0 = now_ns();
    redisReply *r = cmd(c, {"EVALSHA", sha[0], "6", k.lease, k.counter, k.outcome(0), k.linger,
                            k.latest, k.waiters, "5000", "0", "0", "m", "0"});
    std::string token = "1";
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 2)
      token.assign(r->element[1]->str, r->element[1]->len);
    if (r) freeReplyObject(r);
    r = cmd(c, {"EVALSHA", sha[1], "5", k.lease, k.outcome(std::stoull(token)), k.linger, k.latest,
                k.waiters, token, "0", "1", "v", "0", "", "10000", "0", channel,
                k.hex_key + ":" + token});
    if (r) freeReplyObject(r);
    return now_ns() - t0;
  }

  int64_t ping_ns() {
    int64_t t0 = now_ns();
    freeReplyObject(cmd(c, {"PING"}));
    return now_ns() - t0;
  }
};

double median_us(std::vector<int64_t> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2] / 1e3;
}

// The CPU time per notice that a process holding `keys` waiting flights
// spends on the notices of `flights` flights of other keys (their started
// and completion notices reach every process of the group): the flights
// run here, one after the other, while another process leads the held keys.
double notice_cpu_us(const sftest::RedisServer &server, int keys, int flights) {
  const std::string dir = server.dir() + "/scan-" + std::to_string(keys);
  ::mkdir(dir.c_str(), 0755);
  auto spawn_hold = [&](const char *role, int fd) {
    return sftest::spawn({self_path(), "--child", role, "--dir", dir, "--url", server.url(),
                          "--keys", std::to_string(keys)},
                         fd);
  };
  const pid_t leader = spawn_hold("lead", -1);
  for (int i = 0; i < 60000 && file_size(dir + "/leading") < keys; ++i) pause_ms(1);
  int fds[2];
  if (pipe(fds) != 0) return -1;
  const pid_t waiter = spawn_hold("wait", fds[1]);
  ::close(fds[1]);
  double per_notice = -1;
  if (await_file(dir + "/waiting")) {
    sf_fleet_options o = SF_FLEET_OPTIONS_INIT;
    const std::string url = server.url();
    o.url = url.c_str();
    o.lease_ms = kScanLeaseMs;
    sf_group *g = sf_group_open_fleet("scan", 4, &o);
    uncontended_us(g, 20, "warm");  // connected
    std::ofstream(dir + "/begin") << "b";
    if (await_file(dir + "/begun")) {
      uncontended_us(g, flights, "other");
      pause_ms(300);  // the last notices are read
    }
    std::ofstream(dir + "/end") << "e";
    std::string text;
    char buf[256];
    ssize_t n;
    // The waiter prints once it read the end file, before it is released.
    while (text.find('\n') == std::string::npos && (n = ::read(fds[0], buf, sizeof buf)) > 0)
      text.append(buf, n);
    long long us = 0;
    if (std::sscanf(text.c_str(), "C %lld", &us) == 1) per_notice = double(us) / (2.0 * flights);
    sf_group_release(g);
  }
  std::ofstream(dir + "/release") << "r";
  ::close(fds[0]);
  int st;
  waitpid(waiter, &st, 0);
  waitpid(leader, &st, 0);
  return per_notice;
}

}  // namespace

int main(int argc, char **argv) {
  const std::string role = arg(argc, argv, "--child", "");
  if (role == "lead" || role == "wait") return hold_child(argc, argv);
  if (!role.empty()) return child(argc, argv);
  int procs = std::atoi(arg(argc, argv, "--procs", "8").c_str());
  int threads = std::atoi(arg(argc, argv, "--threads", "20").c_str());
  int rounds = std::atoi(arg(argc, argv, "--rounds", "10").c_str());
  sftest::RedisServer server;
  if (!server.start()) {
    std::fprintf(stderr, "bench_fleet: cannot start redis-server\n");
    return 1;
  }
  std::printf(
      "stampede: %d processes x %d threads, %d rounds, work %d ms + 0-%d ms (drawn per round), "
      "unix socket\n\n",
      procs, threads, rounds, kWorkMs, kJitterMs);
  std::printf("%-24s %8s %21s %21s %10s %12s %12s\n", "contender", "execs", "added: every caller",
              "added: 1st/process", "last", "client cmds", "server cmds");
  std::printf("%-24s %8s %10s %10s %10s %10s %10s %12s %12s\n", "", "/flight", "p50 ms", "p90 ms",
              "p50 ms", "p90 ms", "p50 ms", "/flight", "/flight");
  const std::pair<const char *, const char *> contenders[] = {{"fleet", "sf fleet group"},
                                                              {"recipe", "SET NX PX + 10 ms poll"},
                                                              {"pubsub", "floor: bare PUBLISH"}};
  std::map<std::string, Row> rows;
  for (const auto &[mode, name] : contenders) {
    Row r = stampede(server, mode, procs, threads, rounds);
    rows[mode] = r;
    std::printf("%-24s %8.2f %10.3f %10.3f %10.3f %10.3f %10.3f %12.1f %12.1f\n", name,
                r.execs_per_stampede, r.waiter_p50_ms, r.waiter_p90_ms, r.process_p50_ms,
                r.process_p90_ms, r.last_p50_ms, r.client_commands, r.server_commands);
  }
  // Uncontended: one caller, fresh keys. First the commands of n fleet
  // flights; then, call by call in turn, a local flight, a fleet flight, a
  // PING and the protocol's floor, so that each sees the machine in the
  // same state (how fast a thread on the other core wakes varies a lot on
  // a virtual machine); medians.
  const int n = 2000;
  sf_group *local = sf_group_new();
  sf_fleet_options o = SF_FLEET_OPTIONS_INIT;
  std::string url = server.url();
  o.url = url.c_str();
  sf_group *fleet = sf_group_open_fleet("bench-uncontended", 17, &o);
  uncontended_us(fleet, 50, "warm");  // connected
  reset_stats(server);
  uncontended_us(fleet, n, "c");
  Commands c = total_commands(server);
  Floor floor(server);
  std::vector<int64_t> local_ns, fleet_ns, ping_ns, floor_ns;
  for (int i = 0; i < n; ++i) {
    const std::string key = "u" + std::to_string(i);
    local_ns.push_back(one_call_ns(local, key));
    fleet_ns.push_back(one_call_ns(fleet, key));
    ping_ns.push_back(floor.ping_ns());
    floor_ns.push_back(floor.flight_ns(key));
  }
  const double local_us = median_us(local_ns), fleet_us = median_us(fleet_ns);
  const double rtt = median_us(ping_ns), floor_us = median_us(floor_ns);
  // A stampede's waiter meets the server, its own I/O thread and its
  // callers after 20-30 ms of idleness: a round trip then, for comparison.
  std::vector<int64_t> idle_ping_ns;
  for (int i = 0; i < 31; ++i) {
    pause_ms(25);
    idle_ping_ns.push_back(floor.ping_ns());
  }
  const double idle_rtt = median_us(idle_ping_ns);
  std::printf(
      "\nuncontended (1 caller, fresh keys, %d calls each, in turn, medians): local %.2f us, "
      "fleet %.2f us, round trip (PING) %.2f us\n",
      n, local_us, fleet_us, rtt);
  std::printf(
      "fleet overhead: %.2f round trips' time per flight; %.2f scripts (%.1f server "
      "commands) per flight\n",
      (fleet_us - local_us) / rtt, double(c.scripts) / n, double(c.all) / n);
  std::printf(
      "the same two scripts from one blocking client, no engine: %.2f us per flight, %.2f round "
      "trips' time\n",
      floor_us, floor_us / rtt);
  std::printf(
      "round trip after 25 ms idle (PING, median of %zu): %.2f us; a waiter's added time, 1st "
      "per process p50, in those: fleet %.2f, bare PUBLISH %.2f\n",
      idle_ping_ns.size(), idle_rtt, rows["fleet"].process_p50_ms * 1e3 / idle_rtt,
      rows["pubsub"].process_p50_ms * 1e3 / idle_rtt);
  sf_group_release(fleet);
  sf_group_release(local);

  // Every process of a group hears of every flight of the group; what a
  // notice of a key it does not wait for costs it should not grow with
  // the flights it holds.
  const int flights = 2000;
  std::printf(
      "\nnotices of other keys (%d flights elsewhere, 2 notices each): CPU per notice of "
      "a process holding",
      flights);
  for (int keys : {1, 1000}) {
    std::printf("%s %d waiting flights %.2f us", keys == 1 ? "" : ",", keys,
                notice_cpu_us(server, keys, flights));
    std::fflush(stdout);
  }
  std::printf("\n");
  return 0;
}
