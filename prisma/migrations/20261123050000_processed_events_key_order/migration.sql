-- The batch lookup `consumer = $1 AND event_id = ANY($2)` on a (consumer, event_id) key let the planner scan
-- every row of the consumer and filter the ids whenever its statistics were stale (a new or just-truncated
-- table: 5,000 rows read per 100-id lookup, growing with the table). With event_id first the ids are the
-- only usable index condition, so each id is one descent however old the statistics are.
ALTER TABLE "processed_events" DROP CONSTRAINT "processed_events_pkey",
  ADD CONSTRAINT "processed_events_pkey" PRIMARY KEY ("event_id", "consumer");
