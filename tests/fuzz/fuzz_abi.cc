// fuzz_abi — libFuzzer target: each input is a program of ABI calls.
//
// The bytes are read as a sequence of operations on a few groups (two
// plain, one named, and one used only by sf_do), a few keys (the empty
// key, keys with NUL bytes, a long key) and up to kSlots tickets: joins
// (bad flags too), completes (bad statuses as any int, double completes,
// completes by a wait ticket), finishes with right and wrong ticket pairs,
// polls, subscriptions, cancels, abandonment callbacks, attachments,
// joins through attachments, forgets, leaves, sf_do whose work succeeds,
// fails, panics, returns any int, throws or re-enters its key, wrapped
// buffers and every documented bad input (NULL group, key, result, ticket,
// callback, output).
//
// The harness checks, for every input:
//  - bad input returns SF_EINVAL (or NULL / 0 as documented) and changes no
//    group's counters;
//  - every wrapped buffer's release and every native value's release runs
//    exactly once, every subscription and abandonment callback at most once;
//  - once every ticket left, every group is idle (live == 0, in_table == 0).
// A check that fails aborts (the input is kept as a crash by libFuzzer).
// Build and run: tests/fuzz/run.sh (tests/fuzz/README.md).
#include <singleflight_binding.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include "../raw_status.h"

namespace {

#define CHECK(cond)                                                                     \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "fuzz_abi: check failed at line %d: %s\n", __LINE__, #cond); \
      std::abort();                                                                     \
    }                                                                                   \
  } while (0)

constexpr int kGroups = 3;  // split-API groups; group kGroups is sf_do's
constexpr int kSlots = 12;

struct Input {
  const uint8_t *p;
  size_t n;
  bool empty() const { return n == 0; }
  uint8_t u8() {
    if (!n) return 0;
    --n;
    return *p++;
  }
  int i32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = v << 8 | u8();
    int out;
    std::memcpy(&out, &v, sizeof out);
    return out;
  }
};

// Counts of what must balance at the end of each input.
long g_wrapped, g_wrap_released, g_natives, g_native_released;

void wrap_release(void *ctx) {
  ++g_wrap_released;
  std::free(ctx);
}

sf_bytes *wrapped(const char *s) {
  size_t len = std::strlen(s);
  void *mem = std::malloc(len + 1);
  std::memcpy(mem, s, len + 1);
  ++g_wrapped;
  return sf_bytes_wrap(mem, len, wrap_release, mem);
}

const sf_native_kind kKind = {"fuzz", [](void *v) {
                                ++g_native_released;
                                std::free(v);
                              }};
const sf_native_kind kOtherKind = {"other", [](void *v) {
                                     ++g_native_released;
                                     std::free(v);
                                   }};

void *native() {
  ++g_natives;
  return std::malloc(1);
}

struct Slot {
  sf_ticket *t = nullptr;
  bool work = false;
  int partner = -1;  // the other ticket of the leader's pair
  bool completed = false;
  int fired = 0;  // subscription or abandonment callback runs
  bool subscribed = false;
};

void count_fired(void *ud) { ++static_cast<Slot *>(ud)->fired; }

const std::string kKeys[] = {std::string(), std::string("a"), std::string("b\0c", 3),
                             std::string(100, 'k')};

struct State {
  sf_group *groups[kGroups + 1] = {};
  Slot slots[kSlots];
  Input in;
};

sf_stats stats_of(sf_group *g) {
  sf_stats s;
  CHECK(sf_group_stats(g, &s, sizeof s) == SF_OK);
  return s;
}

// Snapshot of every group's counters, to prove bad input changed nothing.
struct Snapshot {
  sf_stats s[kGroups + 1];
  explicit Snapshot(const State &st) {
    for (int i = 0; i <= kGroups; ++i) s[i] = stats_of(st.groups[i]);
  }
  bool same(const State &st) const {
    for (int i = 0; i <= kGroups; ++i) {
      sf_stats now = stats_of(st.groups[i]);
      if (std::memcmp(&now, &s[i], sizeof now) != 0) return false;
    }
    return true;
  }
};

void release_result(sf_result &r) {
  sf_bytes_release(r.value);
  sf_bytes_release(r.error);
}

// A status as a caller could pass it: a valid one, or any int.
int any_status(Input &in) {
  uint8_t c = in.u8();
  if (c < 200) return c % 11;  // SF_OK..SF_ENOBYTES and one past
  return in.i32();
}

