-- Microsoft allows one compliance partner per platform in a tenant. A partner is now
-- onboarded for macOS (the one platform this cloud offers partners) or for none
-- (Graph's macOsOnboarded false). Where a tenant was let onboard several partners for
-- macOS, the first one set up keeps the platform; the others stay, onboarded for none,
-- until an administrator onboards or removes them.
ALTER TABLE compliance_partners ADD COLUMN platform TEXT;
UPDATE compliance_partners SET platform = 'macOS'
 WHERE NOT EXISTS (
   SELECT 1 FROM compliance_partners earlier
    WHERE earlier.tenant_id = compliance_partners.tenant_id
      AND (earlier.created_ms < compliance_partners.created_ms
           OR (earlier.created_ms = compliance_partners.created_ms AND earlier.id < compliance_partners.id)));
-- NULL platforms are distinct to both databases: any number of partners onboarded for none.
CREATE UNIQUE INDEX compliance_partners_one_per_platform ON compliance_partners (tenant_id, platform);
