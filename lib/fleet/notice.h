// fleet/notice.h — the notices the scripts publish on the group's channel
// (scripts.h), and how a process reads them.
//
//   <hex key>:<token>                                  a hint: the flight of
//                                                      <token> ended (or its
//                                                      lease was released)
//   <hex key>:<token>|<status>|<vlen>|<elen>|<value><error>
//                                                      the outcome itself
//   <hex key>:<token>|A                                abandonment: the last
//                                                      process waiting for
//                                                      <token> left (the leave
//                                                      script); only that
//                                                      token's leader reads it
//   <hex key>:<token>|S|<lease_ms>|<member>            started: <token> leads,
//                                                      its lease <lease_ms>
//                                                      from now (the join of
//                                                      held flight <member>
//                                                      took it); a process
//                                                      whose caller comes for
//                                                      the key meanwhile waits
//                                                      without asking the server
//   <hex key>:<token>|R                                a roll call: the leader
//                                                      of <token> asks who waits
//                                                      for it (the renew script)
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
  bool abandoned = false;  // an abandonment notice (no outcome)
  bool started = false;    // a started notice: lease_ms is set
  bool roll_call = false;  // a roll call notice
  std::uint32_t lease_ms = 0;
  std::string member;  // a started notice: the held flight that took the lease
  std::string status;
  bool has_value = false, has_error = false;
  std::string value, error;
};

// The notice of a completion: with the outcome when it fits.
std::string encode_notice(const std::string &hex_key, std::uint64_t token,
                          const std::string &status, const std::string *value,
                          const std::string *error);

// False if `text` is no notice.
bool parse_notice(const std::string &text, Notice *out);

}  // namespace sf
