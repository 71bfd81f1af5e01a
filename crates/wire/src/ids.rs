//! Well-known identifiers of the Microsoft cloud.

/// The Intune first-party application; partner services are discovered on it.
pub const INTUNE_APP_ID: &str = "0000000a-0000-0000-c000-000000000000";
/// Microsoft Graph.
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
/// The legacy Azure AD Graph.
pub const AAD_GRAPH_APP_ID: &str = "00000002-0000-0000-c000-000000000000";
/// The Intune Company Portal for macOS, the public client that performs Workplace Join.
pub const COMPANY_PORTAL_APP_ID: &str = "9ba1a5c7-f17a-4de9-a1f1-6178c8d51223";
/// Microsoft Graph Command Line Tools (Microsoft Graph PowerShell, the CLI), the public
/// client administrators sign in with to administer a tenant through Graph.
pub const GRAPH_COMMAND_LINE_TOOLS_APP_ID: &str = "14d82eec-204b-4c2f-b7e8-296a70dab67e";

/// Application permission of the Intune API that lets a partner send device attributes.
pub const ROLE_UPDATE_DEVICE_ATTRIBUTES: &str = "update_device_attributes";
/// Graph application permission: read directory data.
pub const ROLE_DIRECTORY_READ_ALL: &str = "Directory.Read.All";
/// Graph delegated permission: sign in and read user profile.
pub const SCOPE_USER_READ: &str = "User.Read";

/// Service names published by discovery on the Intune application.
pub const SERVICE_PARTNER_TENANT_DATA_SYNC: &str = "PartnerTenantDataSyncService";
pub const SERVICE_PARTNER_DEVICE_DATA_SYNC: &str = "PartnerDeviceDataSyncService";

/// Declares an identifier newtype over the text the services exchange and store.
///
/// Each is `#[serde(transparent)]` (its JSON is the bare string), `#[sqlx(transparent)]`
/// (its column is `TEXT`) and documented in OpenAPI as a string, so wrapping an id
/// changes no wire or table shape; what it changes is that a tenant id cannot be passed
/// where a device id is expected. It dereferences to `str` for reading, formatting and
/// comparing; making one from text is explicit (`From<String>`, `From<&str>`).
macro_rules! id_type {
    ($($(#[$meta:meta])* $name:ident;)+) => {$(
        #[derive(
            Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash,
            serde::Serialize, serde::Deserialize, utoipa::ToSchema, sqlx::Type,
        )]
        $(#[$meta])*
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(String);

        impl $name {
            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The text, given up.
            pub fn into_string(self) -> String {
                self.0
            }

            /// The same id in lower case: the services issue GUIDs in lower case and
            /// compare them without regard to case (RFC 4122 §3: input is case-insensitive).
            pub fn to_lowercase(&self) -> Self {
                Self(self.0.to_ascii_lowercase())
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(text: String) -> Self {
                Self(text)
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                Self(text.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                self == &other.0
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == other.0
            }
        }

        impl From<&$name> for $name {
            fn from(id: &$name) -> Self {
                id.clone()
            }
        }

        impl From<&$name> for String {
            fn from(id: &$name) -> String {
                id.0.clone()
            }
        }
    )+};
}

id_type! {
    /// An Entra tenant (directory) id: a GUID in the real service, e.g.
    /// `72f988bf-86f1-41af-91ab-2d7cd011db47`.
    TenantId;
    /// A device's Entra device id (the `deviceId` of a Graph `device`, the key of a
    /// partner upload item): a GUID the cloud issues at Workplace Join.
    #[schema(format = Uuid)]
    DeviceId;
    /// An mdm instance as the connector knows it (issued at registration).
    InstanceId;
    /// A link between one mdm instance and one tenant, at the connector.
    LinkId;
    /// One partner-upload message (a batch of device items sent to the cloud).
    MessageId;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_its_text_on_the_wire() {
        let id = TenantId::from("72f988bf-86f1-41af-91ab-2d7cd011db47");
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"72f988bf-86f1-41af-91ab-2d7cd011db47\"");
        assert_eq!(serde_json::from_str::<TenantId>(&json).unwrap(), id);
        assert_eq!(id.to_string(), id.as_str());
        assert!(id == "72f988bf-86f1-41af-91ab-2d7cd011db47");
    }
}
