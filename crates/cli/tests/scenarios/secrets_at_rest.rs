//! Secrets and private keys at rest: the mdm's enrolment invitations, connector
//! credentials and Manual client secrets, the cloud's token-signing keys and device CAs,
//! and the local TLS keys are sealed with each service's key; no database and no file of
//! the data directory shows one without it. The keys rotate with the services stopped.

use std::path::Path;
use std::sync::Arc;

use cloudconnector::admin_steps;
use platform::secrets::SecretBox;

use crate::harness::spawn;

/// Every file under `dir` but the key files and the endpoints file (the demo's handout of
/// seeded credentials), with its contents.
fn data_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = path.display().to_string();
        if path.is_dir() {
            out.extend(data_files(&path));
        } else if !name.contains(".key") && !name.ends_with("endpoints.json") {
            out.push((name, std::fs::read(&path).unwrap_or_default()));
        }
    }
    out
}

fn holds(bytes: &[u8], needle: &str) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn no_secret_is_readable_at_rest_and_the_keys_rotate() {
    let t = spawn(2).await;
    // A Manual connection first (its client secret is kept), then the Cloud Connector
    // (the instance's connector credential), which takes the tenant over.
    admin_steps::manual_integration(&t, "labs").await.unwrap();
    admin_steps::connect_instance(&t, "hq").await.unwrap();
    let users: Vec<(String, String)> = t.tenant.users.iter().map(|u| (u.upn.clone(), u.password.clone())).collect();
    let fleet = fleet::Fleet::new(t.http.clone(), &t.cloud.url());
    fleet
        .onboard(fleet::generate(&users, 81, 0.0).remove(0), &t.instance_url("hq"), &t.instance("hq").invitation, t.clock.now())
        .await
        .unwrap();

    // What must not be readable: the secrets as the services hold them in memory.
    let instances = t.mdm.state.store.instances().await.unwrap();
    let mut secrets: Vec<String> = instances.iter().map(|i| i.invitation.clone()).collect();
    secrets.extend(instances.iter().filter_map(|i| i.connector_credential.clone()));
    assert!(secrets.len() > instances.len(), "a connector credential was issued");
    let signing = t.cloud.state.store.signing_keys().await.unwrap();
    let (_, device_ca_key) = t.cloud.state.store.device_ca(&t.tenant.tenant_id).await.unwrap().expect("a device CA");
    let key_lines: Vec<String> = signing
        .iter()
        .map(|(_, pem, _, _)| pem.clone())
        .chain([device_ca_key, t.ca.server_key_pem.clone()])
        .map(|pem| pem.lines().nth(1).unwrap().to_string())
        .collect();
    let urls = t.database_urls.clone();
    let dir = t.data_dir().to_path_buf();
    let stopped = t.stop_services().await;

    for (file, bytes) in data_files(&dir) {
        assert!(!holds(&bytes, "PRIVATE KEY"), "{file} holds a private key in clear");
        for s in secrets.iter().chain(&key_lines) {
            assert!(!holds(&bytes, s), "{file} holds a secret in clear");
        }
    }
    // The columns, on whichever database the test runs.
    let mdm_db = platform::db::Db::connect(&urls.mdm, &mdm::store::MIGRATIONS).await.unwrap();
    let sealed: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT invitation, connector_credential FROM instances").fetch_all(&mdm_db.pool).await.unwrap();
    assert!(sealed.iter().all(|(i, c)| SecretBox::is_sealed(i) && c.as_deref().is_none_or(SecretBox::is_sealed)), "{sealed:?}");
    let manual: Vec<(String,)> =
        sqlx::query_as("SELECT manual_secret FROM ca_settings WHERE manual_secret IS NOT NULL").fetch_all(&mdm_db.pool).await.unwrap();
    assert_eq!(manual.len(), 1, "the Manual instance's client secret is kept, sealed");
    mdm_db.close().await;
    let cloud_db = platform::db::Db::connect(&urls.cloud, &cloud::store::MIGRATIONS).await.unwrap();
    for query in ["SELECT private_pem FROM signing_keys", "SELECT key_pem FROM device_cas"] {
        let rows: Vec<(String,)> = sqlx::query_as(query).fetch_all(&cloud_db.pool).await.unwrap();
        assert!(!rows.is_empty() && rows.iter().all(|(v,)| SecretBox::is_sealed(v)), "{query}");
    }
    cloud_db.close().await;

    // Rotation: everything opens with the new keys, nothing with the old ones.
    let (mdm_key, cloud_key) = (dir.join("mdm-secrets.key"), dir.join("cloud-secrets.key"));
    assert_eq!(mdm::sealed::rotate_sealing_key(&urls.mdm, &mdm_key).await.unwrap(), instances.len() as u64 + 1);
    assert!(cloud::store::rotate_sealing_key(&urls.cloud, &cloud_key).await.unwrap() >= 2);
    platform::tls::LocalCa::rotate_sealing_key(&dir).unwrap();
    let new_mdm = Arc::new(SecretBox::load_or_create(&mdm_key).unwrap());
    let reopened = mdm::store::Store::connect(&urls.mdm, new_mdm).await.unwrap().instances().await.unwrap();
    assert_eq!(
        reopened.iter().map(|i| (&i.invitation, &i.connector_credential)).collect::<Vec<_>>(),
        instances.iter().map(|i| (&i.invitation, &i.connector_credential)).collect::<Vec<_>>()
    );
    let old_mdm = Arc::new(SecretBox::load_or_create(&dir.join("mdm-secrets.key.previous")).unwrap());
    assert!(mdm::store::Store::connect(&urls.mdm, old_mdm).await.unwrap().instances().await.is_err(), "the old key opens nothing");
    let new_cloud = Arc::new(SecretBox::load_or_create(&cloud_key).unwrap());
    let keys = cloud::store::Store::connect(&urls.cloud, new_cloud).await.unwrap().signing_keys().await.unwrap();
    assert_eq!(keys.iter().map(|k| &k.1).collect::<Vec<_>>(), signing.iter().map(|k| &k.1).collect::<Vec<_>>());
    assert_eq!(platform::tls::LocalCa::load_or_create(&dir).unwrap().server_key_pem.lines().nth(1), key_lines.last().map(String::as_str));
    stopped.remove().await;
}
