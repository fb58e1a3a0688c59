// A randomized multi-threaded stress test: many threads, few keys, every
// kind of caller at once. Each caller checks it got its own key's outcome;
// the counters and the sanitizers check nothing leaked or raced.
#include <random>

#include "helpers.h"

using namespace sftest;

namespace {

const sf_native_kind kStressKind = {"stress",
                                    [](void *v) { delete static_cast<std::string *>(v); }};

std::string key_of(int k) { return "key-" + std::to_string(k); }

}  // namespace

TEST(Stress, RandomCallersAlwaysGetTheirOwnKeysOutcome) {
  Group g;
  const int threads = 8, iterations = 20000, keys = 12;
  std::atomic<long> runs{0}, calls{0};
  run_threads(threads, [&](int id) {
    std::mt19937 rng(1234 + id);
    for (int i = 0; i < iterations; ++i) {
      const int k = static_cast<int>(rng() % keys);
      const std::string key = key_of(k);
      const std::string want = "value of " + key;
      calls.fetch_add(1);
      switch (rng() % 6) {
        case 0:
        case 1: {  // sf_do, sometimes failing
          bool fail = rng() % 4 == 0;
          Work w = [&](sf_bytes **v, sf_bytes **e) {
            runs.fetch_add(1);
            if (rng() % 8 == 0) std::this_thread::yield();
            if (fail) {
              *e = bytes("error of " + key);
              return SF_EWORK;
            }
            *v = bytes(want);
            return SF_OK;
          };
          Result r;
          sf_status st = do_key(g, key, w, &r);
          if (st == SF_OK) EXPECT_EQ(str(r.value), want);
          else if (st == SF_EWORK) EXPECT_EQ(str(r.error), "error of " + key);
          else ADD_FAILURE() << sf_status_str(st);
          break;
        }
        case 2: {  // split leader that sometimes hands off
          sf_ticket *w, *lead;
          ASSERT_EQ(sf_join(g, key.data(), key.size(), 0, &w, &lead), SF_OK);
          if (lead) {
            runs.fetch_add(1);
            if (rng() % 3 == 0) {
              sf_leave(lead);  // hand-off
            } else {
              sf_complete_native(lead, SF_OK, bytes(want), nullptr, &kStressKind,
                                 new std::string(want));
              sf_leave(lead);
            }
          }
          Result r;
          void *native = nullptr;
          sf_status st = sf_wait_native(w, static_cast<int64_t>(rng() % 3) * 100000, &kStressKind,
                                        &r, &native);
          if (st == SF_OK) {
            EXPECT_EQ(str(r.value), want);
            if (native) {
              EXPECT_EQ(*static_cast<std::string *>(native), want);
            }
          } else if (st == SF_EWORK) {
            EXPECT_EQ(str(r.error), "error of " + key);
          } else {
            EXPECT_TRUE(st == SF_ETIMEDOUT || st == SF_EHANDOFF) << sf_status_str(st);
          }
          sf_leave(w);
          break;
        }
        case 3: {  // an async-style waiter: subscribe, maybe leave early
          sf_ticket *w, *lead;
          ASSERT_EQ(sf_join(g, key.data(), key.size(), 0, &w, &lead), SF_OK);
          std::atomic<int> fired{0};
          sf_subscribe(
              w, [](void *ud) { static_cast<std::atomic<int> *>(ud)->fetch_add(1); }, &fired);
          if (lead) {
            runs.fetch_add(1);
            sf_complete(lead, SF_OK, bytes(want), nullptr);
            sf_leave(lead);
            EXPECT_EQ(fired.load(), 1);
          }
          if (rng() % 2 == 0) {
            sf_cancel(w);
          }
          sf_leave(w);
          EXPECT_LE(fired.load(), 1);
          break;
        }
        case 4: sf_forget(g, key.data(), key.size()); break;
        case 5: {
          int forgotten;
          sf_forget_unshared(g, key.data(), key.size(), &forgotten);
          break;
        }
      }
    }
  });
  sf_stats s = stats(g);
  EXPECT_EQ(s.live, 0u) << "a ticket leaked";
  EXPECT_EQ(s.in_table, 0u);
  EXPECT_GT(s.followers, 0u) << "the stress never made callers meet";
  EXPECT_LE(static_cast<uint64_t>(runs.load()), s.flights);
  EXPECT_GT(calls.load(), 0);
}

TEST(Stress, HotKeyManyRoundsExactlyOncePerFlight) {
  Group g;
  const int threads = 16, rounds = 2000;
  std::atomic<long> runs{0};
  run_threads(threads, [&](int) {
    for (int i = 0; i < rounds; ++i) {
      Work w = [&](sf_bytes **v, sf_bytes **) {
        runs.fetch_add(1);
        *v = bytes("hot");
        return SF_OK;
      };
      Result r;
      ASSERT_EQ(sf_do(g, "hot", 3, run_work, &w, &r), SF_OK);
      ASSERT_EQ(str(r.value), "hot");
    }
  });
  sf_stats s = stats(g);
  EXPECT_EQ(static_cast<uint64_t>(runs.load()), s.flights);  // one run per flight
  EXPECT_EQ(s.flights + s.followers, static_cast<uint64_t>(threads * rounds));
  EXPECT_EQ(s.live, 0u);
}

