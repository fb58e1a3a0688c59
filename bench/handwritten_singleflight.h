// handwritten_singleflight.h — the singleflight a C++ programmer writes by
// hand, the yardstick sf_do is measured against.
//
// It is the shape of Go's golang.org/x/sync/singleflight Group, line for
// line: one mutex over an unordered_map from key to a shared_ptr<Call>; the
// first caller inserts a Call, runs the work, stores the value in it, wakes
// the waiters and erases the key; callers that find a Call bump its `dups`
// and sleep on the Call's own condition variable. Per flight that is two heap
// allocations (the Call via make_shared, the map node), two locks of the
// group mutex, and a condition variable made and destroyed.
//
// The work is a template parameter, so it is inlined (an advantage sf_do,
// which calls through a function pointer across a shared library, lacks).
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

namespace handwritten {

template <class T>
class Group {
 public:
  struct Result {
    T value;
    bool shared;  // the value went to more than one caller (x/sync's `shared`)
  };

  // Runs fn() for `key`, or waits for the call already running for it, and
  // returns its value. Go: func (g *Group) Do(key string, fn func() (any, error)).
  template <class Fn>
  Result Do(const std::string &key, Fn &&fn) {
    std::unique_lock<std::mutex> lk(mu_);
    auto it = calls_.find(key);
    if (it != calls_.end()) {  // a follower: join the running call
      std::shared_ptr<Call> c = it->second;
      ++c->dups;
      lk.unlock();
      std::unique_lock<std::mutex> cl(c->mu);
      c->cv.wait(cl, [&] { return c->done; });
      return Result{c->value, true};
    }
    auto c = std::make_shared<Call>();  // the leader
    calls_.emplace(key, c);
    lk.unlock();

    T value = fn();
    {
      std::lock_guard<std::mutex> cl(c->mu);
      c->value = value;
      c->done = true;
    }
    c->cv.notify_all();  // Go: c.wg.Done()

    lk.lock();
    calls_.erase(key);
    const bool shared = c->dups > 0;
    lk.unlock();
    return Result{std::move(value), shared};
  }

 private:
  struct Call {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;  // mu
    T value{};          // mu until done, then immutable
    int dups = 0;       // the group's mu
  };

  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<Call>> calls_;  // mu_
};

}  // namespace handwritten
