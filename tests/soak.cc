// soak — a long mixed run of the whole ABI, then the books must balance.
//
// 8 threads call at random: sf_do with work that succeeds, fails, panics or
// re-enters its key; the split API (join, complete with a wrapped buffer,
// hand off, wait with a random timeout, subscribe, cancel, leave); forgets;
// opening and releasing a named group. At the end every group is idle
// (live == 0, in_table == 0), every wrapped buffer's release ran exactly
// once, and the resident memory (VmRSS) after a warm-up and at the end
// differ by no more than a generous bound (a leak per call shows as growth).
//
//   soak --iterations N   N calls per thread (the test command runs a short one)
//   soak --seconds S      calls for S seconds (a long run; meson benchmark 'soak'
//                         runs 60 s: meson test -C build --benchmark soak)
//
// Prints what it measured; exits 0 when everything balances, 1 otherwise.
#include <singleflight.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr int kThreads = 8;
constexpr int kKeys = 16;

std::atomic<long> g_wrapped{0}, g_released{0}, g_failures{0};

void fail(const char *what, long detail = 0) {
  if (g_failures.fetch_add(1) < 20) std::fprintf(stderr, "soak: %s (%ld)\n", what, detail);
}

void release_wrapped(void *ctx) {
  std::free(ctx);
  g_released.fetch_add(1, std::memory_order_relaxed);
}

// A buffer adopted without a copy, counted so that its release is checked.
sf_bytes *wrapped(const std::string &s) {
  void *mem = std::malloc(s.size() ? s.size() : 1);
  if (!mem) return nullptr;
  std::memcpy(mem, s.data(), s.size());
  g_wrapped.fetch_add(1, std::memory_order_relaxed);
  return sf_bytes_wrap(mem, s.size(), release_wrapped, mem);
}

std::string text(const sf_bytes *b) {
  return b ? std::string(static_cast<const char *>(sf_bytes_data(b)), sf_bytes_len(b)) : "";
}

void check_outcome(sf_status st, const sf_result &r, const std::string &key);

struct Call {
  sf_group *group;
  std::string key;
  std::mt19937 *rng;
};

// sf_do's work: a wrapped value, an error, a panic, or a re-entry.
sf_status work(void *ud, sf_bytes **value, sf_bytes **error) {
  auto *c = static_cast<Call *>(ud);
  switch ((*c->rng)() % 8) {
    case 0: *error = wrapped("error of " + c->key); return SF_EWORK;
    case 1: return SF_EPANIC;  // no message: the engine gives one
    case 2: {                  // re-enters its own key: SF_EDEADLK, not a hang (or, if another
                               // thread forgot the key meanwhile, a new flight's outcome)
      sf_result r;
      sf_status st = sf_do(c->group, c->key.data(), c->key.size(), work, ud, &r);
      if (st != SF_EDEADLK) check_outcome(st, r, c->key);
      sf_bytes_release(r.value);
      sf_bytes_release(r.error);
      break;
    }
    default:
      if ((*c->rng)() % 16 == 0) std::this_thread::yield();
  }
  *value = wrapped("value of " + c->key);
  return SF_OK;
}

void check_outcome(sf_status st, const sf_result &r, const std::string &key) {
  switch (st) {
    case SF_OK:
      if (text(r.value) != "value of " + key && text(r.value) != "split " + key)
        fail("a caller got another key's value");
      break;
    case SF_EWORK:
      if (text(r.error) != "error of " + key) fail("a caller got another key's error");
      break;
    case SF_EPANIC:
      if (sf_bytes_len(r.error) == 0) fail("a panic without a message");
      break;
    default: fail("unexpected status", st);
  }
}

void do_call(sf_group *g, const std::string &key, std::mt19937 &rng) {
  Call c{g, key, &rng};
  sf_result r;
  sf_status st = sf_do(g, key.data(), key.size(), work, &c, &r);
  check_outcome(st, r, key);
  sf_bytes_release(r.value);
  sf_bytes_release(r.error);
}

void count_fire(void *ud) { static_cast<std::atomic<int> *>(ud)->fetch_add(1); }

void split_call(sf_group *g, const std::string &key, std::mt19937 &rng) {
  sf_ticket *wait, *lead;
  if (sf_join(g, key.data(), key.size(), 0, &wait, &lead) != SF_OK) return fail("join failed");
  std::atomic<int> fired{0}, abandoned{0};
  if (rng() % 2) sf_subscribe(wait, count_fire, &fired);
  bool waiting = true;
  if (lead) {
    sf_on_abandoned(lead, count_fire, &abandoned);
    if (rng() % 4 == 0) {  // the leader's caller gives up first: maybe abandoned
      sf_leave(wait);
      waiting = false;
    }
    switch (rng() % 5) {
      case 0:  // hand off: the followers join again
        break;
      case 1: sf_complete(lead, SF_EWORK, nullptr, wrapped("error of " + key)); break;
      default: sf_complete(lead, SF_OK, wrapped("split " + key), nullptr);
    }
    sf_leave(lead);
  }
  if (!waiting) {
    if (fired.load() > 1 || abandoned.load() > 1) fail("a callback ran twice");
    return;
  }
  if (rng() % 8 == 0) sf_cancel(wait);
  static const int64_t timeouts[] = {0, 1000, 100000, 1000000, -1};
  int64_t timeout = timeouts[rng() % 5];
  sf_result r;
  sf_status st = sf_wait(wait, timeout, &r);
  if (st != SF_ETIMEDOUT && st != SF_ECANCELED && st != SF_EHANDOFF) check_outcome(st, r, key);
  sf_bytes_release(r.value);
  sf_bytes_release(r.error);
  sf_leave(wait);
  if (fired.load() > 1 || abandoned.load() > 1) fail("a callback ran twice");
}

