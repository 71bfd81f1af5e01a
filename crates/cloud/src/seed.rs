//! Directory content a fresh cloud needs (first-party applications) and the demo data a
//! demo or a test asks for: the connector provider's tenant with its two multi-tenant
//! apps, and customer tenants with admins, users, groups and a compliance policy.

use crate::entra::conditional_access::{self, Conditions, Policy};
use crate::entra::directory::{Application, FIRST_PARTY, Permission, PermissionKind, Tenant, User};
use crate::error::Result;
use crate::intune::compliance::MacOsPolicySettings;
use crate::store::{PolicyRow, Store};
use wire::TenantId;
use wire::ids;

/// Password hashes of generated demo users are cheaper than an admin's: a demo with
/// 100,000 Macs signs in 100,000 users. Admin accounts use the full cost.
const DEMO_USER_ITERATIONS: u32 = 1_000;

/// Microsoft's public clients every tenant has: the Company Portal (Workplace Join) and
/// the Graph command line tools (administration).
const PUBLIC_CLIENTS: [(&str, &str); 2] =
    [(ids::COMPANY_PORTAL_APP_ID, "Intune Company Portal"), (ids::GRAPH_COMMAND_LINE_TOOLS_APP_ID, "Microsoft Graph Command Line Tools")];

pub async fn ensure_first_party(store: &Store, now: i64) -> Result<()> {
    for fp in FIRST_PARTY {
        if store.application(fp.app_id).await?.is_none() {
            store
                .insert_application(
                    &Application {
                        app_id: fp.app_id.into(),
                        object_id: uuid::Uuid::new_v4().to_string(),
                        owner_tenant_id: None,
                        display_name: fp.display_name.into(),
                        multi_tenant: true,
                        public_client: false,
                        identifier_uri: Some(fp.identifier_uri.into()),
                        redirect_uris: vec![],
                        required_permissions: vec![],
                        app_roles: fp.app_roles.iter().map(|r| r.to_string()).collect(),
                    },
                    now,
                )
                .await?;
        }
    }
    for (app_id, name) in PUBLIC_CLIENTS {
        if store.application(app_id).await?.is_some() {
            continue;
        }
        store
            .insert_application(
                &Application {
                    app_id: app_id.into(),
                    object_id: uuid::Uuid::new_v4().to_string(),
                    owner_tenant_id: None,
                    display_name: name.into(),
                    multi_tenant: true,
                    public_client: true,
                    identifier_uri: None,
                    redirect_uris: vec![],
                    required_permissions: vec![],
                    app_roles: vec![],
                },
                now,
            )
            .await?;
    }
    Ok(())
}

fn scale_unit() -> String {
    format!("msud{}", platform::secrets::digest_hex(&uuid::Uuid::new_v4().to_string())[..6].to_owned())
}

async fn tenant(store: &Store, domain: &str, name: &str, licensed: bool, now: i64) -> Result<Tenant> {
    let t = Tenant {
        id: uuid::Uuid::new_v4().to_string().into(),
        domain: domain.to_ascii_lowercase(),
        display_name: name.into(),
        intune_licence: licensed as i64,
        entra_p1_licence: licensed as i64,
        scale_unit: scale_unit(),
    };
    store.insert_tenant(&t, now).await?;
    for fp in FIRST_PARTY {
        store.ensure_service_principal(&t.id, fp.app_id, fp.display_name, now).await?;
    }
    for (app_id, name) in PUBLIC_CLIENTS {
        store.ensure_service_principal(&t.id, app_id, name, now).await?;
    }
    Ok(t)
}

/// A self-signed RSA certificate and its key (PEM) for an app's certificate credential.
pub fn certificate(common_name: &str) -> Result<(String, String)> {
    use crate::error::CloudError;
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).map_err(CloudError::internal)?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(CloudError::internal)?;
    params.distinguished_name.push(rcgen::DnType::CommonName, common_name);
    let cert = params.self_signed(&key).map_err(CloudError::internal)?;
    Ok((cert.pem(), key.serialize_pem()))
}

