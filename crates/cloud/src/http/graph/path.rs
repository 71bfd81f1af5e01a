//! Graph URLs read as Graph reads them: the version and every segment name without regard
//! to case (`V1.0/Users`, `servicePrincipals/{id}/endPoints`), keys as path segments or
//! in OData key syntax (`users('ada@contoso.com')`), alternate keys
//! (`servicePrincipals(appId='…')`, `devices(deviceId='…')`, the older
//! `servicePrincipals/appId=…`), and `/$count`.

use crate::error::CloudError;

/// How a request names one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// The item's key (object id, or a user's principal name).
    Id(String),
    /// An alternate key: `appId`, `deviceId`.
    Alt(&'static str, String),
}

impl Key {
    /// The key as written, for "does not exist" messages.
    pub fn text(&self) -> &str {
        match self {
            Key::Id(s) | Key::Alt(_, s) => s,
        }
    }
}

/// What a Graph request addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Users,
    UsersCount,
    User(Key),
    Groups,
    GroupsCount,
    Group(Key),
    GroupMembers(Key),
    /// `groups/{id}/members/$ref`: adding a member.
    GroupMemberRefs(Key),
    /// `groups/{id}/members/{member}/$ref`: removing one.
    GroupMemberRef(Key, Key),
    /// `users/{id}/assignLicense`.
    UserAssignLicense(Key),
    Applications,
    Application(Key),
    ServicePrincipals,
    ServicePrincipal(Key),
    ServicePrincipalEndpoints(Key),
    ServicePrincipalAppRoleAssignments(Key),
    OAuth2PermissionGrants,
    Devices,
    DevicesCount,
    Device(Key),
    ConditionalAccessPolicies,
    ConditionalAccessPolicy(Key),
    /// `identity/conditionalAccess/evaluate` (What If).
    ConditionalAccessEvaluate,
    SignIns,
    ManagedDevices,
    ManagedDevicesCount,
    ManagedDevice(Key),
    /// `users/{id}/managedDevices`.
    UserManagedDevices(Key),
    Partners,
    Partner(Key),
    PartnerTerminate(Key),
    CompliancePartners,
    CompliancePartner(Key),
    Policies,
    Policy(Key),
    PolicyAssign(Key),
    PolicyAssignments(Key),
    /// `deviceCompliancePolicies/{id}/scheduleActionsForRules`.
    PolicyScheduleActions(Key),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Name(String),
    Key(Key),
}

fn bad_segment(segment: &str) -> CloudError {
    CloudError::bad_request(format!("Resource not found for the segment '{segment}'."))
}

/// `'value'` with `''` for a quote, or a bare value.
fn unquote(s: &str) -> String {
    let s = s.trim();
    match s.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
        Some(inner) => inner.replace("''", "'"),
        None => s.to_string(),
    }
}

fn alternate(name: &str) -> Option<&'static str> {
    ["appId", "deviceId", "userPrincipalName"].into_iter().find(|k| k.eq_ignore_ascii_case(name.trim()))
}

/// One path segment as tokens: `users('x')` is a name and a key.
fn tokens(segment: &str, out: &mut Vec<Token>) -> Result<(), CloudError> {
    if let Some((name, rest)) = segment.split_once('(') {
        let inner = rest.strip_suffix(')').ok_or_else(|| bad_segment(segment))?;
        out.push(Token::Name(name.to_string()));
        let key = match inner.split_once('=') {
            Some((prop, value)) => Key::Alt(alternate(prop).ok_or_else(|| bad_segment(segment))?, unquote(value)),
            None => Key::Id(unquote(inner)),
        };
        out.push(Token::Key(key));
        return Ok(());
    }
    match segment.split_once('=').and_then(|(prop, value)| Some((alternate(prop)?, value))) {
        Some((prop, value)) => out.push(Token::Key(Key::Alt(prop, unquote(value)))),
        None => out.push(Token::Name(segment.to_string())),
    }
    Ok(())
}

/// `v1.0` or `beta`, in any case.
pub fn version(segment: &str) -> Result<&'static str, CloudError> {
    ["v1.0", "beta"]
        .into_iter()
        .find(|v| v.eq_ignore_ascii_case(segment))
        .ok_or_else(|| CloudError::bad_request(format!("Invalid version: {segment}")))
}

