-- The clocks of a device's compliance: since when it has been noncompliant (grace
-- period) or in error (the 7-day hold), and when its grace period ends.
ALTER TABLE managed_devices ADD COLUMN noncompliant_since_ms INTEGER;
ALTER TABLE managed_devices ADD COLUMN error_since_ms INTEGER;
ALTER TABLE managed_devices ADD COLUMN grace_expires_ms INTEGER;
-- Compliance policy settings of a tenant.
CREATE TABLE tenant_compliance_settings (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants(id),
    no_policy_is_compliant INTEGER NOT NULL,
    validity_days INTEGER NOT NULL
);
