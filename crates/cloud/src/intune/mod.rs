//! The Intune side of the cloud: partner device management, partner services, compliance.

pub mod combine;
pub mod compliance;
pub mod compliance_partners;
pub mod enforcement;
pub mod lifecycle;
pub mod partner;
pub mod policies;
pub mod policy_settings;
pub mod preview;
pub mod reassess;
pub mod uploads;
