#include "fleet/scripts.h"

namespace sf {
namespace {

const char kJoinLua[] = R"lua(
if ARGV[2] ~= '0' then
  local o = redis.call('HMGET', KEYS[3], 's', 'v', 'e')
  if o[1] then
    if ARGV[5] == '1' then redis.call('HDEL', KEYS[6], ARGV[4]) end
    return {'done', ARGV[2], o[1], o[2], o[3]}
  end
  -- a flight that took over after the one waited on is as fresh
  o = redis.call('HMGET', KEYS[5], 's', 'v', 'e', 't')
  if o[1] and tonumber(o[4]) > tonumber(ARGV[2]) then
    if ARGV[5] == '1' then redis.call('HDEL', KEYS[6], ARGV[4]) end
    return {'done', o[4], o[1], o[2], o[3]}
  end
end
if ARGV[3] == '1' then
  local o = redis.call('HMGET', KEYS[4], 's', 'v', 'e', 't')
  if o[1] then
    if ARGV[5] == '1' then redis.call('HDEL', KEYS[6], ARGV[4]) end
    return {'done', o[4], o[1], o[2], o[3]}
  end
end
local holder = redis.call('GET', KEYS[1])
if holder then
  redis.call('HSET', KEYS[6], ARGV[4], holder)
  redis.call('PEXPIRE', KEYS[6], 2 * tonumber(ARGV[1]))
  return {'wait', holder, redis.call('PTTL', KEYS[1])}
end
if ARGV[5] == '1' then redis.call('HDEL', KEYS[6], ARGV[4]) end
local t = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], 86400000)
redis.call('SET', KEYS[1], t, 'PX', ARGV[1])
redis.call('PUBLISH', ARGV[6], ARGV[7] .. ':' .. t .. '|S|' .. ARGV[1] .. '|' .. ARGV[4])
return {'lead', tostring(t)}
)lua";

const char kRenewLua[] = R"lua(
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
for _, t in ipairs(redis.call('HVALS', KEYS[2])) do
  if t == ARGV[1] then return 1 end
end
if ARGV[3] == '1' then
  redis.call('PUBLISH', ARGV[4], ARGV[5] .. ':' .. ARGV[1] .. '|R')
  return 3
end
return 2
)lua";

const char kCompleteLua[] = R"lua(
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
local f = {'s', ARGV[2]}
if ARGV[3] == '1' then f[#f + 1] = 'v'; f[#f + 1] = ARGV[4] end
if ARGV[5] == '1' then f[#f + 1] = 'e'; f[#f + 1] = ARGV[6] end
redis.call('HSET', KEYS[2], unpack(f))
redis.call('PEXPIRE', KEYS[2], ARGV[7])
f[#f + 1] = 't'; f[#f + 1] = ARGV[1]
redis.call('DEL', KEYS[4])
redis.call('HSET', KEYS[4], unpack(f))
redis.call('PEXPIRE', KEYS[4], ARGV[7])
if tonumber(ARGV[8]) > 0 then
  redis.call('DEL', KEYS[3])
  redis.call('HSET', KEYS[3], unpack(f))
  redis.call('PEXPIRE', KEYS[3], ARGV[8])
end
local w = redis.call('HGETALL', KEYS[5])
local gone = {}
for i = 1, #w, 2 do
  if w[i + 1] == ARGV[1] then gone[#gone + 1] = w[i] end
end
if #gone > 0 then redis.call('HDEL', KEYS[5], unpack(gone)) end
redis.call('PUBLISH', ARGV[9], ARGV[10])
return 1
)lua";

const char kReleaseLua[] = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], ARGV[3])
  return 1
end
return 0
)lua";

const char kLeaveLua[] = R"lua(
local t = redis.call('HGET', KEYS[1], ARGV[1])
if not t then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
for _, other in ipairs(redis.call('HVALS', KEYS[1])) do
  if other == t then return 1 end
end
redis.call('PUBLISH', ARGV[2], ARGV[3] .. ':' .. t .. '|A')
return 2
)lua";

}  // namespace

const char *fleet_script(FleetScript which) noexcept {
  switch (which) {
    case kJoin: return kJoinLua;
    case kRenew: return kRenewLua;
    case kComplete: return kCompleteLua;
    case kRelease: return kReleaseLua;
    case kLeave: return kLeaveLua;
    case kScripts: break;
  }
  return "";
}

}  // namespace sf
