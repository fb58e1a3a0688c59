// fleet/keys.h — the Redis names of a fleet group's flights.
//
// Every key of one flight shares the hash tag {prefix:group:key}, the group
// name and the key in lowercase hex (binary-safe, and a '{' or '}' in a key
// cannot break the tag), so a cluster keeps them in one slot:
//   {tag}:lease        the leader's fencing token, with the lease as expiry
//   {tag}:token        the per-key token counter
//   {tag}:out:<token>  the outcome of the flight led with <token>
//   {tag}:latest       the last outcome with its token, read only by waiters
//                      of an older token (a takeover finished first)
//   {tag}:linger       the last outcome, kept only with linger_ms
//   {tag}:waiters      the processes waiting for a leader: one field per held
//                      flight, its value the token waited on; expires 2
//                      leases after the last registration (a killed waiter)
// The completion notices of a group go to one channel, prefix:group:done.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace sf {

std::string to_hex(const void *data, std::size_t len);

struct FlightKeys {
  std::string hex_key;  // the key in hex: the notices name it
  std::string lease, counter, linger, latest, waiters;
  std::string outcome(std::uint64_t token) const;
  std::string tag;  // "{prefix:group:key}"
};

FlightKeys flight_keys(const std::string &prefix, const std::string &hex_group, const void *key,
                       std::size_t len);

std::string done_channel(const std::string &prefix, const std::string &hex_group);

}  // namespace sf
