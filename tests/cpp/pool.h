// pool.h — a small thread-pool executor for the C++ API tests: any callable
// taking a std::function<void()> is an executor, and this is one.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace sftest {

class Pool {
 public:
  explicit Pool(int threads) {
    for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { loop(); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto &t : workers_) t.join();
  }
  Pool(const Pool &) = delete;
  Pool &operator=(const Pool &) = delete;

  void post(std::function<void()> task) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      tasks_.push_back(std::move(task));
      ++posted_;
    }
    cv_.notify_one();
  }
  int posted() {
    std::lock_guard<std::mutex> lk(mu_);
    return posted_;
  }

  // The executor handle handed to the API: copies refer to this pool.
  struct executor {
    Pool *pool;
    void operator()(std::function<void()> task) const { pool->post(std::move(task)); }
  };
  executor exec() { return executor{this}; }

 private:
  void loop() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return stopping_ || !tasks_.empty(); });
        // Drain what is queued before stopping: a queued task may hold a
        // ticket that must be left.
        if (tasks_.empty()) return;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  std::vector<std::thread> workers_;
  bool stopping_ = false;
  int posted_ = 0;
};

}  // namespace sftest
