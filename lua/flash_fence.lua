-- The order writer's fence: decides, atomically with flash_release.lua, whether a FlashOrderPlaced event may
-- still create its order, and marks the reservations it admits `durable` (their orders are being written). A
-- purchase that gave up on its event (flash_release.lua with '2', after a publish that timed out) and a writer
-- that got the event after all race here: whichever runs first on the reservation wins, so the sale ends with
-- exactly one outcome, an order with its units held or the units back with no order.
-- After Redis lost the item (docs/flash-sales.md, Warm-up and what Redis loss means), an event whose reservation
-- is gone while the item is loaded again names a purchase the reload could not count (its order was not in
-- PostgreSQL yet): it is adopted into the item if units remain, else refused, atomically with every purchase.
-- KEYS[1] item hash   KEYS[2] per-user units hash   KEYS[3] expiry index
-- KEYS[4..] the reservation hashes {fs:<saleId>:<productId>}:r:<orderId> of ONE sale item (one Cluster slot)
-- ARGV[1] pub/sub channel of the sale   ARGV[2] tombstone TTL in seconds
-- ARGV[3] '1': an order whose item and reservation are both missing is written as it is (the sale is not live,
--         so it is never reloaded); '0': it is reported (4), for the caller to reload the item first
-- ARGV[4..] per key, 8 values: the event's createdAt (epoch ms), request hash (both name the attempt), order id,
--         user id, quantity, unit price, reservedUntil (epoch ms), idempotency key
-- Returns  one integer per key:
--   1 write the order: the reservation is 'reserved' (marked durable now), 'confirmed', or was marked durable before
--     (its order was written or is being written; writing again is idempotent)
--   0 skip the event: the reservation was aborted or released without ever being durable (units returned, no order),
--     or it names another attempt (an aborted purchase's key was used again; this event is the old one's)
--   2 write the order: adopted now (no reservation, item loaded, units remained: taken, reservation recorded durable)
--   3 write the order as CANCELLED: no reservation and the loaded item had too few units left (recorded as a
--     refused tombstone, so a redelivery gets 3 again)
--   4 neither: item and reservation are both missing (ARGV[3] '0')
local channel, tombstone, writeUnloaded = ARGV[1], tonumber(ARGV[2]), ARGV[3] == '1'
local item = redis.call('HMGET', KEYS[1], 'remaining', 'product', 'ended')
local verdicts = {}
for i = 1, #KEYS - 3 do
  local key = KEYS[3 + i]
  local a = 4 + (i - 1) * 8
  local createdAt, hash, orderId, user, quantity = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], tonumber(ARGV[a + 4])
  local r = redis.call('HMGET', key, 'state', 'createdAt', 'hash', 'durable', 'refused')
  local verdict = 1
  if r[1] then
    if r[2] ~= createdAt or r[3] ~= hash then
      verdict = 0
    elseif r[5] == '1' then
      verdict = 3
    elseif r[1] == 'reserved' then
      redis.call('HSET', key, 'durable', '1')
    elseif r[1] ~= 'confirmed' and r[4] ~= '1' then
      verdict = 0
    end
  elseif not item[1] then
    verdict = writeUnloaded and 1 or 4
  else
    local state = 'reserved'
    local remaining = tonumber(item[1])
    if remaining >= quantity then
      verdict = 2
      remaining = remaining - quantity
      item[1] = tostring(remaining)
      redis.call('HINCRBY', KEYS[1], 'remaining', -quantity)
      redis.call('HINCRBY', KEYS[1], 'sold', quantity)
      redis.call('HINCRBY', KEYS[2], user, quantity)
      local version = redis.call('HINCRBY', KEYS[1], 'version', 1)
      redis.call('ZADD', KEYS[3], ARGV[a + 6], orderId)
      redis.call('PUBLISH', channel, item[2] .. ' ' .. remaining .. ' ' .. version .. ' ' .. (item[3] or '0'))
    else
      verdict = 3
      state = 'released'
    end
    redis.call('HSET', key, 'order', orderId, 'user', user, 'hash', hash, 'state', state, 'quantity', quantity,
      'price', ARGV[a + 5], 'createdAt', createdAt, 'expiresAt', ARGV[a + 6], 'key', ARGV[a + 7], 'durable', '1')
    if verdict == 3 then
      redis.call('HSET', key, 'refused', '1')
      redis.call('EXPIRE', key, tombstone)
    end
  end
  verdicts[i] = verdict
end
return verdicts
