-- Commits a paid flash reservation, once: its units stay sold (they left `remaining` at purchase).
-- KEYS[1] item hash   KEYS[2] the order's reservation hash   KEYS[3] expiry index
-- ARGV[1] order id   ARGV[2] tombstone TTL in seconds
-- Returns {'confirmed', 0}   {'noop', state} already settled   {'missing'} no such reservation
local state = redis.call('HGET', KEYS[2], 'state')
if not state then
  redis.call('ZREM', KEYS[3], ARGV[1])
  return {'missing'}
end
if state ~= 'reserved' then
  redis.call('ZREM', KEYS[3], ARGV[1])
  return {'noop', state}
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'confirmed', tonumber(redis.call('HGET', KEYS[2], 'quantity')))
end
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[2], 'state', 'confirmed')
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[2]))
return {'confirmed', 0}
