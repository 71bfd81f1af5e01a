-- API clients of an instance (OAuth client credentials) and the tokens issued to them.
CREATE TABLE api_clients (
    client_id TEXT PRIMARY KEY,
    instance_id TEXT NOT NULL REFERENCES instances(id),
    display_name TEXT NOT NULL,
    secret_digest TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE api_tokens (
    token_digest TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES api_clients(client_id),
    instance_id TEXT NOT NULL,
    expires_ms INTEGER NOT NULL
);
