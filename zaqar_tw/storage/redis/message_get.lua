-- Messages by id, in the order given, skipping unknown and expired ones.
-- ARGV: now, ids...  Returns a JSON array of messages.
local ids = {}
for i = 2, #ARGV do
  ids[#ids + 1] = ARGV[i]
end
local raws = hmget(K_MSGS, ids)
local items, dead = {}, {}
for i, id in ipairs(ids) do
  local raw = raws[i]
  if raw then
    local r = cmsgpack.unpack(raw)
    if expired(r) then
      dead[#dead + 1] = id
    else
      items[#items + 1] = {id, r}
    end
  end
end
drop(dead)
return render_list(items)