async fn app(
    store: &Store,
    owner: &TenantId,
    name: &str,
    multi_tenant: bool,
    redirect_uris: Vec<String>,
    perms: Vec<Permission>,
    now: i64,
) -> Result<(String, String)> {
    let app_id = uuid::Uuid::new_v4().to_string();
    store
        .insert_application(
            &Application {
                app_id: app_id.clone(),
                object_id: uuid::Uuid::new_v4().to_string(),
                owner_tenant_id: Some(owner.into()),
                display_name: name.into(),
                multi_tenant,
                public_client: false,
                identifier_uri: None,
                redirect_uris,
                required_permissions: perms,
                app_roles: vec![],
            },
            now,
        )
        .await?;
    let secret = platform::secrets::random_token(30);
    let two_years = 2 * 365 * 24 * 3600 * 1000_i64;
    store.insert_secret(&app_id, &platform::secrets::digest_hex(&secret), &secret[..3], now + two_years, now).await?;
    // The owning tenant always has the app's service principal.
    store.ensure_service_principal(owner, &app_id, name, now).await?;
    Ok((app_id, secret))
}

/// A multi-tenant application registered by another vendor in the provider's tenant
/// (for instance a compliance partner), with application `permissions`, one redirect URI
/// for its admin-consent link and a client secret. Returns `(application ID, secret)`.
pub async fn vendor_app(
    store: &Store,
    owner_tenant_id: &TenantId,
    name: &str,
    redirect_uri: &str,
    permissions: Vec<Permission>,
    now: i64,
) -> Result<(String, String)> {
    app(store, owner_tenant_id, name, true, vec![redirect_uri.to_string()], permissions, now).await
}

/// The connector provider's own tenant and its two multi-tenant applications (scenario S8, README's table).
#[derive(Debug, Clone)]
pub struct ProviderApps {
    pub tenant_id: TenantId,
    pub connector_app_id: String,
    pub connector_secret: String,
    /// The Cloud Connector app's certificate credential (PEM), preferred over the secret.
    pub connector_certificate_pem: String,
    pub connector_key_pem: String,
    pub registration_app_id: String,
    pub registration_secret: String,
}

/// The exact permissions of the Cloud Connector app (scenario S8, README's table).
pub fn cloud_connector_permissions() -> Vec<Permission> {
    vec![
        Permission::new(ids::GRAPH_APP_ID, PermissionKind::Delegated, ids::SCOPE_USER_READ),
        Permission::new(ids::GRAPH_APP_ID, PermissionKind::Application, ids::ROLE_DIRECTORY_READ_ALL),
        Permission::new(ids::INTUNE_APP_ID, PermissionKind::Application, ids::ROLE_UPDATE_DEVICE_ATTRIBUTES),
    ]
}

/// The exact permissions of the Cloud Connector user registration app (scenario S8, README's table).
pub fn registration_app_permissions() -> Vec<Permission> {
    vec![Permission::new(ids::GRAPH_APP_ID, PermissionKind::Delegated, ids::SCOPE_USER_READ)]
}

pub async fn provider(store: &Store, consent_redirect_uri: &str, now: i64) -> Result<ProviderApps> {
    let t = tenant(store, "cloudconnector.example", "Cloud Connector", false, now).await?;
    connector_apps(store, &t.id, consent_redirect_uri, true, now).await
}

/// Registers the Cloud Connector's two multi-tenant apps in the provider's tenant `owner`
/// with `redirect_uri` (the connector's consent callback) and their exact permissions: the
/// Cloud Connector app with a certificate credential (and a client secret when
/// `with_secret`; otherwise `connector_secret` is empty), the user registration app with a
/// client secret. What `cloudconnector provision connector-apps` prints.
pub async fn connector_apps(store: &Store, owner: &TenantId, redirect_uri: &str, with_secret: bool, now: i64) -> Result<ProviderApps> {
    let redirect = vec![redirect_uri.to_string()];
    let (connector_app_id, secret) =
        app(store, owner, "Cloud Connector", true, redirect.clone(), cloud_connector_permissions(), now).await?;
    let connector_secret = if with_secret {
        secret
    } else {
        store.delete_secrets(&connector_app_id).await?;
        String::new()
    };
    let (registration_app_id, registration_secret) =
        app(store, owner, "Cloud Connector user registration app", true, redirect, registration_app_permissions(), now).await?;
    let (connector_certificate_pem, connector_key_pem) = certificate("Cloud Connector")?;
    crate::entra::assertions::register(store, &connector_app_id, &connector_certificate_pem, now).await?;
    Ok(ProviderApps {
        tenant_id: owner.clone(),
        connector_app_id,
        connector_secret,
        connector_certificate_pem,
        connector_key_pem,
        registration_app_id,
        registration_secret,
    })
}

