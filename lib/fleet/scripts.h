// fleet/scripts.h — the fleet protocol, as Lua scripts the server runs
// atomically (EVALSHA; loaded on every connection). Times are the server's:
// leases are key expiries (PX), remaining time is PTTL.
//
// join     KEYS lease, counter, outcome(waited), linger, latest
//          ARGV lease_ms, waited token (0: none), linger on (0/1)
//   → {"done", token, status, value|nil, error|nil}  the outcome of the flight
//                                    waited on, or of one that took over
//                                    after it (latest, token > waited), or
//                                    the lingering one
//   → {"lead", token}                this process leads, lease taken
//   → {"wait", token, pttl}          another leader holds the lease
// renew    KEYS lease; ARGV token, lease_ms → 1, or 0 if the lease is lost
// complete KEYS lease, outcome(token), linger, latest
//          ARGV token, status, has_value, value, has_error, error, ttl_ms,
//               linger_ms, channel, notice
//          → 1 written and announced; 0 refused (fenced: the lease is not
//          this token's)
// release  KEYS lease; ARGV token, channel, notice → 1 released, 0 not ours
//
// Status strings: the sf_status number ("0", "1", "2", "9"), or "L" for a
// value too large to publish (the waiters run the work themselves).
#pragma once

namespace sf {

enum FleetScript { kJoin, kRenew, kComplete, kRelease, kScripts };

// The source of each script.
const char *fleet_script(FleetScript which) noexcept;

}  // namespace sf
