-- Subscribe a URI, creating the queue if needed (and allowed), unless a live subscription
-- has it.
-- ARGV: now, new id, subscriber URI, ttl (s), options JSON, the most live subscriptions the
-- queue may have afterwards (0: no quota), whether the queue may be created ("1" or "0").
-- Returns {1, fields of the new subscription} or {0, fields of the existing one} (see
-- render); or, storing nothing, {-1} when the queue does not exist and may not be created,
-- {-2} when the subscription would take it past its quota.
local id, subscriber, ttl, options = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local most = tonumber(ARGV[6])
local existing = redis.call('HGET', K_URIS, subscriber)
if existing then
  local r = live(existing)
  if r then
    return render({0}, existing, r)
  end
end
local exists = redis.call('EXISTS', K_QUEUE) == 1
if not exists and ARGV[7] == '0' then
  return {-1}
end
-- Under a quota, count the live subscriptions only when all of them together (expired
-- ones included) leave no room; the count removes the expired ones.
if most > 0 and redis.call('HLEN', K_SUBS) >= most then
  local count = 0
  local all = redis.call('HGETALL', K_SUBS)
  for i = 1, #all, 2 do
    if alive(all[i], cmsgpack.unpack(all[i + 1])) then
      count = count + 1
    end
  end
  if count >= most then
    return {-2}
  end
end
if not exists then
  redis.call('HSET', K_QUEUE, 'm', '{}', 'c', int(NOW), 'r', 0)
end
local r = {subscriber, ttl, NOW + ttl * 1000, 0, options}
store(id, r)
redis.call('ZADD', K_SUBIDS, 0, id)
redis.call('HSET', K_URIS, subscriber, id)
keep_until(r[EXPIRES])
return render({1}, id, r)
