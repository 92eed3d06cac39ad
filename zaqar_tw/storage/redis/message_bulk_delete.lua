-- Delete messages by id.  ARGV: now, "1" to honour claims else "0", count of ids, ids...,
-- then the claim ids allowed to cover them.  With claims honoured, returns 1 (and deletes
-- nothing) when a listed message is held by a live claim not among those given; else 0.
local n = tonumber(ARGV[3])
local ids = {}
for i = 1, n do
  ids[i] = ARGV[3 + i]
end
if ARGV[2] == '1' then
  local allowed = {}
  for i = 4 + n, #ARGV do
    allowed[ARGV[i]] = true
  end
  local raws = hmget(K_MSGS, ids)
  for i = 1, #ids do
    local raw = raws[i]
    if raw then
      local r = cmsgpack.unpack(raw)
      if not expired(r) and held(r) and not allowed[r[CID]] then
        return 1
      end
    end
  end
end
drop(ids)
return 0
