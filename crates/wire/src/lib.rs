//! The shared vocabulary of Cloud Connector: what crosses the wire between the roles.
//!
//! Nothing here performs I/O or holds a business rule; it only names shapes so that the
//! cloud, the mdm, the connector and the fleet agree on them.

pub mod agent;
pub mod connector_api;
pub mod endpoints;
pub mod errors;
pub mod ids;
pub mod partner;
pub mod profile;

pub use profile::CloudProfile;