// Async-style waiters (a subscription each, as the Rust and Python bindings
// use) are always woken, whichever way the leader completes.
TEST(Stress, EverySubscriberIsWokenRoundAfterRound) {
  Group g;
  const int followers = 6, rounds = 1500;
  for (int round = 0; round < rounds; ++round) {
    const bool via_finish = round % 2 == 0;
    sf_ticket *lw, *lk;
    ASSERT_EQ(sf_join(g, "k", 1, 0, &lw, &lk), SF_OK);
    ASSERT_NE(lk, nullptr);
    struct Waiter {
      std::mutex mu;
      std::condition_variable cv;
      bool woken = false;
      static void wake(void *ud) {
        auto *w = static_cast<Waiter *>(ud);
        std::lock_guard<std::mutex> l(w->mu);
        w->woken = true;
        w->cv.notify_one();
      }
    };
    std::vector<Waiter> ws(followers);
    std::atomic<int> joined{0};
    std::vector<std::thread> ts;
    for (int i = 0; i < followers; ++i) {
      ts.emplace_back([&, i] {
        sf_ticket *w, *k;
        ASSERT_EQ(sf_join(g, "k", 1, 0, &w, &k), SF_OK);
        ASSERT_EQ(k, nullptr);
        joined.fetch_add(1);
        if (i % 2) std::this_thread::yield();  // some subscribe after completion
        ASSERT_EQ(sf_subscribe(w, Waiter::wake, &ws[i]), SF_OK);
        {
          std::unique_lock<std::mutex> l(ws[i].mu);
          ws[i].cv.wait(l, [&] { return ws[i].woken; });  // hangs if a wake is lost
        }
        Result r;
        EXPECT_EQ(sf_wait(w, 0, &r), SF_OK);
        EXPECT_EQ(str(r.value), "v");
        sf_leave(w);
      });
    }
    wait_until([&] { return joined.load() == followers; });
    if (via_finish) {
      Result r;
      EXPECT_EQ(sf_finish(lw, lk, SF_OK, bytes("v"), nullptr, nullptr, nullptr, &r), SF_OK);
    } else {
      EXPECT_EQ(sf_complete(lk, SF_OK, bytes("v"), nullptr), SF_OK);
      sf_leave(lk);
      sf_leave(lw);
    }
    for (auto &t : ts) t.join();
  }
  EXPECT_EQ(stats(g).live, 0u);
}

// A binding's rendezvous read through sf_join_or_meet's meetings
// while flights of the key complete, hand off and free theirs: each visit
// must see a live one.
TEST(Stress, MeetingsOnlyEverSeeALiveRendezvous) {
  struct Rv {
    std::atomic<int> magic{0x5F5F};
    std::atomic<long> visits{0};
  };
  static const sf_native_kind kRv = {"stress-rv", [](void *v) {
                                       auto *rv = static_cast<Rv *>(v);
                                       rv->magic = 0;
                                       delete rv;
                                     }};
  Group g;
  std::atomic<long> accepted{0};
  run_threads(6, [&](int id) {
    std::mt19937 rng(99 + id);
    for (int i = 0; i < 20000; ++i) {
      const std::string key = key_of(static_cast<int>(rng() % 3));
      sf_ticket *w = nullptr, *lead = nullptr;
      if (id % 2 == 0) {  // visitors
        sf_meeting *m = nullptr;
        void *att = nullptr;
        ASSERT_EQ(sf_join_or_meet(g, key.data(), key.size(), 0, &kRv, &m, &att, &w, &lead), SF_OK);
        ASSERT_EQ(m != nullptr, w == nullptr);
        if (m) {  // the binding's decision, with no engine lock held
          auto *rv = static_cast<Rv *>(att);
          EXPECT_EQ(rv->magic.load(), 0x5F5F);
          // Linger now and then: the meeting keeps the rendezvous alive
          // while leaders end, alone or not, and hand off.
          if (rv->visits.fetch_add(1) % 8 == 0) std::this_thread::yield();
          EXPECT_EQ(rv->magic.load(), 0x5F5F);
          sf_meeting_end(m, 1);
          ++accepted;
          continue;
        }
      } else {
        ASSERT_EQ(sf_join(g, key.data(), key.size(), 0, &w, &lead), SF_OK);
      }
      void *cur = nullptr;
      auto *mine = new Rv;
      ASSERT_EQ(sf_attach(w, &kRv, mine, &cur), SF_OK);
      if (cur != mine) delete mine;
      if (lead) {
        if (rng() % 4 == 0) std::this_thread::yield();
        int shared = 0;
        if (rng() % 3 == 0) {
          sf_leave(lead);  // hand-off
        } else if (rng() % 2 == 0) {
          // Ends it if nobody else holds a ticket, visitors or not.
          if (sf_finish_alone(w, lead, SF_OK, &shared) == 1) continue;
          sf_complete(lead, SF_OK, bytes("v"), nullptr);
          sf_leave(lead);
        } else {
          sf_complete(lead, SF_OK, bytes("v"), nullptr);
          sf_leave(lead);
        }
      }
      sf_leave(w);
    }
  });
  EXPECT_GT(accepted.load(), 0) << "the visitors never met a flight";
  EXPECT_EQ(stats(g).live, 0u);
  EXPECT_EQ(stats(g).in_table, 0u);
}
