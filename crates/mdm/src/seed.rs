//! Instances and admin accounts for a demo or a test.

use crate::error::Result;
use crate::store::{AdminRow, InstanceRow, Store};

#[derive(Debug, Clone)]
pub struct SeededInstance {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub admin_username: String,
    pub admin_password: String,
    pub invitation: String,
}

pub struct InstanceSpec<'a> {
    pub slug: &'a str,
    pub name: &'a str,
    pub version: &'a str,
    /// Whether the admin holds the Conditional Access privilege.
    pub conditional_access_privilege: bool,
}

pub async fn instance(store: &Store, spec: InstanceSpec<'_>, now: i64) -> Result<SeededInstance> {
    let row = InstanceRow {
        id: uuid::Uuid::new_v4().to_string(),
        slug: spec.slug.into(),
        name: spec.name.into(),
        version: spec.version.into(),
        invitation: platform::secrets::random_token(16),
        connector_instance_id: None,
        connector_credential: None,
    };
    store.insert_instance(&row, now).await?;
    let password = platform::secrets::random_token(12);
    let privileges: Vec<&str> =
        if spec.conditional_access_privilege { vec![crate::domain::settings::PRIVILEGE, "Computers"] } else { vec!["Computers"] };
    store
        .insert_admin(&AdminRow {
            id: uuid::Uuid::new_v4().to_string(),
            instance_id: row.id.clone(),
            username: "admin".into(),
            password_hash: platform::secrets::hash_password(&password),
            privileges: serde_json::to_string(&privileges).unwrap_or_default(),
        })
        .await?;
    Ok(SeededInstance {
        id: row.id,
        slug: row.slug,
        name: row.name,
        admin_username: "admin".into(),
        admin_password: password,
        invitation: row.invitation,
    })
}
