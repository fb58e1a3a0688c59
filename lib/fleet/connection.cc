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

redisContext *Connection::connect_one(std::string *why) {
  const timeval tv = to_timeval(config_.connect_timeout_ms);
  redisContext *c = config_.unix_path.empty()
                        ? redisConnectWithTimeout(config_.host.c_str(), config_.port, tv)
                        : redisConnectUnixWithTimeout(config_.unix_path.c_str(), tv);
  if (!c || c->err) {
    *why = "connect: " + context_error(c);
    if (c) redisFree(c);
    return nullptr;
  }
  if (redisSetTimeout(c, to_timeval(config_.command_timeout_ms)) != REDIS_OK) {
    *why = "set timeout: " + context_error(c);
    redisFree(c);
    return nullptr;
  }
  Reply r;
  if (!config_.password.empty()) {
    Command auth = config_.user.empty() ? Command{"AUTH", config_.password}
                                        : Command{"AUTH", config_.user, config_.password};
    if (!command(c, auth, &r, why)) {
      redisFree(c);
      return nullptr;
    }
  }
  return c;
}

bool Connection::command(redisContext *c, const Command &args, Reply *reply, std::string *why) {
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

bool Connection::open(const std::string &channel, std::string *why) {
  close();
  cmd_ = connect_one(why);
  if (!cmd_) return false;
  sub_ = connect_one(why);
  if (!sub_) {
    close();
    return false;
  }
  Reply r;
  if (config_.db != 0 && !command(cmd_, {"SELECT", std::to_string(config_.db)}, &r, why)) {
    close();
    return false;
  }
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

Command Connection::eval(FleetScript script, std::initializer_list<std::string> keys,
                         std::initializer_list<std::string> args) const {
  Command c;
  c.reserve(3 + keys.size() + args.size());
  c.push_back("EVALSHA");
  c.push_back(sha_[script]);
  c.push_back(std::to_string(keys.size()));
  for (auto &k : keys) c.push_back(k);
  for (auto &a : args) c.push_back(a);
  return c;
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
