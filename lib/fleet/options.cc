#include "fleet/options.h"

#include <cstdlib>
#include <cstring>

namespace sf {
namespace {

// A decimal number in [lo, hi], the whole string.
bool parse_int(const std::string &s, long lo, long hi, int *out) {
  if (s.empty() || s.size() > 9) return false;
  long v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  if (v < lo || v > hi) return false;
  *out = static_cast<int>(v);
  return true;
}

// "%41" and the like in a URL's user and password.
bool percent_decode(const std::string &in, std::string *out) {
  out->clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      *out += in[i];
      continue;
    }
    if (i + 2 >= in.size()) return false;
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    *out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return true;
}

}  // namespace

bool parse_fleet_url(const std::string &url, FleetConfig *out) {
  out->host.clear();
  out->unix_path.clear();
  out->port = 6379;
  out->db = 0;
  out->user.clear();
  out->password.clear();
  if (!url.empty() && url[0] == '/') {  // a plain socket path
    out->unix_path = url;
    return true;
  }
  static const char unix_scheme[] = "unix://";
  static const char redis_scheme[] = "redis://";
  if (url.compare(0, sizeof unix_scheme - 1, unix_scheme) == 0) {
    std::string rest = url.substr(sizeof unix_scheme - 1);
    std::size_t q = rest.find('?');
    if (q != std::string::npos) {
      std::string query = rest.substr(q + 1);
      rest.resize(q);
      if (query.compare(0, 3, "db=") != 0 || !parse_int(query.substr(3), 0, 1 << 20, &out->db))
        return false;
    }
    if (rest.empty() || rest[0] != '/') return false;
    out->unix_path = rest;
    return true;
  }
  if (url.compare(0, sizeof redis_scheme - 1, redis_scheme) != 0) return false;
  std::string rest = url.substr(sizeof redis_scheme - 1);
  std::size_t slash = rest.find('/');
  if (slash != std::string::npos) {
    std::string db = rest.substr(slash + 1);
    rest.resize(slash);
    if (!db.empty() && !parse_int(db, 0, 1 << 20, &out->db)) return false;
  }
  std::size_t at = rest.rfind('@');
  if (at != std::string::npos) {
    std::string cred = rest.substr(0, at);
    rest = rest.substr(at + 1);
    std::size_t colon = cred.find(':');
    std::string user = colon == std::string::npos ? std::string() : cred.substr(0, colon);
    std::string pass = colon == std::string::npos ? cred : cred.substr(colon + 1);
    if (!percent_decode(user, &out->user) || !percent_decode(pass, &out->password)) return false;
  }
  if (!rest.empty() && rest[0] == '[') {  // [::1]:6379
    std::size_t close = rest.find(']');
    if (close == std::string::npos) return false;
    out->host = rest.substr(1, close - 1);
    rest = rest.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':' || !parse_int(rest.substr(1), 1, 65535, &out->port)) return false;
    }
  } else {
    std::size_t colon = rest.rfind(':');
    if (colon != std::string::npos) {
      if (!parse_int(rest.substr(colon + 1), 1, 65535, &out->port)) return false;
      rest.resize(colon);
    }
    out->host = rest;
  }
  return !out->host.empty();
}

bool parse_fleet_options(const sf_fleet_options *o, FleetConfig *out) {
  *out = FleetConfig{};
  std::string url;
  if (o && o->version != SF_FLEET_OPTIONS_VERSION) return false;
  if (o && o->url) {
    url = o->url;
  } else if (const char *env = std::getenv("SF_REDIS_URL"); env && *env) {
    url = env;
  } else {
    url = "redis://127.0.0.1:6379";
  }
  if (!parse_fleet_url(url, out)) return false;
  if (!o) return true;
  if (o->key_prefix) {
    out->prefix = o->key_prefix;
    if (out->prefix.empty() || out->prefix.find_first_of("{}:") != std::string::npos) return false;
  }
  if (o->lease_ms) out->lease_ms = o->lease_ms;
  if (o->max_value_bytes) out->max_value_bytes = o->max_value_bytes;
  if (o->connect_timeout_ms) out->connect_timeout_ms = o->connect_timeout_ms;
  if (o->command_timeout_ms) out->command_timeout_ms = o->command_timeout_ms;
  out->linger_ms = o->linger_ms;
  if (o->cooldown_ms) out->cooldown_ms = o->cooldown_ms;
  return true;
}

}  // namespace sf
