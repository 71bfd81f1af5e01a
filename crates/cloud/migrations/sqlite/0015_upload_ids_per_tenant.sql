-- Message IDs are the tenant's own: another tenant's message under an ID neither blocks
-- nor reveals anything (the legacy integration names messages after its tenant).
CREATE TABLE upload_messages_by_tenant (
    message_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    app_id TEXT NOT NULL,
    body_digest TEXT NOT NULL,
    status TEXT NOT NULL,
    body TEXT NOT NULL,
    item_results TEXT,
    error_code INTEGER NOT NULL,
    error_detail TEXT,
    received_ms INTEGER NOT NULL,
    processed_ms INTEGER,
    PRIMARY KEY (tenant_id, message_id)
);
INSERT INTO upload_messages_by_tenant
    SELECT message_id, tenant_id, app_id, body_digest, status, body, item_results, error_code, error_detail, received_ms, processed_ms
    FROM upload_messages;
DROP TABLE upload_messages;
ALTER TABLE upload_messages_by_tenant RENAME TO upload_messages;
CREATE INDEX upload_messages_status ON upload_messages(status, received_ms);
