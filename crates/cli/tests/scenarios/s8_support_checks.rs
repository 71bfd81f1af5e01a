//! S8 (permissions must match exactly) and S2 step 3 (deleting the apps), done in the
//! Entra admin center; Confirm reports what changed and uploads stop visibly.

use cloudconnector::admin_steps;
use cloudconnector::browser::Browser;

use crate::harness::{TestStack, spawn};

/// The Entra console page of the tenant's "Cloud Connector" enterprise application.
async fn cloud_connector_page(t: &TestStack, b: &Browser) -> String {
    let list = b.get(&format!("{}/console/entra/enterprise-applications", t.cloud.url())).await.unwrap();
    format!("{}{}", t.cloud.url(), list.row_link("#applications tr", "Cloud Connector").expect("Cloud Connector listed"))
}

async fn confirm(t: &TestStack, slug: &str) -> serde_json::Value {
    let b = admin_steps::mdm_sign_in(t, slug).await.unwrap();
    b.post_form(&format!("{}/settings/global-management/conditional-access/confirm", t.instance_url(slug)), &[]).await.unwrap();
    t.mdm_read(slug, "conditional-access").await
}

fn check<'a>(ca: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    ca["checks"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("no check {name} in {ca}"))
}

#[tokio::test]
async fn s8_modified_permissions_and_deleted_apps_are_reported_by_confirm() {
    let t = spawn(1).await;
    admin_steps::connect_instance(&t, "hq").await.unwrap();
    let b = admin_steps::cloud_console_sign_in(&t).await.unwrap();
    let app_page = cloud_connector_page(&t, &b).await;
    let page = b.get(&app_page).await.unwrap();
    assert!(page.body.contains("update_device_attributes") && page.body.contains("Directory.Read.All"), "{}", page.body);

    // An admin removes the Intune permission and adds a Graph one.
    let action = format!("{app_page}/permissions");
    // The console asks before a removal; these are the confirmed forms.
    let removal =
        |resource, value| [("action", "remove"), ("resource", resource), ("kind", "Application"), ("value", value), ("confirm", "yes")];
    b.post_form(&action, &removal(wire::ids::INTUNE_APP_ID, "update_device_attributes")).await.unwrap();
    let page = b
        .post_form(
            &action,
            &[("action", "add"), ("resource", wire::ids::GRAPH_APP_ID), ("kind", "Application"), ("value", "Application.Read.All")],
        )
        .await
        .unwrap();
    assert!(!page.body.contains("update_device_attributes") && page.body.contains("Application.Read.All"));

    let ca = confirm(&t, "hq").await;
    assert_eq!(ca["status"], "failing");
    let intune = check(&ca, "permissions_intune");
    assert_eq!(intune["passed"], false);
    assert!(
        intune["detail"].as_str().unwrap().contains("unsupported: permissions modified (missing: [update_device_attributes], extra: [])"),
        "{intune}"
    );
    let graph = check(&ca, "permissions_graph");
    assert!(graph["detail"].as_str().unwrap().contains("extra: [Application.Read.All]"), "{graph}");

    // Uploads now fail visibly: the partner API refuses tokens without the role.
    let intune_token = t.connector_token("https://api.manage.microsoft.com//.default").await;
    let claims = jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(&intune_token).unwrap().claims;
    assert!(claims.get("roles").is_none_or(|r| !r.to_string().contains("update_device_attributes")));

    // Restoring the permissions makes Confirm pass again.
    b.post_form(
        &action,
        &[("action", "add"), ("resource", wire::ids::INTUNE_APP_ID), ("kind", "Application"), ("value", "update_device_attributes")],
    )
    .await
    .unwrap();
    b.post_form(&action, &removal(wire::ids::GRAPH_APP_ID, "Application.Read.All")).await.unwrap();
    assert_eq!(confirm(&t, "hq").await["status"], "active");

    // S2 step 3: deleting the enterprise application revokes the connector at once.
    let page = b.post_form(&format!("{app_page}/delete"), &[("confirm", "yes")]).await.unwrap();
    assert!(page.row_link("#applications tr", "Cloud Connector").is_none(), "still listed");
    let ca = confirm(&t, "hq").await;
    let token = check(&ca, "token");
    assert_eq!(token["passed"], false);
    assert!(token["detail"].as_str().unwrap().contains("AADSTS700016"), "{token}");
    assert!(token["remedy"].as_str().unwrap().contains("Connect again"), "{token}");
    // Microsoft's own applications cannot be deleted.
    let list = b.get(&format!("{}/console/entra/enterprise-applications", t.cloud.url())).await.unwrap();
    let graph_sp = t.cloud.state.store.service_principal(&t.tenant.tenant_id, wire::ids::GRAPH_APP_ID).await.unwrap().unwrap();
    assert!(list.body.contains("Microsoft Graph"));
    let page = b
        .post_form(&format!("{}/console/entra/enterprise-applications/{}/delete", t.cloud.url(), graph_sp.id), &[("confirm", "yes")])
        .await
        .unwrap();
    assert!(page.body.contains("cannot be deleted"));
    t.stop().await;
}

