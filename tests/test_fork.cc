// fork() while flights run in other threads: the child starts with an
// empty table and no engine lock held, so every call it makes finishes —
// the key whose leader is a thread of the parent included. The parent
// forks 100 children under load and waits for each (waitpid); a child that
// hung would hang the test, a child that found something wrong exits with
// the number of the check that failed.
#include <sys/wait.h>
#include <unistd.h>

#include <random>

#include "helpers.h"

using namespace sftest;

namespace {

sf_status child_work(void *, sf_bytes **value, sf_bytes **) {
  *value = sf_bytes_new("child", 5);
  return SF_OK;
}

// A call of `key` with no timeout; true if it gave the child's own value.
bool child_do(sf_group *g, const char *key) {
  sf_result r;
  sf_status st = sf_do(g, key, std::strlen(key), child_work, nullptr, &r);
  bool ok = st == SF_OK && str(r.value) == "child";
  sf_bytes_release(r.value);
  sf_bytes_release(r.error);
  return ok;
}

// What the child checks; returns its exit status (0: all well).
int in_child(sf_group *g, sf_ticket *inherited_wait) {
  // The flight this thread waits for has its leader in the parent: a hand-off.
  sf_result r;
  if (sf_wait(inherited_wait, -1, &r) != SF_EHANDOFF) return 2;
  sf_leave(inherited_wait);
  if (!child_do(g, "stuck")) return 3;  // the key led by a thread of the parent
  for (const char *k : {"hot-0", "hot-1", "hot-2", "hot-3", "fresh"})
    if (!child_do(g, k)) return 4;
  sf_group *named = sf_group_open("fork-named", 10);  // the registry's lock is free
  if (!named || !child_do(named, "stuck") || !child_do(named, "hot-0")) return 5;
  sf_ticket *wait, *work;  // the split API on a key inherited in flight
  if (sf_join(g, "stuck", 5, 0, &wait, &work) != SF_OK || !work) return 6;
  if (sf_complete(work, SF_OK, sf_bytes_new("split", 5), nullptr) != SF_OK) return 7;
  if (sf_wait(wait, -1, &r) != SF_OK || str(r.value) != "split") return 8;
  sf_bytes_release(r.value);
  sf_leave(work);
  sf_leave(wait);
  sf_stats s{};
  sf_group_stats(g, &s, sizeof s);
  if (s.in_table != 0 || s.live != 0) return 9;  // inherited flights are not the child's
  sf_group_stats(named, &s, sizeof s);
  if (s.in_table != 0 || s.live != 0) return 10;
  sf_group_release(named);
  return 0;
}

}  // namespace

TEST(Fork, ChildOfABusyProcessFinishesEveryCall) {
  Group g;
  Group named(sf_group_open("fork-named", 10));
  Gate release_stuck;
  std::atomic<bool> stop{false};
  Work stuck = [&](sf_bytes **v, sf_bytes **) {
    release_stuck.wait();
    *v = bytes("parent");
    return SF_OK;
  };
  std::vector<std::thread> threads;
  for (sf_group *grp : {g.g, named.g}) {
    threads.emplace_back([&, grp] {  // the leader of "stuck", in the parent only
      Result r;
      EXPECT_EQ(do_key(grp, "stuck", stuck, &r), SF_OK);
    });
  }
  wait_until([&] { return stats(g).in_table == 1 && stats(named).in_table == 1; });
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&] {  // followers of "stuck"
      Result r;
      EXPECT_EQ(do_key(g, "stuck", value_work("never"), &r), SF_OK);
      EXPECT_EQ(str(r.value), "parent");
    });
  }
  std::atomic<long> load_calls{0};
  for (int id = 0; id < 6; ++id) {
    threads.emplace_back([&, id] {  // load: sf_do and the split API on hot keys
      std::mt19937 rng(77 + id);
      while (!stop.load()) {
        sf_group *grp = rng() % 4 ? g.g : named.g;
        std::string key = "hot-" + std::to_string(rng() % 4);
        if (rng() % 2) {
          Result r;
          EXPECT_EQ(do_key(grp, key, value_work("v"), &r), SF_OK);
        } else {
          sf_ticket *w, *lead;
          ASSERT_EQ(sf_join(grp, key.data(), key.size(), 0, &w, &lead), SF_OK);
          sf_subscribe(
              w, [](void *) {}, nullptr);
          if (lead) {
            sf_complete(lead, SF_OK, bytes("v"), nullptr);
            sf_leave(lead);
          }
          Result r;
          sf_wait(w, static_cast<int64_t>(rng() % 3) * 1000, &r);
          sf_leave(w);
        }
        load_calls.fetch_add(1);
      }
    });
  }
  wait_until([&] { return stats(g).followers >= 2 && load_calls.load() > 100; });
  // This thread waits for "stuck" too: a ticket the child inherits.
  sf_ticket *inherited, *none;
  ASSERT_EQ(sf_join(g, "stuck", 5, 0, &inherited, &none), SF_OK);
  ASSERT_EQ(none, nullptr);

  const int children = 100;
  int failed = 0;
  for (int i = 0; i < children; ++i) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) _exit(in_child(g, inherited));
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      ++failed;
      ADD_FAILURE() << "child " << i << ": "
                    << (WIFEXITED(status) ? "failed check " + std::to_string(WEXITSTATUS(status))
                                          : "killed by signal " + std::to_string(WTERMSIG(status)));
    }
  }
  EXPECT_EQ(failed, 0);

  // The parent is untouched: its flights finish as they would have.
  release_stuck.open();
  Result r;
  EXPECT_EQ(sf_wait(inherited, -1, &r), SF_OK);
  EXPECT_EQ(str(r.value), "parent");
  sf_leave(inherited);
  stop.store(true);
  for (auto &t : threads) t.join();
  EXPECT_EQ(stats(g).live, 0u);
  EXPECT_EQ(stats(named).live, 0u);
  EXPECT_EQ(stats(g).in_table, 0u);
}

// A leader that forks inside its work: in the child its flight was ended
// (no thread of the child could be told otherwise), yet the work goes on
// there and sf_do gives it its own outcome.
TEST(Fork, LeaderThatForksInItsWorkKeepsItsOutcomeInTheChild) {
  Group g;
  pid_t pid = -1;
  Work forking = [&](sf_bytes **v, sf_bytes **) {
    pid = fork();
    *v = bytes(pid == 0 ? "child" : "parent");
    return SF_OK;
  };
  Result r;
  sf_status st = do_key(g, "k", forking, &r);
  if (pid == 0) {
    sf_stats s{};
    sf_group_stats(g, &s, sizeof s);
    int code = st != SF_OK                      ? 2
               : str(r.value) != "child"        ? 3
               : r.shared                       ? 4
               : s.live != 0 || s.in_table != 0 ? 5
               : !child_do(g, "k")              ? 6
                                                : 0;
    _exit(code);
  }
  ASSERT_GT(pid, 0);
  EXPECT_EQ(st, SF_OK);
  EXPECT_EQ(str(r.value), "parent");
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(stats(g).live, 0u);
}
