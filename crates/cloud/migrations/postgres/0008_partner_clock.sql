-- A partner's date for a device's state is never later than when the service applied
-- it: dates stored ahead of that (a partner's clock ran ahead) are taken as the time
-- applied, so later honest states are not Stale and the validity period runs.
UPDATE managed_devices SET partner_update_ms = last_sync_ms WHERE partner_update_ms > last_sync_ms;
