//! The mdm's inventory read API, as external tools use it: an API client, a client-
//! credentials token, `computers-inventory` with sections, paging, sort and filter.

use cloudconnector::admin_steps;
use serde_json::Value;

use crate::harness::spawn;

#[tokio::test]
async fn tools_read_inventory_with_an_api_client() {
    let t = spawn(3).await;
    let users: Vec<(String, String)> = t.tenant.users.iter().map(|u| (u.upn.clone(), u.password.clone())).collect();
    let fleet = fleet::Fleet::new(t.http.clone(), &t.cloud.url());
    let url = t.instance_url("hq");
    let mut macs = Vec::new();
    for profile in fleet::generate(&users, 41, 0.0) {
        macs.push(fleet.onboard(profile, &url, &t.instance("hq").invitation, t.clock.now()).await.unwrap());
    }
    let b = admin_steps::mdm_sign_in(&t, "hq").await.unwrap();
    let page = b.post_form(&format!("{url}/settings/system/api-roles-and-clients"), &[("name", "Reporting")]).await.unwrap();
    let message = page.element_text("message").unwrap();
    let client_id = message.split_whitespace().nth(2).unwrap().to_string();
    let secret = message.rsplit(' ').next().unwrap().to_string();

    let token = |id: String, secret: String| {
        let http = t.http.clone();
        let url = url.clone();
        async move {
            let resp = http
                .post(format!("{url}/api/oauth/token"))
                .form(&[("grant_type", "client_credentials"), ("client_id", &id), ("client_secret", &secret)])
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = token(client_id.clone(), "wrong".into()).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
    let (status, body) = token(client_id.clone(), secret.clone()).await;
    assert_eq!(status, 200, "{body}");
    let access = body["access_token"].as_str().unwrap().to_string();
    let get = |q: &str| {
        let (http, url, access, q) = (t.http.clone(), url.clone(), access.clone(), q.to_string());
        async move {
            let resp = http.get(format!("{url}/api/v1/computers-inventory?{q}")).bearer_auth(access).send().await.unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    let (status, all) = get("section=GENERAL&section=LOCAL_USER_ACCOUNTS&section=SECURITY&page-size=2&sort=id:asc").await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["totalCount"], 3);
    assert_eq!(all["results"].as_array().unwrap().len(), 2);
    let first = &all["results"][0];
    assert_eq!(first["localUserAccounts"][0]["azureActiveDirectoryId"], "ACTIVATED");
    assert_eq!(first["localUserAccounts"][0]["computerAzureActiveDirectoryId"], macs[0].device_id.clone().unwrap().as_str());
    assert!(first["security"]["sipStatus"].is_string() && first["hardware"].is_null(), "{first}");
    let (_, page2) = get("page=1&page-size=2&sort=id:asc").await;
    assert_eq!(page2["results"].as_array().unwrap().len(), 1);
    // A page past every row (its offset beyond i64) is empty, not the first page again.
    let (status, beyond) = get("page=9223372036854775807&page-size=2000").await;
    assert_eq!((status, beyond["totalCount"].as_i64()), (200, Some(3)), "{beyond}");
    assert!(beyond["results"].as_array().unwrap().is_empty(), "{beyond}");
    let serial = &macs[1].profile.serial_number;
    let (_, one) = get(&format!("section=HARDWARE&filter=hardware.serialNumber%3D%3D%22{serial}%22")).await;
    assert_eq!(one["totalCount"], 1);
    assert_eq!(one["results"][0]["hardware"]["serialNumber"], serial.as_str());
    let (status, bad) = get("filter=general.reportDate=gt=2026").await;
    assert_eq!(status, 422, "{bad}");
    // Tokens expire (30 minutes).
    t.advance_clock(31 * 60).await;
    assert_eq!(get("").await.0, 401);
    t.stop().await;
}
