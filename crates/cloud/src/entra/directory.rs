//! Directory objects of Entra ID and the first-party applications every tenant has.

use serde::{Deserialize, Serialize};
use wire::TenantId;
use wire::ids;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Tenant {
    pub id: TenantId,
    pub domain: String,
    pub display_name: String,
    pub intune_licence: i64,
    pub entra_p1_licence: i64,
    /// Segment of the tenant's partner-service host (like `fef.<unit>.manage…`).
    pub scale_unit: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct User {
    pub id: String,
    pub tenant_id: TenantId,
    pub upn: String,
    pub display_name: String,
    pub password_hash: String,
    pub global_admin: i64,
    /// Graph `accountEnabled` (1 or 0): a disabled user cannot sign in (AADSTS50057).
    pub account_enabled: i64,
    /// Graph `mailNickname` (none for users created before it was kept).
    pub mail_nickname: Option<String>,
}

/// Licence SKUs (Graph `assignedLicense.skuId`) a user of a licensed tenant holds:
/// Microsoft Intune (`INTUNE_A`) and Microsoft Entra ID P1 (`AAD_PREMIUM`).
pub const SKU_INTUNE: &str = "061f9ace-7d42-4136-88ac-31dc755f143f";
pub const SKU_ENTRA_P1: &str = "078d2b04-f1bd-4111-bbd4-b4b1b354cef4";

/// Kind of a permission, as Entra names them (the `type` of a `resourceAccess`, shown as
/// *Application* or *Delegated* in the portal): an app role the application holds itself,
/// or a scope it uses on behalf of a signed-in user.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, strum::Display, strum::EnumString, strum::AsRefStr,
)]
pub enum PermissionKind {
    Application,
    Delegated,
}

wire::text_enum!(PermissionKind);

/// A permission an application requires (or was granted): API, kind, value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Permission {
    pub resource_app_id: String,
    pub kind: PermissionKind,
    pub value: String,
}

impl Permission {
    pub fn new(resource_app_id: &str, kind: PermissionKind, value: &str) -> Self {
        Permission { resource_app_id: resource_app_id.into(), kind, value: value.into() }
    }

    /// The permission an admin asks for by the names of its API (the resource's app
    /// ID), its type and its value: the API must be first-party, the type `Application`
    /// or `Delegated`, and an application permission one of the API's app roles.
    /// Errors are the sentences the admin reads.
    pub fn requested(resource_app_id: &str, kind: &str, value: &str) -> Result<Permission, String> {
        let fp = FIRST_PARTY.iter().find(|fp| fp.app_id == resource_app_id).ok_or_else(|| format!("Unknown API {resource_app_id}."))?;
        let kind: PermissionKind = kind.parse().map_err(|_| "The type must be Application or Delegated.".to_string())?;
        if kind == PermissionKind::Application && !fp.app_roles.contains(&value) {
            return Err(format!("{} has no application permission {value}.", fp.display_name));
        }
        Ok(Permission::new(fp.app_id, kind, value))
    }
}

#[derive(Debug, Clone)]
pub struct Application {
    pub app_id: String,
    pub object_id: String,
    pub owner_tenant_id: Option<String>,
    pub display_name: String,
    pub multi_tenant: bool,
    pub public_client: bool,
    /// App ID URI for resource applications (`https://graph.microsoft.com`).
    pub identifier_uri: Option<String>,
    pub redirect_uris: Vec<String>,
    pub required_permissions: Vec<Permission>,
    /// Application permissions this app exposes as a resource.
    pub app_roles: Vec<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ServicePrincipal {
    pub id: String,
    pub tenant_id: TenantId,
    pub app_id: String,
    pub display_name: String,
}

/// A first-party resource application, with its App ID URI and application permissions.
pub struct FirstParty {
    pub app_id: &'static str,
    pub display_name: &'static str,
    pub identifier_uri: &'static str,
    pub app_roles: &'static [&'static str],
}

/// Resource identifier of the Device Registration Service (Workplace Join).
pub const DRS_RESOURCE: &str = "urn:ms-drs:enterpriseregistration.windows.net";
pub const DRS_APP_ID: &str = "01cb2876-7ebd-4aa4-9cc9-d28bd4d359a9";

