-- Not expressible in schema.prisma: the relay asks for unpublished events in id order. With only the
-- (published_at, id) index PostgreSQL walked the primary key past every published row (160 ms per poll
-- at 150k rows); this partial index holds only the pending events, so the query stays O(batch).
CREATE INDEX "outbox_events_pending_idx" ON "outbox_events" ("id") WHERE "published_at" IS NULL;
