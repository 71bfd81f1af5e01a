-- Instances and their links to tenants.
CREATE TABLE instances (
    id TEXT PRIMARY KEY,
    external_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    version TEXT NOT NULL,
    credential_digest TEXT NOT NULL UNIQUE,
    created_ms INTEGER NOT NULL
);
CREATE TABLE links (
    id TEXT PRIMARY KEY,
    instance_id TEXT NOT NULL REFERENCES instances(id),
    cloud TEXT NOT NULL,
    tenant_id TEXT,
    status TEXT NOT NULL,
    landing_page TEXT NOT NULL,
    return_url TEXT NOT NULL,
    checks TEXT NOT NULL,
    last_tested_ms INTEGER,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE INDEX links_instance ON links(instance_id, created_ms);
CREATE INDEX links_tenant ON links(tenant_id, status);
-- Consent `state` values: single use, expiring, bound to one link and step.
CREATE TABLE consent_states (
    state_digest TEXT PRIMARY KEY,
    link_id TEXT NOT NULL REFERENCES links(id),
    step TEXT NOT NULL,
    expires_ms INTEGER NOT NULL
);

-- Delivery: durable intake, upload messages, outcomes reported back to instances.
CREATE TABLE intake (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    computer_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    device_id TEXT NOT NULL,
    item TEXT NOT NULL,
    status TEXT NOT NULL,
    message_id TEXT,
    received_ms INTEGER NOT NULL,
    UNIQUE (instance_id, computer_id, sequence)
);
CREATE INDEX intake_queue ON intake(status, tenant_id, id);
CREATE INDEX intake_message ON intake(message_id);
CREATE TABLE messages (
    message_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    cloud TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_ms INTEGER NOT NULL,
    last_error TEXT,
    created_ms INTEGER NOT NULL
);
CREATE INDEX messages_due ON messages(status, next_attempt_ms);
CREATE TABLE outcomes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    computer_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    status TEXT NOT NULL,
    detail TEXT,
    at_ms INTEGER NOT NULL
);
CREATE INDEX outcomes_instance ON outcomes(instance_id, seq);
-- Which instance manages which Entra device and user: routing of landing-page visits.
CREATE TABLE device_routes (
    tenant_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    upn TEXT,
    PRIMARY KEY (tenant_id, device_id)
);
