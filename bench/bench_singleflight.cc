// bench_singleflight.cc — sf_do against a hand-written singleflight, in one
// run, as ratios.
//
//   ./build-bench/bench/bench_singleflight [--reps N] [--ms MS] [--only K]
//                                          [--work value|none] [--strict]
//
// Four scenarios (harness.h), each run with both contenders (contenders.h)
// alternately, `reps` times after a warm-up; the table gives the median and
// the best time per call of each, their ratio (sf_do / hand-written: lower is
// better for sf_do) and the heap allocations per call after the warm-up
// (alloc_count.h). Targets: a ratio of at most 0.5 in every scenario (aim
// 0.3) and no allocation by sf_do in the steady state. The exit status is 0
// whatever the figures (a noisy machine should not fail a build); --strict
// makes a missed target exit 1. --only and --work are for profiling.
#include <dlfcn.h>

#include <algorithm>
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

constexpr double kTargetRatio = 0.5;
constexpr double kAimRatio = 0.3;

const Scenario kScenarios[] = {
    {"unique keys", 1, 0, "u"},
    {"unique keys", 2, 0, "u"},
    {"64 recurring keys", 2, 64, "r"},
    {"16 keys shared", 4, 16, "s"},
};

struct Options {
  int reps = 15;
  double ms = 60;  // wall time of one run of the slower contender
  bool strict = false;
  bool value = true;  // the work returns a value (--work value) or nothing (--work none)
  int only = 0;  // 1-based scenario number; 0: all
};

// What one contender did over the timed runs of one scenario.
struct Tally {
  std::vector<double> ns;               // per run
  std::vector<std::uint64_t> run_allocs;  // per run
  std::uint64_t calls = 0, runs = 0, shared = 0, allocations = 0;

  void add(const Run &r) {
    ns.push_back(r.ns_per_call());
    run_allocs.push_back(r.allocations);
    calls += r.calls;
    runs += r.runs;
    shared += r.shared;
    allocations += r.allocations;
  }
  double median() const {
    std::vector<double> v = ns;
    std::sort(v.begin(), v.end());
    size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  }
  double best() const { return *std::min_element(ns.begin(), ns.end()); }
  // Steady state: the later half of the runs. (The engine's pools may still
  // be filling in the first runs, when threads first meet in a shard.)
  std::uint64_t late_allocations() const {
    std::uint64_t n = 0;
    for (size_t i = run_allocs.size() / 2; i < run_allocs.size(); ++i) n += run_allocs[i];
    return n;
  }
  double allocs_per_call() const { return static_cast<double>(allocations) / static_cast<double>(calls); }
  double shared_pct() const { return 100.0 * static_cast<double>(shared) / static_cast<double>(calls); }
};

struct Row {
  const Scenario *scenario;
  std::uint64_t calls_per_run;
  Tally ours, theirs;
  // The median of the runs' ratios: each run of sf_do is paired with the run
  // of the hand-written Group next to it in time, so a slow spell of the
  // machine hits both sides of a ratio alike.
  double ratio() const {
    Tally paired;
    for (size_t i = 0; i < ours.ns.size(); ++i) paired.ns.push_back(ours.ns[i] / theirs.ns[i]);
    return paired.median();
  }
  double best_ratio() const { return ours.best() / theirs.best(); }
};