Slot *held_slot(State &st) {
  Slot &s = st.slots[st.in.u8() % kSlots];
  return s.t ? &s : nullptr;
}

int free_slot(State &st) {
  for (int i = 0; i < kSlots; ++i)
    if (!st.slots[i].t) return i;
  return -1;
}

void leave_slot(State &st, Slot &s) {
  sf_leave(s.t);
  CHECK(s.fired <= 1);
  if (s.partner >= 0) st.slots[s.partner].partner = -1;
  s = Slot{};
}

// Each ticket left by sf_finish or sf_finish_alone.
void forget_slot(State &st, Slot &s) {
  CHECK(s.fired <= 1);
  if (s.partner >= 0) st.slots[s.partner].partner = -1;
  s = Slot{};
}

void op_join(State &st) {
  sf_group *g = st.groups[st.in.u8() % kGroups];
  const std::string &key = kKeys[st.in.u8() % 4];
  uint8_t how = st.in.u8();
  unsigned flags = how & 0x80 ? 1u << (how % 32) : 0;  // SF_JOIN_RUN_HERE, or bad
  int w = free_slot(st);
  if (w < 0) return;
  sf_ticket *wait = reinterpret_cast<sf_ticket *>(1), *work = reinterpret_cast<sf_ticket *>(1);
  if (flags & ~SF_JOIN_RUN_HERE) {
    Snapshot before(st);
    CHECK(sf_join(g, key.data(), key.size(), flags, &wait, &work) == SF_EINVAL);
    CHECK(!wait && !work && before.same(st));
    return;
  }
  CHECK(sf_join(g, key.data(), key.size(), flags, &wait, &work) == SF_OK);
  st.slots[w].t = wait;
  if (work) {
    int k = free_slot(st);
    if (k < 0) {  // no room: hand off at once
      sf_leave(work);
      return;
    }
    st.slots[k].t = work;
    st.slots[k].work = true;
    st.slots[k].partner = w;
    st.slots[w].partner = k;
  }
}

void op_join_or_meet(State &st) {
  sf_group *g = st.groups[st.in.u8() % kGroups];
  const std::string &key = kKeys[st.in.u8() % 4];
  bool yes = st.in.u8() & 1;
  int w = free_slot(st);
  if (w < 0) return;
  sf_meeting *m = nullptr;
  void *rv = nullptr;
  sf_ticket *wait, *work;
  CHECK(sf_join_or_meet(g, key.data(), key.size(), 0, &kKind, &m, &rv, &wait, &work) == SF_OK);
  if (m) {
    CHECK(rv && !wait && !work);
    sf_meeting_end(m, yes);
    if (yes) return;
    CHECK(sf_join(g, key.data(), key.size(), 0, &wait, &work) == SF_OK);
  }
  st.slots[w].t = wait;
  if (work) {
    int k = free_slot(st);
    if (k < 0) {
      sf_leave(work);
      return;
    }
    st.slots[k] = Slot{};
    st.slots[k].t = work;
    st.slots[k].work = true;
    st.slots[k].partner = w;
    st.slots[w].partner = k;
  }
}

void op_attach(State &st) {
  Slot *s = held_slot(st);
  if (!s) return;
  const sf_native_kind *kind = st.in.u8() & 1 ? &kKind : &kOtherKind;
  void *value = native();
  void *current = nullptr;
  CHECK(sf_attach(s->t, kind, value, &current) == SF_OK);
  if (current != value) kind->release(value);  // not installed: still ours
}

void op_complete(State &st) {
  Slot *s = held_slot(st);
  int status = any_status(st.in);
  uint8_t what = st.in.u8();
  sf_bytes *value = what & 1 ? wrapped("value") : nullptr;
  sf_bytes *error = what & 2 ? wrapped("error") : nullptr;
  bool with_native = what & 4;
  void *nat = with_native ? native() : nullptr;
  sf_ticket *t = s ? s->t : nullptr;
  bool valid = s && s->work && !s->completed;
  Snapshot before(st);
  sf_status got = with_native ? sft_complete_native(t, status, value, error, &kKind, nat)
                              : sft_complete(t, status, value, error);
  if (!valid) {  // NULL ticket, a wait ticket, a second complete
    CHECK(got == SF_EINVAL && before.same(st));
    return;
  }
  CHECK(got == SF_OK);
  s->completed = true;
}

