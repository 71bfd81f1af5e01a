//! Well-known identifiers of the Microsoft cloud.

/// The Intune first-party application; partner services are discovered on it.
pub const INTUNE_APP_ID: &str = "0000000a-0000-0000-c000-000000000000";
/// Microsoft Graph.
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
/// The legacy Azure AD Graph.
pub const AAD_GRAPH_APP_ID: &str = "00000002-0000-0000-c000-000000000000";
/// The Intune Company Portal for macOS, the public client that performs Workplace Join.
pub const COMPANY_PORTAL_APP_ID: &str = "9ba1a5c7-f17a-4de9-a1f1-6178c8d51223";

/// Application permission of the Intune API that lets a partner send device attributes.
pub const ROLE_UPDATE_DEVICE_ATTRIBUTES: &str = "update_device_attributes";
/// Graph application permission: read directory data.
pub const ROLE_DIRECTORY_READ_ALL: &str = "Directory.Read.All";
/// Graph delegated permission: sign in and read user profile.
pub const SCOPE_USER_READ: &str = "User.Read";

/// Service names published by discovery on the Intune application.
pub const SERVICE_PARTNER_TENANT_DATA_SYNC: &str = "PartnerTenantDataSyncService";
pub const SERVICE_PARTNER_DEVICE_DATA_SYNC: &str = "PartnerDeviceDataSyncService";
