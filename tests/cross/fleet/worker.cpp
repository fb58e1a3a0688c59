// worker.cpp — the C++ worker of the cross-language fleet tests: a process
// that opens a fleet group with sf::group::open_fleet() (the C++ API,
// include/singleflight.hpp) and stampedes one key with try_run() from
// several threads. It speaks the worker protocol of README.md
// (configuration in SF_FLEET_* variables, commands on stdin, JSON events on
// stdout).
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <singleflight.hpp>

namespace {

std::string env(const char *name, const char *fallback) {
  const char *v = std::getenv(name);
  return v && *v ? v : fallback;
}

const std::string pid = std::to_string(::getpid());

std::mutex out_mu;

// `s` as a JSON string.
std::string json_string(std::string_view s) {
  std::string o = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      o += '\\';
      o += static_cast<char>(c);
    } else if (c == '\n') {
      o += "\\n";
    } else if (c < 0x20 || c >= 0x7f) {
      char u[8];
      std::snprintf(u, sizeof u, "\\u%04x", c);
      o += u;
    } else {
      o += static_cast<char>(c);
    }
  }
  return o + "\"";
}

// Prints one event: `more` is the JSON of its other fields (",..." or "").
void emit(const char *event, const std::string &more = "") {
  std::lock_guard<std::mutex> lk(out_mu);
  std::cout << "{\"event\":\"" << event << "\",\"pid\":" << pid << ",\"lang\":\"cpp\"" << more
            << "}" << std::endl;
}

// A flag the command reader raises once and the callers wait for.
class flag {
 public:
  void raise() {
    std::lock_guard<std::mutex> lk(mu_);
    up_ = true;
    cv_.notify_all();
  }
  void wait() {
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait(lk, [&] { return up_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool up_ = false;
};

flag started, released, stats_asked, exiting;

void read_commands() {
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line == "go") started.raise();
    else if (line == "release") released.raise();
    else if (line == "stats") stats_asked.raise();
    else if (line == "exit") break;
  }
  released.raise();  // the end of stdin (or exit) releases everything
  stats_asked.raise();
  exiting.raise();
}

}  // namespace

int main() {
  const std::string name = env("SF_FLEET_GROUP", "cross"), key = env("SF_FLEET_KEY", "hot key");
  const std::string mode = env("SF_FLEET_MODE", "value"),
                    exec_file = env("SF_FLEET_EXEC_FILE", "/dev/null");
  const int callers = std::atoi(env("SF_FLEET_CALLERS", "4").c_str());
  sf::fleet_options o;
  o.url = env("SF_FLEET_URL", "");
  o.lease = std::chrono::milliseconds(std::atol(env("SF_FLEET_LEASE_MS", "0").c_str()));
  sf::group g;
  try {
    g = sf::group::open_fleet(name, o);
  } catch (const std::exception &e) {
    std::cerr << "cpp worker: " << e.what() << "\n";
    return 2;
  }
  if (callers < 1) {
    std::cerr << "cpp worker: SF_FLEET_CALLERS must be at least 1\n";
    return 2;
  }
  std::thread reader(read_commands);
  emit("ready");
  started.wait();

  auto work = [&]() -> sf::bytes {
    std::ofstream(exec_file, std::ios::app) << "cpp " << pid << "\n";
    emit("leading", ",\"token\":" + std::to_string(sf::fence_token()));
    released.wait();
    if (mode == "error") throw sf::work_error(sf::bytes("work failed in cpp " + pid));
    if (mode == "panic") throw std::runtime_error("boom in cpp " + pid);
    return sf::bytes("cpp " + pid);
  };

  std::atomic<int> entered{0};
  std::thread watcher([&] {  // "joined": every caller has entered and joined the flight
    for (int i = 0;
         entered.load() < callers || g.stats().followers + 1 < static_cast<std::uint64_t>(callers);
         ++i) {
      if (i == 100000) {
        std::cerr << "cpp worker: the callers never joined\n";
        std::exit(3);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    emit("joined");
  });
  std::vector<std::thread> threads;
  for (int i = 0; i < callers; ++i) {
    threads.emplace_back([&] {
      entered.fetch_add(1);
      sf::result<sf::bytes> r = g.try_run(key, work);
      std::string value = r.ok() ? json_string(r->view()) : "null";
      std::string error = r.ok() ? "null" : json_string(r.error_bytes().view());
      emit("result", ",\"status\":" + std::to_string(r.status()) +
                         ",\"shared\":" + (r.shared() ? "true" : "false") + ",\"value\":" + value +
                         ",\"error\":" + error);
    });
  }
  for (auto &t : threads) t.join();
  watcher.join();
  stats_asked.wait();
  sf_stats s = g.stats();
  emit("stats", ",\"stats\":{\"flights\":" + std::to_string(s.flights) + ",\"followers\":" +
                    std::to_string(s.followers) + ",\"fleet_led\":" + std::to_string(s.fleet_led) +
                    ",\"fleet_joined\":" + std::to_string(s.fleet_joined) +
                    ",\"fleet_taken_over\":" + std::to_string(s.fleet_taken_over) +
                    ",\"fleet_fallbacks\":" + std::to_string(s.fleet_fallbacks) + "}");
  exiting.wait();
  reader.join();
  // The last reference: the I/O thread publishes what is queued, then stops.
  g = sf::group::adopt(nullptr);
  return 0;
}
