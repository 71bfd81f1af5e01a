//! The Intune side of the cloud: partner device management, partner services, compliance.

pub mod compliance;
pub mod partner;
pub mod uploads;
