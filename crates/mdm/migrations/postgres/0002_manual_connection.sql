-- Manual connection (S7): the instance's own app registration in the tenant. The client
-- secret is sealed (AES-256-GCM) and never shown back.
ALTER TABLE ca_settings ADD COLUMN manual_tenant TEXT;
ALTER TABLE ca_settings ADD COLUMN manual_app_id TEXT;
ALTER TABLE ca_settings ADD COLUMN manual_secret TEXT;
ALTER TABLE ca_settings ADD COLUMN manual_tenant_id TEXT;
