#include "fleet/fleet.h"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "bytes.h"
#include "fleet/current_work.h"
#include "fleet/hooks.h"
#include "fleet/notice.h"
#include "flight.h"
#include "group.h"

namespace sf {
namespace {

std::string str(const redisReply *r) {
  return r && r->type == REDIS_REPLY_STRING ? std::string(r->str, r->len) : std::string();
}

std::uint64_t to_u64(const std::string &s) {
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return 0;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

std::string bytes_str(const sf_bytes *b) {
  return std::string(static_cast<const char *>(sf_bytes_data(b)), sf_bytes_len(b));
}

// Bumped in every child process fork() makes (pthread_atfork).
std::atomic<unsigned> g_fork_generation{0};
void count_fork() noexcept { g_fork_generation.fetch_add(1, std::memory_order_relaxed); }

// True in a process forked from the one that made `f`: its I/O thread and
// connections stayed in the parent, and its locks may have been held there.
bool fleet_forked(const Fleet *f) noexcept {
  return g_fork_generation.load(std::memory_order_relaxed) != f->generation;
}

void on_abandoned(void *ud) {
  auto *p = static_cast<Pending *>(ud);
  p->abandoned.store(true, std::memory_order_release);
  p->fleet->wake();
}

bool same_key(const std::string &k, const void *key, std::size_t len) noexcept {
  return k.size() == len && (len == 0 || std::memcmp(k.data(), key, len) == 0);
}

// How many completion notices the I/O thread remembers (RecentNotice).
constexpr std::size_t kRecentNotices = 256;

// The retry time of a waiter told the lease has `pttl` ms left: its end,
// plus a little for the clocks' tick (a leader that died is taken over then).
Clock::time_point retry_time(Clock::time_point now, long long pttl) {
  if (pttl < 0) pttl = 0;
  return now + std::chrono::milliseconds(pttl + 2 + pttl / 50);
}

// The leader of `token` for `key` (or of a local grant: 0) finished: the
// callers its hand-off woke who have not joined its flight are stragglers
// (grant_mu held). Returns the run's record, erased.
int take_local_run(Fleet *f, const void *key, std::size_t len, std::uint64_t token) noexcept {
  for (auto it = f->local_runs.begin(); it != f->local_runs.end(); ++it) {
    if (it->token == token && same_key(it->key, key, len)) {
      const int handed = it->handed;
      f->local_runs.erase(it);
      return handed;
    }
  }
  return 0;
}

// A leader of `token` finished with `callers` local callers: the callers its
// hand-off woke who joined again only after that read its outcome (as
// stragglers). Before its completion is sent: a straggler's join must find
// it registered or the lease still held.
void note_stragglers(Fleet *f, const std::string &key, std::uint64_t token,
                     std::uint32_t callers) noexcept {
  std::lock_guard<std::mutex> lk(f->grant_mu);
  const int late = take_local_run(f, key.data(), key.size(), token) - static_cast<int>(callers);
  if (late <= 0) return;
  try {
    f->stragglers.push_back(
        Stragglers{key, token, late, Clock::now() + std::chrono::milliseconds(f->config.lease_ms)});
  } catch (...) {
    // No memory: the late callers lead a new run.
  }
}

// The token a new flight of `key` reads the outcome of (a straggler's), or
// 0 (grant_mu held).
std::uint64_t take_straggler_locked(Fleet *f, const std::string &key) noexcept {
  const Clock::time_point now = Clock::now();
  for (auto it = f->stragglers.begin(); it != f->stragglers.end();) {
    if (now >= it->until) {
      it = f->stragglers.erase(it);
      continue;
    }
    if (it->key == key) {
      const std::uint64_t token = it->token;
      if (--it->left == 0) f->stragglers.erase(it);
      return token;
    }
    ++it;
  }
  return 0;
}

std::uint64_t take_straggler(Fleet *f, const std::string &key) noexcept {
  std::lock_guard<std::mutex> lk(f->grant_mu);
  return take_straggler_locked(f, key);
}

// A flight held for a late caller of a local grant's leader
// (fleet_new_flight): completed with that leader's outcome. False if
// there is none (it expired): the flight goes on as any other.
bool complete_late(Fleet *f, sf_ticket *work, const std::string &key) noexcept {
  sf_status status = SF_OK;
  sf_bytes *value = nullptr, *error = nullptr;
  bool found = false;
  {
    std::lock_guard<std::mutex> lk(f->grant_mu);
    for (auto it = f->local_outcomes.begin(); it != f->local_outcomes.end(); ++it) {
      if (it->holds == 0 || it->key != key) continue;
      found = true;
      status = it->status;
      value = sf_bytes_retain(it->value);
      error = sf_bytes_retain(it->error);
      if (--it->holds == 0 && it->left == 0) {
        sf_bytes_release(it->value);
        sf_bytes_release(it->error);
        f->local_outcomes.erase(it);
      }
      break;
    }
  }
  if (!found) return false;
  group_complete_remote(work, status, value, error);
  group_leave(work);
  return true;
}

void grant(Fleet *f, const std::string &key, std::uint64_t token, int handed) {
  std::lock_guard<std::mutex> lk(f->grant_mu);
  f->grants.push_back(Grant{key, token, handed});
}

// The local callers of the held flight of `work` (the leader among them).
int local_callers(sf_ticket *work) noexcept {
  Flight *fl = work->flight;
  std::lock_guard<detail::SpinMutex> lk(fl->mu);
  return fl->waiters;
}

// The fleet's outcome of a held flight: its local callers get it (or the
// flight is handed to a local leader when it was too large to publish:
// false, the caller hands it over).
bool complete_remote(Fleet *f, sf_ticket *work, const Notice &n) noexcept {
  if (n.status == "L") return false;
  int st = std::atoi(n.status.c_str());
  if (st != SF_OK && st != SF_EWORK && st != SF_EPANIC && st != SF_ENOBYTES) st = SF_EPANIC;
  sf_bytes *v = n.has_value ? sf_bytes_new(n.value.data(), n.value.size()) : nullptr;
  sf_bytes *e = n.has_error ? sf_bytes_new(n.error.data(), n.error.size()) : nullptr;
  // Counted before the callers wake: what they read next includes it.
  f->joined.fetch_add(1, std::memory_order_relaxed);
  group_complete_remote(work, static_cast<sf_status>(st), v, e);
  group_leave(work);
  return true;
}

// The completion script of the leader of `token`.
Command complete_command(const Fleet &f, const std::string *sha, const Post &p) {
  const FlightKeys keys = flight_keys(f.config.prefix, f.hex_group, p.key.data(), p.key.size());
  std::string status = std::to_string(static_cast<int>(p.status));
  std::string value, error;
  bool has_value = p.value != nullptr, has_error = p.error != nullptr;
  if (p.native_only) {
    status = std::to_string(static_cast<int>(SF_ENOBYTES));
    has_value = false;
    has_error = true;
    error = "the leader's value is a native " + p.native_name +
            " value with no byte form: a caller in another process cannot receive it";
  } else {
    if (has_value) value = bytes_str(p.value);
    if (has_error) error = bytes_str(p.error);
  }
  if (p.too_large) {  // counted by fleet_leader_done
    status = "L";
    has_value = has_error = false;
    value.clear();
    error.clear();
  }
  const std::uint64_t ttl = std::max<std::uint64_t>(2ull * f.config.lease_ms, 2000);
  const bool inline_outcome = notice_inline(value.size(), error.size());
  return eval_command(
      sha[kComplete], {keys.lease, keys.latest, keys.linger},
      {std::to_string(p.token),
       encode_outcome(p.token, status, has_value ? &value : nullptr, has_error ? &error : nullptr),
       std::to_string(ttl), std::to_string(f.config.linger_ms), f.channel, keys.hex_key,
       inline_outcome ? "1" : "0"});
}

Command join_command(const Fleet &f, const std::string *sha, const FlightKeys &keys,
                     std::uint64_t waited) {
  return eval_command(
      sha[kJoin], {keys.lease, keys.counter, keys.latest, keys.linger},
      {std::to_string(f.config.lease_ms), std::to_string(waited), f.config.linger_ms ? "1" : "0"});
}

}  // namespace

Fleet::Fleet(const FleetConfig &c, const void *name, std::size_t len)
    : config(c),
      hex_group(to_hex(name, len)),
      channel(done_channel(c.prefix, hex_group)),
      breaker(c.cooldown_ms),
      conn(config) {}

Fleet::~Fleet() {
  for (auto &o : local_outcomes) {
    sf_bytes_release(o.value);
    sf_bytes_release(o.error);
  }
  for (int fd : wake_fd)
    if (fd >= 0) ::close(fd);
}

void Fleet::wake() noexcept {
  char c = 1;
  ssize_t n = ::write(wake_fd[1], &c, 1);  // a full pipe is awake already
  (void)n;
}

void Fleet::post(Post &&p, bool wake_thread) noexcept {
  {
    std::lock_guard<std::mutex> lk(inbox_mu);
    inbox.push_back(std::move(p));
  }
  if (wake_thread) wake();
}

namespace {

// The I/O thread's protocol steps. A free function set over Fleet, so the
// header stays the data.
struct Loop {
  Fleet &f;
  std::vector<Command> cmds;
  std::vector<std::pair<Fleet::Out, void *>> what;
  std::vector<pollfd> fds;

