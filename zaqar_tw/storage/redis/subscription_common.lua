-- Prepended to every subscription script (see scripts.py).  KEYS are the queue's hash and
-- subscription keys in the order of keys.SUBSCRIPTION_KEY_SUFFIXES; ARGV[1] is "now" in
-- integer milliseconds of the service's clock.  Correctness never depends on Redis key
-- expiry: a subscription is expired once its stored expiry time is not after NOW.
--
-- Invariants kept by every script:
--  * every subscription id is in K_SUBIDS and K_SUBS, and K_URIS maps its subscriber URI to
--    it; K_URIS holds nothing else, so at most one subscription (live or expired) per URI
--    and the three keys appear and vanish together;
--  * expired subscriptions stay until a script meets them, which removes them.

local K_QUEUE, K_SUBS, K_SUBIDS, K_URIS = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local NOW = tonumber(ARGV[1])

local BATCH = 128     -- ids read per step of a listing, at most
local GC_MARGIN = 86400000  -- ms kept past the last expiry before Redis may drop the keys

-- subscription record (a msgpack array); OPTIONS is the options' JSON text
local SUBSCRIBER, TTL, EXPIRES, CONFIRMED, OPTIONS = 1, 2, 3, 4, 5

local function int(n)
  return string.format('%d', n)
end

local function store(id, r)
  redis.call('HSET', K_SUBS, id, cmsgpack.pack(r))
end

-- Remove a subscription whose record is `r`.
local function unsubscribe(id, r)
  redis.call('HDEL', K_SUBS, id)
  redis.call('ZREM', K_SUBIDS, id)
  redis.call('HDEL', K_URIS, r[SUBSCRIBER])
end

-- The record of `r` if it is live, else nil (removing it if it expired).
local function alive(id, r)
  if r[EXPIRES] <= NOW then
    unsubscribe(id, r)
    return nil
  end
  return r
end

-- The record of live subscription `id`, or nil.
local function live(id)
  local raw = redis.call('HGET', K_SUBS, id)
  if not raw then
    return nil
  end
  return alive(id, cmsgpack.unpack(raw))
end

-- Garbage collection only: the subscription keys outlive `expires` (ms) by the margin.
-- Extended with some slack, so that most writes need no PEXPIRE.
local function keep_until(expires)
  local need = expires - NOW + GC_MARGIN
  local ttl = redis.call('PTTL', K_SUBS)
  if ttl == -1 or ttl < need then
    local target = int(need + GC_MARGIN / 4)
    for _, key in ipairs({K_SUBS, K_SUBIDS, K_URIS}) do
      redis.call('PEXPIRE', key, target)
    end
  end
end

-- Append the fields of a subscription to `out`: id, subscriber, ttl (s), age (s), options
-- JSON, confirmed (1 or 0).
local function render(out, id, r)
  local age = math.floor((NOW - (r[EXPIRES] - r[TTL] * 1000)) / 1000)
  if age < 0 then
    age = 0
  end
  out[#out + 1] = id
  out[#out + 1] = r[SUBSCRIBER]
  out[#out + 1] = r[TTL]
  out[#out + 1] = age
  out[#out + 1] = r[OPTIONS]
  out[#out + 1] = r[CONFIRMED]
  return out
end
