-- Several connector nodes share one database. A node works on a message only while it
-- holds its lease (until `lease_until_ms`); a node that dies leaves a lease that runs out,
-- and another node takes the message over.
ALTER TABLE messages ADD COLUMN lease_until_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN lease_node TEXT;
-- Work done once per period for the whole cluster (heartbeats): the node that moves
-- `next_due_ms` forward runs it.
CREATE TABLE cluster_jobs (
    name TEXT PRIMARY KEY,
    next_due_ms BIGINT NOT NULL,
    node TEXT
);