  Clock::duration lease() const { return std::chrono::milliseconds(f.config.lease_ms); }

  // True if the grant was still unclaimed (and is gone now).
  bool revoke(const std::string &key, std::uint64_t token) {
    std::lock_guard<std::mutex> lk(f.grant_mu);
    for (auto it = f.grants.begin(); it != f.grants.end(); ++it) {
      if (it->token == token && it->key == key) {
        f.grants.erase(it);
        return true;
      }
    }
    return false;
  }

  // Hands a held flight to a local leader: with a token (a fleet leader)
  // or without (a local flight).
  void hand_over(Pending &p, std::uint64_t token) {
    grant(&f, p.key, token, local_callers(p.work));
    add_lease(p.key, p.keys, token, Clock::now());
    group_leave(p.work);  // SF_EHANDOFF: the local callers join again
  }

  // A lease to renew (token), or a local grant (0) forgotten if nobody
  // claims it.
  void add_lease(const std::string &key, const FlightKeys &keys, std::uint64_t token,
                 Clock::time_point taken_at) {
    Lease l;
    l.key = key;
    l.keys = keys;
    l.token = token;
    l.renew_at = taken_at + lease() / 3;
    l.claim_by = taken_at + lease();
    f.leases.push_back(std::move(l));
  }

  void fall_back(Pending &p) {
    f.fallbacks.fetch_add(1, std::memory_order_relaxed);
    hand_over(p, 0);
  }

