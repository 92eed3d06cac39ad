-- A live claim and its messages.  ARGV: now, claim id.
-- Returns JSON {"claim": {"id", "ttl", "age"}, "messages": [...]}, or nil.
local cid = ARGV[2]
local raw = redis.call('HGET', K_CLAIMS, cid)
if not raw then
  return false
end
local c = cmsgpack.unpack(raw)
if c[C_EXPIRES] <= NOW then
  return false
end
local age = math.floor((NOW - c[C_RENEWED]) / 1000)
if age < 0 then
  age = 0
end
return '{"claim":{"id":"' .. cid .. '","ttl":' .. int(c[C_TTL]) .. ',"age":' .. int(age) ..
  '},"messages":' .. render_list(held_by(cid, c[C_IDS])) .. '}'
