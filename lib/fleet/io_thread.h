// fleet/io_thread.h — the process's I/O thread: one thread and one wake
// pipe serving every fleet group of the process.
//
// A fleet group registers on attach (the first one starts the thread) and
// is finished on free; the thread ends once it finished the last group, so
// a process without fleet groups has no I/O thread. Each round the thread
// runs the protocol step (Fleet::step) of every group that was woken (a
// post, an abandonment), whose timer is due, or whose notice socket is
// readable; then it polls the wake pipe and every group's notice socket
// until the earliest group's next round. Each group keeps its own
// connection, breaker and counters; a round speaks to one server after the
// other (blocking sockets, each with its group's timeouts).
//
// Locks. mu_ guards the list of groups, the thread's handle and each
// group's Fleet::finished; it is never held across a group's step, so the
// steps call the engine with no lock of the I/O thread held.
//
// fork(): the thread stays in the parent. A child process gets a loop of
// its own for the fleet groups it opens; the ones it inherited never reach
// it (fleet_forked()).
#pragma once

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace sf {

struct Fleet;

class IoThread {
 public:
  // The loop of this process, for a fleet made in fork generation
  // `generation`; nullptr when out of resources.
  static IoThread *process(unsigned generation) noexcept;

  // Registers `f`, starting the thread if none runs; false when out of
  // resources (nothing registered).
  bool attach(Fleet *f) noexcept;

  // Any thread: the thread starts a round now.
  void wake() noexcept;

  // Whether the calling thread is this loop's I/O thread.
  bool on_io_thread() const noexcept;

  // Not on the I/O thread, after f->stopping was set and `f` woken: waits
  // until the thread finished `f` (its last completions sent) and forgot
  // it, and joins the thread if that was its last group (so the thread is
  // gone when this returns). The caller frees `f`.
  void await_finished(Fleet *f) noexcept;

 private:
  explicit IoThread(unsigned generation) noexcept : generation_(generation) {}
  void loop() noexcept;
  // One round; true when the thread is to end (it forgot its last group).
  bool round(std::vector<Fleet *> &groups, std::vector<Fleet *> &finished);
  bool forget(std::vector<Fleet *> &finished) noexcept;
  void drain_wake() noexcept;

  const unsigned generation_;
  int wake_fd_[2] = {-1, -1};

  std::mutex mu_;
  std::condition_variable finished_cv_;
  std::vector<Fleet *> groups_;  // mu_
  std::thread thread_;           // mu_
  bool running_ = false;         // mu_: the thread runs and has not decided to end
};

}  // namespace sf
