#include "fleet/io_thread.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <new>
#include <string>

#include "fleet/fleet.h"
#include "fleet/options.h"

namespace sf {
namespace {

// The loops of the process, one per server endpoint (of a fork
// generation: a child makes its own registry; the parent's, copied into
// the child, is left there unused). A loop stays for the life of the
// process; its thread runs only while the loop has groups.
struct Registry {
  explicit Registry(unsigned g) noexcept : generation(g) {}
  const unsigned generation;
  std::mutex mu;
  std::map<std::string, std::unique_ptr<IoThread>> loops;  // mu
};
std::atomic<Registry *> g_registry{nullptr};

Registry *registry(unsigned generation) noexcept {
  Registry *r = g_registry.load(std::memory_order_acquire);
  while (!r || r->generation != generation) {
    Registry *made = new (std::nothrow) Registry(generation);
    if (!made) return nullptr;
    if (g_registry.compare_exchange_strong(r, made, std::memory_order_acq_rel)) return made;
    delete made;  // another thread made one first
  }
  return r;
}

// The server a config names: its unix socket path, or its host (case
// does not matter) and port. Database, credentials and key prefix are
// left out: groups differing in them still share the server's loop.
std::string endpoint(const FleetConfig &c) {
  if (!c.unix_path.empty()) return "unix:" + c.unix_path;
  std::string host = c.host;
  for (char &ch : host)
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  return "tcp:" + host + ":" + std::to_string(c.port);
}

// Whether the calling thread is an I/O thread (of any loop).
thread_local bool t_io_thread = false;

}  // namespace

IoThread *IoThread::of_server(const FleetConfig &config, unsigned generation) noexcept {
  Registry *r = registry(generation);
  if (!r) return nullptr;
  try {
    std::string key = endpoint(config);
    std::lock_guard<std::mutex> lk(r->mu);
    auto it = r->loops.find(key);
    if (it != r->loops.end()) return it->second.get();
    std::unique_ptr<IoThread> made(new IoThread());
    if (::pipe2(made->wake_fd_, O_CLOEXEC | O_NONBLOCK) != 0) return nullptr;
    IoThread *io = made.get();
    r->loops.emplace(std::move(key), std::move(made));
    return io;
  } catch (...) {
    return nullptr;
  }
}

bool IoThread::attach(Fleet *f) noexcept {
  std::lock_guard<std::mutex> lk(mu_);
  try {
    groups_.push_back(f);
  } catch (...) {
    return false;
  }
  if (running_) {
    wake();  // the thread takes the new group in its next round
    return true;
  }
  // The thread that finished the last group ended (or is ending: it takes
  // mu_ no more), unless it detached itself.
  if (thread_.joinable()) thread_.join();
  try {
    thread_ = std::thread([this] { loop(); });
  } catch (...) {
    groups_.pop_back();
    return false;
  }
  running_ = true;
  return true;
}

void IoThread::wake() noexcept {
  char c = 1;
  ssize_t n = ::write(wake_fd_[1], &c, 1);  // a full pipe is awake already
  (void)n;
}

bool IoThread::on_io_thread() noexcept { return t_io_thread; }

void IoThread::await_finished(Fleet *f) noexcept {
  std::unique_lock<std::mutex> lk(mu_);
  finished_cv_.wait(lk, [f] { return f->finished; });
  if (!running_ && thread_.joinable()) thread_.join();
}

void IoThread::drain_wake() noexcept {
  char buf[64];
  while (::read(wake_fd_[0], buf, sizeof buf) > 0) {
  }
}

// Forgets the groups the thread finished: a group freed on an I/O thread
// (Fleet::detached) is freed here, any other one is its fleet_free's to
// free. True when no group is left: the thread ends, joined by the
// fleet_free of the last group, or detached when that fleet_free ran on
// an I/O thread (nobody is left to join it).
bool IoThread::forget(std::vector<Fleet *> &finished) noexcept {
  std::size_t freed = 0;  // finished[0, freed): the ones to free here
  bool last;
  {
    std::lock_guard<std::mutex> lk(mu_);
    for (Fleet *f : finished) {
      bool self_free;
      {
        std::lock_guard<std::mutex> in(f->inbox_mu);
        self_free = f->detached;
      }
      groups_.erase(std::find(groups_.begin(), groups_.end(), f));
      if (self_free) finished[freed++] = f;
      else f->finished = true;
    }
    last = groups_.empty();
    if (last) {
      running_ = false;
      if (freed == finished.size()) thread_.detach();  // no fleet_free waits to join it
    }
  }
  finished_cv_.notify_all();
  for (std::size_t i = 0; i < freed; ++i) delete finished[i];
  return last;
}

bool IoThread::round(std::vector<Fleet *> &groups, std::vector<Fleet *> &finished) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    groups = groups_;
  }
  finished.clear();
  Clock::time_point now = Clock::now();
  for (Fleet *f : groups) {
    // Woken (a post, an abandonment, a new group) or due (a timer, a
    // notice read, work left from its last step).
    if (!f->woken.exchange(false, std::memory_order_acq_rel) && now < f->due) continue;
    if (f->step()) {
      finished.push_back(f);
      continue;
    }
    f->due = f->next_round(Clock::now());
  }
  if (!finished.empty()) return forget(finished);  // the next round takes a fresh list

  std::vector<pollfd> fds{{wake_fd_[0], POLLIN, 0}};
  std::vector<Fleet *> polled;
  Clock::time_point next = Clock::time_point::max();
  for (Fleet *f : groups) {
    next = std::min(next, f->due);
    const int fd = f->notice_fd();
    if (fd < 0) continue;
    fds.push_back({fd, POLLIN, 0});
    polled.push_back(f);
  }
  now = Clock::now();
  int timeout = 1000;
  if (next <= now) {
    timeout = 0;
  } else if (next - now < std::chrono::seconds(1)) {
    // Rounded up, so a timer is not polled for again just before it fires.
    timeout = static_cast<int>(
                  std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count()) +
              1;
  }
  const int n = ::poll(fds.data(), static_cast<nfds_t>(fds.size()), timeout);
  if (n <= 0) return false;
  if (fds[0].revents & POLLIN) drain_wake();
  for (std::size_t i = 0; i < polled.size(); ++i) {
    if (!fds[i + 1].revents) continue;
    // A step follows what the notices changed (notices of other keys: none).
    if (polled[i]->read_notices()) polled[i]->due = Clock::time_point::min();
  }
  return false;
}

void IoThread::loop() noexcept {
  // A write to a connection the server closed must fail with EPIPE, not
  // raise SIGPIPE, whose default action ends the whole process (a Go
  // program included): the signal stays blocked on this thread alone.
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
  t_io_thread = true;
  std::vector<Fleet *> groups, finished;
  for (;;) {
    try {
      if (round(groups, finished)) return;
    } catch (...) {
      // Out of memory for a round's lists: the next round tries again.
      ::poll(nullptr, 0, 10);
    }
  }
}

}  // namespace sf