  void fall_back_all() {
    for (auto &p : f.pendings) fall_back(*p);
    f.pendings.clear();
  }

  void hold(Post &post) {
    auto p = std::make_unique<Pending>();
    p->fleet = &f;
    p->work = post.work;
    Flight *fl = post.work->flight;
    p->key.assign(reinterpret_cast<const char *>(fl->key), fl->key_len);
    p->keys = flight_keys(f.config.prefix, f.hex_group, fl->key, fl->key_len);
    if (post.epoch) {  // a direct join's outcome
      p->waited = post.waited;
      if (post.waiting && post.epoch == f.live_epoch.load(std::memory_order_relaxed) &&
          !noticed(p->keys.hex_key, p->waited)) {
        p->state = Pending::kWaiting;
        p->retry_at = post.retry_at;
      }
    } else {
      p->waited = take_straggler(&f, p->key);  // the join reads the outcome of that token
      if (complete_late(&f, p->work, p->key)) return;
    }
    Pending &ref = *p;
    f.pendings.push_back(std::move(p));
    if (!f.conn.is_open() && f.ever_connected) {  // the breaker opened meanwhile
      fall_back(ref);
      f.pendings.pop_back();
      return;
    }
    sf_on_abandoned(ref.work, on_abandoned, &ref);
  }

  // Whether a notice of `hex_key`'s flight of `token` (or a later one) was
  // read lately: the flight waited on ended.
  bool noticed(const std::string &hex_key, std::uint64_t token) const {
    const std::size_t h = std::hash<std::string>()(hex_key);
    for (auto &r : f.recent)
      if (r.key_hash == h && r.token >= token) return true;
    return false;
  }

  void remember(const Notice &n) {
    RecentNotice r{std::hash<std::string>()(n.hex_key), n.token};
    if (f.recent.size() < kRecentNotices) {
      f.recent.push_back(r);
    } else {
      f.recent[f.recent_next] = r;
      f.recent_next = (f.recent_next + 1) % kRecentNotices;
    }
  }

  void queue_out(Command c, Fleet::Out kind) {
    f.outgoing.push_back(std::move(c));
    f.outgoing_what.emplace_back(kind, nullptr);
  }

  void drop_lease(const std::string &key, std::uint64_t token) {
    for (auto it = f.leases.begin(); it != f.leases.end(); ++it) {
      if (it->token == token && it->key == key) {
        f.leases.erase(it);
        return;
      }
    }
  }

  void done(Post &p) {
    drop_lease(p.key, p.token);
    if (p.link) {  // sent by the leader: its reply is owed
      f.draining.emplace_back(p.link);
      f.draining_since.push_back(Clock::now());
      p.link = nullptr;
    } else if (f.conn.is_open()) {
      queue_out(complete_command(f, f.sha, p), Fleet::kOutComplete);
    }
    sf_bytes_release(p.value);
    sf_bytes_release(p.error);
    p.value = p.error = nullptr;
  }

  void left(Post &p) {
    drop_lease(p.key, p.token);
    if (!f.conn.is_open()) return;
    FlightKeys keys = flight_keys(f.config.prefix, f.hex_group, p.key.data(), p.key.size());
    queue_out(f.conn.eval(kRelease, {keys.lease},
                          {std::to_string(p.token), f.channel,
                           keys.hex_key + ":" + std::to_string(p.token)}),
              Fleet::kOutRelease);
  }

  void release_lease(const FlightKeys &keys, std::uint64_t token) {
    if (!f.conn.is_open()) return;
    queue_out(
        f.conn.eval(kRelease, {keys.lease},
                    {std::to_string(token), f.channel, keys.hex_key + ":" + std::to_string(token)}),
        Fleet::kOutRelease);
  }

  // Drains the inbox; true if the fleet is stopping.
  bool take_posts() {
    std::vector<Post> posts;
    bool stop;
    {
      std::lock_guard<std::mutex> lk(f.inbox_mu);
      posts.swap(f.inbox);
      stop = f.stopping;
    }
    for (auto &p : posts) {
      switch (p.kind) {
        case Post::kHold: hold(p); break;
        case Post::kDone: done(p); break;
        case Post::kLeft: left(p); break;
        case Post::kLed:
          add_lease(p.key, flight_keys(f.config.prefix, f.hex_group, p.key.data(), p.key.size()),
                    p.token, p.taken_at);
          break;
        case Post::kRelease:
          release_lease(flight_keys(f.config.prefix, f.hex_group, p.key.data(), p.key.size()),
                        p.token);
          break;
      }
    }
    return stop;
  }

  void drain_wake() {
    char buf[64];
    while (::read(f.wake_fd[0], buf, sizeof buf) > 0) {
    }
  }

  // Held flights that every local caller left: this process is no longer
  // interested.
  void drop_abandoned() {
    for (auto it = f.pendings.begin(); it != f.pendings.end();) {
      Pending &p = **it;
      if (p.state != Pending::kSent && p.abandoned.load(std::memory_order_acquire) &&
          sf_abandoned(p.work)) {
        group_leave(p.work);
        it = f.pendings.erase(it);
      } else {
        ++it;
      }
    }
  }

