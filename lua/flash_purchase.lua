-- One flash-sale purchase, in one atomic step, in this order: idempotency, sale window, the item's token bucket,
-- the buyer's limit, stock; then it takes everything and records the reservation with its expiry. A refusal
-- writes nothing at all (no token, no count, no key), so it leaves no trace.
-- Every key belongs to ONE sale item and shares its hash tag {fs:<saleId>:<productId>} (one Cluster slot).
-- KEYS[1]  item hash: remaining, sold, price, limit, startsAt, endsAt, ended, tokens, tokensAt, version, product
-- KEYS[2]  units each buyer holds or bought, hash user id -> units
-- KEYS[3]  the order's reservation hash                  {fs:...}:r:<orderId> (an 'aborted' one counts as absent)
-- KEYS[4]  the item's expiry index, sorted set (member order id, score expiry in ms)
-- ARGV[1] order id   ARGV[2] user id   ARGV[3] quantity   ARGV[4] request hash   ARGV[5] now, epoch ms
-- ARGV[6] expiry, epoch ms   ARGV[7] rate, tokens/s   ARGV[8] burst, tokens   ARGV[9] pub/sub channel of the sale
-- ARGV[10] idempotency key
-- Returns  {'ok', remaining, version, price, currency}    taken and reserved
--          {'exists', state, createdAt, expiresAt, price, quantity}  this order id was reserved before with this input
--          {'reused'}                                     this order id was reserved before with another input
--          {'not_loaded'}                                 Redis has no such item (warm it up, or it does not exist)
--          {'not_active', startsAt, endsAt}               before the window, after it, or ended early
--          {'rate', retryAfterMs}                         the item's bucket is empty
--          {'limit', limit, alreadyPurchased}             the buyer would exceed the per-user limit
--          {'short', remaining}                           not enough units left
-- An 'aborted' reservation is a purchase taken back before its order could exist (flash_release.lua): its
-- key works again, and the tombstone only tells the order writer to skip that attempt's late event.
local previous = redis.call('HMGET', KEYS[3], 'hash', 'state', 'createdAt', 'expiresAt', 'price', 'quantity')
if previous[1] and previous[2] ~= 'aborted' then
  if previous[1] ~= ARGV[4] then
    return {'reused'}
  end
  return {'exists', previous[2], previous[3], previous[4], previous[5], previous[6]}
end

local item = redis.call('HMGET', KEYS[1], 'remaining', 'ended', 'startsAt', 'endsAt', 'tokens', 'tokensAt', 'limit', 'price', 'product', 'currency')
if not item[1] then
  return {'not_loaded'}
end
local now = tonumber(ARGV[5])
local startsAt = tonumber(item[3])
local endsAt = tonumber(item[4])
if item[2] == '1' or now < startsAt or now >= endsAt then
  return {'not_active', startsAt, endsAt}
end

-- Tokens are counted in thousandths so every value stays an integer (Redis truncates Lua numbers it returns).
local rate = tonumber(ARGV[7])
local capacity = tonumber(ARGV[8]) * 1000
local tokens = capacity
if item[5] then
  local elapsed = math.max(0, now - tonumber(item[6]))
  tokens = math.min(capacity, tonumber(item[5]) + elapsed * rate)
end
if tokens < 1000 then
  return {'rate', math.ceil((1000 - tokens) / rate)}
end

local quantity = tonumber(ARGV[3])
local limit = tonumber(item[7])
local already = tonumber(redis.call('HGET', KEYS[2], ARGV[2]) or '0')
if already + quantity > limit then
  return {'limit', limit, already}
end
local remaining = tonumber(item[1])
if remaining < quantity then
  return {'short', remaining}
end

remaining = remaining - quantity
local version = redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('HSET', KEYS[1], 'remaining', remaining, 'tokens', tokens - 1000, 'tokensAt', now)
redis.call('HINCRBY', KEYS[1], 'sold', quantity)
redis.call('HINCRBY', KEYS[2], ARGV[2], quantity)
if previous[1] then
  redis.call('DEL', KEYS[3])
end
redis.call('HSET', KEYS[3], 'order', ARGV[1], 'user', ARGV[2], 'hash', ARGV[4], 'state', 'reserved', 'quantity', quantity,
  'price', item[8], 'createdAt', now, 'expiresAt', ARGV[6], 'key', ARGV[10])
redis.call('ZADD', KEYS[4], ARGV[6], ARGV[1])
redis.call('PUBLISH', ARGV[9], item[9] .. ' ' .. remaining .. ' ' .. version .. ' 0')
return {'ok', remaining, version, item[8], item[10]}