void op_finish(State &st) {
  Slot *a = held_slot(st), *b = held_slot(st);
  int status = any_status(st.in);
  uint8_t what = st.in.u8();
  sf_bytes *value = what & 1 ? wrapped("value") : nullptr;
  void *nat = what & 2 ? native() : nullptr;
  bool null_result = what & 4 && what & 8;
  bool pair = a && b && !a->work && b->work && a->partner == b - st.slots;
  bool valid = pair && !b->completed && !null_result;
  sf_result r;
  Snapshot before(st);
  sf_status got = sft_finish(a ? a->t : nullptr, b ? b->t : nullptr, status, value, nullptr,
                             nat ? &kKind : nullptr, nat, null_result ? nullptr : &r);
  if (!valid) {
    CHECK(got == SF_EINVAL && before.same(st));
    if (!null_result) CHECK(!r.value && !r.error);
    return;
  }
  CHECK(got == SF_OK || got == SF_EWORK || got == SF_EPANIC);
  if (got == SF_EPANIC) CHECK(sf_bytes_len(r.error) > 0);
  release_result(r);
  forget_slot(st, *b);
  forget_slot(st, *a);
}

void op_finish_alone(State &st) {
  Slot *a = held_slot(st), *b = held_slot(st);
  int status = any_status(st.in);
  bool pair = a && b && !a->work && b->work && a->partner == b - st.slots;
  int shared = -1;
  Snapshot before(st);
  int got = sft_finish_alone(a ? a->t : nullptr, b ? b->t : nullptr, status, &shared);
  if (!pair || b->completed) {
    CHECK(got == 0 && before.same(st));
    return;
  }
  if (got) {
    CHECK(shared == 0 || shared == 1);
    forget_slot(st, *b);
    forget_slot(st, *a);
  }
}

void op_wait(State &st) {
  Slot *s = held_slot(st);
  uint8_t how = st.in.u8();
  int64_t timeout = how & 1 ? 1 : 0;  // never blocks: this thread may lead the flight
  bool null_result = how & 2 && how & 4;
  bool use_native = how & 8;
  sf_result r;
  void *nat = nullptr;
  Snapshot before(st);
  sf_ticket *t = s ? s->t : nullptr;
  sf_status got = use_native ? sf_wait_native(t, timeout, &kKind, null_result ? nullptr : &r, &nat)
                             : sf_wait(t, timeout, null_result ? nullptr : &r);
  if (!s || s->work || null_result) {
    CHECK(got == SF_EINVAL && before.same(st));
    return;
  }
  CHECK(got != SF_EINVAL && got != SF_ENOMEM);
  if (got == SF_EPANIC) CHECK(sf_bytes_len(r.error) > 0);
  release_result(r);
}

void op_subscribe(State &st) {
  Slot *s = held_slot(st);
  uint8_t how = st.in.u8();
  bool null_fn = how % 8 == 0;
  bool wrong_role = how % 8 ==
                    1;  // sf_subscribe on a work ticket, sf_on_abandoned on a wait ticket
  Snapshot before(st);
  sf_notify_fn fn = null_fn ? nullptr : count_fired;
  sf_status got = !s                      ? sf_subscribe(nullptr, count_fired, nullptr)
                  : s->work != wrong_role ? sf_on_abandoned(s->t, fn, s)
                                          : sf_subscribe(s->t, fn, s);
  if (!s || null_fn || wrong_role || s->subscribed) {
    CHECK(got == SF_EINVAL && before.same(st));
    return;
  }
  CHECK(got == SF_OK);
  s->subscribed = true;
  CHECK(s->fired <= 1);
}

void op_cancel(State &st) {
  Slot *s = held_slot(st);
  Snapshot before(st);
  sf_status got = sf_cancel(s ? s->t : nullptr);
  if (!s || s->work) {
    CHECK(got == SF_EINVAL && before.same(st));
    return;
  }
  CHECK(got == SF_OK);
  (void)sf_abandoned(s->t);
}

void op_leave(State &st) {
  Slot *s = held_slot(st);
  if (s) leave_slot(st, *s);
  else sf_leave(nullptr);
}