pub const FIRST_PARTY: &[FirstParty] = &[
    FirstParty {
        app_id: ids::GRAPH_APP_ID,
        display_name: "Microsoft Graph",
        identifier_uri: "https://graph.microsoft.com",
        app_roles: &[
            "Directory.Read.All",
            "Application.Read.All",
            "Device.Read.All",
            "User.Read.All",
            "Group.Read.All",
            "GroupMember.Read.All",
            "DeviceManagementServiceConfig.Read.All",
            "DeviceManagementServiceConfig.ReadWrite.All",
            "DeviceManagementManagedDevices.Read.All",
            "DeviceManagementManagedDevices.ReadWrite.All",
            "DeviceManagementConfiguration.Read.All",
            "DeviceManagementConfiguration.ReadWrite.All",
            "Policy.Read.All",
            "AuditLog.Read.All",
            "Directory.ReadWrite.All",
            "User.ReadWrite.All",
            "Group.ReadWrite.All",
            "GroupMember.ReadWrite.All",
            "Device.ReadWrite.All",
            "LicenseAssignment.ReadWrite.All",
            "Policy.ReadWrite.ConditionalAccess",
        ],
    },
    FirstParty {
        app_id: ids::AAD_GRAPH_APP_ID,
        display_name: "Windows Azure Active Directory",
        identifier_uri: "https://graph.windows.net/",
        app_roles: &["Application.Read.All", "Directory.Read.All"],
    },
    FirstParty {
        app_id: ids::INTUNE_APP_ID,
        display_name: "Microsoft Intune API",
        identifier_uri: "https://api.manage.microsoft.com/",
        app_roles: &[ids::ROLE_UPDATE_DEVICE_ATTRIBUTES, "manage_partner_compliance_policy", "send_data_to_microsoft_intune"],
    },
    FirstParty { app_id: DRS_APP_ID, display_name: "Device Registration Service", identifier_uri: DRS_RESOURCE, app_roles: &[] },
];

/// The GUID Graph shows for a permission: Microsoft's published IDs where this system
/// uses them, a stable name-derived ID for the others.
pub fn permission_id(p: &Permission) -> uuid::Uuid {
    let known = match (p.kind, p.value.as_str()) {
        (PermissionKind::Delegated, "User.Read") => Some("e1fe6dd8-ba31-4d61-89e7-88639da4683d"),
        (PermissionKind::Application, "Directory.Read.All") => Some("7ab1d382-f21e-4acd-a863-ba3e13f7da61"),
        (PermissionKind::Application, "update_device_attributes") => Some("7b3c62c0-bbe4-4ceb-971b-ecc50a191b3e"),
        _ => None,
    };
    known.and_then(|k| uuid::Uuid::parse_str(k).ok()).unwrap_or_else(|| {
        uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, format!("{}/{}/{}", p.resource_app_id, p.kind, p.value).as_bytes())
    })
}

/// Finds the first-party resource a `scope`/`resource` value names: its App ID URI
/// (with or without the trailing slash), or its app ID.
pub fn first_party_resource(resource: &str) -> Option<&'static FirstParty> {
    let trimmed = resource.trim_end_matches('/');
    FIRST_PARTY.iter().find(|fp| fp.app_id == resource || fp.identifier_uri.trim_end_matches('/') == trimmed)
}

/// The resource part of a v2 `scope` such as `https://api.manage.microsoft.com//.default`.
pub fn resource_of_scope(scope: &str) -> Option<&str> {
    let scopes: Vec<&str> = scope.split_whitespace().collect();
    let [only] = scopes.as_slice() else {
        return None;
    };
    only.strip_suffix("/.default")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_resolve_to_first_party_resources() {
        let intune = resource_of_scope("https://api.manage.microsoft.com//.default").unwrap();
        assert_eq!(first_party_resource(intune).unwrap().app_id, ids::INTUNE_APP_ID);
        let graph = resource_of_scope("https://graph.microsoft.com/.default").unwrap();
        assert_eq!(first_party_resource(graph).unwrap().app_id, ids::GRAPH_APP_ID);
        assert!(resource_of_scope("a/.default b/.default").is_none());
        assert!(first_party_resource("https://example.com").is_none());
    }
}