  void timers(Clock::time_point now) {
    for (auto &p : f.pendings)
      if (p->state == Pending::kWaiting && now >= p->retry_at) p->state = Pending::kQueued;
    for (auto it = f.leases.begin(); it != f.leases.end();) {
      Lease &l = *it;
      if (!l.claimed && now >= l.claim_by) {
        if (revoke(l.key, l.token)) {  // nobody came for it
          if (l.token) release_lease(l.keys, l.token);
          it = f.leases.erase(it);
          continue;
        }
        l.claimed = true;
      }
      if (!l.token) {  // a local grant: nothing to renew
        if (l.claimed || now >= l.claim_by) {
          it = f.leases.erase(it);
          continue;
        }
      }
      ++it;
    }
  }

  // A completion notice: a waiter of that flight, or of an older token (a
  // takeover finished first), completes from the outcome it carries; a
  // hint makes it ask the server again.
  void notices(const std::vector<std::string> &got) {
    Notice n;
    for (auto &text : got) {
      if (!parse_notice(text, &n)) continue;
      remember(n);
      for (auto &p : f.pendings) {
        if (p->state != Pending::kWaiting || p->keys.hex_key != n.hex_key) continue;
        if (n.has_outcome && n.token >= p->waited) {
          apply_outcome(*p, n);
          p->state = Pending::kSent;  // dropped below, as after a reply
        } else {
          p->state = Pending::kQueued;
        }
      }
    }
    f.pendings.remove_if([](const std::unique_ptr<Pending> &p) { return p->work == nullptr; });
  }

  // The fleet's outcome of a held flight: its local callers get it, or run
  // the work here when it was too large to publish. p.work is null after.
  void apply_outcome(Pending &p, const Notice &n) {
    if (!complete_remote(&f, p.work, n)) {  // too large to publish: run it here
      f.too_large.fetch_add(1, std::memory_order_relaxed);
      hand_over(p, 0);
    }
    p.work = nullptr;
  }

  // Builds the batch: joins of queued flights, renewals due, and what the
  // posts queued.
  void build(Clock::time_point now) {
    cmds.clear();
    what.clear();
    const std::string lease_ms = std::to_string(f.config.lease_ms);
    // Completions first: a join in the same batch then reads them.
    for (std::size_t i = 0; i < f.outgoing.size(); ++i) {
      cmds.push_back(std::move(f.outgoing[i]));
      what.push_back(f.outgoing_what[i]);
    }
    f.outgoing.clear();
    f.outgoing_what.clear();
    for (auto &p : f.pendings) {
      if (p->state != Pending::kQueued) continue;
      p->state = Pending::kSent;
      cmds.push_back(join_command(f, f.sha, p->keys, p->waited));
      what.emplace_back(Fleet::kOutJoin, p.get());
    }
    for (auto &l : f.leases) {
      if (!l.token || now < l.renew_at) continue;
      l.renew_at = now + lease() / 3;
      cmds.push_back(f.conn.eval(kRenew, {l.keys.lease}, {std::to_string(l.token), lease_ms}));
      what.emplace_back(Fleet::kOutRenew, &l);
    }
  }

  void on_join(Pending &p, const redisReply *r, Clock::time_point now) {
    std::string verb = r->type == REDIS_REPLY_ARRAY && r->elements >= 2 ? str(r->element[0]) : "";
    Notice n;
    if (verb == "done" && parse_outcome(str(r->element[1]), &n)) {
      apply_outcome(p, n);
      return;
    }
    if (verb == "lead") {
      std::uint64_t token = to_u64(str(r->element[1]));
      if (sf_abandoned(p.work)) {  // nobody here wants it any more
        release_lease(p.keys, token);
        group_leave(p.work);
        p.work = nullptr;
        return;
      }
      if (p.waited) f.taken_over.fetch_add(1, std::memory_order_relaxed);
      hand_over(p, token);
      p.work = nullptr;
      return;
    }
    if (verb == "wait" && r->elements == 3) {
      p.waited = to_u64(str(r->element[1]));
      p.retry_at =
          retry_time(now, r->element[2]->type == REDIS_REPLY_INTEGER ? r->element[2]->integer : 0);
      p.state = Pending::kWaiting;
      return;
    }
    // An answer the protocol does not know: run it here.
    fall_back(p);
    p.work = nullptr;
  }

  // Sends the batch and applies the replies; false if the connection failed.
  bool send(Clock::time_point now) {
    if (cmds.empty()) return true;
    std::vector<Reply> replies;
    std::string why;
    if (!f.conn.run(cmds, &replies, &why)) {
      // The joins sent get no answer: queue them again (after a reconnect,
      // or to fall back).
      for (auto &w : what)
        if (w.first == Fleet::kOutJoin) static_cast<Pending *>(w.second)->state = Pending::kQueued;
      return false;
    }
    for (std::size_t i = 0; i < replies.size(); ++i) {
      const redisReply *r = replies[i].get();
      switch (what[i].first) {
        case Fleet::kOutJoin: on_join(*static_cast<Pending *>(what[i].second), r, now); break;
        case Fleet::kOutRenew:
          if (r->type == REDIS_REPLY_INTEGER && r->integer == 0) {
            auto *l = static_cast<Lease *>(what[i].second);
            l->renew_at = Clock::time_point::max();  // lost: no more renewals
            // Unless its leader completed it on a direct link meanwhile.
            if (!completion_posted(*l)) f.leases_lost.fetch_add(1, std::memory_order_relaxed);
          }
          break;
        case Fleet::kOutComplete:
          if (r->type == REDIS_REPLY_INTEGER && r->integer == 0)
            f.fenced.fetch_add(1, std::memory_order_relaxed);
          break;
        case Fleet::kOutRelease: break;
      }
    }
    f.pendings.remove_if([](const std::unique_ptr<Pending> &p) { return p->work == nullptr; });
    return true;
  }

