-- Commands waiting for a Mac (Update Inventory, queued by the remediation page's
-- Recheck). The Mac's agent fetches them with a long poll; a command fetched is marked
-- delivered and never handed out again.
CREATE TABLE computer_commands (
    uuid TEXT PRIMARY KEY,
    computer_id BIGINT NOT NULL REFERENCES computers(id),
    command_type TEXT NOT NULL,
    queued_ms BIGINT NOT NULL,
    delivered_ms BIGINT
);
CREATE INDEX computer_commands_pending ON computer_commands(computer_id, delivered_ms);
