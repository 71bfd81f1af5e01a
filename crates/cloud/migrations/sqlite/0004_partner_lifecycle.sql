-- Whether the termination clocks have been applied to the partner's devices.
ALTER TABLE partners ADD COLUMN devices_noncompliant_applied INTEGER NOT NULL DEFAULT 0;
ALTER TABLE partners ADD COLUMN devices_removed INTEGER NOT NULL DEFAULT 0;
