-- Runs first in every pipeline of regular reservations on a Redis Cluster (subgraphs/order/src/failover-check.ts),
-- on the node that then runs them: whether this node is the master the restored marker was last vouched for on.
-- A replica promoted after its master died may lack the master's last writes (replication is asynchronous), so
-- its counters may show units a lost reservation held. Then the marker is deleted: order_reserve.lua answers
-- 'not_restored' from here on, and placeOrder rebuilds counters and reservations from PostgreSQL
-- (common/orders/stock-rebuild.ts) before anything else is reserved on this node.
-- KEYS[1]  the restored marker                                   <expiry index>:restored
-- KEYS[2]  the id of the node the marker is vouched for on       <expiry index>:restored-on
-- Returns  'same'     this node is that node: nothing changed
--          'changed'  another node's writes are here (a failover, or the slot moved): marker deleted, this node recorded
--          'first'    no node recorded yet (a new index, or Redis lost everything): this node recorded, marker untouched
local me = redis.call('CLUSTER', 'MYID')
local recorded = redis.call('GET', KEYS[2])
if recorded == me then
  return 'same'
end
redis.call('SET', KEYS[2], me)
if recorded then
  redis.call('DEL', KEYS[1])
  return 'changed'
end
return 'first'
