// fleet/options.h — a fleet group's settings: sf_fleet_options checked,
// defaulted and copied, with the server address parsed out of its URL.
#pragma once

#include <cstdint>
#include <string>

#include "singleflight_binding.h"

namespace sf {

struct FleetConfig {
  // where the server is: a TCP host and port, or a unix socket path
  std::string host;
  int port = 6379;
  std::string unix_path;  // non-empty: a unix socket
  int db = 0;
  std::string user, password;  // AUTH when password is non-empty
  std::string prefix = "sf";
  std::uint32_t lease_ms = 5000;
  std::uint32_t max_value_bytes = 1u << 20;
  std::uint32_t connect_timeout_ms = 1000;
  std::uint32_t command_timeout_ms = 1000;
  std::uint32_t linger_ms = 0;
  std::uint32_t cooldown_ms = 1000;
};

// Fills `out` from `options` (NULL: the defaults, the URL from
// SF_REDIS_URL). False on bad input: an unknown version, a URL that does
// not parse, a prefix with '{', '}' or ':'. May throw std::bad_alloc.
bool parse_fleet_options(const sf_fleet_options *options, FleetConfig *out);

// Parses just the URL into `out`'s address fields. False if it does not parse.
bool parse_fleet_url(const std::string &url, FleetConfig *out);

}  // namespace sf
