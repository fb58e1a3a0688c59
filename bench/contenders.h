// contenders.h — sf_do, the hand-written Group and the floor behind one
// interface, with the same trivial work.
//
// The work counts the run (a plain counter of the leader's thread) and
// returns a 16-byte value, in one of three ways (g_work):
//   kShared  a reference to a value made in advance by that thread:
//            sf_bytes_retain() of an sf_bytes, a copy of a shared_ptr;
//   kFresh   a value allocated on every run: sf_bytes_new(), make_shared;
//   kNone    no value (NULL, an empty shared_ptr).
// Each caller checks it got a value and drops its reference
// (sf_bytes_release() / the shared_ptr's destructor), so both sides pay the
// same reference counting and allocation for the value and nothing else but
// the singleflight itself.
//
// The floor is no singleflight: a std::mutex over an unordered_set of keys,
// the key inserted before the work and erased after it, no waiting and no
// sharing. It is the cost of the lock and the hash table every
// mutex-and-map singleflight pays at least.
//
// A contender C has:
//   C::Thread             what one benchmark thread owns (value, counters)
//   C::Thread make_thread()
//   void call(C::Thread &, const std::string &key)
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>

#include "handwritten_singleflight.h"
#include "singleflight.h"

namespace bench {

inline constexpr char kValue[16] = "sixteen bytes..";

enum class Work { kShared, kFresh, kNone };
inline Work g_work = Work::kShared;

// Counters every contender's thread keeps.
struct Counts {
  std::uint64_t runs = 0;    // times the work ran on this thread (as leader)
  std::uint64_t shared = 0;  // calls whose outcome went to more than one caller
};

[[noreturn]] inline void die(const char *what) {
  std::fprintf(stderr, "bench: %s\n", what);
  std::abort();
}

class SfDo {
 public:
  static constexpr const char *kName = "sf_do";

  struct Thread {
    Counts counts;
    sf_bytes *value = nullptr;
    Thread() = default;
    Thread(Thread &&o) noexcept : counts(o.counts), value(o.value) { o.value = nullptr; }
    ~Thread() { sf_bytes_release(value); }
  };

  SfDo() : group_(sf_group_new()) {
    if (!group_) die("sf_group_new failed");
  }
  ~SfDo() { sf_group_release(group_); }
  SfDo(const SfDo &) = delete;
  SfDo &operator=(const SfDo &) = delete;

  Thread make_thread() {
    Thread t;
    t.value = sf_bytes_new(kValue, sizeof kValue);
    if (!t.value) die("sf_bytes_new failed");
    return t;
  }

  void call(Thread &t, const std::string &key) {
    sf_result r;
    sf_status st = sf_do(group_, key.data(), key.size(), work, &t, &r);
    if (st != SF_OK || (g_work != Work::kNone && !r.value)) die("sf_do did not return the value");
    t.counts.shared += r.shared != 0;
    sf_bytes_release(r.value);
  }

  sf_group *group() const { return group_; }

 private:
  static sf_status work(void *userdata, sf_bytes **value, sf_bytes ** /*error*/) {
    auto *t = static_cast<Thread *>(userdata);
    ++t->counts.runs;
    if (g_work == Work::kShared) *value = sf_bytes_retain(t->value);
    else if (g_work == Work::kFresh) *value = sf_bytes_new(kValue, sizeof kValue);
    return SF_OK;
  }

  sf_group *group_;
};

class Handwritten {
 public:
  static constexpr const char *kName = "hand-written";

  struct Value {
    char bytes[sizeof kValue];
  };
  using Ref = std::shared_ptr<const Value>;

  struct Thread {
    Counts counts;
    Ref value;
  };

  Thread make_thread() {
    Thread t;
    auto v = std::make_shared<Value>();
    std::copy(kValue, kValue + sizeof kValue, v->bytes);
    t.value = std::move(v);
    return t;
  }

  void call(Thread &t, const std::string &key) {
    auto r = group_.Do(key, [&t] { return run(t); });
    if (g_work != Work::kNone && !r.value) die("Do did not return the value");
    t.counts.shared += r.shared;
  }  // r.value is dropped here

  // The work (shared with the floor).
  static Ref run(Thread &t) {
    ++t.counts.runs;
    if (g_work == Work::kShared) return t.value;  // a copy: one more reference
    if (g_work == Work::kNone) return Ref();
    auto v = std::make_shared<Value>();
    std::copy(kValue, kValue + sizeof kValue, v->bytes);
    return v;
  }

 private:
  handwritten::Group<Ref> group_;
};

class Floor {
 public:
  static constexpr const char *kName = "floor";
  using Thread = Handwritten::Thread;

  Thread make_thread() { return Handwritten().make_thread(); }

  void call(Thread &t, const std::string &key) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      running_.insert(key);
    }
    Handwritten::Ref r = Handwritten::run(t);
    {
      std::lock_guard<std::mutex> lk(mu_);
      running_.erase(key);
    }
    if (g_work != Work::kNone && !r) die("the floor's work returned no value");
  }

 private:
  std::mutex mu_;
  std::unordered_set<std::string> running_;  // mu_
};

}  // namespace bench
