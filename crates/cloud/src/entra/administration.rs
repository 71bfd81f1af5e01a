//! Administering a tenant through Microsoft Graph: the rules Entra ID applies to the users,
//! groups and Conditional Access policies an administrator creates or changes, read from
//! Graph's JSON shapes (Microsoft Learn: "Create user", "Update user", "Create group",
//! "assignLicense", "Create conditionalAccessPolicy"). Errors carry Graph's codes and, where
//! Entra has one, its message. A property this cloud does not keep is refused, never
//! silently dropped.

use serde_json::{Map, Value};

use crate::entra::conditional_access::{Conditions, GrantControl, Policy, PolicyState};
use crate::entra::directory::{SKU_ENTRA_P1, SKU_INTUNE, Tenant};
use crate::error::{CloudError, Result};

/// Delegated scopes of a Global Administrator's token for Microsoft Graph from a tool
/// Microsoft pre-authorises for administration (Microsoft Graph Command Line Tools): what
/// the admin's role allows. Other users' delegated tokens carry `User.Read` only.
pub const ADMIN_SCOPES: &[&str] = &[
    "Directory.ReadWrite.All",
    "User.ReadWrite.All",
    "Group.ReadWrite.All",
    "GroupMember.ReadWrite.All",
    "Device.ReadWrite.All",
    "LicenseAssignment.ReadWrite.All",
    "Policy.Read.All",
    "Policy.ReadWrite.ConditionalAccess",
    "DeviceManagementConfiguration.ReadWrite.All",
    "DeviceManagementManagedDevices.ReadWrite.All",
    "AuditLog.Read.All",
];

/// `Request_BadRequest` with Graph's message for a missing or wrong property.
fn invalid_property(property: &str, resource: &str) -> CloudError {
    CloudError::invalid("Request_BadRequest", format!("Invalid value specified for property '{property}' of resource '{resource}'."))
}

fn object(body: &Value) -> Result<&Map<String, Value>> {
    body.as_object().ok_or_else(|| CloudError::invalid("Request_BadRequest", "The request body must be a JSON object."))
}

/// Refuses any property outside `allowed` (annotations such as `@odata.type` pass).
fn only(map: &Map<String, Value>, allowed: &[&str], resource: &str) -> Result<()> {
    match map.keys().find(|k| !k.starts_with('@') && !allowed.contains(&k.as_str())) {
        Some(k) => Err(CloudError::invalid(
            "Request_BadRequest",
            format!("Property '{k}' of resource '{resource}' is not supported here; supported: {}.", allowed.join(", ")),
        )),
        None => Ok(()),
    }
}

fn text<'a>(map: &'a Map<String, Value>, property: &str, resource: &str, max: usize) -> Result<&'a str> {
    map.get(property)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| platform::text::within_chars(s, max))
        .ok_or_else(|| invalid_property(property, resource))
}

fn flag(map: &Map<String, Value>, property: &str, resource: &str) -> Result<bool> {
    map.get(property).and_then(Value::as_bool).ok_or_else(|| invalid_property(property, resource))
}

/// Entra's password rule for cloud users: 8 to 256 characters, at least three of lower
/// case, upper case, digits and symbols.
pub fn password_complex(password: &str) -> bool {
    let classes = [
        password.chars().any(|c| c.is_lowercase()),
        password.chars().any(|c| c.is_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_alphanumeric()),
    ];
    (8..=256).contains(&password.chars().count()) && classes.iter().filter(|c| **c).count() >= 3
}

/// The password a `passwordProfile` sets. A forced change at next sign-in is not kept
/// here, so asking for one is refused rather than ignored.
fn password(map: &Map<String, Value>, creating: bool) -> Result<Option<String>> {
    let Some(profile) = map.get("passwordProfile") else { return Ok(None) };
    let profile = profile.as_object().ok_or_else(|| invalid_property("passwordProfile", "User"))?;
    only(profile, &["password", "forceChangePasswordNextSignIn", "forceChangePasswordNextSignInWithMfa"], "passwordProfile")?;
    for force in ["forceChangePasswordNextSignIn", "forceChangePasswordNextSignInWithMfa"] {
        if profile.get(force).and_then(Value::as_bool) == Some(true) {
            return Err(CloudError::invalid(
                "Request_BadRequest",
                format!("passwordProfile.{force} is not supported here: the password set is the user's until changed."),
            ));
        }
    }
    let Some(p) = profile.get("password").and_then(Value::as_str) else {
        let message = if creating { "A password must be specified to create a new user." } else { "passwordProfile.password is required." };
        return Err(CloudError::invalid("Request_BadRequest", message));
    };
    if !password_complex(p) {
        return Err(CloudError::invalid(
            "Request_BadRequest",
            "The specified password does not comply with password complexity requirements. Please provide a different password.",
        ));
    }
    Ok(Some(p.to_string()))
}

