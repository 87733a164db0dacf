-- Loads one product's stock counters from PostgreSQL's values, only if Redis does not have them.
-- Redis may have lost them (flush, restart without persistence); it must never read as zero stock.
-- KEYS[1]  stock hash  {stock}:<productId>   fields available, reserved, sold
-- ARGV[1]  available   ARGV[2] reserved   ARGV[3] sold
-- Returns  {available, reserved, sold} as now stored (the existing values when the key was present).
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'available', ARGV[1], 'reserved', ARGV[2], 'sold', ARGV[3])
end
local v = redis.call('HMGET', KEYS[1], 'available', 'reserved', 'sold')
return {tonumber(v[1]), tonumber(v[2]), tonumber(v[3])}
