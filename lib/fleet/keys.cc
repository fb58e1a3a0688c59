#include "fleet/keys.h"

namespace sf {

std::string to_hex(const void *data, std::size_t len) {
  static const char digits[] = "0123456789abcdef";
  const auto *p = static_cast<const unsigned char *>(data);
  std::string out(len * 2, '0');
  for (std::size_t i = 0; i < len; ++i) {
    out[2 * i] = digits[p[i] >> 4];
    out[2 * i + 1] = digits[p[i] & 15];
  }
  return out;
}

std::string FlightKeys::outcome(std::uint64_t token) const {
  return tag + ":out:" + std::to_string(token);
}

FlightKeys flight_keys(const std::string &prefix, const std::string &hex_group, const void *key,
                       std::size_t len) {
  FlightKeys k;
  k.hex_key = to_hex(key, len);
  k.tag = "{" + prefix + ":" + hex_group + ":" + k.hex_key + "}";
  k.lease = k.tag + ":lease";
  k.counter = k.tag + ":token";
  k.linger = k.tag + ":linger";
  k.latest = k.tag + ":latest";
  k.waiters = k.tag + ":waiters";
  return k;
}

std::string done_channel(const std::string &prefix, const std::string &hex_group) {
  return prefix + ":" + hex_group + ":done";
}

}  // namespace sf
