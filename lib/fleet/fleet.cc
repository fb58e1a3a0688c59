#include "fleet/fleet.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "bytes.h"
#include "fleet/hooks.h"
#include "fleet/io_thread.h"
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

// The most flights of other processes a fleet keeps in Fleet::running,
// and the longest key (in hex) it keeps one for: about 10 MiB at most. A
// new flight of a key it does not keep joins (registers) as any other.
constexpr std::size_t kRunningMax = 16384;
constexpr std::size_t kRunningKeyMax = 512;

// Bumped in every child process fork() makes (pthread_atfork).
std::atomic<unsigned> g_fork_generation{0};
// Forgets the hand-off `id` (grant_mu held), whose leader's flight had
// `callers`: the callers it woke who are late (Handoff::late). 0 if there
// is none.
int take_handoff(Fleet *f, std::uint64_t id, std::uint32_t callers = 0) noexcept {
  for (auto it = f->handoffs.begin(); it != f->handoffs.end(); ++it) {
    if (it->id == id) {
      const int late = it->late(callers);
      if (it != f->handoffs.end() - 1) std::swap(*it, f->handoffs.back());
      f->handoffs.pop_back();
      return late;
    }
  }
  return 0;
}

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

}  // namespace

Fleet::Fleet(const FleetConfig &c, const void *name, std::size_t len)
    : config(c),
      hex_group(to_hex(name, len)),
      channel(done_channel(c.prefix, hex_group)),
      breaker(c.cooldown_ms),
      conn(config) {
  // Unique among the processes of every host: a random part and the pid.
  std::random_device rd;
  const std::uint32_t r[2] = {rd(), rd()};
  member_prefix = to_hex(r, sizeof r) + "." + std::to_string(::getpid()) + ".";
}

Fleet::~Fleet() {
  for (auto &o : local_outcomes) {
    sf_bytes_release(o.value);
    sf_bytes_release(o.error);
  }
}

void Fleet::wake() noexcept {
  woken.store(true, std::memory_order_release);
  io->wake();
}

void Fleet::post(Post &&p) noexcept {
  {
    std::lock_guard<std::mutex> lk(inbox_mu);
    inbox.push_back(std::move(p));
    ++posted;
  }
  wake();
}

namespace {

// The I/O thread's protocol steps. A free function set over Fleet, so the
// header stays the data.
struct Loop {
  Fleet &f;
  std::vector<Command> cmds;
  std::vector<std::pair<Fleet::Out, void *>> what;
  std::uint64_t taken = 0;  // Fleet::posted when this step took the inbox

  Clock::duration lease() const { return std::chrono::milliseconds(f.config.lease_ms); }
  // How long a leader whose local callers all left waits, after its roll
  // call, for the processes that wait silently to register.
  Clock::duration roll_call_wait() const {
    return std::min<Clock::duration>(lease() / 3, std::chrono::milliseconds(500));
  }
  // The end of a lease of `ms` that began at `at` (as this process saw it),
  // plus a little for the clocks' tick: a leader that died is taken over then.
  static Clock::time_point lease_end(Clock::time_point at, long long ms) {
    return at + std::chrono::milliseconds(ms + 2 + ms / 50);
  }

  // Another process leads `token` of the key `hex` until `until`.
  void note_running(const std::string &hex, std::uint64_t token, Clock::time_point until) {
    auto it = f.running.find(hex);
    if (it == f.running.end()) {
      if (f.running.size() < kRunningMax && hex.size() <= kRunningKeyMax)
        f.running.emplace(hex, Running{token, until, false});
    } else if (it->second.token < token) {
      it->second = Running{token, until, false};
    } else if (it->second.token == token) {
      it->second.until = std::max(it->second.until, until);
    }
  }
  // The flight of `token` of the key `hex` (or of an older one) ended.
  void ended(const std::string &hex, std::uint64_t token) {
    auto it = f.running.find(hex);
    if (it != f.running.end() && it->second.token <= token) f.running.erase(it);
  }

