-- Prepended to every project script (see scripts.py).  KEYS[1] is one key of the project
-- (tag {<project>}); ARGV[1] is "now" in integer milliseconds of the service's clock.
-- Correctness never depends on Redis key expiry: every decision compares stored times with NOW.

local NOW = tonumber(ARGV[1])
