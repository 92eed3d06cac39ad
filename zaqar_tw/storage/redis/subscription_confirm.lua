-- Set whether a live subscription is confirmed.  ARGV: now, id, "1" or "0".
-- Returns 1, or 0 if the subscription is unknown or expired.
local id = ARGV[2]
local r = live(id)
if not r then
  return 0
end
r[CONFIRMED] = tonumber(ARGV[3])
store(id, r)
return 1