  void grant(const std::string &key, std::uint64_t token, std::uint64_t handoff) {
    std::lock_guard<std::mutex> lk(f.grant_mu);
    f.handoffs.push_back(Handoff{handoff, 0, 0});
    f.grants.push_back(Grant{key, token, handoff});
  }
  // True if the grant was still unclaimed (and is gone now, with its
  // hand-off).
  bool revoke(const std::string &key, std::uint64_t token) {
    std::lock_guard<std::mutex> lk(f.grant_mu);
    for (auto it = f.grants.begin(); it != f.grants.end(); ++it) {
      if (it->token == token && it->key == key) {
        take_handoff(&f, it->handoff);
        f.grants.erase(it);
        return true;
      }
    }
    return false;
  }

  // Hands a held flight to a local leader: with a token (a fleet leader)
  // or without (a local flight).
  void hand_over(Pending &p, std::uint64_t token) {
    const std::uint64_t handoff = ++f.handoffs_made;
    {
      Flight *fl = p.work->flight;
      std::lock_guard<detail::SpinMutex> lk(fl->mu);
      fl->fleet_handoff = handoff;  // its ending counts the waiters it wakes
    }
    grant(p.key, token, handoff);
    Lease l;
    l.key = p.key;
    l.handoff = handoff;
    l.claim_by = Clock::now() + lease();
    if (token) {
      l.keys = p.keys;
      l.token = token;
      l.renew_at = Clock::now() + lease() / 3;
    }  // else a local grant, forgotten if nobody claims it
    f.leases.push_back(std::move(l));
    group_leave(p.work);  // SF_EHANDOFF: the local callers join again
  }

  void fall_back(Pending &p) {
    f.fallbacks.fetch_add(1, std::memory_order_relaxed);
    hand_over(p, 0);
  }

  // The server is lost: every held flight runs locally, and a leader
  // here that no local caller waits for is abandoned, as a local flight.
  void fall_back_all() {
    for (auto &p : f.pendings) fall_back(*p);
    f.pendings.clear();
    abandon_all();
  }

  void hold(sf_ticket *work) {
    auto p = std::make_unique<Pending>();
    p->fleet = &f;
    p->work = work;
    Flight *fl = work->flight;
    p->key.assign(reinterpret_cast<const char *>(fl->key), fl->key_len);
    p->keys = flight_keys(f.config.prefix, f.hex_group, fl->key, fl->key_len);
    p->member = f.member_prefix + std::to_string(++f.members);
    const Clock::time_point now = Clock::now();
    for (auto it = f.stragglers.begin(); it != f.stragglers.end();) {
      if (now >= it->until) {
        it = f.stragglers.erase(it);
        continue;
      }
      if (it->key == p->key) {
        p->waited = it->token;  // the join reads the outcome of that token
        if (--it->left == 0) f.stragglers.erase(it);
        break;
      }
      ++it;
    }
    if (complete_late(*p)) return;
    auto r = p->waited ? f.running.end() : f.running.find(p->keys.hex_key);
    if (r != f.running.end() && !r->second.called && now < r->second.until) {
      // Another process leads it: wait for its notice, asking nothing.
      p->waited = r->second.token;
      p->state = Pending::kWaiting;
      p->retry_at = r->second.until;
    }
    Pending &ref = f.pendings.add(std::move(p));
    if (!f.conn.is_open() && f.ever_connected) {  // the breaker opened meanwhile
      fall_back(ref);
      f.pendings.erase(std::prev(f.pendings.end()));
      return;
    }
    sf_on_abandoned(work, on_abandoned, &ref);
  }

  // A flight held for a late caller of a local grant's leader
  // (fleet_new_flight): completed with that leader's outcome. False if
  // there is none (it expired): the flight goes on as any other.
  bool complete_late(Pending &p) {
    sf_status status = SF_OK;
    sf_bytes *value = nullptr, *error = nullptr;
    bool found = false;
    {
      std::lock_guard<std::mutex> lk(f.grant_mu);
      for (auto it = f.local_outcomes.begin(); it != f.local_outcomes.end(); ++it) {
        if (it->holds == 0 || it->key != p.key) continue;
        found = true;
        status = it->status;
        value = sf_bytes_retain(it->value);
        error = sf_bytes_retain(it->error);
        if (--it->holds == 0 && it->left == 0) {
          sf_bytes_release(it->value);
          sf_bytes_release(it->error);
          f.local_outcomes.erase(it);
        }
        break;
      }
    }
    if (!found) return false;
    group_complete_remote(p.work, status, value, error);
    group_leave(p.work);
    return true;
  }

