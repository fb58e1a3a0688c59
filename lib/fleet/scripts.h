// fleet/scripts.h — the fleet protocol, as Lua scripts the server runs
// atomically (EVALSHA; loaded on every connection). Times are the server's:
// leases are key expiries (PX), remaining time is PTTL.
//
// join     KEYS lease, counter, latest, linger
//          ARGV lease_ms, waited token (0: none), linger on (0/1)
//   → {"done", outcome}              the outcome (fleet/notice.h) of the
//                                    flight waited on or of one that took
//                                    over after it (latest, token >= waited),
//                                    or the lingering one
//   → {"lead", token}                this process leads, lease taken
//   → {"wait", token, pttl}          another leader holds the lease
// renew    KEYS lease; ARGV token, lease_ms → 1, or 0 if the lease is lost
// complete KEYS lease, latest, linger
//          ARGV token, outcome, ttl_ms, linger_ms, channel, hex key,
//               inline (1: the notice carries the outcome, 0: a hint)
//          → 1 written and announced; 0 refused (fenced: the lease is not
//          this token's)
// release  KEYS lease; ARGV token, channel, notice → 1 released, 0 not ours
//
// Commands the server runs per script (INFO commandstats counts them with
// the EVALSHA): a join that waits 2 (GET, PTTL), one that leads 4; a
// completion 4 (GET, DEL, SET, PUBLISH; one SET more with linger); a
// renewal 2.
//
// Status strings: the sf_status number ("0", "1", "2", "9"), or "L" for a
// value too large to publish (the waiters run the work themselves).
#pragma once

namespace sf {

enum FleetScript { kJoin, kRenew, kComplete, kRelease, kScripts };

// The source of each script.
const char *fleet_script(FleetScript which) noexcept;

}  // namespace sf
