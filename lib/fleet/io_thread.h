// fleet/io_thread.h — the I/O threads of the process: one thread and one
// wake pipe per server, serving every fleet group of the process on that
// server (the same unix socket path, or the same host and port; the
// database, credentials and key prefix may differ).
//
// A fleet group registers on attach with its server's loop (the loop's
// first group starts its thread) and is finished on free; the thread ends
// once it finished the loop's last group, so a process without fleet
// groups on a server has no I/O thread for it. Each round the thread runs
// the protocol step (Fleet::step) of every group of its loop that was
// woken (a post, an abandonment), whose timer is due, or whose notices
// just read changed one of its held flights or leases; then it polls the
// wake pipe and every group's notice socket until the earliest group's
// next round. Each group keeps its own
// connection, breaker and counters. The sockets block (with each group's
// timeouts): a server that does not answer delays the groups on it, not
// the groups on other servers.
//
// The loops are kept in a registry keyed by the server, under one mutex;
// a loop stays there for the life of the process (its thread does not).
//
// Locks. mu_ guards a loop's list of groups, the thread's handle and each
// group's Fleet::finished; it is never held across a group's step, so the
// steps call the engine with no lock of the I/O thread held.
//
// fork(): the threads stay in the parent. A child process gets a registry
// and loops of its own for the fleet groups it opens; the ones it
// inherited never reach them (fleet_forked()).
#pragma once

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace sf {

struct Fleet;
struct FleetConfig;

class IoThread {
 public:
  // The loop of this process for the server `config` names, for a fleet
  // made in fork generation `generation`; nullptr when out of resources.
  static IoThread *of_server(const FleetConfig &config, unsigned generation) noexcept;

  // Registers `f`, starting the thread if none runs; false when out of
  // resources (nothing registered).
  bool attach(Fleet *f) noexcept;

  // Any thread: the thread starts a round now.
  void wake() noexcept;

  // Whether the calling thread is an I/O thread (of any loop).
  static bool on_io_thread() noexcept;

  // Not on the I/O thread, after f->stopping was set and `f` woken: waits
  // until the thread finished `f` (its last completions sent) and forgot
  // it, and joins the thread if that was its last group (so the thread is
  // gone when this returns). The caller frees `f`.
  void await_finished(Fleet *f) noexcept;

 private:
  IoThread() noexcept = default;
  void loop() noexcept;
  // One round; true when the thread is to end (it forgot its last group).
  bool round(std::vector<Fleet *> &groups, std::vector<Fleet *> &finished);
  bool forget(std::vector<Fleet *> &finished) noexcept;
  void drain_wake() noexcept;

  int wake_fd_[2] = {-1, -1};

  std::mutex mu_;
  std::condition_variable finished_cv_;
  std::vector<Fleet *> groups_;  // mu_
  std::thread thread_;           // mu_
  bool running_ = false;         // mu_: the thread runs and has not decided to end
};

}  // namespace sf
