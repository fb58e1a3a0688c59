// bench_singleflight.cc — sf_do against a hand-written singleflight and a
// floor, on one shared group, at 1 to 8 threads, in one run.
//
//   ./build-bench/bench/bench_singleflight [--reps N] [--ms MS] [--work shared|fresh|both]
//                                          [--threads 1,2,4,8] [--waves N] [--strict]
//
// Three key patterns (unique keys, 64 recurring keys, 16 shared keys), each
// at every thread count and with each work (contenders.h: a value made in
// advance, or one allocated on every run), every contender run alternately
// `reps` times after a warm-up. A row gives each contender's median time
// per call, sf_do / hand-written (the median of the ratios of runs made side
// by side), each contender's scaling (its throughput at N threads over its
// throughput at 1 thread, from the medians), the heap allocations the
// engine made per call (the work's own sf_bytes_new excluded) and how many
// calls shared an outcome. Then the 1,000-follower wave: 1,000 threads call
// one key at once, median time per wave. Targets (printed at the end): unique
// keys at 2 threads scale by at least 1.8; sf_do / hand-written at most 0.5
// up to 4 threads in every scenario; no engine allocation in the later half
// of the runs. The exit status is 0 whatever the figures (a noisy machine
// should not fail a build); --strict makes a missed target exit 1.
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "contenders.h"
#include "harness.h"

#ifndef BENCH_BUILDTYPE
#define BENCH_BUILDTYPE "unknown"
#endif

