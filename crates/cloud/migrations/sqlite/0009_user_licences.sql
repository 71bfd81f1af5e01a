-- The licences each user holds (Graph `assignedLicenses`), by SKU: a user of a tenant with
-- Intune holds Intune (INTUNE_A), one with Entra ID P1 holds AAD_PREMIUM.
CREATE TABLE user_licences (
    user_id TEXT NOT NULL REFERENCES users(id),
    sku_id TEXT NOT NULL,
    PRIMARY KEY (user_id, sku_id)
);
INSERT INTO user_licences (user_id, sku_id)
    SELECT u.id, '061f9ace-7d42-4136-88ac-31dc755f143f' FROM users u JOIN tenants t ON t.id = u.tenant_id WHERE t.intune_licence <> 0;
INSERT INTO user_licences (user_id, sku_id)
    SELECT u.id, '078d2b04-f1bd-4111-bbd4-b4b1b354cef4' FROM users u JOIN tenants t ON t.id = u.tenant_id WHERE t.entra_p1_licence <> 0;
CREATE INDEX devices_tenant_id ON devices(tenant_id, id);
CREATE INDEX users_tenant_id ON users(tenant_id, id);
CREATE INDEX managed_devices_tenant_id ON managed_devices(tenant_id, id);