  // Whether the completion of lease `l` is in the inbox (its leader posted
  // it before sending it on a direct link).
  bool completion_posted(const Lease &l) {
    std::lock_guard<std::mutex> lk(f.inbox_mu);
    for (auto &p : f.inbox)
      if (p.kind == Post::kDone && p.token == l.token && p.key == l.key) return true;
    return false;
  }

  bool connect() {
    std::string why;
    if (!f.conn.open(f.channel, &why)) return false;
    if (f.ever_connected) f.reconnects.fetch_add(1, std::memory_order_relaxed);
    if (!f.ever_connected)
      for (int i = 0; i < kScripts; ++i) f.sha[i] = f.conn.sha(static_cast<FleetScript>(i));
    f.ever_connected = true;
    f.breaker.close();
    for (auto &p : f.pendings) p->state = Pending::kQueued;     // every pending flight joins again
    f.live_epoch.store(++f.epochs, std::memory_order_release);  // direct joins may run
    return true;
  }

  void close() {
    f.live_epoch.store(0, std::memory_order_release);
    f.conn.close();
  }

  // After a failure: one immediate reconnect (a restarted server, a killed
  // connection); if that fails too, the breaker opens and every held flight
  // runs locally.
  void failed(Clock::time_point now) {
    close();
    if (connect()) return;
    f.breaker.trip(now);
    fall_back_all();
    f.outgoing.clear();
    f.outgoing_what.clear();
  }

  int poll_timeout(Clock::time_point now) const {
    // Quiet posts (a direct join's lease, a direct completion) wait for
    // the next wake-up: at the latest a sixth of the lease from now, so a
    // lease is renewed in time.
    Clock::time_point next = now + std::min<Clock::duration>(std::chrono::seconds(1), lease() / 6);
    for (auto &p : f.pendings) {
      if (p->state == Pending::kQueued) return 0;
      if (p->state == Pending::kWaiting) next = std::min(next, p->retry_at);
    }
    for (auto &l : f.leases) {
      if (l.token) next = std::min(next, l.renew_at);
      if (!l.claimed) next = std::min(next, l.claim_by);
    }
    if (!f.conn.is_open()) next = std::min(next, f.breaker.retry_at());
    for (auto &since : f.draining_since) next = std::min(next, since + command_timeout());
    if (!f.outgoing.empty()) return 0;
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count();
    return ms <= 0 ? 0 : static_cast<int>(ms) + 1;
  }

  void run() {
    for (;;) {
      Clock::time_point now = Clock::now();
      if (!f.conn.is_open() && f.breaker.may_retry(now)) {
        if (!connect()) {
          close();
          f.breaker.trip(now);
          fall_back_all();
        }
      }
      bool stop = take_posts();
      drop_abandoned();
      now = Clock::now();
      timers(now);
      if (f.conn.is_open()) {
        build(now);
        if (!send(now)) failed(Clock::now());
      } else {
        f.outgoing.clear();
        f.outgoing_what.clear();
        fall_back_all();
      }
      if (stop && f.pendings.empty() && f.outgoing.empty() && f.draining.empty()) break;
      fds.assign({{f.wake_fd[0], POLLIN, 0}, {f.conn.notice_fd(), POLLIN, 0}});
      for (auto &l : f.draining) fds.push_back({l->fd(), POLLIN, 0});
      const int timeout = stop ? (f.draining.empty() ? 0 : 1) : poll_timeout(Clock::now());
      int n = ::poll(fds.data(), fds.size(), timeout);
      if (n > 0 && (fds[0].revents & POLLIN)) drain_wake();
      if (n > 0 && fds[1].fd >= 0 && fds[1].revents) {
        std::vector<std::string> got;
        std::string why;
        if (f.conn.read_notices(&got, &why)) notices(got);
        else failed(Clock::now());
      }
      drain_links(fds, n > 0);
    }
    close();
  }

  Clock::duration command_timeout() const {
    return std::chrono::milliseconds(f.config.command_timeout_ms);
  }