/// A user as `POST /users` asks for it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewUser {
    /// `userPrincipalName`, lower case.
    pub upn: String,
    pub display_name: String,
    pub mail_nickname: String,
    /// The initial password, in clear (hashed before it is stored).
    pub password: String,
    pub account_enabled: bool,
}

const USER_CREATE: [&str; 5] = ["accountEnabled", "displayName", "mailNickname", "userPrincipalName", "passwordProfile"];

/// Reads `POST /users`: the five required properties; the principal name in the tenant's
/// domain; a password that meets the complexity rule.
pub fn new_user(body: &Value, tenant: &Tenant) -> Result<NewUser> {
    let map = object(body)?;
    only(map, &USER_CREATE, "User")?;
    let account_enabled = flag(map, "accountEnabled", "User")?;
    let display_name = text(map, "displayName", "User", 256)?;
    let nickname = text(map, "mailNickname", "User", 64)?;
    if nickname.contains(['@', ' ', '"', '\\']) {
        return Err(invalid_property("mailNickname", "User"));
    }
    let upn = text(map, "userPrincipalName", "User", 113)?.to_ascii_lowercase();
    check_upn(&upn, tenant)?;
    let password = password(map, true)?
        .ok_or_else(|| CloudError::invalid("Request_BadRequest", "A password must be specified to create a new user."))?;
    Ok(NewUser { upn, display_name: display_name.to_string(), mail_nickname: nickname.to_string(), password, account_enabled })
}

fn check_upn(upn: &str, tenant: &Tenant) -> Result<()> {
    let Some((local, domain)) = upn.rsplit_once('@') else { return Err(invalid_property("userPrincipalName", "User")) };
    if local.is_empty() || local.len() > 64 || local.starts_with('.') || local.ends_with('.') || local.contains([' ', '"', '\\']) {
        return Err(invalid_property("userPrincipalName", "User"));
    }
    if !domain.eq_ignore_ascii_case(&tenant.domain) {
        return Err(CloudError::invalid(
            "Request_BadRequest",
            "The domain portion of the userPrincipalName property is invalid. You must use one of the verified domain names in your organization.",
        ));
    }
    Ok(())
}

/// What `PATCH /users/{id}` changes (each `None`: unchanged).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserChange {
    pub display_name: Option<String>,
    /// A new password, in clear.
    pub password: Option<String>,
    pub account_enabled: Option<bool>,
}

/// Reads `PATCH /users/{id}`: `displayName`, `accountEnabled` and `passwordProfile` only.
pub fn user_change(body: &Value) -> Result<UserChange> {
    let map = object(body)?;
    only(map, &["displayName", "accountEnabled", "passwordProfile"], "User")?;
    Ok(UserChange {
        display_name: map.contains_key("displayName").then(|| text(map, "displayName", "User", 256).map(str::to_string)).transpose()?,
        password: password(map, false)?,
        account_enabled: map.contains_key("accountEnabled").then(|| flag(map, "accountEnabled", "User")).transpose()?,
    })
}

/// Reads `POST /groups`: a security group (`securityEnabled` true, `mailEnabled` false, no
/// `groupTypes`); Microsoft 365 and mail-enabled groups are not kept here. Returns its
/// name and `mailNickname`.
pub fn new_group(body: &Value) -> Result<(String, String)> {
    let map = object(body)?;
    only(map, &["displayName", "mailEnabled", "mailNickname", "securityEnabled", "groupTypes", "description"], "Group")?;
    let name = text(map, "displayName", "Group", 256)?;
    let nickname = text(map, "mailNickname", "Group", 64)?;
    let (mail, security) = (flag(map, "mailEnabled", "Group")?, flag(map, "securityEnabled", "Group")?);
    let types = map.get("groupTypes").and_then(Value::as_array).map(Vec::len).unwrap_or(0);
    if mail || !security || types > 0 {
        return Err(CloudError::invalid(
            "Request_BadRequest",
            "Only security groups are kept here: securityEnabled true, mailEnabled false and no groupTypes.",
        ));
    }
    if map.get("description").is_some_and(|d| !d.is_null()) {
        return Err(CloudError::invalid(
            "Request_BadRequest",
            "Property 'description' of resource 'Group' is not kept here; leave it out.",
        ));
    }
    Ok((name.to_string(), nickname.to_string()))
}

