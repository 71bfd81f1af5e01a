-- Each assigned compliance policy's own state on a device (JSON list of
-- `intune::combine::PolicyState`): its state, its noncompliance and error clocks and
-- its own grace period. The device's columns hold the combination (the worst state).
ALTER TABLE managed_devices ADD COLUMN policy_states TEXT NOT NULL DEFAULT '[]';