  // Reads the owed completion replies of the direct links; a link whose
  // replies all came goes back to the pool, one that failed or is late
  // (past the command timeout) is closed.
  void drain_links(const std::vector<pollfd> &fds, bool polled) {
    const Clock::time_point now = Clock::now();
    for (std::size_t i = f.draining.size(); i-- > 0;) {
      DirectLink &l = *f.draining[i];
      bool ok = true;
      if (polled && fds[2 + i].revents) {
        int refused = 0;
        ok = l.drain(&refused);
        if (refused) f.fenced.fetch_add(refused, std::memory_order_relaxed);
      }
      if (ok && l.owed() > 0 && now < f.draining_since[i] + command_timeout()) continue;
      std::unique_ptr<DirectLink> link = std::move(f.draining[i]);
      f.draining.erase(f.draining.begin() + static_cast<std::ptrdiff_t>(i));
      f.draining_since.erase(f.draining_since.begin() + static_cast<std::ptrdiff_t>(i));
      if (ok && l.owed() == 0) give_link(&f, std::move(link));
    }
  }
};

}  // namespace

void Fleet::run() noexcept {
  // A write to a connection the server closed must fail with EPIPE, not
  // raise SIGPIPE, whose default action ends the whole process (a Go
  // program included): the signal stays blocked on this thread alone.
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
  try {
    Loop{*this, {}, {}, {}}.run();
  } catch (...) {
    // Out of memory in the I/O thread: every held flight runs locally from
    // now on, and nothing waits for this thread.
    live_epoch.store(0, std::memory_order_release);
    breaker.trip(Clock::now());
    for (auto &p : pendings)
      if (p->work) group_leave(p->work);
    pendings.clear();
  }
  bool self_free;
  {
    std::lock_guard<std::mutex> lk(inbox_mu);
    self_free = detached;
  }
  if (self_free) delete this;
}

namespace {

// A local grant's leader completed (before its callers wake): its outcome
// is kept for the callers its hand-off woke who have not joined its flight
// yet, so that they do not run the work again.
void local_grant_done(Fleet *f, const void *key, std::size_t len, std::uint32_t callers,
                      sf_status status, sf_bytes *value, sf_bytes *error,
                      const sf_native_kind *kind) noexcept {
  std::lock_guard<std::mutex> lk(f->grant_mu);
  const int late = take_local_run(f, key, len, 0) - static_cast<int>(callers);
  if (late <= 0) return;
  try {
    LocalOutcome o{std::string(static_cast<const char *>(key), len),
                   late,
                   0,
                   status,
                   nullptr,
                   nullptr,
                   Clock::now() + std::chrono::milliseconds(f->config.lease_ms)};
    if (status == SF_OK && kind && !value) {
      std::string why = std::string("the leader's value is a native ") +
                        (kind->name ? kind->name : "(unnamed)") +
                        " value with no byte form: a caller that joined after it finished "
                        "cannot receive it";
      o.status = SF_ENOBYTES;
      o.error = sf_bytes_new(why.data(), why.size());
    } else {
      o.value = sf_bytes_retain(value);
      o.error = sf_bytes_retain(error);
    }
    f->local_outcomes.push_back(std::move(o));
  } catch (...) {
    // No memory: the late callers run the work again.
  }
}

// Blocks SIGPIPE on this thread while a direct link writes (hiredis writes
// with write(2)): a server gone mid-write is an EPIPE error, not the end of
// the process. A SIGPIPE the write raised is taken before the mask is put back.
class NoSigpipe {
 public:
  NoSigpipe() noexcept {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &saved_);
  }
  ~NoSigpipe() {
    if (!was_pending_) {
      sigset_t pending;
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        timespec zero{0, 0};
        sigtimedwait(&pipe_, nullptr, &zero);
      }
    }
    pthread_sigmask(SIG_SETMASK, &saved_, nullptr);
  }
  NoSigpipe(const NoSigpipe &) = delete;
  NoSigpipe &operator=(const NoSigpipe &) = delete;

