-- Closes drain number ARGV[1] once PostgreSQL has applied it (see flash_drain.lua).
-- KEYS[1] item hash   ARGV[1] drain number
-- Returns 1 closed, 0 not the pending drain (closed before)
local v = redis.call('HMGET', KEYS[1], 'drainSeq', 'drainPending')
if v[1] ~= ARGV[1] or tonumber(v[2] or '0') == 0 then
  return 0
end
redis.call('HINCRBY', KEYS[1], 'returned', tonumber(v[2]))
redis.call('HSET', KEYS[1], 'drainPending', 0)
return 1
