-- Every inventory update of a computer (full, partial, registration, state change).
CREATE TABLE inventory_history (
    id BIGSERIAL PRIMARY KEY,
    computer_id BIGINT NOT NULL REFERENCES computers(id),
    sequence BIGINT NOT NULL,
    kind TEXT NOT NULL,
    collected_ms BIGINT NOT NULL,
    received_ms BIGINT NOT NULL,
    changed TEXT NOT NULL
);
CREATE INDEX inventory_history_computer ON inventory_history(computer_id, id);
-- The Conditional Access inventory state last handed over for sending (ACTIVATED or
-- UNRESPONSIVE), so a computer that goes silent is reported once.
ALTER TABLE computers ADD COLUMN reported_state TEXT;
CREATE INDEX computers_silent ON computers(instance_id, reported_state, last_checkin_ms);
