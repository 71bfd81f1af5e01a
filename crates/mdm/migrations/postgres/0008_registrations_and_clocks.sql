-- macOS compares account names without regard to case: one local user per computer and
-- lower-cased name. Where two spellings were stored, the registered (or more recently
-- registered) one stays.
ALTER TABLE local_users ADD COLUMN username_key TEXT;
UPDATE local_users SET username_key = LOWER(TRIM(username));
DELETE FROM local_users WHERE EXISTS (
    SELECT 1 FROM local_users o
    WHERE o.computer_id = local_users.computer_id AND o.username_key = local_users.username_key
      AND o.username <> local_users.username
      AND ((o.aad_device_id IS NOT NULL AND local_users.aad_device_id IS NULL)
           OR ((o.aad_device_id IS NULL) = (local_users.aad_device_id IS NULL)
               AND (COALESCE(o.registered_ms, 0) > COALESCE(local_users.registered_ms, 0)
                    OR (COALESCE(o.registered_ms, 0) = COALESCE(local_users.registered_ms, 0) AND o.username < local_users.username)))));
CREATE UNIQUE INDEX local_users_key ON local_users(computer_id, username_key);
-- What the cloud decided for each registered user's Entra device when it applied the
-- last accepted update: its compliance state and, when not compliant, the reasons
-- (JSON array of sentences).
-- The sequence last queued for each registration: an outcome of an older one arriving
-- later does not overwrite the state of the newer.
ALTER TABLE local_users ADD COLUMN delivery_sequence INTEGER;
ALTER TABLE local_users ADD COLUMN compliance_state TEXT;
ALTER TABLE local_users ADD COLUMN compliance_reasons TEXT;
-- Each registered user's Entra device is its own item in the outbox.
ALTER TABLE outbox ADD COLUMN device_id TEXT;
-- Macs report their UDID upper case; Jamf Pro exports may not. One spelling, so an
-- imported Mac and its agent's enrolment are one computer.
UPDATE computers SET udid = UPPER(udid) WHERE udid <> UPPER(udid)
  AND NOT EXISTS (SELECT 1 FROM computers o WHERE o.instance_id = computers.instance_id AND o.udid = UPPER(computers.udid));
-- Collection dates from Macs whose clocks ran ahead are taken as the time received.
UPDATE computers SET collected_ms = (SELECT MAX(h.received_ms) FROM inventory_history h WHERE h.computer_id = computers.id)
WHERE collected_ms > (SELECT MAX(h.received_ms) FROM inventory_history h WHERE h.computer_id = computers.id);
UPDATE inventory_history SET collected_ms = received_ms WHERE collected_ms > received_ms;
