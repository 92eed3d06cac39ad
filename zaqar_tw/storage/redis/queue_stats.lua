-- Counters of the queue.  ARGV: now.
-- Returns JSON {"total", "claimed", "oldest", "newest"} (oldest/newest: message or null).
sweep()
reap()
local total = redis.call('ZCARD', K_EXP) - redis.call('ZCOUNT', K_EXP, '-inf', int(NOW))
local claimed = redis.call('ZCARD', K_IDS) - redis.call('ZCARD', K_FREE)
  - redis.call('ZCARD', K_DELAY)

-- The first unexpired message from the head (or the tail), dropping expired ones on the way;
-- null when none is found among the first BATCH + SCAN (the rest are dropped by later calls).
local function edge(command)
  local left = BATCH + SCAN
  while left > 0 do
    local ids = redis.call(command, K_IDS, 0, BATCH - 1)
    if #ids == 0 then
      return 'null'
    end
    local raws = hmget(K_MSGS, ids)
    local dead = {}
    for i, id in ipairs(ids) do
      local raw = raws[i]
      if raw then
        local r = cmsgpack.unpack(raw)
        if not expired(r) then
          drop(dead)
          return render(id, r, redis.call('HGET', K_BODIES, id))
        end
      end
      dead[#dead + 1] = id
    end
    drop(dead)
    left = left - #ids
  end
  return 'null'
end

local oldest = edge('ZRANGE')
local newest = edge('ZREVRANGE')
return '{"total":' .. int(total) .. ',"claimed":' .. int(claimed) ..
  ',"oldest":' .. oldest .. ',"newest":' .. newest .. '}'
