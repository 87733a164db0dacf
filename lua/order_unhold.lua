-- Takes a paid order's units off its buyer's held-units count: the order left RESERVED, so its units no longer
-- count against RESERVATION_MAX_UNITS_PER_USER, although its stock stays reserved until order_settle.lua confirms it.
-- Idempotent through the reservation's 'held' field (see order_reserve.lua): whichever of this script,
-- order_settle.lua (release or confirm) runs first removes it and the count; the others find nothing to remove.
-- KEYS[1]   the order's reservation hash             {stock}:reservation:<orderId>
-- KEYS[2]   the buyer's held-units counter           the reservation's 'holder' field
-- Returns   {'unheld', units}   the count went down by the order's units
--           {'noop'}            no reservation, or its units are not counted any more; nothing changed
local fields = redis.call('HMGET', KEYS[1], 'holder', 'held')
if not fields[1] or not fields[2] then
  return {'noop'}
end
if fields[1] ~= KEYS[2] then
  return redis.error_reply('ERR order_unhold: key ' .. KEYS[2] .. ' is not the holder ' .. fields[1])
end
local held = tonumber(fields[2])
-- never below zero: a count that was flushed or expired meanwhile is simply gone
if redis.call('DECRBY', KEYS[2], held) <= 0 then
  redis.call('DEL', KEYS[2])
end
redis.call('HDEL', KEYS[1], 'held')
return {'unheld', held}
