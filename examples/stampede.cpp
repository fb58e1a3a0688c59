// stampede.cpp — the cache stampede, with the C++ API (singleflight.hpp).
//
// The cache entry of user 42 has just expired, and 200 request threads miss
// it at once. With sf::keyed_group<int, User>, one thread (the leader) loads
// the user from the "database"; the other 199 wait and receive the very same
// User object, as std::shared_ptr<const User>: no copy, no serialization.
//
// So that the demonstration does not depend on timing, the query waits until
// every other caller has joined its flight (the group's counters say so).
//
// The program checks what it prints and exits non-zero if any of it is false:
// one query, every caller got the user, every caller was told it was shared,
// every caller holds the same object.
//
// Build and run (Meson registers it as a test in the suite 'examples'):
//   ninja -C build && ./build/examples/stampede_cpp
// or against an installed engine:
//   c++ -std=c++17 stampede.cpp $(pkg-config --cflags --libs singleflight) -pthread
#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <singleflight.hpp>

namespace {

constexpr int kCallers = 200;

struct User {
  int id;
  std::string name;
};

std::atomic<int> queries{0};

// The slow query. It holds on until the other callers are all waiting for it.
User load_user(int id, const sf::group &g) {
  queries.fetch_add(1);
  while (g.stats().followers < kCallers - 1) std::this_thread::yield();
  return User{id, "Ada"};
}

}  // namespace

int main() {
  sf::keyed_group<int, User> users;
  std::vector<std::shared_ptr<const User>> got(kCallers);
  std::atomic<int> shared{0};

  std::vector<std::thread> threads;
  for (int i = 0; i < kCallers; ++i) {
    threads.emplace_back([&, i] {
      sf::outcome<User> out = users.run(42, [&] { return load_user(42, users.untyped()); });
      got[i] = out.value;
      if (out.shared) shared.fetch_add(1);
    });
  }
  for (auto &t : threads) t.join();

  int same = 0;
  for (const auto &u : got) same += u && u.get() == got[0].get() && u->name == "Ada";
  std::printf(
      "%d callers, %d database query(ies), %d shared outcomes, %d holding the same User object\n",
      kCallers, queries.load(), shared.load(), same);
  bool ok = queries.load() == 1 && shared.load() == kCallers && same == kCallers;
  std::printf("%s\n", ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
