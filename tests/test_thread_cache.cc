// Flights and tickets are cached per thread (lib/flight_cache.h) and belong
// to no group. These stress tests would catch one handed to the wrong
// thread's cache, or cached while still referenced: tickets are joined on
// one thread and waited for, completed and left on others; threads exit
// while flights they led (or last recycled) are still held on a shared
// board; groups are released while other threads' caches hold the objects
// they used, and their flights are reused by newer groups at once. Every
// outcome must be its own key's (a flight reused while referenced would
// hand a waiter another key's value), and the sanitizer builds see any use
// after free or race. Bounded by counts, never by time.
#include <pthread.h>

#include <condition_variable>
#include <random>
#include <set>

#include "helpers.h"

using namespace sftest;

namespace {

// A ticket waiting on the board for some thread to use it.
struct Held {
  sf_group *group;  // a reference of the ticket's own
  std::string key;
  sf_ticket *ticket;
  bool work;  // a work ticket (complete or hand off, then leave); else a wait ticket
};

class Board {
 public:
  void put(Held h) {
    std::lock_guard<std::mutex> lk(mu_);
    held_.push_back(std::move(h));
  }
  // Some ticket of the board (at random), or false when it is empty.
  bool take(std::mt19937 &rng, Held *out) {
    std::lock_guard<std::mutex> lk(mu_);
    if (held_.empty()) return false;
    size_t i = rng() % held_.size();
    *out = std::move(held_[i]);
    held_[i] = std::move(held_.back());
    held_.pop_back();
    return true;
  }
  // A key some ticket of the board is for (with its group, retained), to follow.
  bool peek(std::mt19937 &rng, sf_group **g, std::string *key) {
    std::lock_guard<std::mutex> lk(mu_);
    if (held_.empty()) return false;
    const Held &h = held_[rng() % held_.size()];
    *g = sf_group_retain(h.group);
    *key = h.key;
    return true;
  }

 private:
  std::mutex mu_;
  std::vector<Held> held_;
};

// Whatever is wrong, counted (gtest's macros are not used off the main thread).
struct Errors {
  std::atomic<int> wrong_value{0}, bad_status{0};
};

// Joins `key`; puts the tickets it got on the board.
void join(Board &board, sf_group *g, const std::string &key, Errors &err) {
  sf_ticket *w, *k;
  sf_status st = sf_join(g, key.data(), key.size(), 0, &w, &k);
  if (st != SF_OK) {
    err.bad_status.fetch_add(1);
    return;
  }
  board.put(Held{sf_group_retain(g), key, w, false});
  if (k) board.put(Held{sf_group_retain(g), key, k, true});
}

// Uses one ticket of the board: a work ticket is completed with its key as
// the value (or, now and then, left undone: a hand-off) and left; a wait
// ticket whose outcome is there is checked and left, else put back (when
// `final`, every work ticket is gone: the outcome must be there).
void use(Board &board, Held h, std::mt19937 &rng, Errors &err, bool final = false) {
  if (h.work) {
    if (rng() % 8 != 0) {
      sf_status st = sf_complete(h.ticket, SF_OK, bytes(h.key), nullptr);
      if (st != SF_OK) err.bad_status.fetch_add(1);
    }
    sf_leave(h.ticket);
    sf_group_release(h.group);
    return;
  }
  Result r;
  sf_status st = sf_wait(h.ticket, 0, &r);
  if (st == SF_ETIMEDOUT && !final) {
    board.put(std::move(h));
    return;
  }
  if (st == SF_OK) {
    if (str(r.value) != h.key) err.wrong_value.fetch_add(1);
  } else if (st != SF_EHANDOFF) {
    err.bad_status.fetch_add(1);
  }
  sf_leave(h.ticket);
  sf_group_release(h.group);
}

// One short-lived thread: `ops` random operations on the board and its
// group, then it exits, leaving on the board whatever it still holds.
void worker(Board &board, sf_group *g, unsigned seed, int ops, Errors &err) {
  std::mt19937 rng(seed);
  for (int i = 0; i < ops; ++i) {
    switch (rng() % 4) {
      case 0: {  // lead a fresh key of this thread
        join(board, g, "k" + std::to_string(seed) + "." + std::to_string(i), err);
        break;
      }
      case 1: {  // follow a key of the board (maybe another group's, maybe ended)
        sf_group *other;
        std::string key;
        if (board.peek(rng, &other, &key)) {
          join(board, other, key, err);
          sf_group_release(other);
        }
        break;
      }
      default: {  // use some ticket, maybe another thread's
        Held h;
        if (board.take(rng, &h)) use(board, std::move(h), rng, err);
        break;
      }
    }
  }
  sf_group_release(g);
}

// Empties the board: work tickets first, so every wait ticket's outcome comes.
void drain(Board &board, std::mt19937 &rng, Errors &err) {
  std::vector<Held> waits;
  Held h;
  while (board.take(rng, &h)) {
    if (h.work) use(board, std::move(h), rng, err);
    else waits.push_back(std::move(h));
  }
  for (Held &w : waits) use(board, std::move(w), rng, err, true);
}

}  // namespace

