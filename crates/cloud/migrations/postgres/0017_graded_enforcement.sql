-- Graded enforcement of a compliance policy, per assigned group: 'block' (Intune's own
-- behaviour), 'warn' until warn_until_ms (a noncompliant device is in its grace period
-- and its user is warned at sign-in, then blocked), or 'reportOnly' (evaluated and
-- reported, never enforced).
ALTER TABLE policy_assignments ADD COLUMN enforcement TEXT NOT NULL DEFAULT 'block';
ALTER TABLE policy_assignments ADD COLUMN warn_until_ms BIGINT;
-- The sign-in log's status.additionalDetails (a warned sign-in says why and until when).
ALTER TABLE sign_in_logs ADD COLUMN additional_details TEXT;
