-- Several mdm nodes share one database. One node at a time works for an instance (sends
-- its outbox, reads its outcomes, follows its link): the node holding the instance's
-- lease, renewed while it runs and taken over by another node when it runs out.
CREATE TABLE instance_leases (
    instance_id TEXT PRIMARY KEY,
    node TEXT NOT NULL,
    until_ms BIGINT NOT NULL
);