/// Reads `PATCH /groups/{id}`: its new name.
pub fn group_change(body: &Value) -> Result<String> {
    let map = object(body)?;
    only(map, &["displayName"], "Group")?;
    Ok(text(map, "displayName", "Group", 256)?.to_string())
}

/// The object a `members/$ref` body names: `{"@odata.id": "…/directoryObjects/{id}"}`
/// (or `…/users/{id}`).
pub fn member_ref(body: &Value) -> Result<String> {
    let reference = object(body)?.get("@odata.id").and_then(Value::as_str).unwrap_or("");
    let url = url::Url::parse(reference).map_err(|_| {
        CloudError::invalid("Request_BadRequest", "Invalid object identifier '@odata.id': a directory object URL is expected.")
    })?;
    let segments: Vec<&str> = url.path_segments().map(Iterator::collect).unwrap_or_default();
    match segments.as_slice() {
        [.., kind, id] if ["directoryObjects", "users"].iter().any(|k| k.eq_ignore_ascii_case(kind)) && !id.is_empty() => {
            Ok(id.to_ascii_lowercase())
        }
        _ => Err(CloudError::invalid("Request_BadRequest", format!("Invalid object identifier '{reference}'."))),
    }
}

/// The licences `assignLicense` adds and removes: SKU ids, lower case.
#[derive(Debug, Clone, PartialEq)]
pub struct LicenceChange {
    pub add: Vec<String>,
    pub remove: Vec<String>,
}

/// Reads `assignLicense`, checked against the tenant's subscriptions (Intune and Entra ID
/// P1 here); both lists are required, as in Graph.
pub fn licence_change(body: &Value, tenant: &Tenant) -> Result<LicenceChange> {
    let map = object(body)?;
    only(map, &["addLicenses", "removeLicenses"], "assignLicense")?;
    let list = |name: &str| map.get(name).and_then(Value::as_array).ok_or_else(|| invalid_property(name, "assignLicense"));
    let mut add = Vec::new();
    for l in list("addLicenses")? {
        let sku = l.get("skuId").and_then(Value::as_str).ok_or_else(|| invalid_property("skuId", "assignedLicense"))?;
        if l.get("disabledPlans").and_then(Value::as_array).is_some_and(|p| !p.is_empty()) {
            return Err(CloudError::invalid("Request_BadRequest", "disabledPlans are not kept here; assign the whole licence."));
        }
        add.push(sku.to_ascii_lowercase());
    }
    let mut remove = Vec::new();
    for sku in list("removeLicenses")? {
        remove.push(sku.as_str().ok_or_else(|| invalid_property("removeLicenses", "assignLicense"))?.to_ascii_lowercase());
    }
    let subscribed = |sku: &str| match sku {
        SKU_INTUNE => tenant.intune_licence != 0,
        SKU_ENTRA_P1 => tenant.entra_p1_licence != 0,
        _ => false,
    };
    if let Some(sku) = add.iter().chain(&remove).find(|s| !subscribed(s)) {
        return Err(CloudError::invalid("Request_BadRequest", format!("License {sku} does not correspond to a valid company License.")));
    }
    Ok(LicenceChange { add, remove })
}

// ---- Conditional Access --------------------------------------------------------------

/// A Conditional Access policy in Graph's shape (what `GET` answers and `PATCH` merges
/// into).
pub fn policy_json(p: &Policy) -> Value {
    let c = &p.conditions;
    serde_json::json!({
        "@odata.type": "#microsoft.graph.conditionalAccessPolicy",
        "id": p.id, "displayName": p.display_name, "state": p.state,
        "conditions": {
            "users": {"includeUsers": c.include_users, "excludeUsers": c.exclude_users,
                      "includeGroups": c.include_groups, "excludeGroups": c.exclude_groups},
            "applications": {"includeApplications": c.include_applications, "excludeApplications": c.exclude_applications},
            "clientAppTypes": if c.client_app_types.is_empty() { vec!["all".to_string()] } else { c.client_app_types.clone() },
        },
        "grantControls": {"operator": "OR", "builtInControls": [p.grant]},
        "sessionControls": null,
    })
}

