-- The router's request-rate limits: one token bucket per key (a client address, a user), checked and taken in
-- one atomic step, so a request costs one round trip however many buckets it draws on. All or nothing: a
-- request refused by one bucket takes no token from the others (a user hammering behind a shared NAT address
-- does not drain that address's bucket with requests that were refused anyway).
-- Every key shares the hash tag {rl} (one Cluster slot), which one script touching several keys requires.
-- KEYS[1..n]  bucket strings "<thousandths of tokens> <at ms>", e.g. {rl}:ip:<address>, {rl}:user:<id>
-- ARGV[1]     now, epoch ms (the router's clock; a bucket never refills backwards when clocks disagree)
-- ARGV[2i]    rate of KEYS[i], tokens per second (> 0)
-- ARGV[2i+1]  burst of KEYS[i], tokens the bucket holds at most (>= 1)
-- Returns  {0}                       one token taken from every bucket
--          {retryAfterMs, i}         nothing taken; KEYS[i] is the bucket that waits longest, retryAfterMs >= 1
-- Tokens are counted in thousandths so every value stays an integer (no rounding drift in retryAfterMs).
local now = tonumber(ARGV[1])
local tokens = {}
local at = {}
local wait = 0
local refusedBy = 0
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[2 * i])
  local full = tonumber(ARGV[2 * i + 1]) * 1000
  local t, a = full, now
  local stored = redis.call('GET', key)
  if stored then
    local st, sa = string.match(stored, '^(%d+) (%d+)$')
    t, a = tonumber(st), tonumber(sa)
    if now > a then
      -- rate tokens/s = rate thousandths/ms
      t = math.min(full, t + math.floor((now - a) * rate))
      a = now
    end
  end
  tokens[i], at[i] = t, a
  if t < 1000 then
    local w = math.ceil((1000 - t) / rate)
    if w > wait then
      wait, refusedBy = w, i
    end
  end
end
if wait > 0 then
  return {wait, refusedBy}
end
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[2 * i])
  local burst = tonumber(ARGV[2 * i + 1])
  -- A bucket untouched for as long as it takes to fill is the same as no bucket: let it expire then.
  local ttl = math.ceil(burst * 1000 / rate) + 1000
  redis.call('SET', key, string.format('%d %d', tokens[i] - 1000, at[i]), 'PX', ttl)
end
return {0}
