-- The remediation page finds a registered user by the Entra device the cloud names.
CREATE INDEX local_users_device ON local_users(aad_device_id);