fn ca_invalid(message: impl Into<String>) -> CloudError {
    CloudError::invalid("BadRequest", message)
}

fn strings(map: &Map<String, Value>, key: &str, at: &str) -> Result<Vec<String>> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string).ok_or_else(|| ca_invalid(format!("{at}.{key} must list strings."))))
            .collect(),
        Some(_) => Err(ca_invalid(format!("{at}.{key} must be an array."))),
    }
}

/// The first property of `map` outside `kept` that says something: annotations
/// (`@odata.type`, which SDKs put on nested types), nulls and empty lists say nothing.
fn unkept<'a>(map: &'a Map<String, Value>, kept: &[&str]) -> Option<&'a str> {
    let empty = |v: &Value| v.is_null() || v.as_array().is_some_and(Vec::is_empty);
    map.iter().find(|(k, v)| !k.starts_with('@') && !kept.contains(&k.as_str()) && !empty(v)).map(|(k, _)| k.as_str())
}

const CLIENT_APP_TYPES: [&str; 6] = ["all", "browser", "mobileAppsAndDesktopClients", "exchangeActiveSync", "easSupported", "other"];

fn conditions(value: Option<&Value>) -> Result<Conditions> {
    let c = value.and_then(Value::as_object).ok_or_else(|| ca_invalid("conditions is required."))?;
    if let Some(k) = unkept(c, &["users", "applications", "clientAppTypes"]) {
        return Err(ca_invalid(format!("conditions.{k} is not supported here; users, applications and clientAppTypes are.")));
    }
    let users = c.get("users").and_then(Value::as_object).ok_or_else(|| ca_invalid("conditions.users is required."))?;
    let apps = c.get("applications").and_then(Value::as_object).ok_or_else(|| ca_invalid("conditions.applications is required."))?;
    if let Some(k) = unkept(users, &["includeUsers", "excludeUsers", "includeGroups", "excludeGroups"]) {
        return Err(ca_invalid(format!("conditions.users.{k} is not supported here: users and groups are.")));
    }
    if let Some(k) = unkept(apps, &["includeApplications", "excludeApplications"]) {
        return Err(ca_invalid(format!("conditions.applications.{k} is not supported here: applications are.")));
    }
    let out = Conditions {
        include_users: strings(users, "includeUsers", "conditions.users")?,
        exclude_users: strings(users, "excludeUsers", "conditions.users")?,
        include_groups: strings(users, "includeGroups", "conditions.users")?,
        exclude_groups: strings(users, "excludeGroups", "conditions.users")?,
        include_applications: strings(apps, "includeApplications", "conditions.applications")?,
        exclude_applications: strings(apps, "excludeApplications", "conditions.applications")?,
        client_app_types: strings(c, "clientAppTypes", "conditions")?,
    };
    if out.include_users.is_empty() && out.include_groups.is_empty() {
        return Err(ca_invalid("conditions.users must include users or groups (includeUsers or includeGroups)."));
    }
    if out.include_applications.is_empty() {
        return Err(ca_invalid("conditions.applications.includeApplications is required."));
    }
    if out.client_app_types.is_empty() {
        return Err(ca_invalid("conditions.clientAppTypes is required."));
    }
    if let Some(t) = out.client_app_types.iter().find(|t| !CLIENT_APP_TYPES.contains(&t.as_str())) {
        return Err(ca_invalid(format!("conditions.clientAppTypes: '{t}' is not one of {}.", CLIENT_APP_TYPES.join(", "))));
    }
    Ok(out)
}

fn grant(value: Option<&Value>) -> Result<GrantControl> {
    let g = value.and_then(Value::as_object).ok_or_else(|| ca_invalid("grantControls is required."))?;
    let controls = strings(g, "builtInControls", "grantControls")?;
    if let Some(k) = unkept(g, &["operator", "builtInControls"]) {
        return Err(ca_invalid(format!("grantControls.{k} is not supported here; builtInControls is.")));
    }
    match controls.as_slice() {
        [one] => GrantControl::try_from(one.as_str()).map_err(|_| {
            ca_invalid(format!("grantControls.builtInControls: '{one}' is not supported here; compliantDevice and block are."))
        }),
        _ => Err(ca_invalid("grantControls.builtInControls must hold exactly one control here: compliantDevice or block.")),
    }
}

