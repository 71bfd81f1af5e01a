-- One waiting command of a kind per Mac, even when two Rechecks arrive at once.
CREATE UNIQUE INDEX computer_commands_waiting ON computer_commands(computer_id, command_type) WHERE delivered_ms IS NULL;
