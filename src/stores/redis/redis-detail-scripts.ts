import { LuaScript } from './redis-scripts.js';

// The Lua scripts behind RedisSessionStore's details (the fields are described in
// redis-details.ts). Each touches the token key alone, and each is one atomic step: Redis runs
// a script to its end before any other command, so concurrent calls are serialized.

// A token key that holds a session expiring after ARGV[1], or nothing to do.
const LIVE_LUA = `
local f = redis.call('HMGET', KEYS[1], 'id', 'e')
if not f[1] or not f[2] or tonumber(f[2]) <= tonumber(ARGV[1]) then return nil end
`;

export const DETAIL_SCRIPTS = {
  /**
   * KEYS: token. ARGV: id, seenAt, ifSeenBefore. Sets `ls` to seenAt while it is missing or
   * before ifSeenBefore, on the session `id` alive at seenAt; 1 when it wrote, else 0. Of
   * concurrent calls the first writes, and the rest find `ls` already past ifSeenBefore.
   */
  touch: new LuaScript(`
local f = redis.call('HMGET', KEYS[1], 'id', 'e', 'ls')
if f[1] ~= ARGV[1] or not f[2] or tonumber(f[2]) <= tonumber(ARGV[2]) then return 0 end
if f[3] and tonumber(f[3]) >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], 'ls', ARGV[2])
return 1
`),

  /**
   * KEYS: token. ARGV: now. Sets `ra` (and the details marker: a session made without details
   * has them from now on); returns all the fields, or nil when no session is alive at now.
   */
  markReauthenticated: new LuaScript(`${LIVE_LUA}
redis.call('HSET', KEYS[1], 'ra', ARGV[1], 'x', '1')
return redis.call('HGETALL', KEYS[1])
`),

  /**
   * KEYS: token. ARGV: now, key, proofAt. Sets `dk` and `dp` (and the details marker) when the
   * session has no `dk` yet: a key is set once. All the fields, or nil when no session is alive
   * at now or it has a key.
   */
  bindDeviceKey: new LuaScript(`${LIVE_LUA}
if redis.call('HEXISTS', KEYS[1], 'dk') == 1 then return nil end
redis.call('HSET', KEYS[1], 'dk', ARGV[2], 'dp', ARGV[3], 'x', '1')
return redis.call('HGETALL', KEYS[1])
`),

  /**
   * KEYS: token. ARGV: now, proofAt. Moves `dp` to proofAt when the session has a key and its
   * `dp` is missing or earlier: a challenge is good once. All the fields, or nil.
   */
  acceptDeviceProof: new LuaScript(`${LIVE_LUA}
local d = redis.call('HMGET', KEYS[1], 'dk', 'dp')
if not d[1] or (d[2] and tonumber(d[2]) >= tonumber(ARGV[2])) then return nil end
redis.call('HSET', KEYS[1], 'dp', ARGV[2])
return redis.call('HGETALL', KEYS[1])
`),

  /**
   * KEYS: token. ARGV: now, maxBytes, then field, member, ... ('' as the member removes the
   * field). The merged data's JSON is '{' + its members joined by ',' + '}', so its size is
   * known before anything is written: over maxBytes, nothing is and the reply is 0. Otherwise
   * the reply is the data's fields and members (flat pairs); nil when no session is alive at now.
   */
  mergeData: new LuaScript(`${LIVE_LUA}
local members = {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if string.sub(all[i], 1, 2) == 'd:' then members[all[i]] = all[i + 1] end
end
for i = 3, #ARGV - 1, 2 do
  if ARGV[i + 1] == '' then members[ARGV[i]] = nil else members[ARGV[i]] = ARGV[i + 1] end
end
local size, count = 2, 0
for _, member in pairs(members) do
  size = size + #member
  count = count + 1
end
if count > 1 then size = size + count - 1 end
if size > tonumber(ARGV[2]) then return 0 end
for i = 3, #ARGV - 1, 2 do
  if ARGV[i + 1] == '' then
    redis.call('HDEL', KEYS[1], ARGV[i])
  else
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
redis.call('HSET', KEYS[1], 'x', '1')
local out = {}
all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if string.sub(all[i], 1, 2) == 'd:' then
    out[#out + 1] = all[i]
    out[#out + 1] = all[i + 1]
  end
end
return out
`),
};