/// Reads a Graph path after `/graph/`: the version and what it addresses.
pub fn parse(path: &str) -> Result<(&'static str, Route), CloudError> {
    let mut parts = path.trim_end_matches('/').split('/');
    let version = version(parts.next().unwrap_or_default())?;
    let mut toks = Vec::new();
    for raw in parts {
        let decoded = percent_encoding_decode(raw);
        tokens(&decoded, &mut toks)?;
    }
    let route = route(&toks).ok_or_else(|| {
        let last = toks.last().map(|t| match t {
            Token::Name(n) => n.clone(),
            Token::Key(k) => k.text().to_string(),
        });
        bad_segment(&last.unwrap_or_default())
    })?;
    Ok((version, route))
}

fn percent_encoding_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}

fn route(t: &[Token]) -> Option<Route> {
    use Route::*;
    let is = |i: usize, name: &str| matches!(t.get(i), Some(Token::Name(n)) if n.eq_ignore_ascii_case(name));
    let key = |i: usize| -> Option<Key> {
        match t.get(i)? {
            Token::Key(k) => Some(k.clone()),
            Token::Name(n) if !n.starts_with('$') => Some(Key::Id(n.clone())),
            Token::Name(_) => None,
        }
    };
    let collection = |name: &str, list: Route, count: Option<Route>, one: fn(Key) -> Route| -> Option<Route> {
        if !is(0, name) {
            return None;
        }
        match t.len() {
            1 => Some(list),
            2 if is(1, "$count") => count,
            2 => key(1).map(one),
            _ => None,
        }
    };
    match t.len() {
        1 | 2 => collection("users", Users, Some(UsersCount), User)
            .or_else(|| collection("groups", Groups, Some(GroupsCount), Group))
            .or_else(|| collection("applications", Applications, None, Application))
            .or_else(|| collection("servicePrincipals", ServicePrincipals, None, ServicePrincipal))
            .or_else(|| (is(0, "oauth2PermissionGrants") && t.len() == 1).then_some(OAuth2PermissionGrants))
            .or_else(|| collection("devices", Devices, Some(DevicesCount), Device))
            .or_else(|| (is(0, "auditLogs") && is(1, "signIns") && t.len() == 2).then_some(SignIns))
            .or_else(|| device_management(t, &is, &key)),
        3 if is(0, "groups") && is(2, "members") => key(1).map(GroupMembers),
        3 if is(0, "users") && is(2, "managedDevices") => key(1).map(UserManagedDevices),
        3 if is(0, "users") && is(2, "assignLicense") => key(1).map(UserAssignLicense),
        4 if is(0, "groups") && is(2, "members") && is(3, "$ref") => key(1).map(GroupMemberRefs),
        5 if is(0, "groups") && is(2, "members") && is(4, "$ref") => Some(GroupMemberRef(key(1)?, key(3)?)),
        3 if is(0, "servicePrincipals") && is(2, "endpoints") => key(1).map(ServicePrincipalEndpoints),
        3 if is(0, "servicePrincipals") && is(2, "appRoleAssignments") => key(1).map(ServicePrincipalAppRoleAssignments),
        3 if is(0, "identity") && is(1, "conditionalAccess") && is(2, "policies") => Some(ConditionalAccessPolicies),
        3 if is(0, "identity") && is(1, "conditionalAccess") && is(2, "evaluate") => Some(ConditionalAccessEvaluate),
        4 if is(0, "identity") && is(1, "conditionalAccess") && is(2, "policies") => key(3).map(ConditionalAccessPolicy),
        _ => device_management(t, &is, &key),
    }
}

