-- Updates that cannot be delivered (refused by the cloud, or given up on) stay as dead
-- letters with the reason, until replayed.
ALTER TABLE intake ADD COLUMN dead_reason TEXT;
ALTER TABLE intake ADD COLUMN dead_ms BIGINT;
CREATE INDEX intake_device ON intake(device_id);
-- When each link's current state was last resent in full.
ALTER TABLE links ADD COLUMN reconciled_ms BIGINT;
