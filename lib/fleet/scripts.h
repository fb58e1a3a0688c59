// fleet/scripts.h — the fleet protocol, as Lua scripts the server runs
// atomically (EVALSHA; loaded on every connection). Times are the server's:
// leases are key expiries (PX), remaining time is PTTL.
//
// join     KEYS lease, counter, outcome(waited), linger, latest, waiters
//          ARGV lease_ms, waited token (0: none), linger on (0/1), member,
//               member registered by an earlier join (0/1), channel, hex key
//   → {"done", token, status, value|nil, error|nil}  the outcome of the flight
//                                    waited on, or of one that took over
//                                    after it (latest, token > waited), or
//                                    the lingering one
//   → {"lead", token}                this process leads, lease taken; the
//                                    started notice "<hex key>:<token>|S|
//                                    <lease_ms>|<member>" is published
//                                    (notice.h)
//   → {"wait", token, pttl}          another leader holds the lease; `member`
//                                    (this held flight) is registered in
//                                    waiters as a waiter of that token, for
//                                    2 × lease_ms from now
//          (done and lead unregister a registered `member`)
// renew    KEYS lease, waiters; ARGV token, lease_ms, roll call (0/1),
//          channel, hex key → 0 the lease is lost; 1 renewed, and a process
//          is registered a waiter of this token; 2 renewed, and none is;
//          3 renewed, none is, and (roll call 1) the roll call
//          "<hex key>:<token>|R" is published: the processes that wait for
//          the token without being registered (they learnt of it from its
//          started notice) register now, by a join
// complete KEYS lease, outcome(token), linger, latest, waiters
//          ARGV token, status, has_value, value, has_error, error, ttl_ms,
//               linger_ms, channel, notice
//          → 1 written and announced (the waiters of the token unregistered);
//          0 refused (fenced: the lease is not this token's)
// release  KEYS lease; ARGV token, channel, notice → 1 released, 0 not ours
// leave    KEYS waiters; ARGV member, channel, hex key → every local caller
//          of a held flight left: `member` is unregistered; 0 it was not
//          registered, 1 other processes still wait for its token, 2 none
//          does: the abandonment notice "<hex key>:<token>|A" is published
//          for that token's leader (fleet/notice.h)
//
// Status strings: the sf_status number ("0", "1", "2", "9"), or "L" for a
// value too large to publish (the waiters run the work themselves).
#pragma once

namespace sf {

enum FleetScript { kJoin, kRenew, kComplete, kRelease, kLeave, kScripts };

// The source of each script.
const char *fleet_script(FleetScript which) noexcept;

}  // namespace sf
