-- Marks a sale item ended: flash_purchase.lua refuses it from now on. Idempotent.
-- KEYS[1] item hash   ARGV[1] pub/sub channel of the sale
-- Returns {'ended', remaining, changed}  changed = 1 the first time   {'not_loaded'}
local v = redis.call('HMGET', KEYS[1], 'ended', 'remaining', 'product')
if not v[2] then
  return {'not_loaded'}
end
if v[1] == '1' then
  return {'ended', tonumber(v[2]), 0}
end
redis.call('HSET', KEYS[1], 'ended', '1')
local version = redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('PUBLISH', ARGV[1], v[3] .. ' ' .. v[2] .. ' ' .. version .. ' 1')
return {'ended', tonumber(v[2]), 1}
