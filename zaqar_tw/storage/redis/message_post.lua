-- Append messages, creating the queue if needed (and allowed).
-- ARGV: now, client id, count, the most unexpired messages the queue may hold afterwards (0:
-- no quota), whether the queue may be created ("1" or "0"), then per message: id, ttl (s),
-- delay (s), checksum ("" for none, else "=" followed by it), body JSON.  KEYS: the queue's,
-- then its subscription id zset (only counted).  Returns the number of subscriptions,
-- expired ones not yet removed included; or, storing nothing, -1 when the queue does not
-- exist and may not be created, -2 when the messages would take it past its quota.
local exists = redis.call('EXISTS', K_QUEUE) == 1
if not exists and ARGV[5] == '0' then
  return -1
end
local client = ARGV[2]
local n = tonumber(ARGV[3])
local most = tonumber(ARGV[4])
if most > 0 and redis.call('ZCOUNT', K_EXP, '(' .. int(NOW), '+inf') + n > most then
  return -2
end
if not exists then
  redis.call('HSET', K_QUEUE, 'm', '{}', 'c', int(NOW), 'r', 0)
end
local rank = redis.call('HINCRBY', K_QUEUE, 'r', n) - n
local horizon = 0
for i = 0, n - 1 do
  local at = 6 + i * 5
  local id, ttl, delay, checksum = ARGV[at], tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2]), ARGV[at + 3]
  rank = rank + 1
  local expires = NOW + ttl * 1000
  if expires > horizon then
    horizon = expires
  end
  local record = {rank, NOW, ttl, expires, NOW + delay * 1000, client, '', 0, 0,
                  checksum ~= '' and string.sub(checksum, 2) or false}
  redis.call('ZADD', K_IDS, int(rank), id)
  if delay > 0 then
    redis.call('ZADD', K_DELAY, int(NOW + delay * 1000), id)
  else
    redis.call('ZADD', K_FREE, int(rank), id)
  end
  redis.call('ZADD', K_EXP, int(expires), id)
  redis.call('HSET', K_MSGS, id, cmsgpack.pack(record))
  redis.call('HSET', K_BODIES, id, ARGV[at + 4])
end
keep_messages_until(horizon)
return redis.call('ZCARD', KEYS[#KEYS])
