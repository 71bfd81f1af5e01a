-- Graph's $filter compares text case-insensitively (LOWER(column)), and a startswith is
-- also a range over it: these indexes answer the filters clients use on a million
-- devices without a scan. The range is only right where text compares bytewise, as in
-- SQLite, so the filtered columns take the C collation. The last two indexes serve the
-- clock's validity and grace-period sweeps.
ALTER TABLE devices ALTER COLUMN display_name TYPE TEXT COLLATE "C";
ALTER TABLE devices ALTER COLUMN os_version TYPE TEXT COLLATE "C";
ALTER TABLE users ALTER COLUMN display_name TYPE TEXT COLLATE "C";
ALTER TABLE users ALTER COLUMN upn TYPE TEXT COLLATE "C";
ALTER TABLE managed_devices ALTER COLUMN serial_number TYPE TEXT COLLATE "C";
ALTER TABLE managed_devices ALTER COLUMN device_name TYPE TEXT COLLATE "C";
ALTER TABLE managed_devices ALTER COLUMN os_version TYPE TEXT COLLATE "C";
CREATE INDEX devices_display_name_ci ON devices (tenant_id, LOWER(display_name));
CREATE INDEX devices_os_version_ci ON devices (tenant_id, LOWER(os_version));
CREATE INDEX users_display_name_ci ON users (tenant_id, LOWER(display_name));
CREATE INDEX users_upn_ci ON users (tenant_id, LOWER(upn));
CREATE INDEX managed_devices_serial_ci ON managed_devices (tenant_id, LOWER(serial_number));
CREATE INDEX managed_devices_name_ci ON managed_devices (tenant_id, LOWER(device_name));
CREATE INDEX managed_devices_user ON managed_devices (tenant_id, user_id, id);
CREATE INDEX managed_devices_state_grace ON managed_devices (compliance_state, grace_expires_ms);
-- When a device's compliance lapses without a new report (its last report plus its
-- tenant's compliance status validity period), kept with the device so the sweep is an
-- index range instead of a join over every device.
ALTER TABLE managed_devices ADD COLUMN valid_until_ms BIGINT;
UPDATE managed_devices SET valid_until_ms = partner_update_ms + 86400000 * COALESCE(
    (SELECT s.validity_days FROM tenant_compliance_settings s WHERE s.tenant_id = managed_devices.tenant_id), 30);
CREATE INDEX managed_devices_state_validity ON managed_devices (compliance_state, valid_until_ms);
