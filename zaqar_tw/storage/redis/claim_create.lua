-- Claim up to `limit` of the oldest claimable messages.
-- ARGV: now, new claim id, ttl (s), grace (s), limit.
-- Returns a JSON array of the claimed messages; nothing is stored when it is empty.
local cid, ttl, grace, limit = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
sweep()
reap()
local items = take(limit)
if #items == 0 then
  return '[]'
end
local expires = NOW + ttl * 1000
lease(items, cid, expires, ttl, grace)
local ids = {}
for i, item in ipairs(items) do
  local id, r = item[1], item[2]
  r[COUNT] = r[COUNT] + 1
  redis.call('HSET', K_MSGS, id, cmsgpack.pack(r))
  redis.call('ZADD', K_EXP, int(r[EXPIRES]), id)
  ids[i] = id
end
chunked('ZREM', K_FREE, ids)
redis.call('HSET', K_CLAIMS, cid, cmsgpack.pack({ttl, expires, NOW, ids}))
redis.call('ZADD', K_CEXP, int(expires), cid)
keep_until_horizon()
return render_list(items)
