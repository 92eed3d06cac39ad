-- Replace the metadata of an existing queue.  ARGV: now, metadata JSON.
-- Returns 1, or 0 when the queue does not exist.
if redis.call('EXISTS', K_QUEUE) == 0 then
  return 0
end
redis.call('HSET', K_QUEUE, 'm', ARGV[2])
return 1