void one_call(sf_group *g, std::mt19937 &rng) {
  const std::string key = "key-" + std::to_string(rng() % kKeys);
  switch (rng() % 10) {
    case 0:
    case 1:
    case 2: return do_call(g, key, rng);
    case 3:
    case 4:
    case 5:
    case 6: return split_call(g, key, rng);
    case 7: sf_forget(g, key.data(), key.size()); return;
    case 8: {
      int forgotten;
      sf_forget_unshared(g, key.data(), key.size(), &forgotten);
      return;
    }
    default: {  // a named group, opened and released around one call
      sf_group *named = sf_group_open("soak", 4);
      if (!named) return fail("sf_group_open failed");
      if (rng() % 2) do_call(named, key, rng);
      else split_call(named, key, rng);
      sf_group_release(named);
    }
  }
}

long rss_kib() {
  FILE *f = std::fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long kib = -1;
  while (std::fgets(line, sizeof line, f))
    if (std::strncmp(line, "VmRSS:", 6) == 0) kib = std::strtol(line + 6, nullptr, 10);
  std::fclose(f);
  return kib;
}

// Runs the threads for `iterations` calls each, or until `until` if set.
void run(sf_group *g, long iterations, std::chrono::steady_clock::time_point until, bool timed,
         unsigned seed, std::atomic<long> &calls) {
  std::vector<std::thread> threads;
  for (int id = 0; id < kThreads; ++id) {
    threads.emplace_back([=, &calls] {
      std::mt19937 rng(seed + id);
      for (long i = 0; timed ? std::chrono::steady_clock::now() < until : i < iterations; ++i) {
        one_call(g, rng);
        calls.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (auto &t : threads) t.join();
}

bool idle(sf_group *g, const char *name) {
  sf_stats s{};
  sf_group_stats(g, &s, sizeof s);
  std::printf(
      "%s: flights %llu followers %llu forgets %llu panics %llu timeouts %llu "
      "cancellations %llu handoffs %llu abandoned %llu in_table %llu live %llu\n",
      name, (unsigned long long)s.flights, (unsigned long long)s.followers,
      (unsigned long long)s.forgets, (unsigned long long)s.panics, (unsigned long long)s.timeouts,
      (unsigned long long)s.cancellations, (unsigned long long)s.handoffs,
      (unsigned long long)s.abandoned, (unsigned long long)s.in_table, (unsigned long long)s.live);
  return s.live == 0 && s.in_table == 0;
}

}  // namespace

int main(int argc, char **argv) {
  long iterations = -1, seconds = -1;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--iterations") == 0) iterations = std::atol(argv[i + 1]);
    else if (std::strcmp(argv[i], "--seconds") == 0) seconds = std::atol(argv[i + 1]);
  }
  if ((iterations <= 0) == (seconds <= 0)) {
    std::fprintf(stderr, "usage: soak --iterations N | --seconds S\n");
    return 2;
  }
  sf_group *g = sf_group_new();
  sf_group *named = sf_group_open("soak", 4);  // kept open: its stats are read at the end
  if (!g || !named) return 1;
  std::atomic<long> calls{0};
  const bool timed = seconds > 0;
  // Warm-up: pools, tables and allocator arenas reach their working size.
  const long warm_iterations = timed ? 0 : iterations / 5 + 1;
  const auto warm_until =
      std::chrono::steady_clock::now() + std::chrono::seconds(timed ? seconds / 10 + 1 : 0);
  run(g, warm_iterations, warm_until, timed, 1, calls);
  const long warm_rss = rss_kib();
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(timed ? seconds : 0);
  run(g, iterations, until, timed, 1000, calls);
  const long end_rss = rss_kib();

  bool ok = g_failures.load() == 0;
  ok = idle(g, "group") && ok;
  ok = idle(named, "named group") && ok;
  sf_group_release(named);
  sf_group_release(g);
  const long wrapped = g_wrapped.load(), released = g_released.load();
  std::printf("calls %ld, wrapped buffers %ld, releases %ld\n", calls.load(), wrapped, released);
  if (wrapped != released) {
    std::fprintf(stderr, "soak: %ld wrapped buffers, %ld releases\n", wrapped, released);
    ok = false;
  }
  // Generous: allocator and sanitizer bookkeeping move by megabytes; a leak
  // per call over a long run grows without bound.
  const long bound_kib = 64 * 1024 + warm_rss / 2;
  std::printf("VmRSS after warm-up %ld KiB, at the end %ld KiB (bound: +%ld KiB)\n", warm_rss,
              end_rss, bound_kib);
  if (warm_rss < 0 || end_rss < 0 || end_rss - warm_rss > bound_kib) {
    std::fprintf(stderr, "soak: resident memory grew from %ld to %ld KiB\n", warm_rss, end_rss);
    ok = false;
  }
  if (g_failures.load()) std::fprintf(stderr, "soak: %ld failed checks\n", g_failures.load());
  return ok ? 0 : 1;
}
