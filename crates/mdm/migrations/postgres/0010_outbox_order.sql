-- The outbox is sent in order per instance (a delayed batch holds back what came after it);
-- the index by due time is no longer read.
CREATE INDEX outbox_order ON outbox(instance_id, id);
DROP INDEX IF EXISTS outbox_due;
