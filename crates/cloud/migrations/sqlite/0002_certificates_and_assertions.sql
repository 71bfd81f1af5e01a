-- Certificate credentials of app registrations, and the client-assertion IDs already
-- used (a `jti` is accepted once until the assertion expires).
CREATE TABLE app_certificates (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES applications(app_id),
    certificate_der TEXT NOT NULL,
    thumbprint_sha1 TEXT NOT NULL,
    thumbprint_sha256 TEXT NOT NULL,
    expires_ms INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX app_certificates_app ON app_certificates(app_id);
CREATE TABLE used_assertions (
    jti TEXT NOT NULL,
    app_id TEXT NOT NULL,
    expires_ms INTEGER NOT NULL,
    PRIMARY KEY (app_id, jti)
);
