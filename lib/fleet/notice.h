// fleet/notice.h — a flight's outcome as the server keeps it, and the
// completion notice a leader's completion script publishes on the group's
// channel.
//
//   <token>|<status>|<vlen>|<elen>|<value><error>      an outcome ({tag}:latest,
//                                                      {tag}:linger)
//   <hex key>:<token>                                  a hint: the flight of
//                                                      <token> ended (or its
//                                                      lease was released)
//   <hex key>:<outcome>                                the outcome itself
//
// <status> is as in fleet/scripts.h ("0", "1", "2", "9" or "L"); <vlen> and
// <elen> are byte counts, or "-" for no value / no error. A waiter of that
// flight (or of an older token: a takeover finished first) completes its
// local flight from the notice alone, without asking the server again; a
// hint, or an outcome over kNoticeInlineBytes, makes it run the join script
// again, which reads the outcome from the server.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace sf {

// The largest value plus error a notice carries. Every process of the
// group receives every notice of the group, so large outcomes are left on
// the server for the processes that wait for them.
constexpr std::size_t kNoticeInlineBytes = 16 * 1024;

struct Notice {
  std::string hex_key;
  std::uint64_t token = 0;
  bool has_outcome = false;
  std::string status;
  bool has_value = false, has_error = false;
  std::string value, error;
};

// An outcome, as stored and as a notice carries it.
std::string encode_outcome(std::uint64_t token, const std::string &status, const std::string *value,
                           const std::string *error);

// Whether a notice carries an outcome of these sizes (else it is a hint).
inline bool notice_inline(std::size_t value_bytes, std::size_t error_bytes) {
  return value_bytes + error_bytes <= kNoticeInlineBytes;
}

// False if `text` is no notice.
bool parse_notice(const std::string &text, Notice *out);

// An outcome alone (the join script's "done"): out->hex_key stays empty.
// False if `text` is no outcome.
bool parse_outcome(const std::string &text, Notice *out);

}  // namespace sf