namespace {

using bench::Run;
using bench::Scenario;
using bench::Work;

constexpr double kTargetRatio = 0.5;  // sf_do / hand-written, up to 4 threads
constexpr unsigned kRatioMaxThreads = 4;
constexpr double kTargetScaling = 1.8;  // unique keys, 2 threads over 1

struct Pattern {
  const char *name;
  unsigned keys;  // 0: a fresh key on every call
  const char *prefix;
};
const Pattern kPatterns[] = {
    {"unique keys", 0, "u"},
    {"64 recurring keys", 64, "r"},
    {"16 shared keys", 16, "s"},
};

struct Options {
  int reps = 7;
  double ms = 25;  // wall time of one run of the slowest contender
  bool strict = false;
  std::vector<Work> works{Work::kShared, Work::kFresh};
  std::vector<unsigned> threads{1, 2, 4, 8};
  int waves = 15;
};

const char *work_name(Work w) {
  return w == Work::kShared ? "shared" : w == Work::kFresh ? "fresh" : "none";
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// What one contender did over the timed runs of one row.
struct Tally {
  std::vector<double> ns;                 // per run
  std::vector<std::uint64_t> run_allocs;  // per run: heap allocations but the work's own
  std::uint64_t calls = 0, shared = 0, allocations = 0;

  void add(const Run &r, bool work_allocates) {
    ns.push_back(r.ns_per_call());
    const std::uint64_t own = work_allocates ? r.runs : 0;  // the work's value
    const std::uint64_t a = r.allocations > own ? r.allocations - own : 0;
    run_allocs.push_back(a);
    calls += r.calls;
    shared += r.shared;
    allocations += a;
  }
  double median_ns() const { return median(ns); }
  // Steady state: the later half of the runs.
  std::uint64_t late_allocations() const {
    std::uint64_t n = 0;
    for (size_t i = run_allocs.size() / 2; i < run_allocs.size(); ++i) n += run_allocs[i];
    return n;
  }
  double allocs_per_call() const {
    return static_cast<double>(allocations) / static_cast<double>(calls);
  }
  double shared_pct() const {
    return 100.0 * static_cast<double>(shared) / static_cast<double>(calls);
  }
};

struct Row {
  Scenario scenario;
  Work work;
  std::uint64_t calls_per_run = 0;
  Tally ours, hand, floor;
  // The median of the runs' ratios: each run of sf_do is paired with the run
  // of the hand-written Group next to it in time, so a slow spell of the
  // machine hits both sides of a ratio alike.
  double ratio() const {
    std::vector<double> r;
    for (size_t i = 0; i < ours.ns.size(); ++i) r.push_back(ours.ns[i] / hand.ns[i]);
    return median(r);
  }
};

Row measure(const Scenario &s, Work work, const Options &opt) {
  bench::g_work = work;
  const bool fresh = work == Work::kFresh;
  bench::SfDo ours;
  bench::Handwritten hand;
  bench::Floor floor;
  // A short probe tells how many calls make a run of about opt.ms; then two
  // full runs of each, untimed, fill the engine's caches and the allocator's.
  const std::uint64_t probe = 20000;
  double ns = std::max({bench::run_once(ours, s, probe, 0).ns_per_call(),
                        bench::run_once(hand, s, probe, 0).ns_per_call(),
                        bench::run_once(floor, s, probe, 0).ns_per_call()});
  double per_thread = opt.ms * 1e6 / (ns * s.threads);
  Row row{s, work, 0, {}, {}, {}};
  const std::uint64_t n = static_cast<std::uint64_t>(std::clamp(per_thread, 1000.0, 1e8));
  row.calls_per_run = n * s.threads;
  for (int i = 0; i < 2; ++i) {
    bench::run_once(ours, s, n, 0);
    bench::run_once(hand, s, n, 0);
    bench::run_once(floor, s, n, 0);
  }
  for (int rep = 0; rep < opt.reps; ++rep) {
    const std::uint64_t seed = static_cast<std::uint64_t>(rep) + 1;
    // Each contender goes first, second and third in turn, so drift hits all alike.
    for (int k = 0; k < 3; ++k) {
      switch ((rep + k) % 3) {
        case 0: row.ours.add(bench::run_once(ours, s, n, seed), fresh); break;
        case 1: row.hand.add(bench::run_once(hand, s, n, seed), fresh); break;
        default: row.floor.add(bench::run_once(floor, s, n, seed), fresh); break;
      }
    }
  }
  return row;
}

// The ceiling of the scaling: sf_do with every thread on a group of its
// own (no shard, flight or line shared between threads), unique keys.
class SfDoOwnGroup {
 public:
  static constexpr const char *kName = "sf_do, a group per thread";
  struct Thread {
    bench::SfDo::Thread inner;
    sf_group *group = nullptr;
    explicit Thread(bench::SfDo::Thread &&t) : inner(std::move(t)) {}
    Thread(Thread &&o) noexcept : inner(std::move(o.inner)), group(o.group), counts(o.counts) {
      o.group = nullptr;
    }
    ~Thread() { sf_group_release(group); }
    bench::Counts counts;  // what the harness reads (not counted here)
  };
  Thread make_thread() {
    Thread t{ours_.make_thread()};
    t.group = sf_group_new();
    if (!t.group) std::abort();
    return t;
  }
  void call(Thread &t, const std::string &key) {
    sf_result r;
    if (sf_do(t.group, key.data(), key.size(), work, &t.inner, &r) != SF_OK || !r.value)
      std::abort();
    sf_bytes_release(r.value);
  }

 private:
  static sf_status work(void *userdata, sf_bytes **value, sf_bytes ** /*error*/) {
    *value = sf_bytes_retain(static_cast<bench::SfDo::Thread *>(userdata)->value);
    return SF_OK;
  }
  bench::SfDo ours_;
};

// Scaling at `threads` over 1 thread of one shared group and of a group per
// thread, unique keys, the shared value, alternated, medians of `reps`.
void print_ceiling(unsigned threads, const Options &opt) {
  bench::g_work = Work::kShared;
  bench::SfDo shared;
  SfDoOwnGroup own;
  const Scenario one{"unique keys", 1, 0, "c"}, many{"unique keys", threads, 0, "c"};
  const std::uint64_t n = 200000;
  std::vector<double> s1, sn, o1, on;
  for (int i = 0; i < 2; ++i) {
    bench::run_once(shared, many, n, 0);
    bench::run_once(own, many, n, 0);
  }
  for (int rep = 0; rep < opt.reps; ++rep) {
    s1.push_back(bench::run_once(shared, one, n, 0).ns_per_call());
    o1.push_back(bench::run_once(own, one, n, 0).ns_per_call());
    sn.push_back(bench::run_once(shared, many, n, 0).ns_per_call());
    on.push_back(bench::run_once(own, many, n, 0).ns_per_call());
  }
  std::printf(
      "\nceiling, unique keys, %u threads over 1 (medians of %d runs, alternated): "
      "one shared group %.2f (%.1f -> %.1f ns/call), a group per thread %.2f (%.1f -> %.1f "
      "ns/call)\n",
      threads, opt.reps, median(s1) / median(sn), median(s1), median(sn), median(o1) / median(on),
      median(o1), median(on));
}

// The 1,000-follower wave: kWaveThreads threads, started once, call one key
// at the same moment, wave after wave; the time of a wave is from the
// signal to the last caller's return.
constexpr unsigned kWaveThreads = 1000;

template <class C>
double wave_ms(C &contender, std::vector<typename C::Thread> &threads_state, int waves,
               std::vector<double> &out) {
  std::mutex mu;
  std::condition_variable cv, done_cv;
  int wave = 0;
  unsigned done = 0;
  bool quit = false;
  const std::string key = "wave";
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < kWaveThreads; ++i) {
    threads.emplace_back([&, i] {
      int seen = 0;
      for (;;) {
        {
          std::unique_lock<std::mutex> lk(mu);
          cv.wait(lk, [&] { return quit || wave != seen; });
          if (quit) return;
          seen = wave;
        }
        contender.call(threads_state[i], key);
        std::lock_guard<std::mutex> lk(mu);
        if (++done == kWaveThreads) done_cv.notify_one();
      }
    });
  }
  for (int w = 0; w < waves; ++w) {
    auto t0 = std::chrono::steady_clock::now();
    {
      std::lock_guard<std::mutex> lk(mu);
      done = 0;
      ++wave;
    }
    cv.notify_all();
    std::unique_lock<std::mutex> lk(mu);
    done_cv.wait(lk, [&] { return done == kWaveThreads; });
    out.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  {
    std::lock_guard<std::mutex> lk(mu);
    quit = true;
  }
  cv.notify_all();
  for (auto &t : threads) t.join();
  return median(out);
}

// The file the engine was loaded from: the numbers are about that library.
std::string engine_path() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void *>(&sf_do), &info) && info.dli_fname) return info.dli_fname;
  return "unknown";
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

