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

local items = {}
local size = limit
while #items < limit do
  local batch = redis.call('ZRANGEBYSCORE', source, start, '+inf', 'WITHSCORES', 'LIMIT', 0, size)
  if #batch == 0 then
    break
  end
  local ids = {}
  for i = 1, #batch, 2 do
    ids[#ids + 1] = batch[i]
  end
  start = '(' .. batch[#batch]
  local raws = hmget(K_MSGS, ids)
  local dead = {}
  for i, id in ipairs(ids) do
    local raw = raws[i]
    if not raw then
      dead[#dead + 1] = id
    else
      local r = cmsgpack.unpack(raw)
      if expired(r) then
        dead[#dead + 1] = id
      elseif (with_claimed or not held(r)) and (with_delayed or r[AVAIL] <= NOW)
          and (echo or r[CLIENT] ~= client) then
        items[#items + 1] = {id, r}
        if #items >= limit then
          break
        end
      end
    end
  end
  drop(dead)
  if #ids < size then
    break
  end
  size = math.min(size * 2, BATCH)
end
return render_list(items)