/// A new tenant with its first Global Administrator, `admin@<domain>` with a generated
/// password, holding the tenant's licences (Intune and Entra ID P1 when `licensed`): what
/// `cloudconnector provision tenant` creates, since Graph has no operation for it.
/// A domain already taken, or not a DNS name, is refused.
pub async fn tenant_with_admin(store: &Store, domain: &str, name: &str, licensed: bool, now: i64) -> Result<(Tenant, SeededUser)> {
    use crate::error::CloudError;
    let domain = domain.trim().to_ascii_lowercase();
    let dns = |label: &str| {
        !label.is_empty() && label.len() <= 63 && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') && !label.starts_with('-')
    };
    if !domain.contains('.') || domain.len() > 253 || !domain.split('.').all(dns) {
        return Err(CloudError::bad_request(format!("'{domain}' is not a domain name such as contoso.example.")));
    }
    if !platform::text::within_chars(name.trim(), 256) {
        return Err(CloudError::bad_request("The tenant's name must have 1 to 256 characters."));
    }
    if store.tenant(&domain).await?.is_some() {
        return Err(CloudError::conflict("Conflict", format!("A tenant with the domain {domain} already exists.")));
    }
    ensure_first_party(store, now).await?;
    let t = tenant(store, &domain, name.trim(), licensed, now).await?;
    let admin = seed_user(store, &t.id, &format!("admin@{domain}"), "Global Administrator", true, now).await?;
    Ok((t, admin))
}

#[derive(Debug, Clone)]
pub struct SeededUser {
    pub id: String,
    pub upn: String,
    pub password: String,
}

#[derive(Debug, Clone)]
pub struct CustomerTenant {
    pub tenant_id: TenantId,
    pub domain: String,
    pub admin: SeededUser,
    pub users: Vec<SeededUser>,
    pub test_client_id: String,
    pub test_client_secret: String,
    pub test_client_permissions: Vec<String>,
    /// A web app protected by Conditional Access ("Contoso Portal") and its credentials.
    pub portal_app_id: String,
    pub portal_secret: String,
    pub portal_redirect_uri: String,
    /// "Require a compliant Mac for Contoso Portal", assigned to the group "Mac users".
    pub ca_policy_id: String,
    pub mac_users_group_id: String,
    /// The test client's certificate credential (PEM).
    pub test_client_certificate_pem: String,
    pub test_client_key_pem: String,
    pub policy_id: String,
}

pub struct CustomerSpec<'a> {
    pub domain: &'a str,
    pub name: &'a str,
    pub users: usize,
    pub licensed: bool,
}

/// A customer tenant: a Global Administrator, `users` Mac users in the group "Mac users",
/// a macOS compliance policy requiring FileVault assigned to that group, and the
/// read-only test client of the endpoints file.
pub async fn customer(store: &Store, spec: CustomerSpec<'_>, now: i64) -> Result<CustomerTenant> {
    let t = tenant(store, spec.domain, spec.name, spec.licensed, now).await?;
    let admin = seed_user(store, &t.id, &format!("admin@{}", t.domain), "Global Administrator", true, now).await?;
    let group_id = uuid::Uuid::new_v4().to_string();
    store.insert_group(&group_id, &t.id, "Mac users", "macusers").await?;
    let mut users = Vec::with_capacity(spec.users);
    for i in 1..=spec.users {
        let u = seed_user(store, &t.id, &format!("user{i}@{}", t.domain), &format!("User {i}"), false, now).await?;
        store.add_group_member(&group_id, &u.id).await?;
        users.push(u);
    }
    let policy_id = filevault_policy(store, &t.id, &group_id, now).await?;
    let test_client_permissions: Vec<String> = TEST_CLIENT_PERMISSIONS.iter().map(|s| s.to_string()).collect();
    let perms: Vec<Permission> =
        test_client_permissions.iter().map(|p| Permission::new(ids::GRAPH_APP_ID, PermissionKind::Application, p)).collect();
    let (test_client_id, test_client_secret) = app(store, &t.id, "Test client", false, vec![], perms.clone(), now).await?;
    let sp = store.service_principal(&t.id, &test_client_id).await?.map(|s| s.id).unwrap_or_default();
    for p in &perms {
        store.grant(&t.id, &sp, p, now).await?;
    }
    let portal_redirect_uri = "https://portal.contoso.example/signin-oidc".to_string();
    let (portal_app_id, portal_secret) = app(
        store,
        &t.id,
        "Contoso Portal",
        false,
        vec![portal_redirect_uri.clone()],
        vec![Permission::new(ids::GRAPH_APP_ID, PermissionKind::Delegated, ids::SCOPE_USER_READ)],
        now,
    )
    .await?;
    let ca_policy_id = compliant_mac_policy(store, &t.id, &group_id, &portal_app_id, now).await?;
    let (test_client_certificate_pem, test_client_key_pem) = certificate("Test client")?;
    crate::entra::assertions::register(store, &test_client_id, &test_client_certificate_pem, now).await?;
    Ok(CustomerTenant {
        tenant_id: t.id,
        domain: t.domain,
        admin,
        users,
        test_client_id,
        test_client_secret,
        test_client_permissions,
        test_client_certificate_pem,
        test_client_key_pem,
        portal_app_id,
        portal_secret,
        portal_redirect_uri,
        ca_policy_id,
        mac_users_group_id: group_id,
        policy_id,
    })
}