  void queue_out(Command c, Fleet::Out kind) {
    f.outgoing.push_back(std::move(c));
    f.outgoing_what.emplace_back(kind, nullptr);
  }

  void drop_lease(const std::string &key, std::uint64_t token) {
    for (auto it = f.leases.begin(); it != f.leases.end(); ++it) {
      if (it->token == token && it->key == key) {
        if (it->alone) group_fleet_abandon(it->alone, false);  // it ended: nobody to tell
        f.leases.erase(it);
        return;
      }
    }
  }

  void done(Post &p) {
    FlightKeys keys = flight_keys(f.config.prefix, f.hex_group, p.key.data(), p.key.size());
    drop_lease(p.key, p.token);
    ended(keys.hex_key, p.token);  // a new flight here does not wait for its notice
    if (p.late > 0 && f.conn.is_open())
      f.stragglers.push_back(Stragglers{p.key, p.token, p.late, Clock::now() + lease()});
    if (f.conn.is_open()) {
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
      std::uint64_t ttl = std::max<std::uint64_t>(2ull * f.config.lease_ms, 2000);
      queue_out(
          f.conn.eval(
              kComplete,
              {keys.lease, keys.outcome(p.token), keys.linger, keys.latest, keys.waiters},
              {std::to_string(p.token), status, has_value ? "1" : "0", value, has_error ? "1" : "0",
               error, std::to_string(ttl), std::to_string(f.config.linger_ms), f.channel,
               encode_notice(keys.hex_key, p.token, status, has_value ? &value : nullptr,
                             has_error ? &error : nullptr)}),
          Fleet::kOutComplete);
    }
    sf_bytes_release(p.value);
    sf_bytes_release(p.error);
    p.value = p.error = nullptr;
  }

  void left(Post &p) {
    drop_lease(p.key, p.token);
    FlightKeys keys = flight_keys(f.config.prefix, f.hex_group, p.key.data(), p.key.size());
    ended(keys.hex_key, p.token);
    if (!f.conn.is_open()) return;
    queue_out(f.conn.eval(kRelease, {keys.lease},
                          {std::to_string(p.token), f.channel,
                           keys.hex_key + ":" + std::to_string(p.token)}),
              Fleet::kOutRelease);
  }

  Lease *find_lease(const std::string &key, std::uint64_t token) {
    for (auto &l : f.leases)
      if (l.token == token && l.key == key) return &l;
    return nullptr;
  }

  // Every local waiter of this process's leader left: it is abandoned once
  // the server says no process waits for its token (its renewal, sent now).
  void alone(Post &p) {
    Lease *l = find_lease(p.key, p.token);
    if (!l || l->lost || l->alone || !f.conn.is_open()) {
      group_fleet_abandon(p.flight, true);  // nobody elsewhere can be told its outcome
      return;
    }
    l->alone = p.flight;
    l->renew_at = Clock::now();
  }

  // The server said no process waits for this lease's token, or cannot be
  // asked any more.
  void abandon(Lease &l) {
    if (!l.alone) return;
    Flight *fl = l.alone;
    l.alone = nullptr;
    group_fleet_abandon(fl, true);
  }

  void abandon_all() {
    for (auto &l : f.leases) abandon(l);
  }

  void release_lease(const FlightKeys &keys, std::uint64_t token) {
    if (!f.conn.is_open()) return;
    queue_out(
        f.conn.eval(kRelease, {keys.lease},
                    {std::to_string(token), f.channel, keys.hex_key + ":" + std::to_string(token)}),
        Fleet::kOutRelease);
  }

  // Moves the inbox to *posts; true if the fleet is stopping.
  bool take_inbox(std::vector<Post> *posts) noexcept {
    std::lock_guard<std::mutex> lk(f.inbox_mu);
    posts->swap(f.inbox);
    taken = f.posted;
    return f.stopping;
  }

