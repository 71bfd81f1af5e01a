-- Conditional Access policies, pending interactive sign-ins, authorization codes and the
-- sign-in log.
CREATE TABLE ca_policies (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    display_name TEXT NOT NULL,
    state TEXT NOT NULL,
    conditions TEXT NOT NULL,
    grant_control TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX ca_policies_tenant ON ca_policies(tenant_id);
CREATE TABLE authorize_requests (
    id TEXT PRIMARY KEY,
    tenant_hint TEXT NOT NULL,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    scope TEXT NOT NULL,
    state TEXT,
    code_challenge TEXT,
    expires_ms BIGINT NOT NULL
);
CREATE TABLE authorization_codes (
    code_digest TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    user_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    device_id TEXT,
    code_challenge TEXT,
    expires_ms BIGINT NOT NULL
);
CREATE TABLE sign_in_logs (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    user_id TEXT NOT NULL,
    upn TEXT NOT NULL,
    app_id TEXT NOT NULL,
    app_name TEXT NOT NULL,
    device_id TEXT,
    error_code BIGINT NOT NULL,
    failure_reason TEXT,
    ca_status TEXT NOT NULL,
    policies TEXT NOT NULL
);
CREATE INDEX sign_in_logs_tenant ON sign_in_logs(tenant_id, at_ms);