void op_forget(State &st) {
  uint8_t how = st.in.u8();
  sf_group *g = how & 1 ? st.groups[how / 2 % kGroups] : nullptr;
  const std::string &key = kKeys[st.in.u8() % 4];
  int forgotten = -1;
  Snapshot before(st);
  sf_status got = how & 2 ? sf_forget_unshared(g, key.data(), key.size(), &forgotten)
                          : sf_forget(g, key.data(), key.size());
  if (!g) {
    CHECK(got == SF_EINVAL && before.same(st));
    return;
  }
  CHECK(got == SF_OK);
}

// sf_do's work: what it does is read from the input.
struct DoCall {
  State *st;
  const std::string *key;
  int depth;
};

sf_status do_work(void *ud, sf_bytes **value, sf_bytes **error);

sf_status run_do(State &st, const std::string &key, int depth) {
  DoCall c{&st, &key, depth};
  sf_result r;
  sf_status got = sf_do(st.groups[kGroups], key.data(), key.size(), do_work, &c, &r);
  CHECK(got == SF_OK || got == SF_EWORK || got == SF_EPANIC || got == SF_EDEADLK);
  if (got == SF_EPANIC) CHECK(sf_bytes_len(r.error) > 0);
  release_result(r);
  return got;
}

sf_status do_work(void *ud, sf_bytes **value, sf_bytes **error) {
  auto *c = static_cast<DoCall *>(ud);
  Input &in = c->st->in;
  switch (in.u8() % 7) {
    case 0: *value = wrapped("value"); return SF_OK;
    case 1: *error = wrapped("error"); return SF_EWORK;
    case 2: return SF_EPANIC;  // no message
    case 3: {                  // any int, through C
      int raw = in.i32();
      return sft_raw_status_work(&raw, value, error);
    }
    case 4: *value = wrapped("before the throw"); throw std::runtime_error("thrown by the work");
    case 5:  // re-enters its own key
      CHECK(run_do(*c->st, *c->key, c->depth + 1) == SF_EDEADLK);
      return SF_OK;
    default:  // forgets its key, then calls it: a nested flight of its own
      if (c->depth < 3) {
        sf_forget(c->st->groups[kGroups], c->key->data(), c->key->size());
        run_do(*c->st, *c->key, c->depth + 1);
      }
      return SF_OK;
  }
}

void op_do(State &st) {
  uint8_t how = st.in.u8();
  const std::string &key = kKeys[how % 4];
  if (how & 0x80) {  // bad input: NULL group, work, result, or key with a length
    Snapshot before(st);
    sf_result r;
    sf_status got;
    switch (how / 4 % 4) {
      case 0: got = sf_do(nullptr, "k", 1, do_work, nullptr, &r); break;
      case 1: got = sf_do(st.groups[kGroups], "k", 1, nullptr, nullptr, &r); break;
      case 2: got = sf_do(st.groups[kGroups], "k", 1, do_work, nullptr, nullptr); break;
      default: got = sf_do(st.groups[kGroups], nullptr, 3, do_work, nullptr, &r); break;
    }
    CHECK(got == SF_EINVAL && before.same(st));
    return;
  }
  run_do(st, key, 0);
}

void op_bytes(State &st) {
  uint8_t how = st.in.u8();
  switch (how % 4) {
    case 0: {  // a bad wrap: NULL data with a length; released at once
      long before = g_wrap_released;
      ++g_wrapped;
      void *mem = std::malloc(1);
      CHECK(sf_bytes_wrap(
                nullptr, 1 + how,
                [](void *m) {
                  ++g_wrap_released;
                  std::free(m);
                },
                mem) == nullptr);
      CHECK(g_wrap_released == before + 1);
      break;
    }
    case 1: CHECK(sf_bytes_new(nullptr, 1 + how) == nullptr); break;
    case 2: {
      sf_bytes *b = wrapped("shared");
      CHECK(sf_bytes_retain(b) == b);
      sf_bytes_release(b);
      sf_bytes_release(b);
      break;
    }
    default:
      CHECK(sf_bytes_retain(nullptr) == nullptr);
      sf_bytes_release(nullptr);
      CHECK(sf_bytes_data(nullptr) == nullptr && sf_bytes_len(nullptr) == 0);
  }
}

