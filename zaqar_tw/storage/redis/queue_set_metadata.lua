-- Replace the metadata of an existing queue.  ARGV: now, metadata JSON, expected metadata
-- JSON ("" to write whatever is stored).  Returns 1, 0 when the queue does not exist, or -1
-- when the stored metadata is not the expected one (nothing written).
if redis.call('EXISTS', K_QUEUE) == 0 then
  return 0
end
if ARGV[3] ~= '' and redis.call('HGET', K_QUEUE, 'm') ~= ARGV[3] then
  return -1
end
redis.call('HSET', K_QUEUE, 'm', ARGV[2])
return 1
