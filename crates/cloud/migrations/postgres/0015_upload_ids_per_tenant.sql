-- Message IDs are the tenant's own: another tenant's message under an ID neither blocks
-- nor reveals anything (the legacy integration names messages after its tenant).
ALTER TABLE upload_messages DROP CONSTRAINT upload_messages_pkey;
ALTER TABLE upload_messages ADD PRIMARY KEY (tenant_id, message_id);
