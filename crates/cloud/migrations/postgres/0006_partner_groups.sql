-- User groups required to enrol with the partner (include wins unless excluded).
ALTER TABLE partners ADD COLUMN include_groups TEXT NOT NULL DEFAULT '[]';
ALTER TABLE partners ADD COLUMN exclude_groups TEXT NOT NULL DEFAULT '[]';
