-- Partner compliance management: partners that decide compliance themselves, and the
-- partner-managed compliance policies they create.
CREATE TABLE compliance_partners (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    display_name TEXT NOT NULL,
    app_id TEXT NOT NULL,
    mac_groups TEXT NOT NULL,
    partner_state TEXT NOT NULL,
    last_heartbeat_ms INTEGER,
    created_ms INTEGER NOT NULL,
    UNIQUE (tenant_id, app_id)
);
CREATE TABLE partner_compliance_policies (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    app_id TEXT NOT NULL,
    display_name TEXT NOT NULL,
    description TEXT NOT NULL,
    platform TEXT NOT NULL,
    assignments TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    UNIQUE (tenant_id, platform, display_name)
);
