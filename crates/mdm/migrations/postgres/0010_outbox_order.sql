-- The outbox is sent in order per instance (a delayed batch holds back what came after it).
CREATE INDEX outbox_order ON outbox(instance_id, id);