TEST(ThreadCache, ThreadsExitAndGroupsGoWhileTheirFlightsAreStillHeld) {
  Board board;
  Errors err;
  std::mt19937 rng(7);
  constexpr int kRounds = 40, kThreads = 4, kOps = 300;
  std::vector<std::thread> previous;
  sf_group *kept = sf_group_new();  // one group that lives through every round
  for (int round = 0; round < kRounds; ++round) {
    // Each round's threads use a new group (and the kept one, through the
    // board); the round's group loses its creator's reference at once, so it
    // dies while its flights are held and cached; the previous round's
    // threads are still running meanwhile.
    sf_group *g = sf_group_new();
    ASSERT_NE(g, nullptr);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      sf_group *mine = sf_group_retain(t % 2 ? g : kept);
      unsigned seed = static_cast<unsigned>(round * kThreads + t + 1);
      threads.emplace_back(worker, std::ref(board), mine, seed, kOps, std::ref(err));
    }
    sf_group_release(g);
    for (auto &t : previous) t.join();
    previous = std::move(threads);
  }
  for (auto &t : previous) t.join();
  drain(board, rng, err);
  EXPECT_EQ(err.wrong_value.load(), 0) << "a waiter got another key's outcome";
  EXPECT_EQ(err.bad_status.load(), 0);
  sf_stats s = stats(kept);
  EXPECT_EQ(s.live, 0u);
  EXPECT_EQ(s.in_table, 0u);
  sf_group_release(kept);
}

TEST(ThreadCache, FlightLedByAThreadThatExitedIsReadByItsFollowers) {
  // The leader completes and exits (its cache handed back) while followers
  // on other threads still hold the flight; then new threads lead fresh
  // flights (taking what the leader's cache gave back); every follower still
  // reads its own key's value.
  Group g;
  constexpr int kRounds = 200, kFollowers = 3;
  int wrong = 0;
  for (int round = 0; round < kRounds; ++round) {
    const std::string key = "led" + std::to_string(round);
    sf_ticket *lw, *lk;
    ASSERT_EQ(sf_join(g, key.data(), key.size(), 0, &lw, &lk), SF_OK);
    ASSERT_NE(lk, nullptr);
    std::vector<sf_ticket *> followers;
    for (int i = 0; i < kFollowers; ++i) {
      sf_ticket *fw, *fk;
      ASSERT_EQ(sf_join(g, key.data(), key.size(), 0, &fw, &fk), SF_OK);
      ASSERT_EQ(fk, nullptr);
      followers.push_back(fw);
    }
    std::thread leader([&] {  // takes over the leader's tickets, ends, exits
      sf_complete(lk, SF_OK, bytes(key), nullptr);
      sf_leave(lk);
      sf_leave(lw);
    });
    leader.join();
    std::thread churn([&] {  // reuses whatever idle flights there are
      for (int i = 0; i < 20; ++i) {
        const std::string other = "churn" + std::to_string(round) + "." + std::to_string(i);
        Work w = value_work("other", nullptr);
        Result r;
        do_key(g, other, w, &r);
      }
    });
    churn.join();
    std::vector<std::thread> readers;
    std::atomic<int> wrong_here{0};
    for (sf_ticket *fw : followers) {
      readers.emplace_back([&, fw] {
        Result r;
        if (sf_wait(fw, -1, &r) != SF_OK || str(r.value) != key) wrong_here.fetch_add(1);
        sf_leave(fw);
      });
    }
    for (auto &t : readers) t.join();
    wrong += wrong_here.load();
  }
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(stats(g).live, 0u);
}