#[tokio::test]
async fn entra_admin_center_shows_directory_devices_policies_and_sign_ins() {
    let t = spawn(2).await;
    let b = admin_steps::cloud_console_sign_in(&t).await.unwrap();
    let base = format!("{}/console/entra", t.cloud.url());
    let users = b.get(&format!("{base}/users")).await.unwrap();
    assert!(users.body.contains(&t.tenant.users[0].upn) && users.body.contains("Global Administrator") && users.body.contains("Mac users"));
    let apps = b.get(&format!("{base}/app-registrations")).await.unwrap();
    assert!(apps.body.contains("Contoso Portal") && apps.body.contains(&t.tenant.portal_redirect_uri));
    let ca = b.get(&format!("{base}/conditional-access")).await.unwrap();
    assert!(ca.body.contains("Require a compliant Mac for Contoso Portal"));
    // Switch the policy to report-only through the console.
    b.post_form(&format!("{base}/conditional-access"), &[("id", &t.tenant.ca_policy_id), ("state", "enabledForReportingButNotEnforced")])
        .await
        .unwrap();
    let policies = t.cloud.state.store.ca_policies(&t.tenant.tenant_id).await.unwrap();
    assert_eq!(policies[0].state, cloud::entra::conditional_access::PolicyState::EnabledForReportingButNotEnforced);
    for page in ["devices", "sign-in-logs"] {
        assert_eq!(b.get(&format!("{base}/{page}")).await.unwrap().status, 200);
    }
    // Another browser without a session is sent to sign in.
    let resp = t.http.get(format!("{base}/users")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    t.stop().await;
}

#[tokio::test]
async fn partner_device_management_groups_evaluate_with_exclusion_winning() {
    let t = spawn(4).await;
    let b = admin_steps::cloud_console_sign_in(&t).await.unwrap();
    let groups = format!("{}{}/groups", t.cloud.url(), cloud::http::PARTNER_PAGE);
    let group = t.tenant.mac_users_group_id.as_str();
    let page = b.post_form(&groups, &[("include", group), ("exclude", ""), ("action", "save")]).await.unwrap();
    assert_eq!(page.element_text("included").as_deref(), Some("Mac users"));
    let page = b.post_form(&groups, &[("include", ""), ("exclude", ""), ("action", "evaluate")]).await.unwrap();
    assert_eq!(page.element_text("message").as_deref(), Some("4 users are in scope of partner device management."));
    b.post_form(&groups, &[("include", ""), ("exclude", group), ("action", "save")]).await.unwrap();
    let page = b.post_form(&groups, &[("include", ""), ("exclude", ""), ("action", "evaluate")]).await.unwrap();
    assert_eq!(page.element_text("message").as_deref(), Some("0 users are in scope of partner device management."));
    let page = b.post_form(&groups, &[("include", "not-a-group"), ("exclude", ""), ("action", "save")]).await.unwrap();
    assert_eq!(page.element_text("message").as_deref(), Some("Choose a user group of this tenant."));
    let token = t.test_client_token().await;
    let (_, partners) = t.graph_get(&token, "deviceManagement/deviceManagementPartners").await;
    let targets = partners["value"][0]["groupsRequiringPartnerEnrollment"].as_array().unwrap().clone();
    assert_eq!(targets.len(), 2);
    assert_eq!(targets[1]["target"]["@odata.type"], "#microsoft.graph.exclusionGroupAssignmentTarget");
    t.stop().await;
}
