import { createHash } from 'node:crypto';

// The Lua scripts of RedisSessionStore; the key layout and the order of their steps are
// explained there.

// Shared by the scripts that read or write index entries.
const ENTRY_LUA = `
local function parse(v)
  if not v then return nil end
  local mark, e, t = string.match(v, '^(%-?)(%d+):(.+)$')
  if not t then return nil end
  return t, tonumber(e), mark == '-'
end
local function entry(e, t)
  return string.format('%.0f', e) .. ':' .. t
end
local function keepUntil(key, e)
  local at = redis.call('PEXPIRETIME', key)
  if at ~= -2 and at < e then
    redis.call('PEXPIREAT', key, string.format('%.0f', e))
  end
end
`;

/** The part of an ioredis Redis or Cluster client that runs scripts. */
interface ScriptClient {
  evalsha(sha: string, numKeys: number, ...args: string[]): Promise<unknown>;
  eval(source: string, numKeys: number, ...args: string[]): Promise<unknown>;
}

/** A Lua script run by EVALSHA, loaded with EVAL on a node that does not know it yet. */
export class LuaScript {
  readonly sha: string;

  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  // EVALSHA is one round trip once a node has the script; the first call on a node costs two.
  async run(client: ScriptClient, key: string, args: string[]): Promise<unknown> {
    try {
      return await client.evalsha(this.sha, 1, key, ...args);
    } catch (error) {
      if (!(error instanceof Error && error.message.startsWith('NOSCRIPT'))) throw error;
      return client.eval(this.source, 1, key, ...args);
    }
  }
}

export const SCRIPTS = {
  /**
   * KEYS: token. ARGV: id, userId, expiresAt, createdAt, then field, value, ... (the details;
   * on a rotation, whatever the old key held beside the four). One HSET per pair rather than
   * unpack(): a session with thousands of data keys would overflow Lua's C stack.
   */
  createToken: new LuaScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.error_reply('ERR session token hash already in use')
end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'u', ARGV[2], 'e', ARGV[3], 'c', ARGV[4])
for i = 5, #ARGV - 1, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return 1
`),

  /**
   * KEYS: token. ARGV: expiresAt, ifBefore, now, id, seenAt ('' for none). The conditional
   * UPDATE of the TypeORM store: of concurrent calls, the first moves `e` past `ifBefore` and
   * the rest match nothing. The winner also records seenAt as `ls`, never moving it back.
   */
  extendToken: new LuaScript(`
local f = redis.call('HMGET', KEYS[1], 'id', 'e', 'ls')
if f[1] ~= ARGV[4] then return 0 end
local e = tonumber(f[2])
if e < tonumber(ARGV[2]) and e > tonumber(ARGV[3]) then
  redis.call('HSET', KEYS[1], 'e', ARGV[1])
  redis.call('PEXPIREAT', KEYS[1], ARGV[1])
  if ARGV[5] ~= '' and (not f[3] or tonumber(f[3]) < tonumber(ARGV[5])) then
    redis.call('HSET', KEYS[1], 'ls', ARGV[5])
  end
  return 1
end
return 0
`),

  /**
   * KEYS: token. ARGV: now ('' for any), id and userId ('' for any). Deletes the token key and
   * returns all its fields (HGETALL's flat pairs, details included), or nil when it is gone or
   * does not match.
   */
  takeToken: new LuaScript(`
local f = redis.call('HMGET', KEYS[1], 'id', 'u', 'e', 'c')
if not f[1] then return nil end
if ARGV[1] ~= '' and tonumber(f[3]) <= tonumber(ARGV[1]) then return nil end
if ARGV[2] ~= '' and (f[1] ~= ARGV[2] or f[2] ~= ARGV[3]) then return nil end
local all = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
return all
`),

  /**
   * KEYS: index. ARGV: id, expiresAt, token. Adds an entry; first drops the entries expired on
   * this node's clock (their token keys are gone, by the invariant), so a user who signs in
   * every day does not grow an index that never expires.
   */
  addEntry: new LuaScript(`${ENTRY_LUA}
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local _, e = parse(all[i + 1])
  if not e or e <= now then redis.call('HDEL', KEYS[1], all[i]) end
end
redis.call('HSET', KEYS[1], ARGV[1], entry(tonumber(ARGV[2]), ARGV[3]))
keepUntil(KEYS[1], tonumber(ARGV[2]))
return 1
`),

  /**
   * KEYS: index. ARGV: id, token, expiresAt. Raises the entry (and the key's expiry) ahead of
   * the token key; 0 when the entry is gone, revoking or names another token, and then the
   * token key must not be extended.
   */
  extendEntry: new LuaScript(`${ENTRY_LUA}
local t, e, revoking = parse(redis.call('HGET', KEYS[1], ARGV[1]))
if t ~= ARGV[2] or revoking then return 0 end
local target = tonumber(ARGV[3])
if target > e then redis.call('HSET', KEYS[1], ARGV[1], entry(target, t)) end
keepUntil(KEYS[1], target)
return 1
`),

  /** KEYS: index. ARGV: id, old token, new token. 0 unless the entry is the old, unmarked one. */
  swapEntry: new LuaScript(`${ENTRY_LUA}
local t, e, revoking = parse(redis.call('HGET', KEYS[1], ARGV[1]))
if t ~= ARGV[2] or revoking then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], entry(e, ARGV[3]))
return 1
`),

  /**
   * KEYS: index. ARGV: 'one', id | 'all', exceptId ('' for none). Marks the entries revoking and
   * returns them as {id, token, id, token, ...}; marked entries are returned again, so a
   * deletion interrupted after this step is finished by the next one.
   */
  revokeEntries: new LuaScript(`${ENTRY_LUA}
local out = {}
local function revoke(id, v)
  local t = parse(v)
  if not t then
    redis.call('HDEL', KEYS[1], id)
    return
  end
  if string.sub(v, 1, 1) ~= '-' then redis.call('HSET', KEYS[1], id, '-' .. v) end
  out[#out + 1] = id
  out[#out + 1] = t
end
if ARGV[1] == 'one' then
  local v = redis.call('HGET', KEYS[1], ARGV[2])
  if v then revoke(ARGV[2], v) end
elseif ARGV[1] == 'all' then
  local all = redis.call('HGETALL', KEYS[1])
  for i = 1, #all, 2 do
    if all[i] ~= ARGV[2] then revoke(all[i], all[i + 1]) end
  end
end
return out
`),

  /** KEYS: index. ARGV: id, token, id, token, ... Removes each entry that still names its token. */
  removeEntries: new LuaScript(`${ENTRY_LUA}
local n = 0
for i = 1, #ARGV, 2 do
  local t = parse(redis.call('HGET', KEYS[1], ARGV[i]))
  if t == ARGV[i + 1] then
    redis.call('HDEL', KEYS[1], ARGV[i])
    n = n + 1
  end
end
return n
`),
};
