-- A page of messages in enqueue order.
-- ARGV: now, marker id ("" for none), limit, echo ("1"/"0"), client id, include_claimed,
-- include_delayed.  Returns a JSON array of messages.
local marker, limit, client = ARGV[2], tonumber(ARGV[3]), ARGV[5]
local echo, with_claimed, with_delayed = ARGV[4] == '1', ARGV[6] == '1', ARGV[7] == '1'

sweep()
local source = K_IDS
if not with_claimed then
  reap()
  source = K_FREE
end

local start = '-inf'
if marker ~= '' then
  local rank = redis.call('ZSCORE', K_IDS, marker)
  if rank then
    start = '(' .. rank
  end
end

local items = scan(source, start, limit, function(r)
  return (with_claimed or not held(r)) and (with_delayed or r[AVAIL] <= NOW)
    and (echo or r[CLIENT] ~= client)
end)
return render_list(items)
