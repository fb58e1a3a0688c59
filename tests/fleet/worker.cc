// worker.cc — one process of a fleet test: opens a fleet group, runs
// `--threads` callers of sf_do() on one key at once, and prints what each
// got. The test spawns several and reads their output.
//
//   fleet_worker --url U --dir D --mode M [--group G] [--key K] [--threads T]
//                [--expect N] [--lease MS] [--max-value N] [--cooldown MS]
//
// Files in D (shared by every worker of a test):
//   arrived   one byte per caller, appended before its sf_do()
//   execs     one 8-byte record per execution of the work (under flock)
//   leader    the pid of the first execution's process ("hang" mode)
//   release   created by the test: the first execution returns ("hang")
// Modes of the work: value, error, panic, big (100 bytes), hang (the first
// execution waits until every caller arrived, writes `leader`, waits for
// `release` and returns "old"; later ones return "new"), native
// (the split API, as a binding uses it: join, and on SF_EHANDOFF join
// again; the leader completes with a native value that has no bytes),
// orphan (the split API; the leader arms sf_on_abandoned, writes `leader`,
// waits for `go`, leaves its own wait ticket, then waits for `release`
// (completes with "real") or its abandonment (writes `abandoned`, leaves
// the work ticket without completing; its caller line is "R 8 0 -")),
// leave (the split API; a caller of another process's leader waits in
// slices of 5 ms until `leave` exists, leaves (its caller line is
// "R 6 0 -"), then waits for `exit` before the worker ends).
// Keys: "s:TEXT", "bin" (bytes 0..255 twice), "big" (64 KiB of binary).
// --await-fenced 1: a worker whose callers got "old" waits (by count) until
// the server refused its completion before it prints its counters.
// Output: "R status shared hex(value or error)" per caller, then
// "T token" per execution here, then "S" and the fleet counters.
#include <fcntl.h>
#include <singleflight.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

std::string arg(int argc, char **argv, const char *name, const char *fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  return fallback;
}

void pause_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

off_t file_size(const std::string &path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? st.st_size : 0;
}

bool exists(const std::string &path) { return ::access(path.c_str(), F_OK) == 0; }

std::string hex(const void *p, size_t n) {
  static const char d[] = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    unsigned char c = static_cast<const unsigned char *>(p)[i];
    s += d[c >> 4];
    s += d[c & 15];
  }
  return s.empty() ? "-" : s;
}

struct Ctx {
  std::string dir, mode;
  long expect = 1;
  std::mutex mu;
  std::vector<std::string> lines;
};

// Appends one execution record; how many executions there are now.
long record_execution(const Ctx &c) {
  std::string path = c.dir + "/execs";
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0644);
  if (fd < 0) return -1;
  ::flock(fd, LOCK_EX);
  char rec[16];
  std::snprintf(rec, sizeof rec, "%07d\n", static_cast<int>(::getpid() % 10000000));
  if (::write(fd, rec, 8) != 8) return -1;
  long n = static_cast<long>(file_size(path) / 8);
  ::flock(fd, LOCK_UN);
  ::close(fd);
  return n;
}

// The work holds on until every caller of the test has arrived, plus a
// grace for the last of them to join (the only timing the tests rely on).
void wait_for_everyone(const Ctx &c) {
  for (int i = 0; i < 200000 && file_size(c.dir + "/arrived") < c.expect; ++i) pause_ms(5);
  pause_ms(300);
}

sf_status work(void *ud, sf_bytes **value, sf_bytes **error) {
  auto *c = static_cast<Ctx *>(ud);
  long n = record_execution(*c);
  uint64_t token = 0;
  sf_fence_token(nullptr, &token);
  {
    std::lock_guard<std::mutex> lk(c->mu);
    c->lines.push_back("T " + std::to_string(token));
  }
  if (c->mode == "hang") {
    if (n == 1) {
      wait_for_everyone(*c);  // every caller is in a flight before the test acts
      std::string pid = std::to_string(::getpid());
      std::string tmp = c->dir + "/leader.tmp";
      FILE *f = std::fopen(tmp.c_str(), "w");
      if (f) {
        std::fputs(pid.c_str(), f);
        std::fclose(f);
        std::rename(tmp.c_str(), (c->dir + "/leader").c_str());
      }
      for (int i = 0; i < 200000 && !exists(c->dir + "/release"); ++i) pause_ms(5);
      *value = sf_bytes_new("old", 3);
    } else {
      *value = sf_bytes_new("new", 3);
    }
    return SF_OK;
  }
  wait_for_everyone(*c);
  if (c->mode == "error") {
    *error = sf_bytes_new("boom", 4);
    return SF_EWORK;
  }
  if (c->mode == "panic") throw std::runtime_error("kaboom");
  if (c->mode == "big") {
    std::string big(100, 'x');
    *value = sf_bytes_new(big.data(), big.size());
    return SF_OK;
  }
  *value = sf_bytes_new("the-value", 9);
  return SF_OK;
}

