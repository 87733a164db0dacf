-- Gives a flash reservation's units back to its sale item (cancelled, payment declined, expired, or a purchase
-- whose event could not be published), once. After the sale ended they still go to the item's `remaining`;
-- the end loop moves whatever is there to regular stock (flash_drain.lua), so each unit goes back exactly once.
-- KEYS[1] item hash   KEYS[2] per-user units hash   KEYS[3] the order's reservation hash   KEYS[4] expiry index
-- ARGV[1] order id   ARGV[2] tombstone TTL in seconds   ARGV[3] pub/sub channel of the sale
-- ARGV[4] '0' releases: the reservation is kept as a 'released' tombstone.
--         '1' forgets the purchase (no order was written): the tombstone says 'aborted', which lets the
--         idempotency key be used again (flash_purchase.lua) and makes the order writer skip the attempt's event
--         (flash_fence.lua), and the item's rate token is given back. A reservation marked `durable` (its order
--         is being written) is released as with '0' instead: its order may still appear, lapsed.
--         '2' aborts a purchase whose event may or may not be on Kafka: as '1', but a `durable` reservation is
--         left as it is ({'noop', 'durable'}): its order will be written, so the purchase stands.
--         '3' erases a purchase whose event was never published (refused after its script ran): as '1', but the
--         reservation is deleted, so the refusal leaves no trace.
-- Returns {'released', skipped}  units returned, tombstone 'released'; skipped = 1 when Redis had lost the item
--         {'aborted', skipped}   units returned, tombstone 'aborted' (forgotten)
--         {'noop', state}        already settled (or 'durable' for '2'); nothing changed
--         {'missing'}            no such reservation (removed from the index, nothing else changed)
local reservation = redis.call('HMGET', KEYS[3], 'state', 'quantity', 'user', 'durable')
if not reservation[1] then
  redis.call('ZREM', KEYS[4], ARGV[1])
  return {'missing'}
end
if reservation[1] ~= 'reserved' then
  redis.call('ZREM', KEYS[4], ARGV[1])
  return {'noop', reservation[1]}
end

local durable = reservation[4] == '1'
if ARGV[4] == '2' and durable then
  return {'noop', 'durable'}
end
local forget = ARGV[4] ~= '0' and not durable

local quantity = tonumber(reservation[2])
local skipped = 1
if redis.call('EXISTS', KEYS[1]) == 1 then
  local remaining = redis.call('HINCRBY', KEYS[1], 'remaining', quantity)
  redis.call('HINCRBY', KEYS[1], 'sold', -quantity)
  local version = redis.call('HINCRBY', KEYS[1], 'version', 1)
  local v = redis.call('HMGET', KEYS[1], 'product', 'ended')
  redis.call('PUBLISH', ARGV[3], v[1] .. ' ' .. remaining .. ' ' .. version .. ' ' .. (v[2] or '0'))
  -- The purchase script caps the bucket at its burst when it next reads it, so adding one back never overfills it.
  if forget and redis.call('HEXISTS', KEYS[1], 'tokens') == 1 then
    redis.call('HINCRBY', KEYS[1], 'tokens', 1000)
  end
  skipped = 0
end
if redis.call('HINCRBY', KEYS[2], reservation[3], -quantity) <= 0 then
  redis.call('HDEL', KEYS[2], reservation[3])
end

redis.call('ZREM', KEYS[4], ARGV[1])
local state = forget and 'aborted' or 'released'
if forget and ARGV[4] == '3' then
  redis.call('DEL', KEYS[3])
else
  redis.call('HSET', KEYS[3], 'state', state)
  redis.call('EXPIRE', KEYS[3], tonumber(ARGV[2]))
end
return {state, skipped}
