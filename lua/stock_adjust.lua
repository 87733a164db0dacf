-- Adds deltas to one product's stock counters (restock, transfers), refusing any that would go negative.
-- KEYS[1]  stock hash  {stock}:<productId>
-- ARGV[1]  delta available   ARGV[2] delta reserved   ARGV[3] delta sold
-- Returns  {1, available, reserved, sold} applied
--          {0}  not loaded: the caller loads from PostgreSQL (stock_rebuild.lua) and PostgreSQL already has the change
--          {-1, available, reserved, sold} refused: a counter would go negative; nothing changed
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {0}
end
local v = redis.call('HMGET', KEYS[1], 'available', 'reserved', 'sold')
local a = tonumber(v[1]) + tonumber(ARGV[1])
local r = tonumber(v[2]) + tonumber(ARGV[2])
local s = tonumber(v[3]) + tonumber(ARGV[3])
if a < 0 or r < 0 or s < 0 then
  return {-1, tonumber(v[1]), tonumber(v[2]), tonumber(v[3])}
end
redis.call('HSET', KEYS[1], 'available', a, 'reserved', r, 'sold', s)
return {1, a, r, s}
