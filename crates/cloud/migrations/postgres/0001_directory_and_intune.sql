-- Entra ID: directory, applications, consent, keys.
CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    domain TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    intune_licence BIGINT NOT NULL,
    entra_p1_licence BIGINT NOT NULL,
    scale_unit TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    upn TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    global_admin BIGINT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE TABLE directory_groups (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    display_name TEXT NOT NULL
);
CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES directory_groups(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members(user_id);
CREATE TABLE applications (
    app_id TEXT PRIMARY KEY,
    object_id TEXT NOT NULL UNIQUE,
    owner_tenant_id TEXT,
    display_name TEXT NOT NULL,
    multi_tenant BIGINT NOT NULL,
    public_client BIGINT NOT NULL,
    identifier_uri TEXT,
    redirect_uris TEXT NOT NULL,
    required_permissions TEXT NOT NULL,
    app_roles TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE TABLE app_secrets (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES applications(app_id),
    secret_digest TEXT NOT NULL,
    hint TEXT NOT NULL,
    expires_ms BIGINT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX app_secrets_app ON app_secrets(app_id);
CREATE TABLE service_principals (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    app_id TEXT NOT NULL REFERENCES applications(app_id),
    display_name TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    UNIQUE (tenant_id, app_id)
);
CREATE TABLE permission_grants (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    sp_id TEXT NOT NULL REFERENCES service_principals(id) ON DELETE CASCADE,
    resource_app_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    permission TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    UNIQUE (sp_id, resource_app_id, kind, permission)
);
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    private_pem TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE TABLE console_sessions (
    token_digest TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    expires_ms BIGINT NOT NULL
);
CREATE TABLE consent_requests (
    id TEXT PRIMARY KEY,
    tenant_hint TEXT NOT NULL,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    state TEXT,
    user_id TEXT,
    expires_ms BIGINT NOT NULL
);
CREATE TABLE device_cas (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants(id),
    cert_pem TEXT NOT NULL,
    key_pem TEXT NOT NULL
);
CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    device_id TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    owner_user_id TEXT NOT NULL,
    operating_system TEXT NOT NULL,
    os_version TEXT NOT NULL,
    public_key TEXT NOT NULL,
    certificate_thumbprint TEXT NOT NULL,
    is_compliant BIGINT,
    is_managed BIGINT NOT NULL,
    mdm_app_id TEXT,
    registered_ms BIGINT NOT NULL,
    compliance_updated_ms BIGINT
);
CREATE INDEX devices_tenant ON devices(tenant_id);

-- Intune: partners, devices reported by partners, compliance policies, uploads.
CREATE TABLE partners (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants(id),
    app_id TEXT,
    partner_state TEXT NOT NULL,
    provisioned BIGINT NOT NULL,
    enrollment_url TEXT,
    remediation_url TEXT,
    last_heartbeat_ms BIGINT,
    noncompliant_at_ms BIGINT,
    removal_at_ms BIGINT,
    updated_ms BIGINT NOT NULL
);
CREATE TABLE managed_devices (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    device_id TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL,
    device_name TEXT,
    os_version TEXT,
    serial_number TEXT,
    compliance_state TEXT NOT NULL,
    attributes TEXT NOT NULL,
    setting_results TEXT NOT NULL,
    partner_update_ms BIGINT NOT NULL,
    last_sync_ms BIGINT NOT NULL
);
CREATE INDEX managed_devices_tenant ON managed_devices(tenant_id);
CREATE TABLE compliance_policies (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    display_name TEXT NOT NULL,
    settings TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE TABLE policy_assignments (
    policy_id TEXT NOT NULL REFERENCES compliance_policies(id),
    group_id TEXT NOT NULL REFERENCES directory_groups(id),
    PRIMARY KEY (policy_id, group_id)
);
CREATE TABLE upload_messages (
    message_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    app_id TEXT NOT NULL,
    body_digest TEXT NOT NULL,
    status TEXT NOT NULL,
    body TEXT NOT NULL,
    item_results TEXT,
    error_code BIGINT NOT NULL,
    error_detail TEXT,
    received_ms BIGINT NOT NULL,
    processed_ms BIGINT
);
CREATE INDEX upload_messages_status ON upload_messages(status, received_ms);
