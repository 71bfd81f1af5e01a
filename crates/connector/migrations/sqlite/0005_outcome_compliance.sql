-- What the cloud decided for an accepted update (its compliance state and, when not
-- compliant, the reasons as a JSON array), reported back to the instance with it.
ALTER TABLE outcomes ADD COLUMN compliance_state TEXT;
ALTER TABLE outcomes ADD COLUMN compliance_reasons TEXT;
