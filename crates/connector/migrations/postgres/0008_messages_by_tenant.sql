-- A tenant's latest message, read each pipeline step to decide whether a short queue may
-- go out without lingering.
CREATE INDEX messages_tenant_created ON messages(tenant_id, created_ms);
