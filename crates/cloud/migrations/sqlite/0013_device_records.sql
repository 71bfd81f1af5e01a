-- When Intune first recorded a partner device (Graph `enrolledDateTime`); earlier rows
-- take their last sync.
ALTER TABLE managed_devices ADD COLUMN enrolled_ms INTEGER;
UPDATE managed_devices SET enrolled_ms = last_sync_ms;
-- A device known only from a compliance partner's verdict (EntityType 4): Intune keeps
-- its state for Entra but does not list it among its managed devices.
ALTER TABLE managed_devices ADD COLUMN verdict_only INTEGER NOT NULL DEFAULT 0;
UPDATE managed_devices SET verdict_only = 1 WHERE attributes LIKE '%"EntityType":4%';
-- The last interactive sign-in that presented the device (Graph
-- `approximateLastSignInDateTime`).
ALTER TABLE devices ADD COLUMN last_sign_in_ms INTEGER;
