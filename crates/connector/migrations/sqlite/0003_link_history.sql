-- Every state a link went through, with when and why.
CREATE TABLE link_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    link_id TEXT NOT NULL REFERENCES links(id),
    at_ms INTEGER NOT NULL,
    status TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX link_events_link ON link_events(link_id, id);
