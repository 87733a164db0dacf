-- Writes one product into the L2 cache unless Redis already holds a newer revision of it, so a slow
-- reader or a late Kafka refresh can never put an older product back over a newer one.
-- Entries are "<priceVersion>:<updatedAtMs>|<json>"; a missing product is "0:0|null", older than any real one.
-- KEYS[1]  entry key  <prefix>product:<id>
-- ARGV[1]  priceVersion   ARGV[2] updatedAt in ms   ARGV[3] JSON payload   ARGV[4] time to live in ms
-- Returns  1 written, 0 kept the newer entry already there
local current = redis.call('GET', KEYS[1])
if current then
  local pv, ms = string.match(current, '^(%d+):(%d+)|')
  pv = tonumber(pv)
  ms = tonumber(ms)
  local newPv = tonumber(ARGV[1])
  if pv and (pv > newPv or (pv == newPv and ms > tonumber(ARGV[2]))) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. ARGV[2] .. '|' .. ARGV[3], 'PX', ARGV[4])
return 1