  // The posts this step took have been acted on (fleet_flush).
  void mark_handled() noexcept {
    {
      std::lock_guard<std::mutex> lk(f.inbox_mu);
      if (taken <= f.handled) return;
      f.handled = taken;
    }
    f.handled_cv.notify_all();
  }

  // Drains the inbox; true if the fleet is stopping.
  bool take_posts() {
    std::vector<Post> posts;
    const bool stop = take_inbox(&posts);
    for (auto &p : posts) {
      switch (p.kind) {
        case Post::kHold: hold(p.work); break;
        case Post::kDone: done(p); break;
        case Post::kLeft: left(p); break;
        case Post::kAlone: alone(p); break;
      }
    }
    return stop;
  }

  // Held flights that every local caller left: this process is no longer
  // interested.
  void drop_abandoned() {
    for (auto it = f.pendings.begin(); it != f.pendings.end();) {
      Pending &p = **it;
      if (p.state != Pending::kSent && p.abandoned.load(std::memory_order_acquire) &&
          sf_abandoned(p.work)) {
        if (p.registered && f.conn.is_open())  // the server counts it a waiter
          queue_out(f.conn.eval(kLeave, {p.keys.waiters}, {p.member, f.channel, p.keys.hex_key}),
                    Fleet::kOutLeave);
        group_leave(p.work);
        it = f.pendings.erase(it);
      } else {
        ++it;
      }
    }
  }

  void timers(Clock::time_point now) {
    if (now >= f.prune_at) {  // the leases that ended without a notice (a leader killed)
      f.prune_at = now + lease();
      for (auto it = f.running.begin(); it != f.running.end();)
        it = now >= it->second.until ? f.running.erase(it) : std::next(it);
    }
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
  // hint makes it ask the server again. A started notice is noted (a new
  // flight of its key waits silently); a roll call makes the silent
  // waiters of its key register (a join).
  // True if they changed a held flight or a lease: a step is due.
  bool notices(const std::vector<std::string> &got) {
    Notice n;
    bool changed = false;
    for (auto &text : got) {
      if (!parse_notice(text, &n)) continue;
      if (n.started) {
        if (n.member.compare(0, f.member_prefix.size(), f.member_prefix) == 0)
          continue;  // led here: a new flight of its key here comes after its end
        const Clock::time_point until = lease_end(Clock::now(), n.lease_ms);
        note_running(n.hex_key, n.token, until);
        f.pendings.of_key(n.hex_key, [&](Pending &p) {
          if (p.silent()) p.retry_at = std::max(p.retry_at, until);  // a later timer: no step
        });
        continue;
      }
      if (n.roll_call) {
        auto r = f.running.find(n.hex_key);
        if (r != f.running.end() && r->second.token == n.token) r->second.called = true;
        f.pendings.of_key(n.hex_key, [&](Pending &p) {
          if (!p.silent()) return;
          p.state = Pending::kQueued;
          changed = true;
        });
        continue;
      }
      if (n.abandoned) {  // ask the server again now: a process may have joined since
        for (auto &l : f.leases) {
          if (l.alone && l.token == n.token && l.keys.hex_key == n.hex_key) {
            l.renew_at = Clock::now();
            changed = true;
          }
        }
        continue;
      }
      ended(n.hex_key, n.token);
      f.pendings.of_key(n.hex_key, [&](Pending &p) {
        if (p.state != Pending::kWaiting) return;
        changed = true;
        if (n.has_outcome && n.token >= p.waited) {
          apply_outcome(p, n.status, n.has_value ? &n.value : nullptr,
                        n.has_error ? &n.error : nullptr);
          p.state = Pending::kSent;  // dropped below, as after a reply
        } else {
          p.state = Pending::kQueued;
        }
      });
    }
    if (changed) f.pendings.sweep();
    return changed;
  }

  // The fleet's outcome of a held flight: its local callers get it, or run
  // the work here when it was too large to publish. p.work is null after.
  void apply_outcome(Pending &p, const std::string &status, const std::string *value,
                     const std::string *error) {
    if (status == "L") {  // too large to publish: run it here
      f.too_large.fetch_add(1, std::memory_order_relaxed);
      hand_over(p, 0);
      p.work = nullptr;
      return;
    }
    int st = std::atoi(status.c_str());
    if (st != SF_OK && st != SF_EWORK && st != SF_EPANIC && st != SF_ENOBYTES) st = SF_EPANIC;
    sf_bytes *v = value ? sf_bytes_new(value->data(), value->size()) : nullptr;
    sf_bytes *e = error ? sf_bytes_new(error->data(), error->size()) : nullptr;
    // Counted before the callers wake: what they read next includes it.
    f.joined.fetch_add(1, std::memory_order_relaxed);
    group_complete_remote(p.work, static_cast<sf_status>(st), v, e);
    group_leave(p.work);
    p.work = nullptr;
  }

  // Builds the batch: joins of queued flights, renewals due, and what the
  // posts queued.
  void build(Clock::time_point now) {
    cmds.clear();
    what.clear();
    const std::string lease_ms = std::to_string(f.config.lease_ms);
    const char *linger = f.config.linger_ms ? "1" : "0";
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
      cmds.push_back(f.conn.eval(kJoin,
                                 {p->keys.lease, p->keys.counter, p->keys.outcome(p->waited),
                                  p->keys.linger, p->keys.latest, p->keys.waiters},
                                 {lease_ms, std::to_string(p->waited), linger, p->member,
                                  p->registered ? "1" : "0", f.channel, p->keys.hex_key}));
      what.emplace_back(Fleet::kOutJoin, p.get());
    }
    for (auto &l : f.leases) {
      if (!l.token || now < l.renew_at) continue;
      l.renew_at = now + lease() / 3;
      const bool roll_call = l.alone && !l.called;  // who waits without being registered?
      cmds.push_back(f.conn.eval(
          kRenew, {l.keys.lease, l.keys.waiters},
          {std::to_string(l.token), lease_ms, roll_call ? "1" : "0", f.channel, l.keys.hex_key}));
      what.emplace_back(Fleet::kOutRenew, &l);
    }
  }

