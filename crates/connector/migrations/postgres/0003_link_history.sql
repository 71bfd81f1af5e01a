-- Every state a link went through, with when and why.
CREATE TABLE link_events (
    id BIGSERIAL PRIMARY KEY,
    link_id TEXT NOT NULL REFERENCES links(id),
    at_ms BIGINT NOT NULL,
    status TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX link_events_link ON link_events(link_id, id);
