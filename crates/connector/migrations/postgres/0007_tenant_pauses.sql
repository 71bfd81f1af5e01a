-- A tenant's pause after a 429 or 503 with Retry-After, shared by every connector node:
-- the cloud's request budget is per tenant, not per node.
CREATE TABLE tenant_pauses (
    cloud TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    until_ms BIGINT NOT NULL,
    PRIMARY KEY (cloud, tenant_id)
);
