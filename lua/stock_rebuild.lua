-- Rebuilds regular stock from PostgreSQL's truth after Redis lost its data: loads the counters Redis does not have
-- and restores the reservation of every open (RESERVED or PAID) order that holds units of them, so that releasing
-- or confirming such an order later moves its units exactly once. The caller holds the stock rows of the products
-- it sends locked FOR SHARE (common/orders/stock-rebuild.ts), so no order holding units of them is written,
-- released or confirmed until this has run: the orders it sends are exactly the open ones.
-- Assumes Redis loses counters and reservations together (a flush, a restart without persistence), never one
-- without the other (docs/orders.md, "When Redis loses its data"); a failover that lost a master's last writes
-- lost whole scripts, so a lost reservation went with its counter moves, and forcing every open order (the
-- rebuild after a loss: restoreAll) adds the units of each one Redis lacks to the counters it kept.
-- KEYS     every key the call touches (the script refuses a name it was not given): the expiry index, the restored
--          marker, stock hashes {stock}:<productId>, reservation hashes, held-units counters
-- ARGV[1]  JSON {
--            index:     the expiry index (also in KEYS)
--            marker:    the restored marker (also in KEYS); read to decide whether a held-units counter may be created
--            setMarker: true sets the marker last, to `at` (when the rebuild after a loss of everything completed)
--            products:  [[productId, available, reserved, sold], ...]  counters to load where Redis has none
--            loaded:    [productId, ...]  counters an earlier call of the same rebuild loaded (a rebuild in chunks)
--            orders:    [[orderId, requestHash, expiresAtMs, holderKey, heldUnits, [[productId, quantity], ...]], ...]
--                       open orders; heldUnits is 0 for a PAID order (it no longer counts against its buyer's cap)
--            forced:    [orderId, ...]  listed orders restored even if they hold units of no counter loaded here (a
--                       placeOrder whose reservation was lost; every order of the rebuild after a loss); every other
--                       listed order only if it does
--            holders:   [[holderKey, [orderId, ...]], ...]  counters set, where absent, to the units still counted by
--                       those orders' reservations (the rebuild after a loss of everything: every order of the user)
--            holderTtl: TTL of a held-units counter this creates, in seconds; 0 creates none (only adds to existing ones)
--          }
-- Returns  JSON {loaded: [productId, ...] loaded now, restored: reservations created,
--                counters: {productId: [available, reserved, sold]} as now stored, for every product sent}
--
-- A restored reservation is what order_reserve.lua would have written, with one addition: `pending`, the products
-- whose counters Redis did not have at that moment. Their counters are loaded later from PostgreSQL, which then
-- either still holds the order's units (the order is open: that load takes the product off `pending`) or already
-- settled them (the product stays pending, and order_settle skips it). A counter Redis did have was
-- loaded before the order was written (had it been loaded after, that load would have restored this reservation),
-- so the order's units are added to it here.
local args = cjson.decode(ARGV[1])
local given = {}
for _, k in ipairs(KEYS) do
  given[k] = true
end
local function key(name)
  if not given[name] then
    error('stock_rebuild: key ' .. name .. ' was not passed in KEYS')
  end
  return name
end
local function stock(productId)
  return key('{stock}:' .. productId)
end

local index = key(args.index)
local markerPresent = redis.call('EXISTS', key(args.marker)) == 1
local ttl = tonumber(args.holderTtl) or 0

local loadedNow = {}
local loadedList = {}
for _, id in ipairs(args.loaded or {}) do
  loadedNow[id] = true
end
for _, p in ipairs(args.products or {}) do
  local k = stock(p[1])
  if redis.call('EXISTS', k) == 0 then
    redis.call('HSET', k, 'available', p[2], 'reserved', p[3], 'sold', p[4])
    loadedNow[p[1]] = true
    loadedList[#loadedList + 1] = p[1]
  end
end

local function count(holder, units)
  if redis.call('EXISTS', holder) == 1 then
    redis.call('INCRBY', holder, units)
    if ttl > 0 then
      redis.call('EXPIRE', holder, ttl)
    end
  elseif markerPresent and ttl > 0 then
    -- after a complete rebuild an absent counter means nothing held; before it, the rebuild sets it (holders)
    redis.call('SET', holder, units, 'EX', ttl)
  end
end

local function restore(o)
  local id, items, holder, held = o[1], o[6], key(o[4]), tonumber(o[5])
  local pending = {}
  for _, item in ipairs(items) do
    local k = stock(item[1])
    if not loadedNow[item[1]] then
      if redis.call('EXISTS', k) == 1 then
        redis.call('HINCRBY', k, 'available', -item[2])
        redis.call('HINCRBY', k, 'reserved', item[2])
      else
        pending[#pending + 1] = item[1]
      end
    end
  end
  local rk = key('{stock}:reservation:' .. id)
  redis.call('HSET', rk, 'order', id, 'hash', o[2], 'state', 'reserved', 'expiresAt', o[3],
    'items', cjson.encode(items), 'holder', holder)
  if held > 0 then
    redis.call('HSET', rk, 'held', held)
    count(holder, held)
  end
  if #pending > 0 then
    redis.call('HSET', rk, 'pending', cjson.encode(pending))
  end
  redis.call('ZADD', index, o[3], id)
end

-- An existing reservation whose product was pending: the counter just loaded holds the order's units.
local function unpend(rk)
  local raw = redis.call('HGET', rk, 'pending')
  if not raw then
    return
  end
  local keep = {}
  for _, id in ipairs(cjson.decode(raw)) do
    if not loadedNow[id] then
      keep[#keep + 1] = id
    end
  end
  if #keep == 0 then
    redis.call('HDEL', rk, 'pending')
  else
    redis.call('HSET', rk, 'pending', cjson.encode(keep))
  end
end

local forced = {}
for _, id in ipairs(args.forced or {}) do
  forced[id] = true
end
local restored = 0
for _, o in ipairs(args.orders or {}) do
  local touches = forced[o[1]] or false
  for _, item in ipairs(o[6]) do
    touches = touches or loadedNow[item[1]]
  end
  if touches then
    local rk = key('{stock}:reservation:' .. o[1])
    if redis.call('EXISTS', rk) == 0 then
      restore(o)
      restored = restored + 1
    elseif redis.call('HGET', rk, 'state') == 'reserved' then
      unpend(rk)
    end
  end
end

for _, h in ipairs(args.holders or {}) do
  local holder = key(h[1])
  if redis.call('EXISTS', holder) == 0 and ttl > 0 then
    local sum = 0
    for _, id in ipairs(h[2]) do
      local f = redis.call('HMGET', key('{stock}:reservation:' .. id), 'holder', 'held', 'state')
      if f[1] == h[1] and f[2] and f[3] == 'reserved' then
        sum = sum + tonumber(f[2])
      end
    end
    if sum > 0 then
      redis.call('SET', holder, sum, 'EX', ttl)
    end
  end
end

if args.setMarker then
  redis.call('SET', args.marker, args.at)
end

local counters = {}
for _, p in ipairs(args.products or {}) do
  local v = redis.call('HMGET', stock(p[1]), 'available', 'reserved', 'sold')
  counters[p[1]] = {tonumber(v[1]), tonumber(v[2]), tonumber(v[3])}
end
return cjson.encode({loaded = loadedList, restored = restored, counters = counters})