int usage(const char *argv0) {
  std::fprintf(stderr,
               "usage: %s [--reps N] [--ms MS] [--work shared|fresh|both] [--threads LIST]\n"
               "          [--waves N] [--strict]\n"
               "  --reps N       timed runs per contender and row (default 7)\n"
               "  --ms MS        length of one run of the slowest contender (default 25)\n"
               "  --work W       shared: the work returns a 16-byte value made in advance;\n"
               "                 fresh: it allocates one on every run; both (default)\n"
               "  --threads L    thread counts, comma-separated (default 1,2,4,8)\n"
               "  --waves N      1,000-follower waves per contender (default 15; 0: none)\n"
               "  --strict       exit 1 when a target is missed\n",
               argv0);
  return 2;
}

}  // namespace

int main(int argc, char **argv) {
  Options opt;
  std::string args;
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i];
    args += ' ';
    args += a;
    if (!std::strcmp(a, "--strict")) {
      opt.strict = true;
      continue;
    }
    if (i + 1 >= argc) return usage(argv[0]);
    const char *v = argv[++i];
    args += ' ';
    args += v;
    if (!std::strcmp(a, "--reps")) {
      opt.reps = std::atoi(v);
    } else if (!std::strcmp(a, "--ms")) {
      opt.ms = std::atof(v);
    } else if (!std::strcmp(a, "--waves")) {
      opt.waves = std::atoi(v);
    } else if (!std::strcmp(a, "--work")) {
      if (!std::strcmp(v, "shared")) opt.works = {Work::kShared};
      else if (!std::strcmp(v, "fresh")) opt.works = {Work::kFresh};
      else if (!std::strcmp(v, "both")) opt.works = {Work::kShared, Work::kFresh};
      else return usage(argv[0]);
    } else if (!std::strcmp(a, "--threads")) {
      opt.threads.clear();
      for (const char *p = v; *p;) {
        char *end;
        long n = std::strtol(p, &end, 10);
        if (end == p || n < 1 || n > 64) return usage(argv[0]);
        opt.threads.push_back(static_cast<unsigned>(n));
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return usage(argv[0]);
      }
    } else {
      return usage(argv[0]);
    }
  }
  if (opt.reps < 1 || opt.ms <= 0 || opt.waves < 0 || opt.threads.empty()) return usage(argv[0]);

  std::printf(
      "singleflight benchmark: sf_do (libsingleflight %s), one group shared by every thread\n"
      "  hand-written: std::mutex + unordered_map<string, shared_ptr<Call>> + a "
      "condition_variable\n"
      "                per call, the shape of Go x/sync's Group "
      "(bench/handwritten_singleflight.h)\n"
      "  floor:        std::mutex + unordered_set<string>: insert, work, erase; no dedup\n"
      "  work:         shared: return a reference to a 16-byte value made in advance;\n"
      "                fresh: allocate the 16-byte value on every run (sf_bytes_new / "
      "make_shared)\n"
      "  ns/call = wall time / calls of all threads, median of %d runs per contender, run\n"
      "  alternately after a warm-up; sf/hand = median of the ratios of runs side by side;\n"
      "  scaling = throughput at N threads / at 1 thread (sf_do / hand-written / floor);\n"
      "  engine allocs: the engine's heap allocations per call (the work's own excluded) and\n"
      "  their count in the later half of the runs\n"
      "  engine: %s\n"
      "  machine: %s, %u hardware threads; build: %s, %s\n\n",
      sf_version_string(), opt.reps, engine_path().c_str(), cpu_model().c_str(),
      std::thread::hardware_concurrency(), BENCH_BUILDTYPE, __VERSION__);
  std::printf("%-17s %-6s %3s | %7s %7s %7s | %7s | %-17s | %-18s | %s\n", "scenario", "work",
              "thr", "sf_do", "hand", "floor", "sf/hand", "scaling", "engine allocs", "shared");
  std::printf("%-17s %-6s %3s | %7s %7s %7s | %7s | %-17s | %-18s | %s\n", "", "", "", "ns/call",
              "ns/call", "ns/call", "", "sf / hand / floor", "per call (late)", "sf / hand");
  std::fflush(stdout);

  bool ratio_met = true, scaling_met = true, allocs_met = true;
  bool scaling_seen = false;
  double worst_ratio = 0, unique_scaling = 1e9;
  std::uint64_t late_allocs = 0, all_allocs = 0, all_calls = 0;
  for (Work work : opt.works) {
    for (const Pattern &p : kPatterns) {
      double one[3] = {0, 0, 0};  // 1-thread medians: sf_do, hand, floor
      for (unsigned t : opt.threads) {
        Scenario s{p.name, t, p.keys, p.prefix};
        Row r = measure(s, work, opt);
        const double med[3] = {r.ours.median_ns(), r.hand.median_ns(), r.floor.median_ns()};
        if (t == 1)
          for (int k = 0; k < 3; ++k) one[k] = med[k];
        char scaling[32] = "-";
        if (one[0] > 0)
          std::snprintf(scaling, sizeof scaling, "%4.2f / %4.2f / %4.2f", one[0] / med[0],
                        one[1] / med[1], one[2] / med[2]);
        char allocs[32];
        std::snprintf(allocs, sizeof allocs, "%.5f (%llu)", r.ours.allocs_per_call(),
                      static_cast<unsigned long long>(r.ours.late_allocations()));
        std::printf(
            "%-17s %-6s %3u | %7.1f %7.1f %7.1f | %7.2f | %-17s | %-18s | %4.1f%% / %4.1f%%\n",
            p.name, work_name(work), t, med[0], med[1], med[2], r.ratio(), scaling, allocs,
            r.ours.shared_pct(), r.hand.shared_pct());
        std::fflush(stdout);
        if (t <= kRatioMaxThreads) {
          ratio_met = ratio_met && r.ratio() <= kTargetRatio;
          worst_ratio = std::max(worst_ratio, r.ratio());
        }
        if (p.keys == 0 && t == 2 && one[0] > 0) {
          scaling_seen = true;
          unique_scaling = std::min(unique_scaling, one[0] / med[0]);
          scaling_met = scaling_met && one[0] / med[0] >= kTargetScaling;
        }
        allocs_met = allocs_met && r.ours.late_allocations() == 0;
        late_allocs += r.ours.late_allocations();
        all_allocs += r.ours.allocations;
        all_calls += r.ours.calls;
      }
    }
  }

  print_ceiling(2, opt);

  if (opt.waves > 0) {
    bench::g_work = Work::kShared;
    bench::SfDo ours;
    bench::Handwritten hand;
    std::vector<bench::SfDo::Thread> ours_threads;
    std::vector<bench::Handwritten::Thread> hand_threads;
    for (unsigned i = 0; i < kWaveThreads; ++i) {
      ours_threads.push_back(ours.make_thread());
      hand_threads.push_back(hand.make_thread());
    }
    std::vector<double> ours_ms, hand_ms;
    // In rounds, alternately, after one untimed wave each.
    std::vector<double> scratch;
    wave_ms(ours, ours_threads, 1, scratch);
    wave_ms(hand, hand_threads, 1, scratch);
    const int per_round = opt.waves < 5 ? opt.waves : 5;
    for (int done = 0; done < opt.waves; done += per_round) {
      wave_ms(ours, ours_threads, per_round, ours_ms);
      wave_ms(hand, hand_threads, per_round, hand_ms);
    }
    std::printf(
        "\n%u-follower wave (one key, %u threads at once), median of %zu waves: "
        "sf_do %.2f ms, hand-written %.2f ms\n",
        kWaveThreads, kWaveThreads, ours_ms.size(), median(ours_ms), median(hand_ms));
  }

  std::printf("\ntarget unique keys, 2 threads, sf_do scaling >= %.1f: %s", kTargetScaling,
              !scaling_seen ? "not measured (needs --threads with 1 and 2)\n"
              : scaling_met ? "met"
                            : "MISSED");
  if (scaling_seen) std::printf(" (lowest %.2f)\n", unique_scaling);
  std::printf(
      "target sf_do / hand-written <= %.2f up to %u threads in every row: %s (highest %.2f)\n",
      kTargetRatio, kRatioMaxThreads, ratio_met ? "met" : "MISSED", worst_ratio);
  std::printf(
      "target 0 engine heap allocations per sf_do call in the steady state (the later half of"
      " the runs): %s\n  (%llu allocations there; %llu in all %llu timed calls)\n",
      allocs_met ? "met" : "MISSED", static_cast<unsigned long long>(late_allocs),
      static_cast<unsigned long long>(all_allocs), static_cast<unsigned long long>(all_calls));
  std::printf(
      "\nreproduce (from the source root):\n"
      "  . scripts/env.sh\n"
      "  meson setup build-bench -Dtests=disabled -Dbenchmarks=true --buildtype=release\n"
      "  ninja -C build-bench && ./build-bench/bench/bench_singleflight%s\n",
      args.c_str());
  return opt.strict && !(ratio_met && allocs_met && (scaling_met || !scaling_seen)) ? 1 : 0;
}
