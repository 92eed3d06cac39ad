-- Take one token from a token bucket, kept as the generic cell rate algorithm keeps it: one
-- number, the bucket's "theoretical arrival time" TAT (ms).  The bucket is full when
-- TAT <= NOW and holds (NOW + burst * interval - TAT) / interval tokens otherwise; taking a
-- token moves TAT one interval later.
-- KEYS[1]: the bucket.  ARGV: now, interval (ms per token, > 0), burst (tokens, >= 1).
-- Returns {taken (1 or 0), whole tokens left, ms until the next whole token (0 if full)}.
local interval, burst = tonumber(ARGV[2]), tonumber(ARGV[3])
local GC_MARGIN = 60000  -- ms kept past the moment the bucket is full again

local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < NOW then
  tat = NOW
end
local room = NOW + burst * interval - tat  -- the tokens held, in ms of refill
local taken = 0
if room >= interval then
  taken = 1
  tat = tat + interval
  room = room - interval
  -- Garbage collection only: an absent bucket is a full one, which it is by then.
  redis.call('SET', KEYS[1], string.format('%.17g', tat),
             'PX', string.format('%d', math.ceil(tat - NOW) + GC_MARGIN))
end
local left = math.floor(room / interval)
local wait = 0
if left < burst then
  wait = math.ceil(interval - (room - left * interval))
end
return {taken, left, wait}