// The native mode's caller: the split API with a binding's rejoin loop.
const sf_native_kind kTestKind = {"test-native", nullptr};

sf_status split_call(sf_group *g, const std::string &key, Ctx *c, sf_result *r) {
  for (;;) {
    sf_ticket *wait, *lead;
    sf_status st = sf_join(g, key.data(), key.size(), 0, &wait, &lead);
    if (st != SF_OK) return st;
    if (lead) {
      record_execution(*c);
      uint64_t token = 0;
      sf_fence_token(lead, &token);
      {
        std::lock_guard<std::mutex> lk(c->mu);
        c->lines.push_back("T " + std::to_string(token));
      }
      wait_for_everyone(*c);
      static int native_value;
      sf_complete_native(lead, SF_OK, nullptr, nullptr, &kTestKind, &native_value);
      sf_leave(lead);
    }
    st = sf_wait(wait, -1, r);
    sf_leave(wait);
    if (st != SF_EHANDOFF) return st;
  }
}

void write_file(const std::string &path, const std::string &text) {
  std::string tmp = path + ".tmp";
  if (FILE *f = std::fopen(tmp.c_str(), "w")) {
    std::fputs(text.c_str(), f);
    std::fclose(f);
    std::rename(tmp.c_str(), path.c_str());
  }
}

// The orphan mode's caller: a leader that leaves its own wait ticket while
// the work goes on for callers of other processes.
sf_status orphan_call(sf_group *g, const std::string &key, Ctx *c, sf_result *r) {
  for (;;) {
    sf_ticket *wait, *lead;
    sf_status st = sf_join(g, key.data(), key.size(), 0, &wait, &lead);
    if (st != SF_OK) return st;
    if (!lead) {
      st = sf_wait(wait, -1, r);
      sf_leave(wait);
      if (st != SF_EHANDOFF) return st;
      continue;
    }
    record_execution(*c);
    uint64_t token = 0;
    sf_fence_token(lead, &token);
    {
      std::lock_guard<std::mutex> lk(c->mu);
      c->lines.push_back("T " + std::to_string(token));
    }
    static std::atomic<int> abandoned{0};
    sf_on_abandoned(
        lead, [](void *ud) { static_cast<std::atomic<int> *>(ud)->store(1); }, &abandoned);
    write_file(c->dir + "/leader", std::to_string(::getpid()));
    for (int i = 0; i < 200000 && !exists(c->dir + "/go"); ++i) pause_ms(5);
    sf_leave(wait);  // this process's only caller gives up; the work goes on
    while (!exists(c->dir + "/release") && abandoned.load() == 0) pause_ms(5);
    *r = sf_result{};
    if (abandoned.load()) {
      write_file(c->dir + "/abandoned", "1");
      sf_leave(lead);  // stops without completing: a hand-off
      return SF_EHANDOFF;
    }
    sf_complete(lead, SF_OK, sf_bytes_new("real", 4), nullptr);
    sf_leave(lead);
    r->value = sf_bytes_new("real", 4);
    return SF_OK;
  }
}

// The leave mode's caller: it gives up while the leader (of another
// process) runs, and stays alive until `exit` so that its leave reaches
// the server.
sf_status leave_call(sf_group *g, const std::string &key, Ctx *c, sf_result *r) {
  sf_ticket *wait, *lead;
  sf_status st = sf_join(g, key.data(), key.size(), 0, &wait, &lead);
  if (st != SF_OK) return st;
  sf_leave(lead);  // not expected (another process leads): a hand-off ends the wait
  do {
    st = sf_wait(wait, 5 * 1000 * 1000, r);
  } while (st == SF_ETIMEDOUT && !exists(c->dir + "/leave"));
  sf_leave(wait);
  for (int i = 0; i < 200000 && !exists(c->dir + "/exit"); ++i) pause_ms(5);
  return st;
}

