-- Takes an ended sale item's unsold units out of `remaining` to return them to regular stock, as one numbered
-- drain. A drain stays pending until flash_drain_ack.lua: asking again returns the SAME drain (number and
-- units), so a caller that crashed between here and PostgreSQL retries it, and PostgreSQL applies each number
-- once (processed_events), which makes every unit go back exactly once however many processes drain.
-- KEYS[1] item hash   ARGV[1] pub/sub channel of the sale
-- Returns {'drain', seq, units}   units to return under drain number seq
--         {'none'}                nothing to return      {'active'} the item has not ended   {'not_loaded'}
local v = redis.call('HMGET', KEYS[1], 'ended', 'remaining', 'drainSeq', 'drainPending', 'product')
if not v[2] then
  return {'not_loaded'}
end
if tonumber(v[4] or '0') > 0 then
  return {'drain', tonumber(v[3]), tonumber(v[4])}
end
if v[1] ~= '1' then
  return {'active'}
end
local units = tonumber(v[2])
if units <= 0 then
  return {'none'}
end
local seq = redis.call('HINCRBY', KEYS[1], 'drainSeq', 1)
redis.call('HSET', KEYS[1], 'remaining', 0, 'drainPending', units)
local version = redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('PUBLISH', ARGV[1], v[5] .. ' 0 ' .. version .. ' 1')
return {'drain', seq, units}
