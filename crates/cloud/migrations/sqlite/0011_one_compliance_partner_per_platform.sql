-- Microsoft allows one compliance partner per platform in a tenant. Every row here
-- onboards macOS (the one platform this cloud offers partners), so a tenant holds at
-- most one. Tenants that were let add more keep the first one set up.
DELETE FROM compliance_partners
 WHERE EXISTS (
   SELECT 1 FROM compliance_partners earlier
    WHERE earlier.tenant_id = compliance_partners.tenant_id
      AND (earlier.created_ms < compliance_partners.created_ms
           OR (earlier.created_ms = compliance_partners.created_ms AND earlier.id < compliance_partners.id)));
CREATE UNIQUE INDEX compliance_partners_one_per_platform ON compliance_partners (tenant_id);