std::string make_key(const std::string &spec) {
  if (spec.compare(0, 2, "s:") == 0) return spec.substr(2);
  std::string k;
  if (spec == "bin") {
    for (int r = 0; r < 2; ++r)
      for (int i = 0; i < 256; ++i) k += static_cast<char>(i);
  } else if (spec == "big") {
    for (int i = 0; i < 65536; ++i) k += static_cast<char>((i * 7 + 3) & 255);
  }
  return k;
}

}  // namespace

int main(int argc, char **argv) {
  Ctx c;
  c.dir = arg(argc, argv, "--dir", "/tmp");
  c.mode = arg(argc, argv, "--mode", "value");
  c.expect = std::atol(arg(argc, argv, "--expect", "1").c_str());
  std::string url = arg(argc, argv, "--url", "");
  std::string group = arg(argc, argv, "--group", "fleet-test");
  std::string key = make_key(arg(argc, argv, "--key", "s:k"));
  int threads = std::atoi(arg(argc, argv, "--threads", "1").c_str());
  sf_fleet_options o = SF_FLEET_OPTIONS_INIT;
  o.url = url.c_str();
  o.lease_ms = static_cast<uint32_t>(std::atol(arg(argc, argv, "--lease", "2000").c_str()));
  o.max_value_bytes = static_cast<uint32_t>(std::atol(arg(argc, argv, "--max-value", "0").c_str()));
  o.cooldown_ms = static_cast<uint32_t>(std::atol(arg(argc, argv, "--cooldown", "0").c_str()));
  o.command_timeout_ms = 5000;  // a sanitizer build under load is slow
  o.connect_timeout_ms = 5000;
  sf_group *g = sf_group_open_fleet(group.data(), group.size(), &o);
  if (!g) {
    std::fprintf(stderr, "sf_group_open_fleet failed\n");
    return 2;
  }
  std::vector<std::thread> ts;
  for (int i = 0; i < threads; ++i) {
    ts.emplace_back([&] {
      int fd = ::open((c.dir + "/arrived").c_str(), O_WRONLY | O_APPEND | O_CREAT, 0644);
      if (fd >= 0) {
        if (::write(fd, "a", 1) != 1) std::perror("arrived");
        ::close(fd);
      }
      sf_result r;
      sf_status st = c.mode == "native"   ? split_call(g, key, &c, &r)
                     : c.mode == "orphan" ? orphan_call(g, key, &c, &r)
                     : c.mode == "leave"  ? leave_call(g, key, &c, &r)
                                          : sf_do(g, key.data(), key.size(), work, &c, &r);
      const sf_bytes *b = r.value ? r.value : r.error;
      std::string line = "R " + std::to_string(st) + " " + std::to_string(r.shared) + " " +
                         hex(sf_bytes_data(b), sf_bytes_len(b));
      sf_bytes_release(r.value);
      sf_bytes_release(r.error);
      std::lock_guard<std::mutex> lk(c.mu);
      c.lines.push_back(line);
    });
  }
  for (auto &t : ts) t.join();
  sf_stats s{};
  sf_group_stats(g, &s, sizeof s);
  // A leader that returned the stale "old" waits (by count) for the
  // server's refusal of its completion, which the I/O thread reads later.
  bool stale = false;
  if (arg(argc, argv, "--await-fenced", "0") == "1")
    for (auto &l : c.lines) stale = stale || l == "R 0 1 6f6c64" || l == "R 0 0 6f6c64";
  for (int i = 0; stale && i < 4000 && s.fleet_fenced == 0; ++i) {
    pause_ms(5);
    sf_group_stats(g, &s, sizeof s);
  }
  for (auto &l : c.lines) std::printf("%s\n", l.c_str());
  std::printf("S %llu %llu %llu %llu %llu %llu %llu %llu\n",
              static_cast<unsigned long long>(s.fleet_led),
              static_cast<unsigned long long>(s.fleet_joined),
              static_cast<unsigned long long>(s.fleet_taken_over),
              static_cast<unsigned long long>(s.fleet_fenced),
              static_cast<unsigned long long>(s.fleet_leases_lost),
              static_cast<unsigned long long>(s.fleet_fallbacks),
              static_cast<unsigned long long>(s.fleet_too_large),
              static_cast<unsigned long long>(s.fleet_reconnects));
  std::fflush(stdout);
  sf_group_release(g);
  return 0;
}
