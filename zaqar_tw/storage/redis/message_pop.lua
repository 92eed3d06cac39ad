-- Take up to `limit` claimable messages and delete them.  ARGV: now, limit, claim id to show.
-- Returns a JSON array of the messages removed (claimed once more, as by a claim of ttl 1).
local limit, cid = tonumber(ARGV[2]), ARGV[3]
sweep()
reap()
local items = take(limit)
if #items == 0 then
  return '[]'
end
lease(items, cid, NOW + 1000, 1, 0)
local ids = {}
for i, item in ipairs(items) do
  item[2][COUNT] = item[2][COUNT] + 1
  item[3] = cid
  ids[i] = item[1]
end
local out = render_list(items)
drop(ids)
return out
