-- Reserves every item of one order, or none of them, in one step (Redis runs a script atomically).
-- The reservation and its expiry go into a sorted set that is authoritative by itself: nothing here has a TTL,
-- so a reservation leaves only through order_release.lua or order_confirm.lua, never by silently expiring.
-- KEYS[1]   expiry index, sorted set (member order id, score expiry in ms)   {stock}:reservations:expiry
-- KEYS[2]   the order's reservation hash                                     {stock}:reservation:<orderId>
-- KEYS[3..] one stock hash per item, in the order of the pairs in ARGV       {stock}:<productId>
-- ARGV[1]   order id   ARGV[2] expiry, epoch ms   ARGV[3] request hash (sha256 of the canonical items input)
-- ARGV[4..] productId, quantity, productId, quantity, ... (one pair per stock key)
-- Returns   {'ok'}                            every item moved available -> reserved; reservation recorded
--           {'exists', requestHash, state}    this order id has a reservation already (a concurrent twin, or a
--                                             reused key when the hash differs); nothing changed
--           {'not_loaded', productId, ...}    Redis has no counters for these products: load them, then retry
--           {'short', productId, available}   the first item without enough available stock; nothing changed
local existing = redis.call('HMGET', KEYS[2], 'hash', 'state')
if existing[1] then
  return {'exists', existing[1], existing[2]}
end

local count = #KEYS - 2
local missing = {'not_loaded'}
for i = 1, count do
  if redis.call('EXISTS', KEYS[2 + i]) == 0 then
    missing[#missing + 1] = ARGV[2 + 2 * i]
  end
end
if #missing > 1 then
  return missing
end

for i = 1, count do
  local available = tonumber(redis.call('HGET', KEYS[2 + i], 'available'))
  if available < tonumber(ARGV[3 + 2 * i]) then
    return {'short', ARGV[2 + 2 * i], available}
  end
end

local items = {}
for i = 1, count do
  local quantity = tonumber(ARGV[3 + 2 * i])
  redis.call('HINCRBY', KEYS[2 + i], 'available', -quantity)
  redis.call('HINCRBY', KEYS[2 + i], 'reserved', quantity)
  items[i] = {ARGV[2 + 2 * i], quantity}
end
redis.call('HSET', KEYS[2], 'order', ARGV[1], 'hash', ARGV[3], 'state', 'reserved',
  'expiresAt', ARGV[2], 'items', cjson.encode(items))
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
return {'ok'}
