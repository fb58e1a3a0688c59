#include "fleet/connection.h"

#include <hiredis/hiredis.h>

#include <cstring>

namespace sf {
namespace {

timeval to_timeval(std::uint32_t ms) {
  timeval tv;
  tv.tv_sec = static_cast<time_t>(ms / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms % 1000) * 1000);
  return tv;
}

bool append(redisContext *c, const Command &args) {
  std::vector<const char *> argv(args.size());
  std::vector<size_t> lens(args.size());
  for (std::size_t i = 0; i < args.size(); ++i) {
    argv[i] = args[i].data();
    lens[i] = args[i].size();
  }
  return redisAppendCommandArgv(c, static_cast<int>(args.size()), argv.data(), lens.data()) ==
         REDIS_OK;
}

std::string context_error(redisContext *c) {
  return c ? std::string(c->errstr) : std::string("cannot allocate a connection");
}

}  // namespace

void ReplyFree::operator()(redisReply *r) const noexcept { freeReplyObject(r); }

namespace {

bool command(redisContext *c, const Command &args, Reply *reply, std::string *why) {
  void *raw = nullptr;
  if (!append(c, args) || redisGetReply(c, &raw) != REDIS_OK) {
    *why = args[0] + ": " + context_error(c);
    return false;
  }
  reply->reset(static_cast<redisReply *>(raw));
  if ((*reply)->type == REDIS_REPLY_ERROR) {
    *why = args[0] + ": " + std::string((*reply)->str, (*reply)->len);
    return false;
  }
  return true;
}

// Connected and authenticated, with the command timeout set.
redisContext *connect_one(const FleetConfig &config, std::string *why) {
  const timeval tv = to_timeval(config.connect_timeout_ms);
  redisContext *c = config.unix_path.empty()
                        ? redisConnectWithTimeout(config.host.c_str(), config.port, tv)
                        : redisConnectUnixWithTimeout(config.unix_path.c_str(), tv);
  if (!c || c->err) {
    *why = "connect: " + context_error(c);
    if (c) redisFree(c);
    return nullptr;
  }
  if (redisSetTimeout(c, to_timeval(config.command_timeout_ms)) != REDIS_OK) {
    *why = "set timeout: " + context_error(c);
    redisFree(c);
    return nullptr;
  }
  Reply r;
  if (!config.password.empty()) {
    Command auth = config.user.empty() ? Command{"AUTH", config.password}
                                       : Command{"AUTH", config.user, config.password};
    if (!command(c, auth, &r, why)) {
      redisFree(c);
      return nullptr;
    }
  }
  return c;
}

}  // namespace

redisContext *connect_command(const FleetConfig &config, std::string *why) {
  redisContext *c = connect_one(config, why);
  Reply r;
  if (c && config.db != 0 && !command(c, {"SELECT", std::to_string(config.db)}, &r, why)) {
    redisFree(c);
    return nullptr;
  }
  return c;
}

Command eval_command(const std::string &sha, std::initializer_list<std::string> keys,
                     std::initializer_list<std::string> args) {
  Command c;
  c.reserve(3 + keys.size() + args.size());
  c.push_back("EVALSHA");
  c.push_back(sha);
  c.push_back(std::to_string(keys.size()));
  for (auto &k : keys) c.push_back(k);
  for (auto &a : args) c.push_back(a);
  return c;
}

DirectLink::~DirectLink() { redisFree(c_); }

int DirectLink::fd() const noexcept { return c_->fd; }

// One owed reply read: false if it is an error.
bool DirectLink::take(void *raw, int *refused) {
  Reply r(static_cast<redisReply *>(raw));
  --owed_;
  if (r->type == REDIS_REPLY_INTEGER && r->integer == 0) ++*refused;
  return r->type != REDIS_REPLY_ERROR;
}