namespace {

// What a thread does with the engine while it exits: leads fresh keys of
// `g` with sf_do, and follows `held` (led by another thread), leaving that
// ticket behind for the test to wait for and leave.
struct ExitCalls {
  sf_group *g = nullptr;
  std::string prefix, held;
  sf_ticket *follower = nullptr;  // out
  int wrong = 0, bad = 0;         // out

  void run() {
    for (int i = 0; i < 40; ++i) {
      const std::string key = prefix + std::to_string(i);
      Work w = value_work(key, nullptr);
      Result r;
      if (do_key(g, key, w, &r) != SF_OK) ++bad;
      else if (str(r.value) != key) ++wrong;
    }
    sf_ticket *k = nullptr;
    if (sf_join(g, held.data(), held.size(), 0, &follower, &k) != SF_OK || k) ++bad;
  }
};

// Runs an ExitCalls from a thread_local's destructor (the engine's cache is
// still the thread's then) ...
ExitCalls *g_tls_calls = nullptr;
struct TlsCaller {
  bool armed = false;
  ~TlsCaller() {
    if (armed) g_tls_calls->run();
  }
};
thread_local TlsCaller t_caller;

// ... and from a pthread key's destructor, made after the engine's own key,
// so that it runs after the engine handed the thread's cache back.
pthread_key_t g_late_key;
void late_key_exit(void *calls) { static_cast<ExitCalls *>(calls)->run(); }

}  // namespace

TEST(ThreadCache, ThreadsCallTheEngineWhileTheyExit) {
  // Each round a thread leads and recycles flights and follows a key of
  // the main thread from its exit destructors: in a thread_local's (its
  // cache still live) and in a pthread key's that runs after the engine's
  // (its cache gone: the engine-wide pools, directly). The main thread then
  // completes the key and reads the outcome through the tickets the exited
  // thread left; other threads reuse whatever the exiting ones gave back.
  Group g;
  {
    Result warm;  // the engine's pthread key exists before ours
    Work w = value_work("warm", nullptr);
    ASSERT_EQ(do_key(g, "warm", w, &warm), SF_OK);
  }
  ASSERT_EQ(pthread_key_create(&g_late_key, late_key_exit), 0);
  constexpr int kRounds = 100;
  int wrong = 0, bad = 0;
  for (int round = 0; round < kRounds; ++round) {
    const std::string held = "held" + std::to_string(round);
    sf_ticket *lw, *lk;
    ASSERT_EQ(sf_join(g, held.data(), held.size(), 0, &lw, &lk), SF_OK);
    ASSERT_NE(lk, nullptr);
    ExitCalls in_tls{g, "tls" + std::to_string(round) + ".", held};
    ExitCalls in_key{g, "key" + std::to_string(round) + ".", held};
    std::thread exiting([&] {
      g_tls_calls = &in_tls;
      t_caller.armed = true;
      pthread_setspecific(g_late_key, &in_key);
      Work w = value_work("alive", nullptr);  // the cache in use before the exit
      Result r;
      do_key(g, "alive" + std::to_string(round), w, &r);
    });
    exiting.join();
    std::thread churn([&] {  // takes what the exited thread gave back
      for (int i = 0; i < 40; ++i) {
        const std::string key = "churn" + std::to_string(round) + "." + std::to_string(i);
        Work w = value_work(key, nullptr);
        Result r;
        if (do_key(g, key, w, &r) != SF_OK || str(r.value) != key) ++wrong;
      }
    });
    churn.join();
    ASSERT_EQ(sf_complete(lk, SF_OK, bytes(held), nullptr), SF_OK);
    sf_leave(lk);
    sf_leave(lw);
    for (ExitCalls *c : {&in_tls, &in_key}) {
      wrong += c->wrong;
      bad += c->bad;
      if (!c->follower) continue;
      Result r;
      if (sf_wait(c->follower, -1, &r) != SF_OK || str(r.value) != held) ++wrong;
      sf_leave(c->follower);
    }
  }
  pthread_key_delete(g_late_key);
  EXPECT_EQ(wrong, 0) << "a caller got another key's outcome";
  EXPECT_EQ(bad, 0);
  sf_stats s = stats(g);
  EXPECT_EQ(s.live, 0u);
  EXPECT_EQ(s.in_table, 0u);
  EXPECT_EQ(s.followers, 2u * kRounds);
}