/// The Graph application permissions of the demo's test client: read what the guide's
/// support checks read.
const TEST_CLIENT_PERMISSIONS: [&str; 9] = [
    "DeviceManagementServiceConfig.Read.All",
    "DeviceManagementManagedDevices.Read.All",
    "DeviceManagementConfiguration.Read.All",
    "Application.Read.All",
    "Device.Read.All",
    "AuditLog.Read.All",
    "Policy.Read.All",
    "User.Read.All",
    "Group.Read.All",
];

/// A user with a random password: a Global Administrator's hashed at full strength, a
/// demo user's with [`DEMO_USER_ITERATIONS`].
async fn seed_user(store: &Store, tenant_id: &TenantId, upn: &str, display_name: &str, global_admin: bool, now: i64) -> Result<SeededUser> {
    let user = SeededUser {
        id: uuid::Uuid::new_v4().to_string(),
        upn: upn.to_string(),
        password: platform::secrets::random_token(if global_admin { 12 } else { 9 }),
    };
    let password_hash = if global_admin {
        platform::secrets::hash_password(&user.password)
    } else {
        platform::secrets::hash_password_with(&user.password, DEMO_USER_ITERATIONS)
    };
    let row = User {
        id: user.id.clone(),
        tenant_id: tenant_id.clone(),
        upn: user.upn.clone(),
        display_name: display_name.to_string(),
        password_hash,
        global_admin: global_admin as i64,
        account_enabled: 1,
        mail_nickname: upn.split('@').next().map(str::to_string),
    };
    store.insert_user(&row, now).await?;
    store.assign_tenant_licences(&row).await?;
    Ok(user)
}

/// The macOS compliance policy requiring FileVault, assigned to `group_id`.
async fn filevault_policy(store: &Store, tenant_id: &TenantId, group_id: &str, now: i64) -> Result<String> {
    let policy_id = uuid::Uuid::new_v4().to_string();
    let settings = MacOsPolicySettings { storage_require_encryption: true, ..Default::default() };
    let row = PolicyRow {
        id: policy_id.clone(),
        tenant_id: tenant_id.clone(),
        display_name: "macOS baseline: FileVault required".into(),
        settings: serde_json::to_string(&serde_json::json!({
            "@odata.type": "#microsoft.graph.macOSCompliancePolicy",
            "storageRequireEncryption": settings.storage_require_encryption,
        }))
        .unwrap_or_default(),
    };
    store.insert_policy(&row, now).await?;
    store.assign_policy(&policy_id, group_id).await?;
    Ok(policy_id)
}

/// The Conditional Access policy requiring a compliant device of `group_id` for `app_id`.
async fn compliant_mac_policy(store: &Store, tenant_id: &TenantId, group_id: &str, app_id: &str, now: i64) -> Result<String> {
    let id = uuid::Uuid::new_v4().to_string();
    let policy = Policy {
        id: id.clone(),
        display_name: "Require a compliant Mac for Contoso Portal".into(),
        state: conditional_access::PolicyState::Enabled,
        conditions: Conditions {
            include_groups: vec![group_id.to_string()],
            include_applications: vec![app_id.to_string()],
            ..Default::default()
        },
        grant: conditional_access::GrantControl::CompliantDevice,
    };
    store.insert_ca_policy(tenant_id, &policy, now).await?;
    Ok(id)
}
