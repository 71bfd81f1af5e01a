-- Every inventory update of a computer (full, partial, registration, state change).
CREATE TABLE inventory_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    computer_id INTEGER NOT NULL REFERENCES computers(id),
    sequence INTEGER NOT NULL,
    kind TEXT NOT NULL,
    collected_ms INTEGER NOT NULL,
    received_ms INTEGER NOT NULL,
    changed TEXT NOT NULL
);
CREATE INDEX inventory_history_computer ON inventory_history(computer_id, id);
-- The Conditional Access inventory state last handed over for sending (ACTIVATED or
-- UNRESPONSIVE), so a computer that goes silent is reported once.
ALTER TABLE computers ADD COLUMN reported_state TEXT;
CREATE INDEX computers_silent ON computers(instance_id, reported_state, last_checkin_ms);
