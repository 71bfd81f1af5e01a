-- When a registered local user disappeared from the computer's inventory: the user is
-- then DEACTIVATED for Conditional Access.
ALTER TABLE local_users ADD COLUMN removed_ms INTEGER;