/// Reads a whole policy in Graph's shape (`POST`, or a `PATCH` merged into the stored
/// one): its name, state, conditions and grant control, keeping `id`.
pub fn policy(body: &Value, id: String) -> Result<Policy> {
    let map = object(body)?;
    let allowed = ["id", "displayName", "state", "conditions", "grantControls", "sessionControls", "createdDateTime", "modifiedDateTime"];
    if let Some(k) = map.keys().find(|k| !k.starts_with('@') && !allowed.contains(&k.as_str())) {
        return Err(ca_invalid(format!("Property '{k}' of a conditional access policy is not supported here.")));
    }
    if map.get("sessionControls").is_some_and(|s| !s.is_null()) {
        return Err(ca_invalid("sessionControls are not supported here."));
    }
    let display_name = map
        .get("displayName")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| platform::text::within_chars(s, 256))
        .ok_or_else(|| ca_invalid("displayName is required (1 to 256 characters)."))?;
    let state = map.get("state").and_then(Value::as_str).ok_or_else(|| ca_invalid("state is required."))?;
    let state = PolicyState::try_from(state)
        .map_err(|_| ca_invalid(format!("state '{state}' is not one of enabled, disabled, enabledForReportingButNotEnforced.")))?;
    Ok(Policy {
        id,
        display_name: display_name.to_string(),
        state,
        conditions: conditions(map.get("conditions"))?,
        grant: grant(map.get("grantControls"))?,
    })
}

