CREATE TABLE instances (
    id TEXT PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    invitation TEXT NOT NULL,
    connector_instance_id TEXT,
    connector_credential TEXT,
    created_ms INTEGER NOT NULL
);
CREATE TABLE admins (
    id TEXT PRIMARY KEY,
    instance_id TEXT NOT NULL REFERENCES instances(id),
    username TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    privileges TEXT NOT NULL,
    UNIQUE (instance_id, username)
);
CREATE TABLE sessions (
    token_digest TEXT PRIMARY KEY,
    admin_id TEXT NOT NULL REFERENCES admins(id),
    expires_ms INTEGER NOT NULL
);
CREATE TABLE computers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL REFERENCES instances(id),
    udid TEXT NOT NULL,
    serial_number TEXT NOT NULL,
    name TEXT NOT NULL,
    model TEXT NOT NULL,
    credential_digest TEXT NOT NULL UNIQUE,
    inventory TEXT,
    collected_ms INTEGER,
    sequence INTEGER NOT NULL,
    last_checkin_ms INTEGER,
    enrolled_ms INTEGER NOT NULL,
    UNIQUE (instance_id, udid)
);
CREATE TABLE local_users (
    computer_id INTEGER NOT NULL REFERENCES computers(id),
    username TEXT NOT NULL,
    aad_device_id TEXT,
    aad_user_id TEXT,
    upn TEXT,
    registered_ms INTEGER,
    delivery_state TEXT NOT NULL,
    delivery_detail TEXT,
    PRIMARY KEY (computer_id, username)
);
CREATE TABLE ca_settings (
    instance_id TEXT PRIMARY KEY REFERENCES instances(id),
    enabled INTEGER NOT NULL,
    connection_type TEXT NOT NULL,
    sovereign_cloud TEXT NOT NULL,
    landing_page TEXT NOT NULL,
    custom_url TEXT,
    link_id TEXT,
    link_status TEXT NOT NULL,
    checks TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE TABLE change_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    username TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_name TEXT NOT NULL,
    action TEXT NOT NULL,
    details TEXT NOT NULL
);
CREATE INDEX change_log_instance ON change_log(instance_id, id);
-- Inventory handed to the connector: written in the same transaction as the inventory.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    computer_id INTEGER NOT NULL,
    sequence INTEGER NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_ms INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX outbox_due ON outbox(instance_id, next_attempt_ms);
CREATE TABLE outcome_cursors (
    instance_id TEXT PRIMARY KEY,
    cursor INTEGER NOT NULL
);
