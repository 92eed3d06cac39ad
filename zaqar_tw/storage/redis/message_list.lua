-- A page of messages in enqueue order.
-- ARGV: now, marker id ("" for none), limit, echo ("1"/"0"), client id, include_claimed,
-- include_delayed.  Returns JSON {"messages": [...], "cursor": id or null}: the cursor is set
-- when the scan stopped at its bound before the page was full (the next page starts after
-- it), so a page costs O(log n + limit) however many messages the filters pass over.
local marker, limit, client = ARGV[2], tonumber(ARGV[3]), ARGV[5]
local echo, with_claimed, with_delayed = ARGV[4] == '1', ARGV[6] == '1', ARGV[7] == '1'

sweep()
reap()
-- K_FREE holds exactly the free, available messages; the others are only in K_IDS.
local source = K_FREE
if with_claimed or with_delayed then
  source = K_IDS
end

local start = '-inf'
if marker ~= '' then
  local rank = redis.call('ZSCORE', K_IDS, marker)
  if rank then
    start = '(' .. rank
  end
end

local items, cursor = scan(source, start, limit, function(r)
  return (with_claimed or not held(r)) and (with_delayed or r[AVAIL] <= NOW)
    and (echo or r[CLIENT] ~= client)
end, marker)
return '{"messages":' .. render_list(items) .. ',"cursor":' ..
  (cursor and ('"' .. cursor .. '"') or 'null') .. '}'
