//! S1: connecting is refused, naming the missing piece.

use cloudconnector::admin_steps;

use crate::harness::spawn;

#[tokio::test]
async fn s1_connect_is_refused_with_the_missing_piece_named() {
    let t = spawn(2).await;

    // The instance version is below 10.18.
    let b = admin_steps::mdm_sign_in(&t, "old").await.unwrap();
    let page = admin_steps::mdm_connect(&t, &b, "old", "registration", "").await.unwrap();
    assert!(page.url.starts_with(&t.instance_url("old")), "must not leave the mdm: {}", page.url);
    assert!(page.element_text("error").unwrap().contains("requires version 10.18.0"), "{}", page.body);

    // The account lacks the Conditional Access privilege.
    let b = admin_steps::mdm_sign_in(&t, "limited").await.unwrap();
    let page = admin_steps::mdm_connect(&t, &b, "limited", "registration", "").await.unwrap();
    assert!(page.element_text("error").unwrap().contains("lacks the \"Conditional Access\" privilege"), "{}", page.body);

    // A custom landing page must be an absolute https URL.
    let b = admin_steps::mdm_sign_in(&t, "hq").await.unwrap();
    let page = admin_steps::mdm_connect(&t, &b, "hq", "custom", "http://intranet.example/help").await.unwrap();
    assert!(page.element_text("error").unwrap().contains("absolute https URL"), "{}", page.body);
    // The refused form keeps what the admin typed.
    assert_eq!(page.status, 422);
    assert_eq!(page.attributes("input[name=custom_url]", "value"), ["http://intranet.example/help"]);
    assert_eq!(page.attributes("input[name=landing_page][checked]", "value"), ["custom"]);
    // … on a public host: never an address of the server's own network.
    let page = admin_steps::mdm_connect(&t, &b, "hq", "custom", "https://169.254.169.254/latest/meta-data").await.unwrap();
    assert!(page.element_text("error").unwrap().contains("internal address"), "{}", page.body);
    assert_eq!(t.mdm_read("hq", "conditional-access").await["settings"]["landing_page"], "registration", "nothing was saved");

    // The consenting user is not a Global Administrator.
    let page = admin_steps::mdm_connect(&t, &b, "hq", "registration", "").await.unwrap();
    let user = &t.tenant.users[0];
    let page = admin_steps::consent_as(&t, &b, page, &user.upn, &user.password).await.unwrap();
    let message = page.element_text("message").unwrap();
    assert!(message.contains("Consent was not granted") && message.contains("AADSTS90094"), "{message}");
    assert_eq!(page.element_text("status").as_deref(), Some("Failing"));
    assert!(t.mdm_read("hq", "conditional-access").await["status"] == "failing");

    // The tenant lacks the Intune licence: consent works, Confirm fails on the token.
    let bare = cloud::seed::customer(
        &t.cloud.state.store,
        cloud::seed::CustomerSpec { domain: "fabrikam.example", name: "Fabrikam", users: 0, licensed: false },
        t.clock.now_ms(),
    )
    .await
    .unwrap();
    let b = admin_steps::mdm_sign_in(&t, "labs").await.unwrap();
    let page = admin_steps::mdm_connect(&t, &b, "labs", "registration", "").await.unwrap();
    let page = admin_steps::consent_as(&t, &b, page, &bare.admin.upn, &bare.admin.password).await.unwrap();
    assert!(page.element_text("application-id").is_some(), "{}", page.body);
    let page =
        b.post_form(&format!("{}/settings/global-management/conditional-access/confirm", t.instance_url("labs")), &[]).await.unwrap();
    assert_eq!(page.element_text("status").as_deref(), Some("Failing"));
    assert!(page.body.contains("AADSTS500011") && page.body.contains("Intune and Entra ID P1/P2 licences"), "{}", page.body);
    t.stop().await;
}
