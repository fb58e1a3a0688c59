#include "fleet/notice.h"

namespace sf {
namespace {

bool parse_u64(const std::string &s, std::size_t from, std::size_t to, std::uint64_t *out) {
  if (from >= to || to - from > 19) return false;
  std::uint64_t v = 0;
  for (std::size_t i = from; i < to; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + static_cast<std::uint64_t>(s[i] - '0');
  }
  *out = v;
  return true;
}

// A length field ("-": none) ending at the next '|' after `*at`.
bool parse_len(const std::string &s, std::size_t *at, bool *present, std::uint64_t *len) {
  std::size_t bar = s.find('|', *at);
  if (bar == std::string::npos) return false;
  *present = !(bar == *at + 1 && s[*at] == '-');
  *len = 0;
  if (*present && !parse_u64(s, *at, bar, len)) return false;
  *at = bar + 1;
  return true;
}

}  // namespace

std::string encode_notice(const std::string &hex_key, std::uint64_t token,
                          const std::string &status, const std::string *value,
                          const std::string *error) {
  std::string n = hex_key + ":" + std::to_string(token);
  const std::size_t bytes = (value ? value->size() : 0) + (error ? error->size() : 0);
  if (bytes > kNoticeInlineBytes) return n;
  n += "|" + status + "|" + (value ? std::to_string(value->size()) : "-") + "|" +
       (error ? std::to_string(error->size()) : "-") + "|";
  if (value) n += *value;
  if (error) n += *error;
  return n;
}

bool parse_notice(const std::string &text, Notice *out) {
  *out = Notice{};
  // The hex key and the token hold neither ':' nor '|'.
  const std::size_t colon = text.find(':');
  if (colon == std::string::npos) return false;
  std::size_t bar = text.find('|', colon);
  const std::size_t token_end = bar == std::string::npos ? text.size() : bar;
  if (!parse_u64(text, colon + 1, token_end, &out->token)) return false;
  out->hex_key.assign(text, 0, colon);
  if (bar == std::string::npos) return true;  // a hint
  std::size_t at = bar + 1;
  if (text.compare(at, std::string::npos, "A") == 0) {
    out->abandoned = true;
    return true;
  }
  if (text.compare(at, std::string::npos, "R") == 0) {
    out->roll_call = true;
    return true;
  }
  if (text.compare(at, 2, "S|") == 0) {
    bar = text.find('|', at + 2);
    std::uint64_t ms;
    if (bar == std::string::npos || !parse_u64(text, at + 2, bar, &ms) || ms > UINT32_MAX)
      return false;
    out->started = true;
    out->lease_ms = static_cast<std::uint32_t>(ms);
    out->member.assign(text, bar + 1, std::string::npos);
    return true;
  }
  bar = text.find('|', at);
  if (bar == std::string::npos || bar == at) return false;
  out->status.assign(text, at, bar - at);
  at = bar + 1;
  std::uint64_t vlen, elen;
  if (!parse_len(text, &at, &out->has_value, &vlen) ||
      !parse_len(text, &at, &out->has_error, &elen))
    return false;
  if (text.size() - at != vlen + elen) return false;
  out->value.assign(text, at, vlen);
  out->error.assign(text, at + vlen, elen);
  out->has_outcome = true;
  return true;
}

}  // namespace sf