  void on_join(Pending &p, const redisReply *r, Clock::time_point now) {
    std::string verb = r->type == REDIS_REPLY_ARRAY && r->elements >= 2 ? str(r->element[0]) : "";
    if (verb == "done" && r->elements == 5) {
      std::string value, error;
      const bool has_value = r->element[3]->type == REDIS_REPLY_STRING;
      const bool has_error = r->element[4]->type == REDIS_REPLY_STRING;
      if (has_value) value = str(r->element[3]);
      if (has_error) error = str(r->element[4]);
      apply_outcome(p, str(r->element[2]), has_value ? &value : nullptr,
                    has_error ? &error : nullptr);
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
      p.registered = true;
      long long pttl = r->element[2]->type == REDIS_REPLY_INTEGER ? r->element[2]->integer : 0;
      if (pttl < 0) pttl = 0;
      p.retry_at = lease_end(now, pttl);
      p.state = Pending::kWaiting;
      note_running(p.keys.hex_key, p.waited, p.retry_at);
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
      // or to fall back). The server may have registered them as waiters.
      for (auto &w : what) {
        if (w.first != Fleet::kOutJoin) continue;
        auto *p = static_cast<Pending *>(w.second);
        p->state = Pending::kQueued;
        p->registered = true;
      }
      return false;
    }
    for (std::size_t i = 0; i < replies.size(); ++i) {
      const redisReply *r = replies[i].get();
      switch (what[i].first) {
        case Fleet::kOutJoin: on_join(*static_cast<Pending *>(what[i].second), r, now); break;
        case Fleet::kOutRenew: {
          auto *l = static_cast<Lease *>(what[i].second);
          if (r->type == REDIS_REPLY_INTEGER && r->integer == 0) {
            f.leases_lost.fetch_add(1, std::memory_order_relaxed);
            l->renew_at = Clock::time_point::max();  // lost: no more renewals
            l->lost = true;
            abandon(*l);  // its outcome reaches no other process
          } else if (r->type == REDIS_REPLY_INTEGER && r->integer == 2) {
            abandon(*l);  // no process waits for it
          } else if (r->type == REDIS_REPLY_INTEGER && r->integer == 3) {
            // The roll call is out: the next renewal, a little later, says.
            l->called = true;
            l->renew_at = Clock::now() + roll_call_wait();
          }
          break;
        }
        case Fleet::kOutComplete:
          if (r->type == REDIS_REPLY_INTEGER && r->integer == 0)
            f.fenced.fetch_add(1, std::memory_order_relaxed);
          break;
        case Fleet::kOutRelease:
        case Fleet::kOutLeave: break;
      }
    }
    f.pendings.sweep();
    return true;
  }