fn device_management(t: &[Token], is: &dyn Fn(usize, &str) -> bool, key: &dyn Fn(usize) -> Option<Key>) -> Option<Route> {
    use Route::*;
    if !is(0, "deviceManagement") {
        return None;
    }
    let (n, k) = (t.len(), |i| key(i));
    if is(1, "managedDevices") {
        return match n {
            2 => Some(ManagedDevices),
            3 if is(2, "$count") => Some(ManagedDevicesCount),
            3 => k(2).map(ManagedDevice),
            _ => None,
        };
    }
    if is(1, "deviceManagementPartners") {
        return match n {
            2 => Some(Partners),
            3 => k(2).map(Partner),
            4 if is(3, "terminate") => k(2).map(PartnerTerminate),
            _ => None,
        };
    }
    if is(1, "complianceManagementPartners") {
        return match n {
            2 => Some(CompliancePartners),
            3 => k(2).map(CompliancePartner),
            _ => None,
        };
    }
    if is(1, "deviceCompliancePolicies") {
        return match n {
            2 => Some(Policies),
            3 => k(2).map(Policy),
            4 if is(3, "assign") => k(2).map(PolicyAssign),
            4 if is(3, "assignments") => k(2).map(PolicyAssignments),
            4 if is(3, "scheduleActionsForRules") => k(2).map(PolicyScheduleActions),
            _ => None,
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(path: &str) -> Route {
        parse(path).unwrap_or_else(|e| panic!("{path}: {e}")).1
    }

    #[test]
    fn paths_read_as_graph_reads_them() {
        let sp = "0000000a-0000-0000-c000-000000000000";
        assert_eq!(r("V1.0/Users"), Route::Users);
        assert_eq!(r("beta/users/$count"), Route::UsersCount);
        assert_eq!(r("v1.0/users('ada@contoso.example')"), Route::User(Key::Id("ada@contoso.example".into())));
        assert_eq!(r("v1.0/users/ada%40contoso.example"), Route::User(Key::Id("ada@contoso.example".into())));
        assert_eq!(
            r("v1.0/users(userPrincipalName='ada@contoso.example')"),
            Route::User(Key::Alt("userPrincipalName", "ada@contoso.example".into()))
        );
        assert_eq!(r(&format!("v1.0/servicePrincipals(appId='{sp}')")), Route::ServicePrincipal(Key::Alt("appId", sp.into())));
        assert_eq!(
            r(&format!("v1.0/servicePrincipals/appId={sp}/endpoints")),
            Route::ServicePrincipalEndpoints(Key::Alt("appId", sp.into()))
        );
        assert_eq!(r("v1.0/servicePrincipals/ABC/endPoints"), Route::ServicePrincipalEndpoints(Key::Id("ABC".into())));
        assert_eq!(r("v1.0/devices(deviceId='d1')"), Route::Device(Key::Alt("deviceId", "d1".into())));
        assert_eq!(r("v1.0/deviceManagement/ManagedDevices/x"), Route::ManagedDevice(Key::Id("x".into())));
        assert_eq!(r("v1.0/users('ada@contoso.example')/managedDevices"), Route::UserManagedDevices(Key::Id("ada@contoso.example".into())));
        assert_eq!(r("v1.0/DEVICEMANAGEMENT/deviceManagementPartners/t/terminate"), Route::PartnerTerminate(Key::Id("t".into())));
        assert_eq!(r("v1.0/identity/conditionalAccess/policies"), Route::ConditionalAccessPolicies);
        assert_eq!(r("beta/identity/conditionalAccess/evaluate"), Route::ConditionalAccessEvaluate);
        assert_eq!(r("v1.0/groups/g1/members/$ref"), Route::GroupMemberRefs(Key::Id("g1".into())));
        assert_eq!(r("v1.0/groups/g1/members/u1/$ref"), Route::GroupMemberRef(Key::Id("g1".into()), Key::Id("u1".into())));
        assert_eq!(r("v1.0/users/u1/assignLicense"), Route::UserAssignLicense(Key::Id("u1".into())));
        assert_eq!(
            r("v1.0/deviceManagement/deviceCompliancePolicies/p1/scheduleActionsForRules"),
            Route::PolicyScheduleActions(Key::Id("p1".into()))
        );
        assert!(parse("v2.0/users").unwrap_err().to_string().contains("Invalid version"));
        assert!(parse("v1.0/widgets").unwrap_err().to_string().contains("Resource not found for the segment 'widgets'"));
        assert!(parse("v1.0/users(colour='blue')").is_err());
    }
}