namespace {

// Two threads in lockstep: steps are numbered, each side waits for its turn.
class Lockstep {
 public:
  void wait_for(int step) {
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait(lk, [&] { return step_ >= step; });
  }
  void reach(int step) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      step_ = step;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int step_ = 0;
};

}  // namespace

TEST(ThreadCache, AFlightGoesBackToTheThreadThatLedIt) {
  // A leader thread leads key after key; a long-lived follower joins each,
  // and leaves last, so it is the follower that recycles the leader's
  // flight. Between two of them the follower leads a key of its own: the
  // flight it gets must never be one the leader led while the leader lives
  // (the leader's flights go back to the leader). At the end of each round
  // the leader exits while the follower still holds three of its flights,
  // which the follower then reads and leaves (its home is closed: they go
  // elsewhere, and a new leader thread may get its home). A flight's
  // identity is its leader's wait ticket (embedded in it).
  Group g;
  constexpr int kRounds = 6, kPairs = 1500, kHeld = 3;
  int overlap = 0, wrong = 0;
  for (int round = 0; round < kRounds; ++round) {
    Lockstep step;
    std::string key;                 // the leader's current key (written before its step)
    std::set<sf_ticket *> led;       // by the leader, this round (read after its step)
    std::vector<std::string> held;   // the keys the leader leaves held when it exits
    std::vector<sf_ticket *> leads;  // the leader's tickets for those, to end
    std::thread leader([&] {
      for (int i = 0; i < kPairs + kHeld; ++i) {
        const std::string k = "l" + std::to_string(round) + "." + std::to_string(i);
        sf_ticket *lw, *lk;
        if (sf_join(g, k.data(), k.size(), 0, &lw, &lk) != SF_OK || !lk) std::abort();
        led.insert(lw);
        key = k;
        step.reach(4 * i + 1);  // the follower joins
        step.wait_for(4 * i + 2);
        sf_complete(lk, SF_OK, bytes(k), nullptr);
        sf_leave(lk);
        sf_leave(lw);
        step.reach(4 * i + 3);  // the follower reads, leaves, leads its own
        if (i < kPairs) step.wait_for(4 * i + 4);
      }
    });
    std::vector<sf_ticket *> kept;
    for (int i = 0; i < kPairs + kHeld; ++i) {
      step.wait_for(4 * i + 1);
      const std::string k = key;
      sf_ticket *fw, *fk;
      ASSERT_EQ(sf_join(g, k.data(), k.size(), 0, &fw, &fk), SF_OK);
      ASSERT_EQ(fk, nullptr);
      step.reach(4 * i + 2);
      step.wait_for(4 * i + 3);
      if (i >= kPairs) {  // held past the leader's exit
        held.push_back(k);
        kept.push_back(fw);
        continue;
      }
      Result r;
      if (sf_wait(fw, -1, &r) != SF_OK || str(r.value) != k) ++wrong;
      sf_leave(fw);  // the last ticket: recycles the leader's flight
      const std::string mine = "f" + std::to_string(round) + "." + std::to_string(i);
      sf_ticket *ow, *ok;
      ASSERT_EQ(sf_join(g, mine.data(), mine.size(), 0, &ow, &ok), SF_OK);
      ASSERT_NE(ok, nullptr);
      if (led.count(ow)) ++overlap;
      sf_complete(ok, SF_OK, bytes(mine), nullptr);
      sf_leave(ok);
      sf_leave(ow);
      step.reach(4 * i + 4);
    }
    leader.join();
    for (size_t i = 0; i < kept.size(); ++i) {  // the leader's thread is gone
      Result r;
      if (sf_wait(kept[i], -1, &r) != SF_OK || str(r.value) != held[i]) ++wrong;
      sf_leave(kept[i]);
    }
  }
  EXPECT_EQ(overlap, 0) << "the follower led a flight recycled into its cache from the leader";
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(stats(g).live, 0u);
}
