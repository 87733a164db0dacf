-- Settles a reservation once: 'confirm' commits its stock (reserved -> sold) for a paid order; 'release' and
-- 'forget' return it (reserved -> available) for a cancelled, declined or expired order or a failed placeOrder.
-- Idempotent through the reservation's state: a second run finds 'confirmed' or 'released' and changes nothing.
-- KEYS[1]   expiry index, sorted set                 {stock}:reservations:expiry
-- KEYS[2]   the order's reservation hash             {stock}:reservation:<orderId>
-- KEYS[3..] the stock hash of each reserved item, in the reservation's item order (HGET items first), then
--           the buyer's held-units counter when the reservation names one (HGET holder; reservations made before
--           the per-user cap have none)
-- ARGV[1]   order id   ARGV[2] tombstone TTL in seconds
-- ARGV[3]   'confirm', 'release', or 'forget': a release that deletes the reservation instead of keeping a
--           tombstone (placeOrder never committed the order, so the idempotency key must be usable again)
-- Returns   {'confirmed' or 'released', skipped}   done; `skipped` items had no counters in Redis (PostgreSQL has
--                                   the change and the next read reloads them), are `pending` in a reservation that
--                                   stock_rebuild.lua restored, or had fewer reserved than the reservation
--           {'noop', state}         already 'released' or 'confirmed'; nothing changed
--           {'missing'}             no such reservation (removed from the index, nothing else changed)
-- A run also takes the order's units off the buyer's held-units count unless order_unhold.lua did already (the
-- reservation's 'held' field says what is still counted, so the count goes down once).
local mode = ARGV[3]
local counter, settled
if mode == 'confirm' then
  counter, settled = 'sold', 'confirmed'
elseif mode == 'release' or mode == 'forget' then
  counter, settled = 'available', 'released'
else
  return redis.error_reply('ERR order_settle: mode ' .. tostring(mode) .. ' is not confirm, release or forget')
end

local state = redis.call('HGET', KEYS[2], 'state')
if not state then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return {'missing'}
end
if state ~= 'reserved' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return {'noop', state}
end

local items = cjson.decode(redis.call('HGET', KEYS[2], 'items'))
local holder = redis.call('HGET', KEYS[2], 'holder')
local stockKeys = #KEYS - 2 - (holder and 1 or 0)
if #items ~= stockKeys then
  return redis.error_reply('ERR order_settle: ' .. #items .. ' items but ' .. stockKeys .. ' stock keys')
end
if holder and KEYS[#KEYS] ~= holder then
  return redis.error_reply('ERR order_settle: last key ' .. KEYS[#KEYS] .. ' is not the holder ' .. holder)
end
-- 'pending': products whose counters were not loaded when stock_rebuild.lua restored this reservation and whose
-- load did not find the order open; their counters never held its units, so they are skipped like lost ones
local pending = {}
for _, id in ipairs(cjson.decode(redis.call('HGET', KEYS[2], 'pending') or '[]')) do
  pending[id] = true
end
-- every key is checked before anything moves: a script's writes are not undone by the error it returns
for i, item in ipairs(items) do
  if string.sub(KEYS[2 + i], -#item[1]) ~= item[1] then
    return redis.error_reply('ERR order_settle: stock key ' .. KEYS[2 + i] .. ' is not for ' .. item[1])
  end
end
local skipped = 0
for i, item in ipairs(items) do
  local key = KEYS[2 + i]
  local reserved = tonumber(redis.call('HGET', key, 'reserved'))
  if pending[item[1]] then
    skipped = skipped + 1
  elseif reserved and reserved >= item[2] then
    redis.call('HINCRBY', key, 'reserved', -item[2])
    redis.call('HINCRBY', key, counter, item[2])
  else
    skipped = skipped + 1
  end
end

local held = tonumber(redis.call('HGET', KEYS[2], 'held'))
if holder and held then
  -- never below zero: a count that was flushed or expired meanwhile is simply gone
  if redis.call('DECRBY', holder, held) <= 0 then
    redis.call('DEL', holder)
  end
  redis.call('HDEL', KEYS[2], 'held')
end
redis.call('ZREM', KEYS[1], ARGV[1])
if mode == 'forget' then
  redis.call('DEL', KEYS[2])
else
  redis.call('HSET', KEYS[2], 'state', settled)
  redis.call('EXPIRE', KEYS[2], tonumber(ARGV[2]))
end
return {settled, skipped}
