-- Moves units out of several products' REGULAR available stock into a new flash sale: checks every product
-- first, then takes from all of them, so it takes all or nothing.
-- KEYS[1..n] regular stock hashes {stock}:<productId> (one Cluster slot)   ARGV[1..n] units, in KEYS order
-- Returns {'ok'}   {'not_loaded', index, ...} 1-based indexes Redis has no counters for (load, then retry)
--         {'short', index, available}  the first product without enough available units; nothing changed
local missing = {'not_loaded'}
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 0 then
    missing[#missing + 1] = i
  end
end
if #missing > 1 then
  return missing
end
for i = 1, #KEYS do
  local available = tonumber(redis.call('HGET', KEYS[i], 'available'))
  if available < tonumber(ARGV[i]) then
    return {'short', i, available}
  end
end
for i = 1, #KEYS do
  redis.call('HINCRBY', KEYS[i], 'available', -tonumber(ARGV[i]))
end
return {'ok'}