 private:
  sigset_t pipe_, saved_;
  bool was_pending_ = false;
};

// The most direct links the pool keeps (more are closed when given back).
constexpr std::size_t kDirectLinks = 8;

std::unique_ptr<DirectLink> take_link(Fleet *f) noexcept {
  {
    std::lock_guard<std::mutex> lk(f->direct_mu);
    if (!f->direct_free.empty()) {
      std::unique_ptr<DirectLink> l = std::move(f->direct_free.back());
      f->direct_free.pop_back();
      return l;
    }
  }
  try {
    std::string why;
    redisContext *c = connect_command(f->config, &why);
    if (!c) return nullptr;
    return std::unique_ptr<DirectLink>(new DirectLink(c));
  } catch (...) {
    return nullptr;
  }
}

// A link that failed: the others may be to the same lost server.
void drop_links(Fleet *f) noexcept {
  std::vector<std::unique_ptr<DirectLink>> gone;
  std::lock_guard<std::mutex> lk(f->direct_mu);
  gone.swap(f->direct_free);
}

// The direct path's held flight handed to the I/O thread: to join (waited:
// the token whose outcome it reads), or to wait for a notice (waiting).
void post_hold(Fleet *f, sf_ticket *work, std::uint64_t waited, bool waiting,
               Clock::time_point retry_at, std::uint64_t epoch) {
  Post p;
  p.kind = Post::kHold;
  p.work = work;
  p.waited = waited;
  p.waiting = waiting;
  p.retry_at = retry_at;
  p.epoch = epoch;
  f->post(std::move(p));
}

// kLed is quiet (fleet.h): the lease is renewed only after a third of it.
void post_lease(Fleet *f, Post::Kind kind, const std::string &key, std::uint64_t token) {
  Post p;
  p.kind = kind;
  p.key = key;
  p.token = token;
  p.taken_at = Clock::now();
  f->post(std::move(p), kind != Post::kLed);
}

// The join script, run by the first caller of an sf_do() itself while the
// I/O thread is subscribed (fleet.h). False if it cannot run here: the I/O
// thread takes the flight as any other.
bool join_here(Fleet *f, sf_ticket *work) {
  const std::uint64_t epoch = f->live_epoch.load(std::memory_order_acquire);
  if (!epoch) return false;
  Flight *fl = work->flight;
  const std::string key(reinterpret_cast<const char *>(fl->key), fl->key_len);
  if (complete_late(f, work, key)) return true;
  std::uint64_t waited = take_straggler(f, key);
  std::unique_ptr<DirectLink> link = take_link(f);
  if (!link) {
    post_hold(f, work, waited, false, {}, epoch);
    return true;
  }
  const FlightKeys keys = flight_keys(f->config.prefix, f->hex_group, key.data(), key.size());
  Reply r;
  std::string why;
  int refused = 0;
  bool ok;
  {
    NoSigpipe quiet;
    ok = link->call(join_command(*f, f->sha, keys, waited), &r, &refused, &why);
  }
  if (refused) f->fenced.fetch_add(refused, std::memory_order_relaxed);
  if (!ok) {  // the I/O thread joins it, and trips the breaker if the server is gone
    link.reset();
    drop_links(f);
    post_hold(f, work, waited, false, {}, epoch);
    return true;
  }
  give_link(f, std::move(link));
  const redisReply *rr = r.get();
  const std::string verb = rr->type == REDIS_REPLY_ARRAY && rr->elements >= 2 ? str(rr->element[0])
                                                                              : "";
  Notice n;
  if (verb == "done" && parse_outcome(str(rr->element[1]), &n) && complete_remote(f, work, n))
    return true;
  if (verb == "wait" && rr->elements == 3) {
    const long long pttl = rr->element[2]->type == REDIS_REPLY_INTEGER ? rr->element[2]->integer
                                                                       : 0;
    post_hold(f, work, to_u64(str(rr->element[1])), true, retry_time(Clock::now(), pttl), epoch);
    return true;
  }
  if (verb != "lead") {  // too large to publish, or an answer the protocol does not know
    post_hold(f, work, waited, false, {}, epoch);
    return true;
  }
  const std::uint64_t token = to_u64(str(rr->element[1]));
  if (!waited) {
    // A straggler registered after the check above: its leader's completion
    // ran before this join, which read it as a free key. It reads that
    // outcome, and the lease just taken goes back.
    if (const std::uint64_t late = take_straggler(f, key)) {
      post_lease(f, Post::kRelease, key, token);
      post_hold(f, work, late, false, {}, epoch);
      return true;
    }
  }
  if (waited) f->taken_over.fetch_add(1, std::memory_order_relaxed);
  grant(f, key, token, local_callers(work));
  post_lease(f, Post::kLed, key, token);  // before the leader's completion
  group_leave(work);                      // SF_EHANDOFF: this caller joins again and leads
  return true;
}

// Sends the completion of the leader running on this thread in sf_do() on
// a direct link, without waiting for its reply (the I/O thread reads it).
// False if it cannot: the I/O thread sends it.
bool complete_here(Fleet *f, Post *p) {
  if (!f->live_epoch.load(std::memory_order_acquire)) return false;
  std::unique_ptr<DirectLink> link = take_link(f);
  if (!link) return false;
  bool ok;
  {
    NoSigpipe quiet;
    std::string why;
    ok = link->send(complete_command(*f, f->sha, *p), &why);
  }
  if (!ok) {
    link.reset();
    drop_links(f);
    return false;
  }
  p->link = link.release();
  return true;
}

// Whether the leader of (key, token) is the work this thread runs in sf_do.
bool running_here(const void *key, std::size_t len, std::uint64_t token) noexcept {
  sf_ticket *t = tls_current_work;
  if (!t) return false;
  Flight *fl = t->flight;
  return fl->fence == token && fl->key_len == len &&
         (len == 0 || std::memcmp(fl->key, key, len) == 0);
}

}  // namespace

void give_link(Fleet *f, std::unique_ptr<DirectLink> link) noexcept {
  std::lock_guard<std::mutex> lk(f->direct_mu);
  if (f->direct_free.size() >= kDirectLinks) return;  // closed
  try {
    f->direct_free.push_back(std::move(link));
  } catch (...) {
  }
}

FleetRole fleet_new_flight(Fleet *f, const void *key, std::size_t len,
                           std::uint64_t *token) noexcept {
  if (fleet_forked(f)) {  // a forked child: no I/O thread here
    f->fallbacks.fetch_add(1, std::memory_order_relaxed);
    return FleetRole::kLocal;
  }
  {
    std::lock_guard<std::mutex> lk(f->grant_mu);
    for (auto it = f->grants.begin(); it != f->grants.end(); ++it) {
      if (same_key(it->key, key, len)) {
        std::uint64_t t = it->token;
        const int handed = it->handed;
        if (it != f->grants.end() - 1) std::swap(*it, f->grants.back());
        f->grants.pop_back();
        if (!t && handed <= 1) return FleetRole::kLocal;  // nobody else to come back late
        if (handed > 1) {
          try {
            f->local_runs.push_back(
                LocalRun{std::string(static_cast<const char *>(key), len), t, handed});
          } catch (...) {
            if (!t) return FleetRole::kLocal;  // no memory: late callers run it again
          }
        }
        if (!t) return FleetRole::kLocalGrant;
        f->led.fetch_add(1, std::memory_order_relaxed);
        *token = t;
        return FleetRole::kLead;
      }
    }
    // A caller of a local grant's leader who joined again after it
    // finished: held, and completed with its outcome (complete_late).
    const Clock::time_point now = Clock::now();
    for (auto it = f->local_outcomes.begin(); it != f->local_outcomes.end();) {
      if (now >= it->until && it->holds == 0) {
        sf_bytes_release(it->value);
        sf_bytes_release(it->error);
        it = f->local_outcomes.erase(it);
        continue;
      }
      if (it->left > 0 && now < it->until && same_key(it->key, key, len)) {
        --it->left;
        ++it->holds;
        return FleetRole::kHold;
      }
      ++it;
    }
  }
  if (f->breaker.local_only()) {
    f->fallbacks.fetch_add(1, std::memory_order_relaxed);
    return FleetRole::kLocal;
  }
  int debt = f->local_debt.load(std::memory_order_relaxed);
  while (debt > 0)
    if (f->local_debt.compare_exchange_weak(debt, debt - 1)) return FleetRole::kLocal;
  return FleetRole::kHold;
}

