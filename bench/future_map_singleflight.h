// future_map_singleflight.h — the singleflight of the small C++ libraries
// (StarRocks' bthreads::singleflight::Group, cpp-singleflight): one mutex
// over an unordered_map from key to a std::shared_future of the value. The
// first caller inserts a promise's future, runs the work, sets the promise
// and erases the key; callers that find a future copy it and wait on it.
// Per flight: the future's shared state and the map node on the heap, two
// locks of the group mutex. Written for bench_cpp_api.cc as the yardstick.
#pragma once

#include <future>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

namespace futuremap {

template <class T>
class Group {
 public:
  struct Result {
    T value;
    bool shared;  // a follower's call (the shape does not tell its leader)
  };

  template <class F>
  Result Do(const std::string &key, F &&fn) {
    std::unique_lock<std::mutex> lk(mu_);
    auto it = calls_.find(key);
    if (it != calls_.end()) {
      std::shared_future<T> f = it->second;
      lk.unlock();
      return {f.get(), true};
    }
    std::promise<T> p;
    std::shared_future<T> f = p.get_future().share();
    calls_.emplace(key, f);
    lk.unlock();
    try {
      p.set_value(fn());
    } catch (...) {
      p.set_exception(std::current_exception());
    }
    lk.lock();
    calls_.erase(key);
    lk.unlock();
    return {f.get(), false};
  }

 private:
  std::mutex mu_;
  std::unordered_map<std::string, std::shared_future<T>> calls_;
};

}  // namespace futuremap
