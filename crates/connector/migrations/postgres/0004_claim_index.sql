-- Forming a message skips devices with an update in flight: this index answers that
-- without reading the rows.
CREATE INDEX intake_in_flight ON intake(tenant_id, status, device_id);
