-- Reserves every item of one order, or none of them, in one step (Redis runs a script atomically), within the
-- buyer's cap on units held in RESERVED orders: the cap is checked and the buyer's count moved in the same step,
-- so concurrent orders of one user can never together pass it.
-- The reservation and its expiry go into a sorted set that is authoritative by itself: nothing in the reservation
-- has a TTL, so it leaves only through order_settle.lua (released or confirmed), never by silently expiring.
-- KEYS[1]      expiry index, sorted set (member order id, score expiry in ms)   {stock}:reservations:expiry
-- KEYS[2]      the order's reservation hash                                     {stock}:reservation:<orderId>
-- KEYS[3]      the restored marker: present once Redis holds everything rebuilt <expiry index>:restored
--              after its last loss of data (stock_rebuild.lua); absent, no count can be trusted
-- KEYS[4..n+3] one stock hash per item, in the order of the pairs in ARGV       {stock}:<productId>
-- KEYS[n+4]    the buyer's held-units counter (last key)                        <expiry index>:held-units:<userId>
-- ARGV[1]   order id   ARGV[2] expiry, epoch ms   ARGV[3] request hash (sha256 of the canonical items input)
-- ARGV[4]   most units the buyer may hold in RESERVED orders, this order included
-- ARGV[5]   TTL of the held-units counter in seconds (refreshed here; at least the reservation TTL plus grace,
--           so a count that lost its reservations cannot refuse the buyer for longer than that)
-- ARGV[6..] productId, quantity, productId, quantity, ... (one pair per stock key)
-- Returns   {'ok'}                                   every item moved available -> reserved; reservation recorded;
--                                                    the order's units added to the buyer's count
--           {'exists', requestHash, state}           this order id has a reservation already (a concurrent twin, or
--                                                    a reused key when the hash differs); nothing changed
--           {'not_restored'}                         Redis lost its data and the rebuild from PostgreSQL has not run
--                                                    (common/orders/stock-rebuild.ts): run it, then retry; nothing changed
--           {'over_limit', limit, alreadyReserved}   the order's units would take the buyer past the cap; nothing changed
--           {'not_loaded', productId, ...}           Redis has no counters for these products: load them, then retry
--           {'short', productId, available}          the first item without enough available stock; nothing changed
local existing = redis.call('HMGET', KEYS[2], 'hash', 'state')
if existing[1] then
  return {'exists', existing[1], existing[2]}
end

if redis.call('EXISTS', KEYS[3]) == 0 then
  return {'not_restored'}
end

local count = #KEYS - 4
local holder = KEYS[#KEYS]
local units = 0
for i = 1, count do
  units = units + tonumber(ARGV[5 + 2 * i])
end
local limit = tonumber(ARGV[4])
local held = tonumber(redis.call('GET', holder) or '0')
if held + units > limit then
  return {'over_limit', limit, held}
end

local missing = {'not_loaded'}
for i = 1, count do
  if redis.call('EXISTS', KEYS[3 + i]) == 0 then
    missing[#missing + 1] = ARGV[4 + 2 * i]
  end
end
if #missing > 1 then
  return missing
end

for i = 1, count do
  local available = tonumber(redis.call('HGET', KEYS[3 + i], 'available'))
  if available < tonumber(ARGV[5 + 2 * i]) then
    return {'short', ARGV[4 + 2 * i], available}
  end
end

local items = {}
for i = 1, count do
  local quantity = tonumber(ARGV[5 + 2 * i])
  redis.call('HINCRBY', KEYS[3 + i], 'available', -quantity)
  redis.call('HINCRBY', KEYS[3 + i], 'reserved', quantity)
  items[i] = {ARGV[4 + 2 * i], quantity}
end
redis.call('INCRBY', holder, units)
redis.call('EXPIRE', holder, tonumber(ARGV[5]))
-- 'held' is the part of the buyer's count this order still owns; whoever removes it (order_unhold or
-- order_settle) takes it off the count, so the count goes down exactly once however often they run.
redis.call('HSET', KEYS[2], 'order', ARGV[1], 'hash', ARGV[3], 'state', 'reserved',
  'expiresAt', ARGV[2], 'items', cjson.encode(items), 'holder', holder, 'held', units)
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
return {'ok'}
