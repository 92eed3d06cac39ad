-- Prepended to every queue script (see scripts.py).  KEYS are the queue's keys in the order of
-- keys.QUEUE_KEY_SUFFIXES; ARGV[1] is "now" in integer milliseconds of the service's clock.
-- Correctness never depends on Redis key expiry: every decision compares stored times with NOW.
--
-- Invariants kept by every script:
--  * every message id is in K_IDS (by rank), K_EXP (by expiry), K_MSGS and K_BODIES;
--  * a message posted with a delay is in K_DELAY (by the time it becomes available) until
--    sweep() promotes it, at most PROMOTE a call, once that time has come; any other message
--    is in K_FREE (by rank) unless a claim record in K_CLAIMS holds it (record CID = claim),
--    so K_FREE holds only messages that may be claimed, and a claim reads no other;
--  * a message held by a live claim outlives the claim (the grace rule), so expired messages
--    are never held by a live claim, and ZCARD(ids) - ZCARD(free) - ZCARD(delay) counts the
--    held ones once expired claims are reaped (REAP a call).

local K_QUEUE, K_IDS, K_FREE, K_EXP = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local K_MSGS, K_BODIES, K_CLAIMS, K_CEXP = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local K_DELAY = KEYS[9]
local NOW = tonumber(ARGV[1])

-- Every script costs O(log n + k) for a page of k, whatever the queue holds: each bound below
-- caps the work of one call, and what is left is done by the next calls.
local BATCH = 128     -- ids read per step of a scan, at most (steps start at the limit)
local SWEEP = 100     -- expired messages dropped per call, at most
local PROMOTE = 100   -- delayed messages made claimable per call, at most
local REAP = 20       -- expired claims released per call, at most
local SCAN = 200      -- messages a scan looks at beyond the page's size, at most
local CHUNK = 500     -- arguments per multi-key command
local GC_MARGIN = 86400000  -- ms kept past the last expiry before Redis may drop the data keys

-- message record (a msgpack array)
local RANK, CREATED, TTL, EXPIRES, AVAIL, CLIENT, CID, CEXP, COUNT, CSUM = 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
-- claim record (a msgpack array)
local C_TTL, C_EXPIRES, C_RENEWED, C_IDS = 1, 2, 3, 4

local function int(n)
  return string.format('%d', n)
end

