-- Admit a queue to the project's index under a quota: add its name if there is room.
-- KEYS[1]: the project's queue index.  ARGV: now, queue name, the most queues (>= 1).
-- Returns 1 if the name is (now) indexed, 0 if the index is full without it.
local name, most = ARGV[2], tonumber(ARGV[3])
if redis.call('ZSCORE', KEYS[1], name) then
  return 1
end
if redis.call('ZCARD', KEYS[1]) >= most then
  return 0
end
redis.call('ZADD', KEYS[1], 0, name)
return 1
