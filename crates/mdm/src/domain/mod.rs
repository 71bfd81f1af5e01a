//! Rules of the device-management server, free of HTTP and SQL.

pub mod inventory;
pub mod settings;
