// fleet/connection.h — connections to the server, through hiredis: the I/O
// thread's two (one for commands: pipelined scripts; one subscribed to the
// group's completion channel), and the direct links of the callers that
// run their own join and completion scripts (fleet.h). Blocking sockets
// with the configured timeouts: a reply later than command_timeout_ms is an
// error, and any error closes the connection (the I/O thread then trips
// the breaker; a direct link is dropped and the I/O thread takes over).
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

// EVALSHA of the script `sha` with `keys` and `args`.
Command eval_command(const std::string &sha, std::initializer_list<std::string> keys,
                     std::initializer_list<std::string> args);

// A connection for commands: connected, authenticated, its db selected.
// Null, with *why, on any failure.
redisContext *connect_command(const FleetConfig &config, std::string *why);

// A caller's command connection (fleet.h, the direct path): one thread at
// a time. Replies to commands sent without waiting are owed: the next call
// reads them first, or drain() does when the socket is readable.
class DirectLink {
 public:
  explicit DirectLink(redisContext *c) noexcept : c_(c) {}
  ~DirectLink();
  DirectLink(const DirectLink &) = delete;
  DirectLink &operator=(const DirectLink &) = delete;

  // Reads the owed replies, then sends `cmd` and reads its reply. False on
  // an I/O error, a timeout or an error reply (the link is then unusable).
  // *refused counts the owed replies that were integer 0 (a completion the
  // server refused).
  bool call(const Command &cmd, Reply *reply, int *refused, std::string *why);
  // Sends `cmd`; its reply is owed. False on an I/O error.
  bool send(const Command &cmd, std::string *why);
  // Reads what the socket has: false on an error or EOF; *refused as in
  // call(). owed() is 0 once every reply came.
  bool drain(int *refused);
  int owed() const noexcept { return owed_; }
  int fd() const noexcept;

 private:
  bool take(void *raw, int *refused);
  redisContext *c_;
  int owed_ = 0;
};

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
               std::initializer_list<std::string> args) const {
    return eval_command(sha_[script], keys, args);
  }
  // The server's name of `script` (known once open() succeeded).
  const std::string &sha(FleetScript script) const noexcept { return sha_[script]; }

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
  const FleetConfig &config_;
  redisContext *cmd_ = nullptr;
  redisContext *sub_ = nullptr;
  std::string sha_[kScripts];
};

}  // namespace sf