local function chunked(cmd, key, list)
  for i = 1, #list, CHUNK do
    redis.call(cmd, key, unpack(list, i, math.min(i + CHUNK - 1, #list)))
  end
end

local function hmget(key, ids)
  local out = {}
  for i = 1, #ids, CHUNK do
    local part = redis.call('HMGET', key, unpack(ids, i, math.min(i + CHUNK - 1, #ids)))
    for j = 1, #part do
      out[#out + 1] = part[j]
    end
  end
  return out
end

local function expired(r)
  return r[EXPIRES] <= NOW
end

local function held(r)
  return r[CID] ~= '' and r[CEXP] > NOW
end

-- Remove messages entirely (unknown ids are ignored).
local function drop(ids)
  if #ids == 0 then
    return
  end
  chunked('ZREM', K_IDS, ids)
  chunked('ZREM', K_FREE, ids)
  chunked('ZREM', K_DELAY, ids)
  chunked('ZREM', K_EXP, ids)
  chunked('HDEL', K_MSGS, ids)
  chunked('HDEL', K_BODIES, ids)
end

-- Drop a bounded batch of expired messages, and make a bounded batch of delayed messages
-- whose time has come claimable.
local function sweep()
  drop(redis.call('ZRANGEBYSCORE', K_EXP, '-inf', int(NOW), 'LIMIT', 0, SWEEP))
  local due = redis.call('ZRANGEBYSCORE', K_DELAY, '-inf', int(NOW), 'LIMIT', 0, PROMOTE)
  if #due > 0 then
    for _, id in ipairs(due) do
      local rank = redis.call('ZSCORE', K_IDS, id)
      if rank then
        redis.call('ZADD', K_FREE, rank, id)
      end
    end
    chunked('ZREM', K_DELAY, due)
  end
end

-- Garbage collection only: let Redis drop the message and claim keys of a forgotten queue a
-- generous margin after the last message or claim expires (relative to NOW, so the service's
-- clock and Redis's need not agree).  K_IDS, K_EXP, K_MSGS and K_BODIES always hold the same
-- ids, so they appear, vanish and get their TTL together; K_FREE, K_CLAIMS and K_CEXP may be
-- recreated on their own.

-- Give K_FREE and K_DELAY the TTL of K_IDS if they have none (just recreated).
local function free_follows_ids()
  for _, key in ipairs({K_FREE, K_DELAY}) do
    if redis.call('PTTL', key) == -1 then
      local ttl = redis.call('PTTL', K_IDS)
      if ttl > 0 then
        redis.call('PEXPIRE', key, ttl)
      end
    end
  end
end

-- After a post: make sure the message keys outlive `horizon` (ms) by the margin.  Extended
-- with some slack, so that most posts need no PEXPIRE at all.
local function keep_messages_until(horizon)
  local need = horizon - NOW + GC_MARGIN
  local ttl = redis.call('PTTL', K_IDS)
  if ttl == -1 or ttl < need then
    local target = int(need + GC_MARGIN / 4)
    for _, key in ipairs({K_IDS, K_FREE, K_DELAY, K_EXP, K_MSGS, K_BODIES}) do
      redis.call('PEXPIRE', key, target)
    end
  else
    free_follows_ids()
  end
end

-- After a claim or renewal: every data key lives until the last expiry of any message or
-- claim, plus the margin.
local function keep_until_horizon()
  local horizon = 0
  for _, key in ipairs({K_EXP, K_CEXP}) do
    local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
    if last[2] and tonumber(last[2]) > horizon then
      horizon = tonumber(last[2])
    end
  end
  if horizon == 0 then
    return
  end
  local ttl = int(math.max(horizon - NOW, 0) + GC_MARGIN)
  for _, key in ipairs({K_IDS, K_FREE, K_DELAY, K_EXP, K_MSGS, K_BODIES, K_CLAIMS, K_CEXP}) do
    redis.call('PEXPIRE', key, ttl)
  end
end

-- The messages of a claim record that the claim still holds: list of {id, record}.
local function held_by(cid, ids)
  local items = {}
  if #ids == 0 then
    return items
  end
  local raws = hmget(K_MSGS, ids)
  for i, id in ipairs(ids) do
    local raw = raws[i]
    if raw then
      local r = cmsgpack.unpack(raw)
      if r[CID] == cid then
        items[#items + 1] = {id, r}
      end
    end
  end
  return items
end

-- Forget a claim (live or not): its messages become free again.
local function release(cid)
  local raw = redis.call('HGET', K_CLAIMS, cid)
  if raw then
    local dead, freed = {}, false
    for _, item in ipairs(held_by(cid, cmsgpack.unpack(raw)[C_IDS])) do
      local id, r = item[1], item[2]
      if expired(r) then
        dead[#dead + 1] = id
      else
        r[CID] = ''
        r[CEXP] = 0
        redis.call('HSET', K_MSGS, id, cmsgpack.pack(r))
        redis.call('ZADD', K_FREE, int(r[RANK]), id)
        freed = true
      end
    end
    drop(dead)
    if freed then
      free_follows_ids()
    end
    redis.call('HDEL', K_CLAIMS, cid)
  end
  redis.call('ZREM', K_CEXP, cid)
end

-- Release up to REAP expired claims, oldest first (their messages are not claimable until
-- then; held() already treats them as free).
local function reap()
  for _, cid in ipairs(redis.call('ZRANGEBYSCORE', K_CEXP, '-inf', int(NOW), 'LIMIT', 0, REAP)) do
    release(cid)
  end
end

-- Up to `limit` messages of the rank-scored zset `source`, in rank order after `start` (a
-- ZRANGEBYSCORE bound), whose records pass `accept(record)`: list of {id, record}, and,
-- when the scan stopped at its bound (limit + SCAN messages looked at) rather than at the
-- end, where the next page starts: after the last live message looked at, else (all were
-- expired, and are now dropped) at `marker` again; nil otherwise.  Expired and vanished
-- messages met on the way are dropped.  Batches grow from `limit`.
local function scan(source, start, limit, accept, marker)
  local items = {}
  local size = limit
  local left = limit + SCAN
  local last = nil
  while #items < limit do
    if left <= 0 then
      return items, last or marker or ''
    end
    local asked = math.min(size, left)
    local batch = redis.call('ZRANGEBYSCORE', source, start, '+inf', 'WITHSCORES', 'LIMIT', 0,
                             asked)
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
      left = left - 1
      local raw = raws[i]
      if not raw then
        dead[#dead + 1] = id
      else
        local r = cmsgpack.unpack(raw)
        if expired(r) then
          dead[#dead + 1] = id
        else
          last = id
          if accept(r) then
            items[#items + 1] = {id, r}
            if #items >= limit then
              break
            end
          end
        end
      end
    end
    drop(dead)
    if #ids < asked then
      break
    end
    size = math.min(size * 2, BATCH)
  end
  return items, nil
end

-- Up to `limit` of the oldest claimable messages (free, unexpired, undelayed): list of
-- {id, record}.  Call sweep() and reap() first.
local function take(limit)
  return (scan(K_FREE, '-inf', limit, function(r)
    return r[AVAIL] <= NOW and not held(r)
  end))
end

-- Claim the records of `items` for `cid` until `expires`, applying the grace rule; the
-- caller stores the records (or deletes the messages).
local function lease(items, cid, expires, ttl, grace)
  for _, item in ipairs(items) do
    local r = item[2]
    r[CID] = cid
    r[CEXP] = expires
    if r[EXPIRES] < expires then
      r[EXPIRES] = expires + grace * 1000
      r[TTL] = ttl + grace
    end
  end
end

-- A message as the JSON object the store hands out; `cid` overrides the claim id shown.
local function render(id, r, body, cid)
  if cid == nil then
    cid = held(r) and r[CID] or false
  end
  local age = math.floor((NOW - r[CREATED]) / 1000)
  if age < 0 then
    age = 0
  end
  local checksum = ''
  if r[CSUM] then
    checksum = ',"checksum":' .. cjson.encode(r[CSUM])
  end
  return string.format(
    '{"id":"%s","ttl":%d,"age":%d,"created":%.3f,"claim_id":%s,"claim_count":%d%s,"body":%s}',
    id, r[TTL], age, r[CREATED] / 1000, cid and ('"' .. cid .. '"') or 'null', r[COUNT],
    checksum, body or 'null')
end

-- A JSON array of the messages of `items` ({id, record[, shown claim id]}), bodies spliced in.
local function render_list(items)
  if #items == 0 then
    return '[]'
  end
  local ids = {}
  for i, item in ipairs(items) do
    ids[i] = item[1]
  end
  local bodies = hmget(K_BODIES, ids)
  local out = {}
  for i, item in ipairs(items) do
    out[i] = render(item[1], item[2], bodies[i], item[3])
  end
  return '[' .. table.concat(out, ',') .. ']'
end

