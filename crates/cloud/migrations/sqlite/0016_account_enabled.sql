-- Graph's `accountEnabled` of users and devices: a disabled user cannot sign in
-- (AADSTS50057) and a disabled device cannot be used to sign in (AADSTS135011).
ALTER TABLE users ADD COLUMN account_enabled INTEGER NOT NULL DEFAULT 1;
ALTER TABLE devices ADD COLUMN account_enabled INTEGER NOT NULL DEFAULT 1;
-- Graph's `mailNickname` of users and groups, as the administrator set it.
ALTER TABLE users ADD COLUMN mail_nickname TEXT;
ALTER TABLE directory_groups ADD COLUMN mail_nickname TEXT;