/// A `PATCH` body merged into a stored object: each property given replaces the stored
/// one whole (Graph's rule for complex properties).
pub fn merged(stored: Value, patch: &Value) -> Result<Value> {
    let (Value::Object(mut base), Some(changes)) = (stored, patch.as_object()) else {
        return Err(CloudError::invalid("Request_BadRequest", "The request body must be a JSON object."));
    };
    for (k, v) in changes {
        base.insert(k.clone(), v.clone());
    }
    Ok(Value::Object(base))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn contoso() -> Tenant {
        Tenant {
            id: "t".into(),
            domain: "contoso.example".into(),
            display_name: "Contoso".into(),
            intune_licence: 1,
            entra_p1_licence: 0,
            scale_unit: "u".into(),
        }
    }

    fn message(e: CloudError) -> String {
        e.to_string()
    }

    #[test]
    fn a_new_user_follows_entras_rules() {
        let body = json!({"accountEnabled": true, "displayName": "Ada Lovelace", "mailNickname": "ada",
            "userPrincipalName": "Ada@Contoso.example", "passwordProfile": {"forceChangePasswordNextSignIn": false, "password": "Analytical-1843"}});
        let u = new_user(&body, &contoso()).unwrap();
        assert_eq!((u.upn.as_str(), u.display_name.as_str(), u.account_enabled), ("ada@contoso.example", "Ada Lovelace", true));
        let mut other = body.clone();
        other["userPrincipalName"] = json!("ada@fabrikam.example");
        assert!(message(new_user(&other, &contoso()).unwrap_err()).contains("domain portion of the userPrincipalName"));
        let mut weak = body.clone();
        weak["passwordProfile"]["password"] = json!("password");
        assert!(message(new_user(&weak, &contoso()).unwrap_err()).contains("password complexity"));
        let mut none = body.clone();
        none.as_object_mut().unwrap().remove("passwordProfile");
        assert_eq!(
            message(new_user(&none, &contoso()).unwrap_err()),
            "Request_BadRequest: A password must be specified to create a new user."
        );
        let mut no_nick = body.clone();
        no_nick.as_object_mut().unwrap().remove("mailNickname");
        assert_eq!(
            message(new_user(&no_nick, &contoso()).unwrap_err()),
            "Request_BadRequest: Invalid value specified for property 'mailNickname' of resource 'User'."
        );
        let mut forced = body.clone();
        forced["passwordProfile"]["forceChangePasswordNextSignIn"] = json!(true);
        assert!(message(new_user(&forced, &contoso()).unwrap_err()).contains("forceChangePasswordNextSignIn"));
        let unset = json!({"passwordProfile": {"forceChangePasswordNextSignIn": false}});
        assert_eq!(message(user_change(&unset).unwrap_err()), "Request_BadRequest: passwordProfile.password is required.");
        let mut extra = body;
        extra["jobTitle"] = json!("Analyst");
        assert!(message(new_user(&extra, &contoso()).unwrap_err()).contains("'jobTitle'"));
    }

    #[test]
    fn passwords_need_three_kinds_of_character() {
        assert!(password_complex("Analytical-1843"));
        assert!(password_complex("abcdEF12"));
        assert!(!password_complex("abcdefgh1"), "two kinds");
        assert!(!password_complex("aB1-"), "too short");
    }

    #[test]
    fn licences_must_be_subscribed() {
        let add = json!({"addLicenses": [{"skuId": SKU_INTUNE, "disabledPlans": []}], "removeLicenses": []});
        assert_eq!(licence_change(&add, &contoso()).unwrap().add, vec![SKU_INTUNE.to_string()]);
        let p1 = json!({"addLicenses": [{"skuId": SKU_ENTRA_P1}], "removeLicenses": []});
        assert_eq!(
            message(licence_change(&p1, &contoso()).unwrap_err()),
            format!("Request_BadRequest: License {SKU_ENTRA_P1} does not correspond to a valid company License.")
        );
        assert!(licence_change(&json!({"addLicenses": []}), &contoso()).is_err(), "removeLicenses is required");
    }

    #[test]
    fn member_references_name_directory_objects() {
        let id = "6f1c1e52-8e35-4bd4-9c63-1f4f2e2cf3a1";
        assert_eq!(member_ref(&json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{id}")})).unwrap(), id);
        assert_eq!(member_ref(&json!({"@odata.id": format!("https://cloud.example/graph/v1.0/users/{}", id.to_uppercase())})).unwrap(), id);
        assert!(member_ref(&json!({"@odata.id": "not a url"})).is_err());
        assert!(member_ref(&json!({"@odata.id": "https://graph.microsoft.com/v1.0/groups/x"})).is_err());
    }

    #[test]
    fn a_policy_reads_from_graphs_shape_and_back() {
        let body = json!({"displayName": "Require a compliant Mac", "state": "enabledForReportingButNotEnforced",
            "conditions": {"users": {"includeGroups": ["g1"]}, "applications": {"includeApplications": ["All"]},
                           "clientAppTypes": ["browser", "mobileAppsAndDesktopClients"]},
            "grantControls": {"operator": "OR", "builtInControls": ["compliantDevice"]}});
        let p = policy(&body, "p1".into()).unwrap();
        assert_eq!((p.state, p.grant), (PolicyState::EnabledForReportingButNotEnforced, GrantControl::CompliantDevice));
        assert_eq!(p.conditions.include_groups, vec!["g1".to_string()]);
        let back = policy_json(&p);
        assert_eq!(back["conditions"]["clientAppTypes"], json!(["browser", "mobileAppsAndDesktopClients"]));
        assert_eq!(policy(&back, "p1".into()).unwrap(), p, "what GET answers reads back the same");
        let off = merged(back, &json!({"state": "disabled"})).unwrap();
        assert_eq!(policy(&off, "p1".into()).unwrap().state, PolicyState::Disabled);
        let mut two = body.clone();
        two["grantControls"]["builtInControls"] = json!(["compliantDevice", "mfa"]);
        assert!(message(policy(&two, "p".into()).unwrap_err()).contains("exactly one control"));
        let mut risky = body.clone();
        risky["conditions"]["signInRiskLevels"] = json!(["high"]);
        assert!(message(policy(&risky, "p".into()).unwrap_err()).contains("conditions.signInRiskLevels is not supported"));
        let mut typed = body.clone();
        typed["conditions"]["@odata.type"] = json!("#microsoft.graph.conditionalAccessConditionSet");
        typed["conditions"]["users"]["@odata.type"] = json!("#microsoft.graph.conditionalAccessUsers");
        typed["conditions"]["signInRiskLevels"] = json!([]);
        assert!(policy(&typed, "p".into()).is_ok(), "annotations and empty lists say nothing");
        let mut break_glass = body.clone();
        break_glass["conditions"]["users"]["excludeRoles"] = json!(["62e90394-69f5-4237-9190-012177145e10"]);
        assert!(message(policy(&break_glass, "p".into()).unwrap_err()).contains("conditions.users.excludeRoles"), "not dropped");
        let mut nobody = body;
        nobody["conditions"]["users"] = json!({});
        assert!(message(policy(&nobody, "p".into()).unwrap_err()).contains("must include users or groups"));
    }
}