void fleet_hold(Fleet *f, sf_ticket *work) noexcept {
  try {
    if (tls_join_may_block && join_here(f, work)) return;
    post_hold(f, work, 0, false, {}, 0);
  } catch (...) {
    // No memory for the post: the flight runs locally (its callers join
    // again, and the next flight of the fleet is local).
    f->local_debt.fetch_add(1, std::memory_order_relaxed);
    group_leave(work);
  }
}

void fleet_leader_done(Fleet *f, const void *key, std::size_t len, std::uint64_t token,
                       std::uint32_t callers, sf_status status, sf_bytes *value, sf_bytes *error,
                       const sf_native_kind *kind) noexcept {
  if (fleet_forked(f)) return;  // the parent's lease: the parent's to publish
  if (!token) {
    local_grant_done(f, key, len, callers, status, value, error, kind);
    return;
  }
  try {
    Post p;
    p.kind = Post::kDone;
    p.key.assign(static_cast<const char *>(key), len);
    p.token = token;
    // Counted here, before the leader's callers return.
    if (sf_bytes_len(value) > f->config.max_value_bytes ||
        sf_bytes_len(error) > f->config.max_value_bytes) {
      p.too_large = true;
      f->too_large.fetch_add(1, std::memory_order_relaxed);
    }
    p.status = status;
    if (status == SF_OK && kind && !value) {
      p.native_only = true;
      p.native_name = kind->name ? kind->name : "(unnamed)";
    } else {
      p.value = sf_bytes_retain(value);
      p.error = sf_bytes_retain(error);
    }
    // Before the completion reaches the server: a late caller's join then
    // finds the stragglers, or the lease still held.
    note_stragglers(f, p.key, token, callers);
    // An sf_do() leader sends it itself; the post tells the I/O thread to
    // stop renewing the lease and to read the reply.
    // Quiet then: the notice of the completion wakes the I/O thread.
    const bool sent = running_here(key, len, token) && complete_here(f, &p);
    if (sent) {
      sf_bytes_release(p.value);
      sf_bytes_release(p.error);
      p.value = p.error = nullptr;
    }
    f->post(std::move(p), !sent);
  } catch (...) {
    // Not published: the lease runs out and another process takes over.
  }
}

void fleet_leader_left(Fleet *f, const void *key, std::size_t len, std::uint64_t token) noexcept {
  if (fleet_forked(f)) return;
  {  // its callers join again, as after any hand-off
    std::lock_guard<std::mutex> lk(f->grant_mu);
    take_local_run(f, key, len, token);
  }
  if (!token) return;
  try {
    post_lease(f, Post::kLeft, std::string(static_cast<const char *>(key), len), token);
  } catch (...) {
  }
}

void fleet_stats(const Fleet *f, sf_stats *out) noexcept {
  out->fleet_led += f->led.load(std::memory_order_relaxed);
  out->fleet_joined += f->joined.load(std::memory_order_relaxed);
  out->fleet_taken_over += f->taken_over.load(std::memory_order_relaxed);
  out->fleet_fenced += f->fenced.load(std::memory_order_relaxed);
  out->fleet_leases_lost += f->leases_lost.load(std::memory_order_relaxed);
  out->fleet_fallbacks += f->fallbacks.load(std::memory_order_relaxed);
  out->fleet_too_large += f->too_large.load(std::memory_order_relaxed);
  out->fleet_reconnects += f->reconnects.load(std::memory_order_relaxed);
}

void fleet_free(Fleet *f) noexcept {
  // A forked child has no I/O thread to stop, and the parent's thread
  // object cannot be joined or destroyed here: the fleet is left as it is.
  if (fleet_forked(f)) return;
  const bool self = std::this_thread::get_id() == f->thread.get_id();
  {
    std::lock_guard<std::mutex> lk(f->inbox_mu);
    f->stopping = true;
    f->detached = self;
  }
  f->wake();
  if (self) {
    f->thread.detach();  // the thread frees the fleet when its loop ends
    return;
  }
  f->thread.join();
  delete f;
}

bool fleet_attach(sf_group *g, const FleetConfig &config, const void *name,
                  std::size_t len) noexcept {
  static const bool fork_counted = pthread_atfork(nullptr, nullptr, count_fork) == 0;
  if (!fork_counted) return false;
  Fleet *f = nullptr;
  try {
    f = new Fleet(config, name, len);
    f->generation = g_fork_generation.load(std::memory_order_relaxed);
    if (::pipe2(f->wake_fd, O_CLOEXEC | O_NONBLOCK) != 0) {
      delete f;
      return false;
    }
    f->thread = std::thread([f] { f->run(); });
  } catch (...) {
    delete f;
    return false;
  }
  g->fleet = f;
  return true;
}

}  // namespace sf
