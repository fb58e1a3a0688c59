// contenders.h — sf_do and the hand-written Group behind one interface, with
// the same trivial work.
//
// The work: count the run (a plain counter of the leader's thread) and
// return a reference to a 16-byte value made in advance by that thread —
// sf_bytes_retain() of an sf_bytes for sf_do, a copy of a shared_ptr for the
// hand-written Group. Each caller then checks it got a value and drops its
// reference (sf_bytes_release() / the shared_ptr's destructor). So both
// sides do one atomic increment and one decrement per caller for the value,
// and nothing else but the singleflight itself.
// With g_return_value false (--work none) the work returns no value (NULL,
// an empty shared_ptr) and the callers have nothing to drop.
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
#include <string>

#include "handwritten_singleflight.h"
#include "singleflight.h"

namespace bench {

inline constexpr char kValue[16] = "sixteen bytes..";

// Whether the work returns its value (the default) or nothing.
inline bool g_return_value = true;

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
    if (st != SF_OK || (g_return_value && !r.value)) die("sf_do did not return the value");
    t.counts.shared += r.shared != 0;
    sf_bytes_release(r.value);
  }

  sf_group *group() const { return group_; }

 private:
  static sf_status work(void *userdata, sf_bytes **value, sf_bytes ** /*error*/) {
    auto *t = static_cast<Thread *>(userdata);
    ++t->counts.runs;
    if (g_return_value) *value = sf_bytes_retain(t->value);
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
    auto r = group_.Do(key, [&t] {
      ++t.counts.runs;
      return g_return_value ? t.value : Ref();  // a copy: one more reference
    });
    if (g_return_value && !r.value) die("Do did not return the value");
    t.counts.shared += r.shared;
  }  // r.value is dropped here

 private:
  handwritten::Group<Ref> group_;
};

}  // namespace bench
