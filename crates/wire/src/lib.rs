//! The shared vocabulary of Cloud Connector: what crosses the wire between the roles.
//!
//! Nothing here performs I/O or holds a business rule; it names shapes so that the cloud,
//! the mdm, the connector and the fleet agree on them, and reads the vendor vocabulary
//! they share (Apple's version and build numbers, in [`apple`]).

pub mod agent;
pub mod apple;
pub mod connector_api;
pub mod endpoints;
pub mod errors;
pub mod ids;
pub mod partner;
pub mod profile;

pub use profile::CloudProfile;
