// sfcpp.cpp — the C++ piece of the polyglot demo, built as a shared library
// (libsfcpp.so): C++ callers that stampede a named group through the C++
// API (include/singleflight.hpp). The value is an sf::bytes holding the
// database's row, so every C++ caller of a C++ leader gets the very same
// object, and callers of other languages its very buffer.
#include <chrono>
#include <future>
#include <mutex>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <singleflight.hpp>

#include "sfcross.h"

namespace {

std::mutex mu;
std::vector<std::thread> callers;           // joined by cpp_join()
std::vector<std::stop_source> cancellable;  // stopped by cpp_cancel_all()

// The work: ask the shared database; fail or throw as asked.
sf::bytes query(const std::string &key, int work) {
  sf::bytes row = sf::bytes::adopt(sfx_db_query(key.data(), key.size()));
  if (work == SFX_WORK_ERROR) throw sf::work_error(sf::bytes("C++ work failed"));
  if (work == SFX_WORK_PANIC) throw std::runtime_error("C++ work threw");
  return row;
}

void record(const sf::result<sf::bytes> &r) {
  if (r.ok()) {
    sfx_log(SFX_CPP, SF_OK, r->data(), r->size(), r.shared());
  } else {
    sfx_log(SFX_CPP, r.status(), r.error_bytes().data(), r.error_bytes().size(), 0);
  }
}

void start(std::thread t) {
  std::lock_guard<std::mutex> lk(mu);
  callers.push_back(std::move(t));
}

}  // namespace

extern "C" {

// Starts `n` threads that pass the gate and call try_run on `key` of the
// named group, doing `work` if they lead; a follower waits at most
// `timeout_ms` (negative: no deadline). Returns at once: 0, or -1 if the
// group cannot open.
int cpp_stampede(const char *group_name, const char *key, int n, int work, int timeout_ms) {
  sf::group g;
  try {
    g = sf::group::open(group_name);
  } catch (...) {
    return -1;
  }
  for (int i = 0; i < n; ++i) {
    start(std::thread([g, k = std::string(key), work, timeout_ms] {
      sfx_gate_wait();
      sf::options o;
      if (timeout_ms >= 0) o = std::chrono::milliseconds(timeout_ms);
      record(g.try_run(
          k, [&] { return query(k, work); }, o));
    }));
  }
  return 0;
}

// Starts one caller through run_async with a stop token that
// cpp_cancel_all() stops: the caller gives up, the work goes on (on its
// own thread) for the others.
int cpp_start_cancellable(const char *group_name, const char *key) {
  sf::group g;
  try {
    g = sf::group::open(group_name);
  } catch (...) {
    return -1;
  }
  std::stop_source stop;
  std::string k = key;
  auto fut = g.run_async(
      k, [k] { return query(k, SFX_WORK_VALUE); }, sf::thread_executor{}, stop.get_token());
  {
    std::lock_guard<std::mutex> lk(mu);
    cancellable.push_back(stop);
  }
  start(std::thread([fut = std::move(fut)]() mutable {
    try {
      sf::outcome<sf::bytes> out = fut.get();
      sfx_log(SFX_CPP, SF_OK, out->data(), out->size(), out.shared);
    } catch (const sf::error &e) {
      sfx_log(SFX_CPP, e.status(), e.what(), std::char_traits<char>::length(e.what()), 0);
    }
  }));
  return 0;
}

void cpp_cancel_all(void) {
  std::lock_guard<std::mutex> lk(mu);
  for (auto &s : cancellable) s.request_stop();
  cancellable.clear();
}

// Joins every C++ caller started so far.
void cpp_join(void) {
  std::vector<std::thread> ts;
  {
    std::lock_guard<std::mutex> lk(mu);
    ts.swap(callers);
  }
  for (auto &t : ts) t.join();
}

uintptr_t cpp_engine_id(void) { return reinterpret_cast<uintptr_t>(sf_engine_id()); }

}  // extern "C"