  bool connect() {
    std::string why;
    if (!f.conn.open(f.channel, &why)) return false;
    if (f.ever_connected) f.reconnects.fetch_add(1, std::memory_order_relaxed);
    f.ever_connected = true;
    f.breaker.close();
    f.running.clear();  // the notices missed meanwhile: nothing is known
    for (auto &p : f.pendings) p->state = Pending::kQueued;  // every pending flight joins again
    return true;
  }

  // After a failure: one immediate reconnect (a restarted server, a killed
  // connection); if that fails too, the breaker opens and every held flight
  // runs locally.
  void failed(Clock::time_point now) {
    f.conn.close();
    if (connect()) return;
    f.breaker.trip(now);
    fall_back_all();
    f.outgoing.clear();
    f.outgoing_what.clear();
  }

  Clock::time_point next_round(Clock::time_point now) const {
    bool stop;
    {
      std::lock_guard<std::mutex> lk(f.inbox_mu);
      stop = f.stopping;
    }
    if (stop || !f.outgoing.empty()) return now;
    Clock::time_point next = now + std::chrono::seconds(1);
    for (auto &p : f.pendings) {
      if (p->state == Pending::kQueued) return now;
      if (p->state == Pending::kWaiting) next = std::min(next, p->retry_at);
    }
    for (auto &l : f.leases) {
      if (l.token) next = std::min(next, l.renew_at);
      if (!l.claimed) next = std::min(next, l.claim_by);
    }
    if (!f.conn.is_open()) next = std::min(next, f.breaker.retry_at());
    return next;
  }

