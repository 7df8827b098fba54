"""The Lua scripts of the Redis presence and rate limiter: each one atomic, so
instances never race.

Keys under the configured prefix P (default `trichat:`):

- `P ev:{channel}`            pub/sub channel of a chat channel's events
- `P u:{user}`                pub/sub channel of a user's personal events (SPEC §8)
- `P rd:{user}`               HASH channel → "seq:at": the user's read markers moved
                              lately, not all stored yet (`redis_reads`)
- `P rc:{channel}`            HASH user → "seq:at": the same, by channel
- `P pu:{channel}:{user}`     ZSET origin → expiry (ms): the instances where the user
                              is connected to the channel, each refreshed by its
                              instance's heartbeat
- `P pc:{channel}`            ZSET user → latest expiry over all instances
- `P pd:{channel}`            HASH user → presence entry (JSON [username, last_seen])
- `P pch`                     SET of channels with anyone present
- `P rl:{key}`                HASH t (seconds), n (tokens): a token bucket

A user is present while `pc` holds them with an expiry in the future. A killed
instance stops refreshing, so its users fall out of every read once their expiry
passes, and the next heartbeat anywhere reaps them (returning them once, so that
exactly one instance announces `left`).
"""

from __future__ import annotations

# KEYS: pu, pc, pd, pch  ARGV: origin, expiry, now, user, entry, channel, ttl_ms
# → 1 when no other live instance has the user in the channel
JOIN = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
local others = redis.call('ZCARD', KEYS[1]) - (redis.call('ZSCORE', KEYS[1], ARGV[1]) and 1 or 0)
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[7])
redis.call('ZADD', KEYS[2], 'GT', ARGV[2], ARGV[4])
redis.call('HSET', KEYS[3], ARGV[4], ARGV[5])
redis.call('SADD', KEYS[4], ARGV[6])
return others == 0 and 1 or 0
"""

# KEYS: pu, pc, pd  ARGV: origin, now, user
# → 1 when the user has left the channel on every instance
LEAVE = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[2])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if #last == 0 then
  redis.call('DEL', KEYS[1])
  redis.call('HDEL', KEYS[3], ARGV[3])
  return redis.call('ZREM', KEYS[2], ARGV[3])
end
redis.call('ZADD', KEYS[2], last[2], ARGV[3])
return 0
"""

# ARGV: prefix, origin, expiry, now, ttl_ms, then (channel, user, entry) triples.
# Refreshes this instance's users, then reaps everyone whose expiry has passed.
# → flat list channel, user, entry of the reaped (announce them as left)
HEARTBEAT = """
local p, origin, expiry, now, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
for i = 6, #ARGV, 3 do
  local c, u = ARGV[i], ARGV[i + 1]
  local pu = p .. 'pu:' .. c .. ':' .. u
  redis.call('ZADD', pu, expiry, origin)
  redis.call('PEXPIRE', pu, ttl)
  redis.call('ZADD', p .. 'pc:' .. c, 'GT', expiry, u)
  redis.call('HSETNX', p .. 'pd:' .. c, u, ARGV[i + 2])
  redis.call('SADD', p .. 'pch', c)
end
local reaped = {}
for _, c in ipairs(redis.call('SMEMBERS', p .. 'pch')) do
  local pc, pd = p .. 'pc:' .. c, p .. 'pd:' .. c
  for _, u in ipairs(redis.call('ZRANGEBYSCORE', pc, '-inf', '(' .. now)) do
    local entry = redis.call('HGET', pd, u) or ''
    redis.call('ZREM', pc, u)
    redis.call('HDEL', pd, u)
    redis.call('DEL', p .. 'pu:' .. c .. ':' .. u)
    table.insert(reaped, c)
    table.insert(reaped, u)
    table.insert(reaped, entry)
  end
  if redis.call('ZCARD', pc) == 0 then
    redis.call('SREM', p .. 'pch', c)
    redis.call('DEL', pd)
  end
end
return reaped
"""

# KEYS: pc, pd  ARGV: now  → flat list user, entry
PRESENCE = """
local users = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], '+inf')
if #users == 0 then return {} end
local entries = redis.call('HMGET', KEYS[2], unpack(users))
local out = {}
for i, u in ipairs(users) do
  table.insert(out, u)
  table.insert(out, entries[i] or '')
end
return out
"""

# ARGV: prefix, now  → flat list channel, users present
COUNTS = """
local out = {}
for _, c in ipairs(redis.call('SMEMBERS', ARGV[1] .. 'pch')) do
  local n = redis.call('ZCOUNT', ARGV[1] .. 'pc:' .. c, ARGV[2], '+inf')
  if n > 0 then
    table.insert(out, c)
    table.insert(out, n)
  end
end
return out
"""

# KEYS: buckets  ARGV: capacity, period (s) of each, in turn → per bucket, '0' when
# allowed, else seconds to wait; spent in order (a bucket named twice pays twice).
# Redis' own clock, so instances with skewed clocks share one bucket fairly. Each
# reply is a string: Lua numbers would come back truncated to integers. One script
# call for a whole batch of spends: in a pipeline each command costs redis-py its
# own packing and reply parsing (docs/performance.md, "Performance IV"). The keys
# of a batch need not share a Redis Cluster slot only because trichat runs on one
# Redis (or a primary with replicas), not on Redis Cluster.
RATE_LIMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local waits = {}
for i, key in ipairs(KEYS) do
  local capacity, period = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local rate = capacity / period
  local state = redis.call('HMGET', key, 't', 'n')
  local tokens = capacity
  if state[1] then
    tokens = math.min(capacity, tonumber(state[2]) + math.max(0, now - tonumber(state[1])) * rate)
  end
  if tokens >= 1 - 1e-9 then
    redis.call('HSET', key, 't', tostring(now), 'n', tostring(math.max(0, tokens - 1)))
    redis.call('PEXPIRE', key, math.ceil(period * 1000))
    waits[i] = '0'
  else
    waits[i] = tostring((1 - tokens) / rate)
  end
end
return waits
"""

# KEYS: rd (the user's), rc (the channel's)  ARGV: channel, user, seq, at, floor,
# ttl_ms, stale (ms: an entry moved before this no longer counts)
# → 1 when the marker moved (seq above the floor and above the one held)
RAISE_MARK = """
local top = tonumber(ARGV[5])
local held = redis.call('HGET', KEYS[1], ARGV[1])
if held then
  local seq, at = string.match(held, '^(%d+):(%d+)$')
  if tonumber(at) >= tonumber(ARGV[7]) and tonumber(seq) > top then top = tonumber(seq) end
end
if tonumber(ARGV[3]) <= top then return 0 end
local value = ARGV[3] .. ':' .. ARGV[4]
redis.call('HSET', KEYS[1], ARGV[1], value)
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('HSET', KEYS[2], ARGV[2], value)
redis.call('PEXPIRE', KEYS[2], ARGV[6])
return 1
"""
