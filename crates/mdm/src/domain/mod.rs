//! Rules of the device-management server, free of HTTP and SQL.

pub mod device_compliance;
pub mod inventory;
pub mod inventory_api;
pub mod jamf;
pub mod normalize;
pub mod remediation;
pub mod rsql;
pub mod settings;
