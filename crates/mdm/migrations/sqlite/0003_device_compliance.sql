-- Which model decides compliance: Intune from the inventory sent ('intune'), or this
-- instance from its own rules, sending only the verdict ('device_compliance').
ALTER TABLE ca_settings ADD COLUMN compliance_model TEXT NOT NULL DEFAULT 'intune';
ALTER TABLE ca_settings ADD COLUMN applicable_rule TEXT NOT NULL DEFAULT '[]';
ALTER TABLE ca_settings ADD COLUMN compliance_rule TEXT NOT NULL DEFAULT '[]';
