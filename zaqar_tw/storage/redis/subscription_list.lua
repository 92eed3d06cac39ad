-- A page of live subscriptions sorted by id, removing the expired ones met on the way.
-- ARGV: now, marker ("" for none), limit.  Returns the fields of each (see render), in order.
-- A queue without subscriptions costs one ZRANGEBYLEX.
local marker, limit = ARGV[2], tonumber(ARGV[3])
local start = '-'
if marker ~= '' then
  start = '(' .. marker
end
local out, found = {}, 0
local size = math.min(limit, BATCH)
while found < limit do
  local ids = redis.call('ZRANGEBYLEX', K_SUBIDS, start, '+', 'LIMIT', 0, size)
  if #ids == 0 then
    break
  end
  local raws = redis.call('HMGET', K_SUBS, unpack(ids))
  for i, id in ipairs(ids) do
    local raw = raws[i]
    if not raw then
      redis.call('ZREM', K_SUBIDS, id)  -- the invariant was broken from outside
    else
      local r = alive(id, cmsgpack.unpack(raw))
      if r then
        render(out, id, r)
        found = found + 1
        if found >= limit then
          break
        end
      end
    end
  end
  if #ids < size then
    break
  end
  start = '(' .. ids[#ids]
  size = BATCH
end
return out