  // One round of the protocol; true once the fleet is stopping and has
  // nothing left to send (then its connection is closed).
  bool step() {
    Clock::time_point now = Clock::now();
    if (!f.conn.is_open() && f.breaker.may_retry(now)) {
      if (!connect()) {
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
    if (!stop || !f.pendings.empty() || !f.outgoing.empty()) return false;
    abandon_all();
    f.conn.close();
    return true;
  }

  bool read_notices() {
    std::vector<std::string> got;
    std::string why;
    if (f.conn.read_notices(&got, &why)) return notices(got);
    failed(Clock::now());
    return true;
  }

  // Out of memory in a step: every held flight runs locally from now on,
  // and the fleet stays local (broken).
  void give_up() noexcept {
    f.broken = true;
    f.breaker.trip(Clock::now());
    for (auto &p : f.pendings)
      if (p->work) group_leave(p->work);
    f.pendings.clear();
    for (auto &l : f.leases) {
      if (l.alone) group_fleet_abandon(l.alone, true);
      l.alone = nullptr;
    }
    f.conn.close();
  }

  // A broken fleet's step: what the engine's threads post is let go at
  // once (a held flight runs locally); true once it is stopping.
  bool drain_broken() noexcept {
    std::vector<Post> posts;
    const bool stop = take_inbox(&posts);
    for (auto &p : posts) {
      switch (p.kind) {
        case Post::kHold: group_leave(p.work); break;
        case Post::kDone:
          sf_bytes_release(p.value);
          sf_bytes_release(p.error);
          break;
        case Post::kLeft: break;
        case Post::kAlone: group_fleet_abandon(p.flight, true); break;
      }
    }
    return stop;
  }
};

}  // namespace

bool Fleet::step() noexcept {
  Loop loop{*this, {}, {}};
  bool finished = false;
  if (broken) {
    finished = loop.drain_broken();
  } else {
    try {
      finished = loop.step();
    } catch (...) {
      loop.give_up();
    }
  }
  loop.mark_handled();
  return finished;
}

Clock::time_point Fleet::next_round(Clock::time_point now) const noexcept {
  if (broken) return now + std::chrono::seconds(1);
  return Loop{const_cast<Fleet &>(*this), {}, {}}.next_round(now);
}

bool Fleet::read_notices() noexcept {
  Loop loop{*this, {}, {}};
  if (broken) return false;
  try {
    return loop.read_notices();
  } catch (...) {
    loop.give_up();
    return true;
  }
}

Pending &Pendings::add(std::unique_ptr<Pending> p) {
  Pending *raw = p.get();
  auto at = by_key_.emplace(raw->keys.hex_key, raw);
  try {
    list_.push_back(std::move(p));
  } catch (...) {
    by_key_.erase(at);
    throw;
  }
  return *raw;
}

Pendings::List::iterator Pendings::erase(List::iterator it) noexcept {
  Pending *p = it->get();
  auto range = by_key_.equal_range(p->keys.hex_key);
  for (auto at = range.first; at != range.second; ++at) {
    if (at->second == p) {
      by_key_.erase(at);
      break;
    }
  }
  return list_.erase(it);
}

void Pendings::sweep() noexcept {
  for (auto it = list_.begin(); it != list_.end();) it = (*it)->work ? std::next(it) : erase(it);
}

void Pendings::clear() noexcept {
  by_key_.clear();
  list_.clear();
}

namespace {

// A local grant's leader completed (before its callers wake): its outcome
// is kept for the callers its hand-off woke who have not joined its flight
// yet, so that they do not run the work again.
void local_grant_done(Fleet *f, const void *key, std::size_t len, std::uint64_t handoff,
                      std::uint32_t callers, sf_status status, sf_bytes *value, sf_bytes *error,
                      const sf_native_kind *kind) noexcept {
  std::lock_guard<std::mutex> lk(f->grant_mu);
  const int late = take_handoff(f, handoff, callers);
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

}  // namespace

FleetRole fleet_new_flight(Fleet *f, const void *key, std::size_t len, std::uint64_t *token,
                           std::uint64_t *handoff) noexcept {
  if (fleet_forked(f)) {  // a forked child: no I/O thread here
    f->fallbacks.fetch_add(1, std::memory_order_relaxed);
    return FleetRole::kLocal;
  }
  {
    std::lock_guard<std::mutex> lk(f->grant_mu);
    for (auto it = f->grants.begin(); it != f->grants.end(); ++it) {
      if (it->key.size() == len && (len == 0 || std::memcmp(it->key.data(), key, len) == 0)) {
        const std::uint64_t t = it->token;
        const std::uint64_t id = it->handoff;
        // The held flight ended before any new flight of the key, so its
        // hand-off's waiters are counted already (fleet_handed_off).
        int handed = 0;
        for (const auto &h : f->handoffs)
          if (h.id == id) handed = h.handed;
        if (it != f->grants.end() - 1) std::swap(*it, f->grants.back());
        f->grants.pop_back();
        if (!t && handed <= 1) {  // nobody else to come back late
          take_handoff(f, id);
          return FleetRole::kLocal;
        }
        *handoff = id;
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
      if (it->left > 0 && now < it->until && it->key.size() == len &&
          (len == 0 || std::memcmp(it->key.data(), key, len) == 0)) {
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
    Post p;
    p.kind = Post::kHold;
    p.work = work;
    f->post(std::move(p));
  } catch (...) {
    // No memory for the post: the flight runs locally (its callers join
    // again, and the next flight of the fleet is local).
    f->local_debt.fetch_add(1, std::memory_order_relaxed);
    group_leave(work);
  }
}

void fleet_leader_done(Fleet *f, const void *key, std::size_t len, std::uint64_t token,
                       std::uint64_t handoff, std::uint32_t callers, sf_status status,
                       sf_bytes *value, sf_bytes *error, const sf_native_kind *kind) noexcept {
  if (fleet_forked(f)) return;  // the parent's lease: the parent's to publish
  if (!token) {
    local_grant_done(f, key, len, handoff, callers, status, value, error, kind);
    return;
  }
  int late;
  {
    std::lock_guard<std::mutex> lk(f->grant_mu);
    late = take_handoff(f, handoff, callers);
  }
  try {
    Post p;
    p.kind = Post::kDone;
    p.key.assign(static_cast<const char *>(key), len);
    p.token = token;
    p.late = late;
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
    f->post(std::move(p));
  } catch (...) {
    // Not published: the lease runs out and another process takes over.
  }
}

void fleet_leader_left(Fleet *f, const void *key, std::size_t len, std::uint64_t token,
                       std::uint64_t handoff) noexcept {
  if (fleet_forked(f)) return;
  {  // its callers join again, as after any hand-off
    std::lock_guard<std::mutex> lk(f->grant_mu);
    take_handoff(f, handoff);
  }
  if (!token) return;  // a local grant's leader
  try {
    Post p;
    p.kind = Post::kLeft;
    p.key.assign(static_cast<const char *>(key), len);
    p.token = token;
    f->post(std::move(p));
  } catch (...) {
  }
}

void fleet_handed_off(Fleet *f, std::uint64_t handoff, int waiters) noexcept {
  if (fleet_forked(f)) return;
  std::lock_guard<std::mutex> lk(f->grant_mu);
  for (auto &h : f->handoffs)
    if (h.id == handoff) {
      h.handed += waiters;
      h.unjoined += waiters;
    }
}

void fleet_rejoined(Fleet *f, std::uint64_t handoff) noexcept {
  if (fleet_forked(f)) return;
  std::lock_guard<std::mutex> lk(f->grant_mu);
  for (auto &h : f->handoffs)
    if (h.id == handoff) --h.unjoined;
}

bool fleet_leader_alone(Fleet *f, Flight *fl) noexcept {
  if (fleet_forked(f)) return false;
  try {
    Post p;
    p.kind = Post::kAlone;
    p.flight = fl;
    p.key.assign(reinterpret_cast<const char *>(fl->key), fl->key_len);
    p.token = fl->fence;
    f->post(std::move(p));
  } catch (...) {
    return false;  // no memory: abandoned as a local flight
  }
  return true;
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

void fleet_flush(Fleet *f) noexcept {
  if (fleet_forked(f) || IoThread::on_io_thread()) return;
  const auto limit =
      std::chrono::milliseconds(f->config.connect_timeout_ms + 2ull * f->config.command_timeout_ms);
  std::unique_lock<std::mutex> lk(f->inbox_mu);
  const std::uint64_t target = f->posted;
  f->handled_cv.wait_for(lk, limit, [&] { return f->handled >= target; });
}

void fleet_free(Fleet *f) noexcept {
  // A forked child has no I/O thread of the parent's, whose loop (copied
  // here) must not be touched: the fleet is left as it is.
  if (fleet_forked(f)) return;
  // Freed on an I/O thread (a callback there released the group), the
  // fleet is freed by its own loop: waiting there for a loop could wait
  // for the very thread, or for one that waits for this one.
  const bool self = IoThread::on_io_thread();
  {
    std::lock_guard<std::mutex> lk(f->inbox_mu);
    f->stopping = true;
    f->detached = self;
  }
  f->wake();
  if (self) return;  // the I/O thread frees the fleet once it is finished
  f->io->await_finished(f);
  delete f;
}

bool fleet_attach(sf_group *g, const FleetConfig &config, const void *name,
                  std::size_t len) noexcept {
  static const bool fork_counted = pthread_atfork(nullptr, nullptr, count_fork) == 0;
  if (!fork_counted) return false;
  Fleet *f = nullptr;
  try {
    f = new Fleet(config, name, len);
  } catch (...) {
    return false;
  }
  f->generation = g_fork_generation.load(std::memory_order_relaxed);
  f->io = IoThread::of_server(config, f->generation);
  if (!f->io || !f->io->attach(f)) {
    delete f;
    return false;
  }
  g->fleet = f;
  return true;
}

}  // namespace sf
