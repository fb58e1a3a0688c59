// helpers.h — scenario helpers shared by the C/C++ test files.
#pragma once

#include <gtest/gtest.h>
#include <singleflight_binding.h>

#include <atomic>
#include <cstring>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sftest {

// Owns one group reference.
struct Group {
  sf_group *g;
  Group() : g(sf_group_new()) {}
  explicit Group(sf_group *adopt) : g(adopt) {}
  ~Group() { sf_group_release(g); }
  Group(const Group &) = delete;
  Group &operator=(const Group &) = delete;
  operator sf_group *() const { return g; }
};

// An sf_result that releases what it holds.
struct Result : sf_result {
  Result() : sf_result{nullptr, nullptr, 0} {}
  ~Result() {
    sf_bytes_release(value);
    sf_bytes_release(error);
  }
  Result(const Result &) = delete;
  Result &operator=(const Result &) = delete;
};

inline sf_stats stats(const sf_group *g) {
  sf_stats s{};
  EXPECT_EQ(sf_group_stats(g, &s, sizeof s), SF_OK);
  return s;
}

// Spins (yielding) until `p` holds. Tests wait on engine state this way
// instead of sleeping, so they neither race nor depend on timing.
template <class P>
void wait_until(P p) {
  while (!p()) std::this_thread::yield();
}

inline std::string str(const sf_bytes *b) {
  return b ? std::string(static_cast<const char *>(sf_bytes_data(b)), sf_bytes_len(b))
           : std::string("<null>");
}

inline sf_bytes *bytes(const std::string &s) { return sf_bytes_new(s.data(), s.size()); }

// A work function made of a lambda: userdata points at the std::function.
using Work = std::function<sf_status(sf_bytes **value, sf_bytes **error)>;

inline sf_status run_work(void *ud, sf_bytes **value, sf_bytes **error) {
  return (*static_cast<Work *>(ud))(value, error);
}

inline sf_status do_key(sf_group *g, const std::string &key, Work work, sf_result *r) {
  return sf_do(g, key.data(), key.size(), run_work, &work, r);
}

// A work that returns `s` as its value.
inline Work value_work(std::string s, std::atomic<int> *runs = nullptr) {
  return [s, runs](sf_bytes **v, sf_bytes **) {
    if (runs) runs->fetch_add(1);
    *v = bytes(s);
    return SF_OK;
  };
}

// A one-shot gate that threads block on until it opens.
class Gate {
 public:
  void wait() {
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait(lk, [&] { return open_; });
  }
  void open() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// A work that waits until `gate` opens, then returns `s` as its value.
inline Work gated_work(Gate &gate, std::string s, std::atomic<int> *runs = nullptr) {
  return [&gate, s, runs](sf_bytes **v, sf_bytes **) {
    if (runs) runs->fetch_add(1);
    gate.wait();
    *v = bytes(s);
    return SF_OK;
  };
}

// A flight of `key` of `g` (a group of the C++ API) whose leader, on a
// thread of its own, runs a work that returns `value` once finish() opens
// its gate. The constructor returns once the flight is in the table; after
// finish(), `got` holds what the leader's call returned. The destructor
// finishes.
template <class G, class T>
class HeldLeader {
 public:
  HeldLeader(G &g, const std::string &key, T value)
      : leader_([this, &g, key, value] {
          got = g.run(key, [&] {
                   gate_.wait();
                   return value;
                 }).value;
        }) {
    wait_until([&] { return stats(g.get()).in_table == 1; });
  }
  ~HeldLeader() { finish(); }
  HeldLeader(const HeldLeader &) = delete;
  HeldLeader &operator=(const HeldLeader &) = delete;

  // Lets the work return, and waits until the leader's call returned.
  void finish() {
    if (!leader_.joinable()) return;
    gate_.open();
    leader_.join();
  }

  std::shared_ptr<const T> got;

 private:
  Gate gate_;
  std::thread leader_;
};

// Runs `n` threads of `fn(i)` and joins them.
inline void run_threads(int n, const std::function<void(int)> &fn) {
  std::vector<std::thread> ts;
  ts.reserve(n);
  for (int i = 0; i < n; ++i) ts.emplace_back(fn, i);
  for (auto &t : ts) t.join();
}

// Counts how many times a wrapped buffer's release callback ran.
struct ReleaseCounter {
  std::atomic<int> count{0};
  static void release(void *ctx) { static_cast<ReleaseCounter *>(ctx)->count.fetch_add(1); }
};

}  // namespace sftest
