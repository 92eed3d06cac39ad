-- Create the queue unless it exists.  ARGV: now, metadata JSON.  Returns 1 if created, else 0.
if redis.call('EXISTS', K_QUEUE) == 1 then
  return 0
end
redis.call('HSET', K_QUEUE, 'm', ARGV[2], 'c', int(NOW), 'r', 0)
return 1
