-- Rebuilds a flash-sale item Redis lost, from PostgreSQL's orders of that item (common/orders/flash-rebuild.ts):
-- every order's reservation (open ones 'reserved' and in the expiry set, confirmed and released ones as
-- tombstones, all `durable`: their orders exist), then the item's counters and each buyer's units. The caller
-- holds the item's rebuild lock and the orders' rows FOR SHARE, so no order of the item is written or settled in
-- PostgreSQL until this has run: the orders it sends are exactly the item's orders. Large items are sent in
-- chunks of reservations (item null) and a last call with the item.
-- KEYS[1] item hash   KEYS[2] per-user units hash   KEYS[3] expiry index   KEYS[4..] one reservation hash per order
-- ARGV[1] JSON {
--           orders: [[orderId, userId, idempotencyKey, requestHash, state, quantity, priceCents, createdAtMs,
--                     expiresAtMs], ...]   state: reserved (RESERVED, PAID), confirmed, released (CANCELLED, EXPIRED)
--           tombstone: seconds a confirmed or released reservation is kept
--           item: null, or {fields: [field, value, ...] of the item hash, users: [userId, units, ...]}
--         }
-- Returns  1 item written (with the reservations)   2 reservations restored, no item sent   0 Redis has the item
--          (nothing written: a loaded item is never overwritten)
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
local args = cjson.decode(ARGV[1])
for i, o in ipairs(args.orders) do
  local key = KEYS[3 + i]
  if redis.call('EXISTS', key) == 0 then
    redis.call('HSET', key, 'order', o[1], 'user', o[2], 'key', o[3], 'hash', o[4], 'state', o[5], 'quantity', o[6],
      'price', o[7], 'createdAt', o[8], 'expiresAt', o[9], 'durable', '1')
    if o[5] == 'reserved' then
      redis.call('ZADD', KEYS[3], o[9], o[1])
    else
      redis.call('EXPIRE', key, tonumber(args.tombstone))
    end
  end
end
if type(args.item) ~= 'table' then
  return 2
end
redis.call('HSET', KEYS[1], unpack(args.item.fields))
redis.call('DEL', KEYS[2])
local users = args.item.users
for i = 1, #users, 2 do
  redis.call('HSET', KEYS[2], users[i], users[i + 1])
end
return 1