Row measure(const Scenario &s, const Options &opt) {
  bench::SfDo ours;
  bench::Handwritten theirs;
  // A short probe tells how many calls make a run of about opt.ms; then two
  // full runs of each, untimed, fill the engine's pools (flights, follower
  // tickets) and the allocator's caches.
  const std::uint64_t probe = 20000;
  double ns = std::max(bench::run_once(ours, s, probe, 0).ns_per_call(),
                       bench::run_once(theirs, s, probe, 0).ns_per_call());
  double per_thread = opt.ms * 1e6 / (ns * s.threads);
  Row row{&s, 0, {}, {}};
  const std::uint64_t n = static_cast<std::uint64_t>(std::clamp(per_thread, 1000.0, 1e8));
  row.calls_per_run = n * s.threads;
  for (int i = 0; i < 2; ++i) {
    bench::run_once(ours, s, n, 0);
    bench::run_once(theirs, s, n, 0);
  }
  for (int rep = 0; rep < opt.reps; ++rep) {
    const std::uint64_t seed = static_cast<std::uint64_t>(rep) + 1;
    if (rep % 2 == 0) {  // alternate who goes first, so drift hits both alike
      row.ours.add(bench::run_once(ours, s, n, seed));
      row.theirs.add(bench::run_once(theirs, s, n, seed));
    } else {
      row.theirs.add(bench::run_once(theirs, s, n, seed));
      row.ours.add(bench::run_once(ours, s, n, seed));
    }
  }
  return row;
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
               "usage: %s [--reps N] [--ms MS] [--only K] [--work value|none] [--strict]\n"
               "  --reps N   timed runs per contender and scenario (default 15)\n"
               "  --ms MS    length of one run of the slower contender (default 60)\n"
               "  --only K   run scenario K (1-4) only\n"
               "  --work W   value: the work returns a shared 16-byte value (default);\n"
               "             none: it returns nothing\n"
               "  --strict   exit 1 when a target is missed\n",
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
    } else if ((!std::strcmp(a, "--reps") || !std::strcmp(a, "--ms") ||
                !std::strcmp(a, "--only") || !std::strcmp(a, "--work")) && i + 1 < argc) {
      const char *v = argv[++i];
      args += ' ';
      args += v;
      if (a[2] == 'r') opt.reps = std::atoi(v);
      else if (a[2] == 'm') opt.ms = std::atof(v);
      else if (a[2] == 'w' && !std::strcmp(v, "value")) opt.value = true;
      else if (a[2] == 'w' && !std::strcmp(v, "none")) opt.value = false;
      else if (a[2] == 'w') return usage(argv[0]);
      else opt.only = std::atoi(v);
    } else {
      return usage(argv[0]);
    }
  }
  const int nscenarios = static_cast<int>(sizeof kScenarios / sizeof kScenarios[0]);
  bench::g_return_value = opt.value;
  if (opt.reps < 1 || opt.ms <= 0 || opt.only < 0 || opt.only > nscenarios) return usage(argv[0]);

  std::printf(
      "singleflight benchmark: sf_do (libsingleflight %s) against a hand-written singleflight\n"
      "  hand-written: std::mutex + unordered_map<string, shared_ptr<Call>> + a condition_variable\n"
      "                per call, the shape of Go x/sync's Group (bench/handwritten_singleflight.h)\n"
      "  work (both):  %s\n"
      "  keys (both):  the same std::string keys of at most 15 bytes\n"
      "  ns/call = wall time / calls of all threads; median (best) of %d runs per contender,\n"
      "  run alternately after a warm-up; ratio = sf_do / hand-written (lower is better):\n"
      "  the median of the ratios of runs made side by side (and the ratio of the bests)\n"
      "  allocs/call: heap allocations per call (malloc & co., operator new) in the timed runs,\n"
      "  after two untimed ones; for sf_do also the count, and the count in the later half\n"
      "  engine: %s\n"
      "  machine: %s, %u hardware threads; build: %s, %s\n\n",
      sf_version_string(),
      opt.value ? "count the run, return a reference to a 16-byte value made in advance\n"
                  "                (sf_bytes_retain / shared_ptr copy); every caller drops its reference"
                : "count the run, return no value (NULL / an empty shared_ptr)",
      opt.reps, engine_path().c_str(), cpu_model().c_str(), std::thread::hardware_concurrency(), BENCH_BUILDTYPE,
      __VERSION__);
  std::printf("%-18s %7s %9s | %15s | %15s | %-11s | %-32s | %s\n", "scenario", "threads",
              "calls/run", "sf_do ns/call", "hand ns/call", "ratio", "allocs/call", "shared calls");
  std::printf("%-18s %7s %9s | %15s | %15s | %-11s | %-32s | %s\n", "", "", "", "median (best)",
              "median (best)", "med. (best)", "sf_do (count, later half) / hand", "sf_do / hand");
  std::fflush(stdout);
  bool ratio_met = true, aim_met = true, allocs_met = true;
  std::vector<Row> rows;
  for (int k = 0; k < nscenarios; ++k) {
    if (opt.only && opt.only != k + 1) continue;
    const Scenario &s = kScenarios[k];
    Row r = measure(s, opt);
    char ours[32], theirs[32], allocs[48];
    std::snprintf(ours, sizeof ours, "%6.1f (%6.1f)", r.ours.median(), r.ours.best());
    std::snprintf(theirs, sizeof theirs, "%6.1f (%6.1f)", r.theirs.median(), r.theirs.best());
    std::snprintf(allocs, sizeof allocs, "%.5f (%llu, %llu) / %.2f", r.ours.allocs_per_call(),
                  static_cast<unsigned long long>(r.ours.allocations),
                  static_cast<unsigned long long>(r.ours.late_allocations()),
                  r.theirs.allocs_per_call());
    std::printf("%-18s %7u %9llu | %15s | %15s | %4.2f (%4.2f) | %-32s | %4.1f%% / %4.1f%%\n",
                s.name, s.threads, static_cast<unsigned long long>(r.calls_per_run), ours, theirs,
                r.ratio(), r.best_ratio(), allocs, r.ours.shared_pct(), r.theirs.shared_pct());
    std::fflush(stdout);
    ratio_met = ratio_met && r.ratio() <= kTargetRatio;
    aim_met = aim_met && r.ratio() <= kAimRatio;
    allocs_met = allocs_met && r.ours.late_allocations() == 0;
    rows.push_back(std::move(r));
  }

  std::uint64_t ours_allocs = 0, ours_late = 0, ours_calls = 0;
  for (const Row &r : rows) {
    ours_allocs += r.ours.allocations;
    ours_late += r.ours.late_allocations();
    ours_calls += r.ours.calls;
  }
  std::printf("\ntarget ratio <= %.2f in every scenario: %s (aim %.2f: %s)\n", kTargetRatio,
              ratio_met ? "met" : "MISSED", kAimRatio, aim_met ? "met" : "not reached");
  std::printf(
      "target 0 heap allocations per sf_do call in the steady state (the later half of the runs):"
      " %s\n  (%llu allocations there; %llu in all %llu timed calls)\n",
      allocs_met ? "met" : "MISSED", static_cast<unsigned long long>(ours_late),
      static_cast<unsigned long long>(ours_allocs), static_cast<unsigned long long>(ours_calls));
  std::printf(
      "\nreproduce (from the source root):\n"
      "  . scripts/env.sh\n"
      "  meson setup build-bench -Dtests=disabled -Dbenchmarks=true --buildtype=release\n"
      "  ninja -C build-bench && ./build-bench/bench/bench_singleflight%s\n",
      args.c_str());
  return opt.strict && !(ratio_met && allocs_met) ? 1 : 0;
}
