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
pub use ids::{DeviceId, InstanceId, LinkId, MessageId, TenantId};
pub mod partner;
pub mod profile;

pub use profile::CloudProfile;

/// States are enums stored and sent as text: `strum` gives the text (`Display`,
/// `AsRefStr`, `FromStr`), serde the JSON, and this the `TryFrom<String>` a database row
/// decodes through (`#[sqlx(try_from = "String")]`). An unknown text is an error naming
/// it, never a default.
#[macro_export]
macro_rules! text_enum {
    ($($ty:ty),+ $(,)?) => {$(
        impl ::std::convert::TryFrom<String> for $ty {
            type Error = $crate::UnknownState;
            fn try_from(text: String) -> Result<Self, $crate::UnknownState> {
                text.parse().map_err(|_| $crate::UnknownState { kind: stringify!($ty), text })
            }
        }
    )+};
}

/// A stored or received state text that names no state of its kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a {kind}")]
pub struct UnknownState {
    pub kind: &'static str,
    pub text: String,
}
