-- Renew a live claim: it expires at now + ttl; the grace rule applies again.
-- ARGV: now, claim id, ttl (s), grace (s).  Returns 1, or 0 if the claim is unknown or expired.
local cid, ttl, grace = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local raw = redis.call('HGET', K_CLAIMS, cid)
if not raw then
  return 0
end
local c = cmsgpack.unpack(raw)
if c[C_EXPIRES] <= NOW then
  return 0
end
local expires = NOW + ttl * 1000
local items = held_by(cid, c[C_IDS])
lease(items, cid, expires, ttl, grace)
local ids = {}
for i, item in ipairs(items) do
  local id, r = item[1], item[2]
  redis.call('HSET', K_MSGS, id, cmsgpack.pack(r))
  redis.call('ZADD', K_EXP, int(r[EXPIRES]), id)
  ids[i] = id
end
redis.call('HSET', K_CLAIMS, cid, cmsgpack.pack({ttl, expires, NOW, ids}))
redis.call('ZADD', K_CEXP, int(expires), cid)
keep_until_horizon()
return 1