void op_misc(State &st) {
  uint8_t how = st.in.u8();
  sf_group *g = st.groups[how % kGroups];
  Snapshot before(st);
  switch (how / 4 % 6) {
    case 0: CHECK(sft_status_str(st.in.i32()) != nullptr); break;
    case 1: {
      int reason = any_status(st.in);
      sf_status got = sft_group_count_giveup(how & 0x80 ? nullptr : g, reason);
      if ((how & 0x80) || (reason != SF_ETIMEDOUT && reason != SF_ECANCELED))
        CHECK(got == SF_EINVAL && before.same(st));
      else CHECK(got == SF_OK);
      break;
    }
    case 2: {
      sf_stats s;
      CHECK(sf_group_stats(nullptr, &s, sizeof s) == SF_EINVAL);
      CHECK(sf_group_stats(g, nullptr, sizeof s) == SF_EINVAL);
      CHECK(sf_group_stats(g, &s, st.in.u8() % sizeof(uint64_t)) == SF_EINVAL);
      CHECK(before.same(st));
      break;
    }
    case 3: {
      sf_ticket *w = reinterpret_cast<sf_ticket *>(1), *k = w;
      CHECK(sf_join(nullptr, "k", 1, 0, &w, &k) == SF_EINVAL && !w && !k);
      CHECK(sf_join(g, nullptr, 2, 0, &w, &k) == SF_EINVAL);
      CHECK(sf_join(g, "k", 1, 0, nullptr, &k) == SF_EINVAL);
      CHECK(sf_join(g, "k", 1, 0, &w, nullptr) == SF_EINVAL);
      sf_meeting *m = reinterpret_cast<sf_meeting *>(1);
      void *rv = nullptr;
      CHECK(sf_join_or_meet(g, "k", 1, 2, &kKind, &m, &rv, &w, &k) == SF_EINVAL);
      CHECK(!m && !rv && !w && !k);
      sf_meeting_end(nullptr, 1);
      CHECK(before.same(st));
      break;
    }
    case 4: {
      void *cur = nullptr;
      Slot *s = held_slot(st);
      void *value = native();
      CHECK(sf_attach(s ? s->t : nullptr, nullptr, value, &cur) == SF_EINVAL);
      kKind.release(value);
      CHECK(sf_attach(nullptr, &kKind, &cur, &cur) == SF_EINVAL);
      CHECK(sf_abandoned(nullptr) == 0);
      CHECK(sf_on_abandoned(nullptr, count_fired, nullptr) == SF_EINVAL);
      CHECK(sf_group_open(nullptr, 3) == nullptr && sf_group_open("x", 0) == nullptr);
      CHECK(before.same(st));
      break;
    }
    default:
      CHECK(sf_complete(nullptr, SF_OK, wrapped("v"), wrapped("e")) == SF_EINVAL);
      CHECK(sf_complete_native(nullptr, SF_OK, nullptr, nullptr, &kKind, native()) == SF_EINVAL);
      CHECK(before.same(st));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  g_wrapped = g_wrap_released = g_natives = g_native_released = 0;
  State st;
  st.in = Input{data, size};
  st.groups[0] = sf_group_new();
  st.groups[1] = sf_group_new();
  st.groups[2] = sf_group_open("fuzz", 4);
  st.groups[3] = sf_group_new();
  for (sf_group *g : st.groups) CHECK(g);
  while (!st.in.empty()) {
    switch (st.in.u8() % 15) {
      case 0:
      case 1: op_join(st); break;
      case 2: op_join_or_meet(st); break;
      case 3: op_attach(st); break;
      case 4: op_complete(st); break;
      case 5: op_finish(st); break;
      case 6: op_finish_alone(st); break;
      case 7: op_wait(st); break;
      case 8: op_subscribe(st); break;
      case 9: op_cancel(st); break;
      case 10: op_leave(st); break;
      case 11: op_forget(st); break;
      case 12: op_do(st); break;
      case 13: op_bytes(st); break;
      default: op_misc(st); break;
    }
  }
  // Every ticket left (wait tickets first, then the work: hand-offs where
  // nobody completed), and every group is idle.
  for (Slot &s : st.slots)
    if (s.t && !s.work) leave_slot(st, s);
  for (Slot &s : st.slots)
    if (s.t) leave_slot(st, s);
  for (sf_group *g : st.groups) {
    sf_stats s = stats_of(g);
    CHECK(s.live == 0 && s.in_table == 0);
  }
  for (sf_group *g : st.groups) sf_group_release(g);
  CHECK(g_wrap_released == g_wrapped);
  CHECK(g_native_released == g_natives);
  return 0;
}
