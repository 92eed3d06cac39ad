-- Change a live subscription.  ARGV: now, id, then for subscriber URI, ttl (s) and options
-- JSON in turn: "1" and the new value, or "0" and "" to leave it.
-- Returns 1, 0 if the subscription is unknown or expired, or -1 (nothing changed) when
-- another live subscription has the new subscriber URI.
local id = ARGV[2]
local r = live(id)
if not r then
  return 0
end
if ARGV[3] == '1' and ARGV[4] ~= r[SUBSCRIBER] then
  local subscriber = ARGV[4]
  local other = redis.call('HGET', K_URIS, subscriber)
  if other and live(other) then
    return -1
  end
  redis.call('HDEL', K_URIS, r[SUBSCRIBER])
  redis.call('HSET', K_URIS, subscriber, id)
  r[SUBSCRIBER] = subscriber
end
if ARGV[5] == '1' then
  r[TTL] = tonumber(ARGV[6])
  r[EXPIRES] = NOW + r[TTL] * 1000
  keep_until(r[EXPIRES])
end
if ARGV[7] == '1' then
  r[OPTIONS] = ARGV[8]
end
store(id, r)
return 1
