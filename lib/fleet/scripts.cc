#include "fleet/scripts.h"

namespace sf {
namespace {

const char kJoinLua[] = R"lua(
if ARGV[2] ~= '0' then
  local o = redis.call('GET', KEYS[3])
  if o and tonumber(string.match(o, '^%d+')) >= tonumber(ARGV[2]) then return {'done', o} end
end
if ARGV[3] == '1' then
  local o = redis.call('GET', KEYS[4])
  if o then return {'done', o} end
end
local holder = redis.call('GET', KEYS[1])
if holder then return {'wait', holder, redis.call('PTTL', KEYS[1])} end
local t = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], 86400000)
redis.call('SET', KEYS[1], t, 'PX', ARGV[1])
return {'lead', tostring(t)}
)lua";

const char kRenewLua[] = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
)lua";

const char kCompleteLua[] = R"lua(
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
if tonumber(ARGV[4]) > 0 then redis.call('SET', KEYS[3], ARGV[2], 'PX', ARGV[4]) end
if ARGV[7] == '1' then
  redis.call('PUBLISH', ARGV[5], ARGV[6] .. ':' .. ARGV[2])
else
  redis.call('PUBLISH', ARGV[5], ARGV[6] .. ':' .. ARGV[1])
end
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

}  // namespace

const char *fleet_script(FleetScript which) noexcept {
  switch (which) {
    case kJoin: return kJoinLua;
    case kRenew: return kRenewLua;
    case kComplete: return kCompleteLua;
    case kRelease: return kReleaseLua;
    case kScripts: break;
  }
  return "";
}

}  // namespace sf
