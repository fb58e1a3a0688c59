// bench_cpp_api.cc — the C++ API's g.run against raw sf_do and against the
// mutex + map + std::shared_future group of the small C++ libraries, in one
// run, as ratios.
//
//   ./build-bench/bench/bench_cpp_api [--reps N] [--ms MS]
//
// The scenarios and the method are bench_singleflight's (harness.h): the
// three contenders run each scenario in turn, in an order that rotates from
// one repetition to the next, `reps` times after a warm-up; the table gives
// each one's median (and best) time per call and the medians of the ratios
// of runs made side by side. The work of all three: count the run, return a
// reference to a 16-byte value the thread made in advance (sf_bytes_retain
// for sf_do; a copy of a std::shared_ptr for g.run, which shares that very
// pointer, and for the future group). Target: g.run at most 1.1x sf_do.
// The exit status is 0 whatever the figures (a noisy machine should not fail
// a build).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <singleflight.hpp>

#include "contenders.h"
#include "future_map_singleflight.h"
#include "harness.h"

namespace {

using bench::Counts;
using bench::Run;
using bench::Scenario;

constexpr double kTargetRatio = 1.1;  // g.run / sf_do

const Scenario kScenarios[] = {
    {"unique keys", 1, 0, "u"},
    {"unique keys", 2, 0, "u"},
    {"64 recurring keys", 2, 64, "r"},
    {"16 keys shared", 4, 16, "s"},
};

using Value = bench::Handwritten::Value;
using Ref = std::shared_ptr<const Value>;

Ref make_value() {
  auto v = std::make_shared<Value>();
  std::copy(bench::kValue, bench::kValue + sizeof bench::kValue, v->bytes);
  return v;
}

class CppRun {
 public:
  struct Thread {
    Counts counts;
    Ref value;
  };
  Thread make_thread() { return Thread{{}, make_value()}; }
  void call(Thread &t, const std::string &key) {
    auto out = group_.run(key, [&t] {
      ++t.counts.runs;
      return t.value;  // shared as it is: one more reference
    });
    if (!out.value) bench::die("g.run did not return the value");
    t.counts.shared += out.shared;
  }

 private:
  sf::group group_;
};

class FutureMap {
 public:
  struct Thread {
    Counts counts;
    Ref value;
  };
  Thread make_thread() { return Thread{{}, make_value()}; }
  void call(Thread &t, const std::string &key) {
    auto r = group_.Do(key, [&t] {
      ++t.counts.runs;
      return t.value;
    });
    if (!r.value) bench::die("Do did not return the value");
    t.counts.shared += r.shared;
  }

 private:
  futuremap::Group<Ref> group_;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct Row {
  std::vector<double> cpp, raw, fut;  // ns per call, one per repetition
};

template <class C>
double one(C &c, const Scenario &s, std::uint64_t n, std::uint64_t seed) {
  return bench::run_once(c, s, n, seed).ns_per_call();
}

Row measure(const Scenario &s, int reps, double ms) {
  CppRun cpp;
  bench::SfDo raw;
  FutureMap fut;
  const std::uint64_t probe = 20000;
  double ns = std::max({one(cpp, s, probe, 0), one(raw, s, probe, 0), one(fut, s, probe, 0)});
  const std::uint64_t n =
      static_cast<std::uint64_t>(std::clamp(ms * 1e6 / (ns * s.threads), 1000.0, 1e8));
  for (int i = 0; i < 2; ++i) {  // warm-up: pools and caches
    one(cpp, s, n, 0);
    one(raw, s, n, 0);
    one(fut, s, n, 0);
  }
  Row row;
  for (int rep = 0; rep < reps; ++rep) {
    const std::uint64_t seed = static_cast<std::uint64_t>(rep) + 1;
    // Rotate who goes first, so drift of the machine hits all three alike.
    for (int k = 0; k < 3; ++k) {
      switch ((rep + k) % 3) {
        case 0: row.cpp.push_back(one(cpp, s, n, seed)); break;
        case 1: row.raw.push_back(one(raw, s, n, seed)); break;
        default: row.fut.push_back(one(fut, s, n, seed)); break;
      }
    }
  }
  return row;
}

std::vector<double> ratios(const std::vector<double> &a, const std::vector<double> &b) {
  std::vector<double> r;
  for (size_t i = 0; i < a.size(); ++i) r.push_back(a[i] / b[i]);
  return r;
}

}  // namespace

int main(int argc, char **argv) {
  int reps = 15;
  double ms = 60;
  std::string args;
  for (int i = 1; i < argc; ++i) {
    if ((!std::strcmp(argv[i], "--reps") || !std::strcmp(argv[i], "--ms")) && i + 1 < argc) {
      args += std::string(" ") + argv[i] + " " + argv[i + 1];
      if (argv[i][2] == 'r') reps = std::atoi(argv[i + 1]);
      else ms = std::atof(argv[i + 1]);
      ++i;
    } else {
      std::fprintf(stderr, "usage: %s [--reps N] [--ms MS]\n", argv[0]);
      return 2;
    }
  }
  if (reps < 1 || ms <= 0) return 2;
  bench::g_work = bench::Work::kShared;
  std::printf(
      "C++ API benchmark: g.run (singleflight.hpp) against raw sf_do and a mutex + unordered_map "
      "+\n"
      "std::shared_future group (bench/future_map_singleflight.h), libsingleflight %s\n"
      "  work (all): count the run, return a reference to a 16-byte value made in advance\n"
      "  ns/call = wall time / calls of all threads; median of %d runs each, in rotating order;\n"
      "  ratios: medians of the ratios of runs made side by side (lower is better for g.run)\n\n",
      sf_version_string(), reps);
  std::printf("%-18s %7s | %10s | %10s | %10s | %12s | %12s\n", "scenario", "threads", "g.run",
              "sf_do", "future map", "g.run/sf_do", "g.run/future");
  bool met = true;
  for (const Scenario &s : kScenarios) {
    Row r = measure(s, reps, ms);
    double to_raw = median(ratios(r.cpp, r.raw)), to_fut = median(ratios(r.cpp, r.fut));
    std::printf("%-18s %7u | %10.1f | %10.1f | %10.1f | %12.2f | %12.2f\n", s.name, s.threads,
                median(r.cpp), median(r.raw), median(r.fut), to_raw, to_fut);
    std::fflush(stdout);
    met = met && to_raw <= kTargetRatio;
  }
  std::printf("\ntarget g.run / sf_do <= %.2f in every scenario: %s\n", kTargetRatio,
              met ? "met" : "MISSED");
  std::printf(
      "\nreproduce (from the source root):\n"
      "  . scripts/env.sh\n"
      "  meson setup build-bench -Dtests=disabled -Dbenchmarks=true --buildtype=release\n"
      "  ninja -C build-bench && ./build-bench/bench/bench_cpp_api%s\n",
      args.c_str());
  return 0;
}
