// fleet/connection.h — a fleet group's two connections to its server, which
// its server's I/O thread uses through hiredis: one for commands (pipelined
// scripts), one subscribed to the group's completion channel. Blocking
// sockets with the configured timeouts: a reply later than
// command_timeout_ms is an error, and any error closes both connections
// (the caller trips the breaker).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "fleet/options.h"
#include "fleet/scripts.h"

struct redisContext;
struct redisReply;

namespace sf {

struct ReplyFree {
  void operator()(redisReply *r) const noexcept;
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

// One command: its arguments, binary-safe.
using Command = std::vector<std::string>;

class Connection {
 public:
  explicit Connection(const FleetConfig &config) : config_(config) {}
  ~Connection() { close(); }
  Connection(const Connection &) = delete;
  Connection &operator=(const Connection &) = delete;

  // Connects both, authenticates, selects the db, loads the scripts and
  // subscribes to `channel`, waiting for the server's confirmation (so no
  // notice published after this returns is missed). False, with *why, on
  // any failure (nothing left open).
  bool open(const std::string &channel, std::string *why);
  void close() noexcept;
  bool is_open() const noexcept { return cmd_ != nullptr; }

  // EVALSHA of `script` with `keys` and `args`.
  Command eval(FleetScript script, std::initializer_list<std::string> keys,
               std::initializer_list<std::string> args) const;

  // Sends every command at once, then reads one reply for each into
  // *replies. False (and the connection closed) on an I/O error, a timeout,
  // or an error reply (a script the server lost, an out-of-memory server).
  bool run(const std::vector<Command> &commands, std::vector<Reply> *replies, std::string *why);

  // The subscribed connection's socket, to poll for notices; -1 when closed.
  int notice_fd() const noexcept;
  // Reads what the subscribed connection has (call when notice_fd() is
  // readable) and appends each notice's payload. False (and closed) on EOF
  // or an error.
  bool read_notices(std::vector<std::string> *notices, std::string *why);

 private:
  redisContext *connect_one(std::string *why);
  bool command(redisContext *c, const Command &args, Reply *reply, std::string *why);

  const FleetConfig &config_;
  redisContext *cmd_ = nullptr;
  redisContext *sub_ = nullptr;
  std::string sha_[kScripts];
};

}  // namespace sf
