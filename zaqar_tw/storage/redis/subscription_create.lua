-- Subscribe a URI, creating the queue if needed, unless a live subscription has it.
-- ARGV: now, new id, subscriber URI, ttl (s), options JSON.
-- Returns {1, fields of the new subscription} or {0, fields of the existing one} (see render).
local id, subscriber, ttl, options = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local existing = redis.call('HGET', K_URIS, subscriber)
if existing then
  local r = live(existing)
  if r then
    return render({0}, existing, r)
  end
end
if redis.call('EXISTS', K_QUEUE) == 0 then
  redis.call('HSET', K_QUEUE, 'm', '{}', 'c', int(NOW), 'r', 0)
end
local r = {subscriber, ttl, NOW + ttl * 1000, 0, options}
store(id, r)
redis.call('ZADD', K_SUBIDS, 0, id)
redis.call('HSET', K_URIS, subscriber, id)
keep_until(r[EXPIRES])
return render({1}, id, r)
