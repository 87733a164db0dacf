-- Writes a sale item's counters, window and limit (warm-up), only if Redis does not have them: a loaded item
-- is never overwritten, since Redis's live counters are newer than anything PostgreSQL knows.
-- KEYS[1] item hash   KEYS[2] per-user units hash
-- ARGV[1] remaining  ARGV[2] sold  ARGV[3] quantity  ARGV[4] sale price  ARGV[5] currency  ARGV[6] per-user limit
-- ARGV[7] startsAt ms  ARGV[8] endsAt ms  ARGV[9] ended ('0'/'1')  ARGV[10] sale id  ARGV[11] product id
-- ARGV[12..] user id, units, user id, units, ... (what each buyer holds, from PostgreSQL's orders)
-- Returns 1 loaded, 0 already there
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'remaining', ARGV[1], 'sold', ARGV[2], 'confirmed', 0, 'quantity', ARGV[3], 'price', ARGV[4],
  'currency', ARGV[5], 'limit', ARGV[6], 'startsAt', ARGV[7], 'endsAt', ARGV[8], 'ended', ARGV[9], 'sale', ARGV[10],
  'product', ARGV[11], 'version', 1, 'drainSeq', 0, 'drainPending', 0)
if #ARGV > 11 then
  redis.call('DEL', KEYS[2])
  for i = 12, #ARGV, 2 do
    redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  end
end
return 1
