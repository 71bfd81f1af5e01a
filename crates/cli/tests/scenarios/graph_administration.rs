//! A tenant administered through Microsoft Graph, as an administrator's tools do it: a
//! Global Administrator signed in to Microsoft Graph Command Line Tools creates and changes
//! users, licences, groups and their members, Conditional Access and compliance policies,
//! and disables or deletes Entra devices; each refusal is Graph's.

use fleet::{Fleet, SignIn};
use serde_json::{Value, json};

use crate::harness::{TestStack, eventually, spawn};

/// A delegated Graph token from the password grant of Microsoft Graph Command Line Tools.
async fn user_token(t: &TestStack, upn: &str, password: &str) -> (u16, Value) {
    let resp = t
        .http
        .post(format!("{}/organizations/oauth2/v2.0/token", t.cloud.url()))
        .form(&[
            ("grant_type", "password"),
            ("client_id", wire::ids::GRAPH_COMMAND_LINE_TOOLS_APP_ID),
            ("username", upn),
            ("password", password),
            ("scope", "https://graph.microsoft.com/.default openid profile offline_access"),
        ])
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn admin_token(t: &TestStack) -> String {
    let (status, body) = user_token(t, &t.tenant.admin.upn, &t.tenant.admin.password).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

/// A Graph request: its status and JSON body (`null` for none).
async fn send(t: &TestStack, token: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = t.http.request(method, format!("{}/graph/v1.0/{path}", t.cloud.url())).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

fn refused(answer: &(u16, Value)) -> (u16, String) {
    (answer.0, answer.1["error"]["message"].as_str().unwrap_or_default().to_string())
}

use reqwest::Method as M;

async fn users_and_licences(t: &TestStack, admin: &str) -> String {
    let domain = &t.tenant.domain;
    let ada = json!({"accountEnabled": true, "displayName": "Ada Lovelace", "mailNickname": "ada",
        "userPrincipalName": format!("ada@{domain}"), "passwordProfile": {"password": "Analytical-1843", "forceChangePasswordNextSignIn": false}});
    let (status, created) = send(t, admin, M::POST, "users", Some(ada.clone())).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        (created["userPrincipalName"].as_str(), created["accountEnabled"].as_bool()),
        (Some(format!("ada@{domain}").as_str()), Some(true))
    );
    assert_eq!(created["assignedLicenses"], json!([]), "a new user holds no licence until one is assigned");
    let id = created["id"].as_str().unwrap().to_string();
    let taken = "Another object with the same value for property userPrincipalName already exists.";
    assert_eq!(refused(&send(t, admin, M::POST, "users", Some(ada.clone())).await), (400, taken.into()));
    let mut elsewhere = ada.clone();
    elsewhere["userPrincipalName"] = json!("ada@fabrikam.example");
    assert!(refused(&send(t, admin, M::POST, "users", Some(elsewhere)).await).1.contains("verified domain names"));
    let mut weak = ada;
    weak["userPrincipalName"] = json!(format!("grace@{domain}"));
    weak["passwordProfile"]["password"] = json!("password");
    assert!(refused(&send(t, admin, M::POST, "users", Some(weak)).await).1.contains("password complexity requirements"));

    // Licences: the tenant's Intune subscription; one it does not have is refused.
    let intune = cloud::entra::directory::SKU_INTUNE;
    let add = json!({"addLicenses": [{"skuId": intune, "disabledPlans": []}], "removeLicenses": []});
    let (status, user) = send(t, admin, M::POST, &format!("users/{id}/assignLicense"), Some(add)).await;
    assert_eq!((status, user["assignedLicenses"][0]["skuId"].as_str()), (200, Some(intune)), "{user}");
    let e5 = "c7df2760-2c81-4ef7-b578-5b5392b571df";
    let other = json!({"addLicenses": [{"skuId": e5}], "removeLicenses": []});
    assert_eq!(
        refused(&send(t, admin, M::POST, &format!("users/{id}/assignLicense"), Some(other)).await),
        (400, format!("License {e5} does not correspond to a valid company License."))
    );
    id
}

async fn groups_and_members(t: &TestStack, admin: &str, user: &str) {
    let group = json!({"displayName": "Design Macs", "mailEnabled": false, "mailNickname": "design-macs", "securityEnabled": true});
    let (status, g) = send(t, admin, M::POST, "groups", Some(group)).await;
    assert_eq!(status, 201, "{g}");
    let gid = g["id"].as_str().unwrap();
    let member = json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{user}")});
    assert_eq!(send(t, admin, M::POST, &format!("groups/{gid}/members/$ref"), Some(member.clone())).await.0, 204);
    assert_eq!(
        refused(&send(t, admin, M::POST, &format!("groups/{gid}/members/$ref"), Some(member)).await),
        (400, "One or more added object references already exist for the following modified properties: 'members'.".into())
    );
    let (_, members) = send(t, admin, M::GET, &format!("groups/{gid}/members"), None).await;
    assert_eq!(members["value"][0]["id"].as_str(), Some(user), "{members}");
    assert_eq!(send(t, admin, M::DELETE, &format!("groups/{gid}/members/{user}/$ref"), None).await.0, 204);
    let (_, members) = send(t, admin, M::GET, &format!("groups/{gid}/members"), None).await;
    assert_eq!(members["value"], json!([]));
    assert_eq!(send(t, admin, M::PATCH, &format!("groups/{gid}"), Some(json!({"displayName": "Design"}))).await.0, 204);
    assert_eq!(send(t, admin, M::GET, &format!("groups/{gid}"), None).await.1["displayName"], "Design");
    let m365 =
        json!({"displayName": "Team", "mailEnabled": true, "mailNickname": "team", "securityEnabled": false, "groupTypes": ["Unified"]});
    assert_eq!(send(t, admin, M::POST, "groups", Some(m365)).await.0, 400, "only security groups are kept");
    assert_eq!(send(t, admin, M::DELETE, &format!("groups/{gid}"), None).await.0, 204);
    assert_eq!(send(t, admin, M::GET, &format!("groups/{gid}"), None).await.0, 404);
}

#[tokio::test]
async fn an_administrator_manages_users_licences_and_groups_through_graph() {
    let t = spawn(1).await;
    let admin = admin_token(&t).await;
    // A user's token from the same tool reads nothing it may not, and writes nothing.
    let (_, plain) = user_token(&t, &t.tenant.users[0].upn, &t.tenant.users[0].password).await;
    let plain = plain["access_token"].as_str().unwrap().to_string();
    let probe = json!({"displayName": "x", "mailEnabled": false, "mailNickname": "x", "securityEnabled": true});
    assert_eq!(send(&t, &plain, M::POST, "groups", Some(probe)).await.0, 403);

    let ada = users_and_licences(&t, &admin).await;
    groups_and_members(&t, &admin, &ada).await;

    // Ada signs in until her account is disabled (AADSTS50057), and again once enabled.
    let upn = format!("ada@{}", t.tenant.domain);
    assert_eq!(user_token(&t, &upn, "Analytical-1843").await.0, 200);
    assert_eq!(send(&t, &admin, M::PATCH, &format!("users/{ada}"), Some(json!({"accountEnabled": false}))).await.0, 204);
    let (status, error) = user_token(&t, &upn, "Analytical-1843").await;
    assert_eq!((status, error["error_codes"][0].as_u64()), (400, Some(50057)), "{error}");
    assert_eq!(send(&t, &admin, M::GET, &format!("users/{ada}"), None).await.1["accountEnabled"], false);
    let change = json!({"accountEnabled": true, "displayName": "Ada King", "passwordProfile": {"password": "Engine-Difference-2"}});
    assert_eq!(send(&t, &admin, M::PATCH, &format!("users/{upn}"), Some(change)).await.0, 204);
    assert_eq!(user_token(&t, &upn, "Engine-Difference-2").await.0, 200, "the new password signs in");
    assert_eq!(send(&t, &admin, M::GET, &format!("users/{ada}"), None).await.1["displayName"], "Ada King");
    let unknown = send(&t, &admin, M::PATCH, &format!("users/{ada}"), Some(json!({"jobTitle": "Analyst"}))).await;
    assert!(refused(&unknown).1.contains("Property 'jobTitle'"), "{unknown:?}");
    assert_eq!(send(&t, &admin, M::DELETE, &format!("users/{ada}"), None).await.0, 204);
    assert_eq!(send(&t, &admin, M::GET, &format!("users/{ada}"), None).await.0, 404);
    assert_eq!(user_token(&t, &upn, "Engine-Difference-2").await.1["error_codes"][0], 50126, "a deleted user cannot sign in");
    t.stop().await;
}

#[tokio::test]
async fn an_administrator_writes_conditional_access_and_compliance_policies_through_graph() {
    let t = spawn(1).await;
    let admin = admin_token(&t).await;
    let ca = json!({"displayName": "Require a compliant Mac for everything", "state": "enabledForReportingButNotEnforced",
        "conditions": {"users": {"includeGroups": [t.tenant.mac_users_group_id]}, "applications": {"includeApplications": ["All"]},
                       "clientAppTypes": ["browser", "mobileAppsAndDesktopClients"]},
        "grantControls": {"operator": "OR", "builtInControls": ["compliantDevice"]}});
    let (status, p) = send(&t, &admin, M::POST, "identity/conditionalAccess/policies", Some(ca)).await;
    assert_eq!(status, 201, "{p}");
    let path = format!("identity/conditionalAccess/policies/{}", p["id"].as_str().unwrap());
    let (_, read) = send(&t, &admin, M::GET, &path, None).await;
    assert_eq!(
        (read["state"].as_str(), read["conditions"]["clientAppTypes"].clone()),
        (Some("enabledForReportingButNotEnforced"), json!(["browser", "mobileAppsAndDesktopClients"]))
    );
    assert_eq!(send(&t, &admin, M::PATCH, &path, Some(json!({"state": "enabled"}))).await.0, 204);
    assert_eq!(send(&t, &admin, M::GET, &path, None).await.1["state"], "enabled");
    let mfa = json!({"grantControls": {"operator": "OR", "builtInControls": ["mfa"]}});
    assert!(refused(&send(&t, &admin, M::PATCH, &path, Some(mfa)).await).1.contains("'mfa' is not supported"));
    assert_eq!(send(&t, &admin, M::DELETE, &path, None).await.0, 204);
    assert_eq!(send(&t, &admin, M::GET, &path, None).await.0, 404);

    // A compliance policy with its noncompliance action, changed and deleted.
    let policy = json!({"@odata.type": "#microsoft.graph.macOSCompliancePolicy", "displayName": "macOS: FileVault",
        "storageRequireEncryption": true,
        "scheduledActionsForRule": [{"ruleName": "PasswordRequired", "scheduledActionConfigurations": [{"actionType": "block", "gracePeriodHours": 24}]}]});
    let (status, p) = send(&t, &admin, M::POST, "deviceManagement/deviceCompliancePolicies", Some(policy)).await;
    assert_eq!(status, 201, "{p}");
    let path = format!("deviceManagement/deviceCompliancePolicies/{}", p["id"].as_str().unwrap());
    let untyped = send(&t, &admin, M::PATCH, &path, Some(json!({"firewallEnabled": true}))).await;
    assert!(refused(&untyped).1.contains("@odata.type is required"), "{untyped:?}");
    let patch = json!({"@odata.type": "#microsoft.graph.macOSCompliancePolicy", "firewallEnabled": true});
    assert_eq!(send(&t, &admin, M::PATCH, &path, Some(patch)).await.0, 204);
    let (_, read) = send(&t, &admin, M::GET, &path, None).await;
    assert_eq!((read["firewallEnabled"].as_bool(), read["storageRequireEncryption"].as_bool()), (Some(true), Some(true)), "{read}");
    let actions = json!({"deviceComplianceScheduledActionForRules": [{"ruleName": "PasswordRequired",
        "scheduledActionConfigurations": [{"actionType": "block", "gracePeriodHours": 48}]}]});
    assert_eq!(send(&t, &admin, M::POST, &format!("{path}/scheduleActionsForRules"), Some(actions)).await.0, 204);
    let (_, read) = send(&t, &admin, M::GET, &path, None).await;
    assert_eq!(read["scheduledActionsForRule"][0]["scheduledActionConfigurations"][0]["gracePeriodHours"], 48, "{read}");
    assert_eq!(send(&t, &admin, M::DELETE, &path, None).await.0, 204);
    assert_eq!(send(&t, &admin, M::GET, &path, None).await.0, 404);
    t.stop().await;
}

#[tokio::test]
async fn a_disabled_device_cannot_sign_in_and_a_deleted_one_is_gone() {
    let t = spawn(1).await;
    cloudconnector::admin_steps::connect_instance(&t, "hq").await.unwrap();
    let fleet = Fleet::new(t.http.clone(), &t.cloud.url());
    let users: Vec<(String, String)> = t.tenant.users.iter().map(|u| (u.upn.clone(), u.password.clone())).collect();
    let profile = fleet::generate(&users, 5, 0.0).remove(0);
    let mac = fleet.onboard(profile, &t.instance_url("hq"), &t.instance("hq").invitation, t.clock.now()).await.unwrap();
    let device = mac.device_id.clone().unwrap();
    eventually("compliant", || async { t.is_compliant(&device).await.filter(|c| *c) }).await;
    let sign_in = || fleet.sign_in(&mac, &t.tenant.portal_app_id, &t.tenant.portal_redirect_uri, true, t.clock.now());
    assert!(matches!(sign_in().await.unwrap(), SignIn::Granted { .. }));
    let (_, decision_ms) =
        fleet.sign_in_timed(&mac, &t.tenant.portal_app_id, &t.tenant.portal_redirect_uri, true, t.clock.now()).await.unwrap();
    assert!(decision_ms.is_some_and(|ms| ms > 0.0), "the decision's time in Server-Timing: {decision_ms:?}");

    let admin = admin_token(&t).await;
    let by_device = format!("devices(deviceId='{device}')");
    assert_eq!(send(&t, &admin, M::PATCH, &by_device, Some(json!({"accountEnabled": false}))).await.0, 204);
    assert_eq!(send(&t, &admin, M::GET, &by_device, None).await.1["accountEnabled"], false);
    let SignIn::Refused { aadsts, .. } = sign_in().await.unwrap() else { panic!("a disabled device signed in") };
    assert_eq!(aadsts, "AADSTS135011");
    assert_eq!(send(&t, &admin, M::PATCH, &by_device, Some(json!({"accountEnabled": true}))).await.0, 204);
    assert!(matches!(sign_in().await.unwrap(), SignIn::Granted { .. }), "enabled again");
    let renamed = send(&t, &admin, M::PATCH, &by_device, Some(json!({"displayName": "x"}))).await;
    assert!(refused(&renamed).1.contains("accountEnabled can"), "{renamed:?}");

    let object = send(&t, &admin, M::GET, &by_device, None).await.1["id"].as_str().unwrap().to_string();
    assert_eq!(send(&t, &admin, M::DELETE, &format!("devices/{object}"), None).await.0, 204);
    assert_eq!(send(&t, &admin, M::GET, &by_device, None).await.0, 404);
    let (_, managed) = send(&t, &admin, M::GET, "deviceManagement/managedDevices", None).await;
    assert_eq!(managed["value"], json!([]), "its Intune record went with it");
    t.stop().await;
}

#[tokio::test]
async fn another_tenants_administrator_changes_nothing_here() {
    let t = spawn(2).await;
    let fabrikam = cloud::seed::customer(
        &t.cloud.state.store,
        cloud::seed::CustomerSpec { domain: "fabrikam.example", name: "Fabrikam", users: 1, licensed: true },
        t.clock.now_ms(),
    )
    .await
    .unwrap();
    let (status, body) = user_token(&t, &fabrikam.admin.upn, &fabrikam.admin.password).await;
    assert_eq!(status, 200, "{body}");
    let other = body["access_token"].as_str().unwrap().to_string();
    let admin = admin_token(&t).await;
    let group = &t.tenant.mac_users_group_id;
    let (user, policy, ca) = (&t.tenant.users[0].id, &t.tenant.policy_id, &t.tenant.ca_policy_id);
    let member = json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{}", fabrikam.users[0].id)});
    let attempts: [(M, String, Option<Value>); 8] = [
        (M::PATCH, format!("users/{user}"), Some(json!({"displayName": "Taken over"}))),
        (M::DELETE, format!("users/{user}"), None),
        (M::DELETE, format!("groups/{group}"), None),
        (M::POST, format!("groups/{group}/members/$ref"), Some(member)),
        (M::DELETE, format!("groups/{group}/members/{user}/$ref"), None),
        (M::PATCH, format!("identity/conditionalAccess/policies/{ca}"), Some(json!({"state": "disabled"}))),
        (M::DELETE, format!("identity/conditionalAccess/policies/{ca}"), None),
        (M::DELETE, format!("deviceManagement/deviceCompliancePolicies/{policy}"), None),
    ];
    for (method, path, body) in attempts {
        assert_eq!(send(&t, &other, method.clone(), &path, body).await.0, 404, "{method} {path} from another tenant");
    }
    let (_, members) = send(&t, &admin, M::GET, &format!("groups/{group}/members"), None).await;
    assert_eq!(members["value"].as_array().unwrap().len(), 2, "the group keeps its members: {members}");
    let (_, assigned) = send(&t, &admin, M::GET, &format!("deviceManagement/deviceCompliancePolicies/{policy}/assignments"), None).await;
    assert_eq!(assigned["value"][0]["target"]["groupId"].as_str(), Some(group.as_str()), "and its policy assignment: {assigned}");
    let (_, ca_read) = send(&t, &admin, M::GET, &format!("identity/conditionalAccess/policies/{ca}"), None).await;
    assert_eq!(ca_read["state"], "enabled");
    assert_eq!(send(&t, &admin, M::GET, &format!("users/{user}"), None).await.1["displayName"], "User 1");
    t.stop().await;
}

#[tokio::test]
async fn an_application_cannot_set_passwords_or_touch_a_global_administrator() {
    let t = spawn(1).await;
    let graph = wire::ids::GRAPH_APP_ID;
    let (app, secret) = cloudconnector::admin_steps::register_app(&t, "Provisioning", &[(graph, "User.ReadWrite.All")]).await.unwrap();
    let (status, body) = t.token(&t.tenant.tenant_id, &app, &secret, "https://graph.microsoft.com/.default").await;
    assert_eq!(status, 200, "{body}");
    let app_token = body["access_token"].as_str().unwrap().to_string();
    let (user, admin) = (&t.tenant.users[0].id, &t.tenant.admin.id);
    let password = json!({"passwordProfile": {"password": "Taken-Over-2026"}});
    let denied = "Insufficient privileges to complete the operation.";
    for target in [user, admin] {
        let answer = send(&t, &app_token, M::PATCH, &format!("users/{target}"), Some(password.clone())).await;
        assert_eq!(refused(&answer), (403, denied.into()), "an application alone sets no password");
    }
    let disable = json!({"accountEnabled": false});
    assert_eq!(send(&t, &app_token, M::PATCH, &format!("users/{admin}"), Some(disable.clone())).await.0, 403);
    assert_eq!(send(&t, &app_token, M::DELETE, &format!("users/{admin}"), None).await.0, 403);
    assert_eq!(send(&t, &app_token, M::PATCH, &format!("users/{user}"), Some(disable)).await.0, 204, "a user it may disable");
    assert_eq!(user_token(&t, &t.tenant.admin.upn, &t.tenant.admin.password).await.0, 200, "the administrator still signs in");
    t.stop().await;
}

/// Conditional Access What If through Graph (`conditionalAccess/evaluate`): the seeded
/// policy applies to a Mac user signing in to the portal and not to another app; the
/// device's state is named by `deviceInfo`; bad bodies are refused precisely.
#[tokio::test]
async fn what_if_evaluates_the_tenants_policies_for_a_sign_in() {
    let t = spawn(1).await;
    let admin = admin_token(&t).await;
    let user = &t.tenant.users[0];
    let body = |app: &str, device: Value| {
        json!({"signInIdentity": {"@odata.type": "#microsoft.graph.userSignIn", "userId": user.id},
               "signInContext": {"@odata.type": "#microsoft.graph.applicationContext", "includeApplications": [app]},
               "signInConditions": {"devicePlatform": "macOS", "deviceInfo": device}, "appliedPoliciesOnly": false})
    };
    let (status, r) = send(
        &t,
        &admin,
        M::POST,
        "identity/conditionalAccess/evaluate",
        Some(body(&t.tenant.portal_app_id, json!({"isCompliant": false}))),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    assert!(r["@odata.context"].as_str().unwrap().ends_with("#Collection(microsoft.graph.whatIfAnalysisResult)"), "{r}");
    assert!(r["value"].as_array().unwrap().iter().all(|p| p["@odata.type"] == "#microsoft.graph.whatIfAnalysisResult"), "{r}");
    let seeded = r["value"].as_array().unwrap().iter().find(|p| p["id"] == t.tenant.ca_policy_id.as_str()).expect("the seeded policy");
    assert_eq!((seeded["policyApplies"].as_bool(), seeded["analysisReasons"].as_str()), (Some(true), Some("notSet")), "{seeded}");
    assert_eq!(seeded["grantControls"]["builtInControls"], json!(["compliantDevice"]));

    let other_app = "00000000-0000-0000-0000-00000000beef";
    let (_, r) = send(&t, &admin, M::POST, "identity/conditionalAccess/evaluate", Some(body(other_app, Value::Null))).await;
    let seeded = r["value"].as_array().unwrap().iter().find(|p| p["id"] == t.tenant.ca_policy_id.as_str()).unwrap();
    assert_eq!((seeded["policyApplies"].as_bool(), seeded["analysisReasons"].as_str()), (Some(false), Some("application")));
    let mut only = body(other_app, Value::Null);
    only["appliedPoliciesOnly"] = json!(true);
    assert_eq!(send(&t, &admin, M::POST, "identity/conditionalAccess/evaluate", Some(only)).await.1["value"], json!([]));

    let unknown_device = body(&t.tenant.portal_app_id, json!({"deviceId": "0a0a0a0a-0000-0000-0000-000000000000"}));
    assert_eq!(send(&t, &admin, M::POST, "identity/conditionalAccess/evaluate", Some(unknown_device)).await.0, 404);
    let both = body(&t.tenant.portal_app_id, json!({"deviceId": "0a0a0a0a-0000-0000-0000-000000000000", "isCompliant": true}));
    assert!(refused(&send(&t, &admin, M::POST, "identity/conditionalAccess/evaluate", Some(both)).await).1.contains("not both"));
    let mut legacy = body(&t.tenant.portal_app_id, Value::Null);
    legacy["signInConditions"]["clientAppType"] = json!("exchangeActiveSync");
    let legacy = send(&t, &admin, M::POST, "identity/conditionalAccess/evaluate", Some(legacy)).await;
    assert!(refused(&legacy).1.contains("clientAppType 'exchangeActiveSync' is not supported"), "{legacy:?}");
    let no_user = json!({"signInContext": {"includeApplications": [t.tenant.portal_app_id]}});
    let refused_body = send(&t, &admin, M::POST, "identity/conditionalAccess/evaluate", Some(no_user)).await;
    assert!(refused(&refused_body).1.contains("signInIdentity.userId is required"), "{refused_body:?}");
    // A user's own token without a policy permission is refused.
    let (_, token) = user_token(&t, &user.upn, &user.password).await;
    let (status, _) = send(
        &t,
        token["access_token"].as_str().unwrap(),
        M::POST,
        "identity/conditionalAccess/evaluate",
        Some(body(&t.tenant.portal_app_id, Value::Null)),
    )
    .await;
    assert_eq!(status, 403);
    t.stop().await;
}