bool DirectLink::call(const Command &cmd, Reply *reply, int *refused, std::string *why) {
  while (owed_ > 0) {
    void *raw = nullptr;
    if (redisGetReply(c_, &raw) != REDIS_OK) {
      *why = "reply: " + context_error(c_);
      return false;
    }
    if (!take(raw, refused)) {
      *why = "error reply to a completion";
      return false;
    }
  }
  return command(c_, cmd, reply, why);
}

bool DirectLink::send(const Command &cmd, std::string *why) {
  int done = 0;
  if (!append(c_, cmd)) {
    *why = "append: " + context_error(c_);
    return false;
  }
  ++owed_;
  do {
    if (redisBufferWrite(c_, &done) != REDIS_OK) {
      *why = "write: " + context_error(c_);
      return false;
    }
  } while (!done);
  return true;
}

bool DirectLink::drain(int *refused) {
  if (redisBufferRead(c_) != REDIS_OK) return false;
  for (;;) {
    void *raw = nullptr;
    if (redisGetReplyFromReader(c_, &raw) != REDIS_OK) return false;
    if (!raw) return true;
    if (!take(raw, refused)) return false;
  }
}

bool Connection::open(const std::string &channel, std::string *why) {
  close();
  cmd_ = connect_command(config_, why);
  if (!cmd_) return false;
  sub_ = connect_one(config_, why);
  if (!sub_) {
    close();
    return false;
  }
  Reply r;
  for (int i = 0; i < kScripts; ++i) {
    if (!command(cmd_, {"SCRIPT", "LOAD", fleet_script(static_cast<FleetScript>(i))}, &r, why) ||
        r->type != REDIS_REPLY_STRING) {
      if (why->empty()) *why = "SCRIPT LOAD: unexpected reply";
      close();
      return false;
    }
    sha_[i].assign(r->str, r->len);
  }
  if (!command(sub_, {"SUBSCRIBE", channel}, &r, why)) {  // the confirmation
    close();
    return false;
  }
  return true;
}

void Connection::close() noexcept {
  if (cmd_) redisFree(cmd_);
  if (sub_) redisFree(sub_);
  cmd_ = sub_ = nullptr;
}

bool Connection::run(const std::vector<Command> &commands, std::vector<Reply> *replies,
                     std::string *why) {
  replies->clear();
  if (!cmd_) {
    *why = "not connected";
    return false;
  }
  for (auto &c : commands) {
    if (!append(cmd_, c)) {
      *why = "append: " + context_error(cmd_);
      close();
      return false;
    }
  }
  for (std::size_t i = 0; i < commands.size(); ++i) {
    void *raw = nullptr;
    if (redisGetReply(cmd_, &raw) != REDIS_OK) {
      *why = "reply: " + context_error(cmd_);
      close();
      return false;
    }
    Reply r(static_cast<redisReply *>(raw));
    if (r->type == REDIS_REPLY_ERROR) {
      *why = "error reply: " + std::string(r->str, r->len);
      close();
      return false;
    }
    replies->push_back(std::move(r));
  }
  return true;
}

int Connection::notice_fd() const noexcept { return sub_ ? sub_->fd : -1; }

bool Connection::read_notices(std::vector<std::string> *notices, std::string *why) {
  if (!sub_) return false;
  if (redisBufferRead(sub_) != REDIS_OK) {
    *why = "notices: " + context_error(sub_);
    close();
    return false;
  }
  for (;;) {
    void *raw = nullptr;
    if (redisGetReplyFromReader(sub_, &raw) != REDIS_OK) {
      *why = "notices: " + context_error(sub_);
      close();
      return false;
    }
    if (!raw) return true;
    Reply r(static_cast<redisReply *>(raw));
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
        r->element[0]->type == REDIS_REPLY_STRING &&
        std::strncmp(r->element[0]->str, "message", r->element[0]->len) == 0 &&
        r->element[2]->type == REDIS_REPLY_STRING)
      notices->emplace_back(r->element[2]->str, r->element[2]->len);
  }
}

}  // namespace sf
