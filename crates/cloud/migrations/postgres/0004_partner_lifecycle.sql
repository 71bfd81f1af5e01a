-- Whether the termination clocks have been applied to the partner's devices.
ALTER TABLE partners ADD COLUMN devices_noncompliant_applied BIGINT NOT NULL DEFAULT 0;
ALTER TABLE partners ADD COLUMN devices_removed BIGINT NOT NULL DEFAULT 0;
