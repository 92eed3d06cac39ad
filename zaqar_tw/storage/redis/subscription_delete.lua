-- Unsubscribe.  ARGV: now, id.  Returns 0 (an unknown id is no error).
local raw = redis.call('HGET', K_SUBS, ARGV[2])
if raw then
  unsubscribe(ARGV[2], cmsgpack.unpack(raw))
end
return 0
