//! `provision`: what an operator creates where no API has the operation — a cloud tenant
//! with its first Global Administrator (Graph has no "create tenant"), the Cloud
//! Connector's two multi-tenant app registrations with their credentials, and an mdm
//! instance with its administrator (a Jamf Pro server is installed with one). Each opens
//! the database of the role named by the `serve` configuration, so the services may be
//! running. Everything else — users, groups, licences, policies — is done through
//! Microsoft Graph, as on Microsoft's cloud (docs/deploy.md).

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

use crate::config::ServeConfig;

/// A new tenant and its first administrator's credentials.
#[derive(Debug, Serialize)]
pub struct NewTenant {
    pub tenant_id: String,
    /// The tenant's domain, lower case.
    pub domain: String,
    /// `admin@<domain>`, the Global Administrator.
    pub admin_upn: String,
    /// Generated; shown once.
    pub admin_password: String,
    /// Whether the tenant subscribes to Intune and Entra ID P1.
    pub licensed: bool,
}

/// The Cloud Connector's apps: their ids, and where their credentials were written.
#[derive(Debug, Serialize)]
pub struct NewApps {
    pub tenant_id: String,
    pub connector_app_id: String,
    pub registration_app_id: String,
    /// The connector app's certificate (PEM), registered as its key credential.
    pub certificate_file: PathBuf,
    /// Its private key (PEM), written readable by its owner only.
    pub key_file: PathBuf,
    /// A `[[connector.clouds]]` section holding the ids and the certificate and key.
    pub connector_config_file: PathBuf,
    /// The connector app's client secret, only with `--secret`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connector_secret: Option<String>,
}

/// A new mdm instance and its administrator's credentials.
#[derive(Debug, Serialize)]
pub struct NewInstance {
    pub slug: String,
    pub url: String,
    pub admin_username: String,
    pub admin_password: String,
    /// The enrolment invitation a Mac presents to enrol at the instance.
    pub enrolment_invitation: String,
}

async fn cloud_store(cfg: &ServeConfig) -> anyhow::Result<(cloud::store::Store, cloud::CloudConfig)> {
    let c = cfg.cloud.clone().context("the configuration has no [cloud] section")?;
    let secrets = std::sync::Arc::new(platform::secrets::SecretBox::load_or_create(&c.config.secret_key_path)?);
    let store = cloud::store::Store::connect(&c.config.database_url, secrets).await.context("opening the cloud's database")?;
    Ok((store, c.config))
}

fn now_ms() -> i64 {
    platform::clock::Clock::system().now_ms()
}

/// `provision tenant`: a tenant with `admin@<domain>` as Global Administrator.
pub async fn tenant(cfg: &ServeConfig, domain: &str, name: &str, licensed: bool) -> anyhow::Result<NewTenant> {
    let (store, _) = cloud_store(cfg).await?;
    let (t, admin) = cloud::seed::tenant_with_admin(&store, domain, name, licensed, now_ms()).await?;
    Ok(NewTenant { tenant_id: t.id.to_string(), domain: t.domain, admin_upn: admin.upn, admin_password: admin.password, licensed })
}

/// `provision connector-apps`: the two apps in the provider's tenant `owner` (its domain
/// or id), credentials written into `out`.
pub async fn connector_apps(cfg: &ServeConfig, owner: &str, redirect_uri: &str, out: &Path, secret: bool) -> anyhow::Result<NewApps> {
    let redirect = url::Url::parse(redirect_uri).with_context(|| format!("--redirect-uri {redirect_uri}"))?;
    anyhow::ensure!(redirect.scheme() == "https", "--redirect-uri must be an https URL (the connector's /onboarding/callback)");
    let (store, config) = cloud_store(cfg).await?;
    let tenant = store.tenant(owner).await?.with_context(|| format!("no tenant {owner}: create it with `provision tenant` first"))?;
    let apps = cloud::seed::connector_apps(&store, &tenant.id, redirect.as_str(), secret, now_ms()).await?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let certificate_file = out.join("cloud-connector.crt");
    let key_file = out.join("cloud-connector.key");
    std::fs::write(&certificate_file, &apps.connector_certificate_pem)?;
    write_private(&key_file, &apps.connector_key_pem)?;
    let cloud_url = config.public_url.clone().context("the cloud's public_url is needed to write the connector's section")?;
    let section = connector_section(&cloud_url, &apps)?;
    let connector_config_file = out.join("connector-clouds.toml");
    write_private(&connector_config_file, &section)?;
    Ok(NewApps {
        tenant_id: tenant.id.to_string(),
        connector_app_id: apps.connector_app_id,
        registration_app_id: apps.registration_app_id,
        certificate_file,
        key_file,
        connector_config_file,
        connector_secret: secret.then_some(apps.connector_secret),
    })
}

/// The `[[connector.clouds]]` section for a connector of this cloud (`profile` as
/// `CloudProfile::local` names it).
fn connector_section(cloud_url: &str, apps: &cloud::seed::ProviderApps) -> anyhow::Result<String> {
    let base = cloud_url.trim_end_matches('/');
    let mut table = toml::map::Map::new();
    for (k, v) in [
        ("client_id", apps.connector_app_id.clone()),
        ("client_secret", apps.connector_secret.clone()),
        ("client_certificate_pem", apps.connector_certificate_pem.clone()),
        ("client_key_pem", apps.connector_key_pem.clone()),
        ("registration_app_id", apps.registration_app_id.clone()),
        ("intune_partner_page", format!("{base}{}", cloud::http::PARTNER_PAGE)),
    ] {
        table.insert(k.into(), toml::Value::String(v));
    }
    table.insert("profile".into(), toml::Value::try_from(wire::CloudProfile::local(base))?);
    let mut connector = toml::map::Map::new();
    connector.insert("clouds".into(), toml::Value::Array(vec![toml::Value::Table(table)]));
    let mut root = toml::map::Map::new();
    root.insert("connector".into(), toml::Value::Table(connector));
    Ok(format!(
        "# The Cloud Connector apps registered in {base}; merge into the connector's configuration.\n{}",
        toml::to_string(&toml::Value::Table(root))?
    ))
}

/// Writes a secret file readable by its owner only.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut f = options.open(path).with_context(|| format!("writing {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

/// `provision instance`: an mdm instance `slug` with its administrator `admin`, holding
/// the Conditional Access privilege.
pub async fn instance(cfg: &ServeConfig, slug: &str, name: &str, version: &str) -> anyhow::Result<NewInstance> {
    let m = cfg.mdm.clone().context("the configuration has no [mdm] section")?;
    anyhow::ensure!(
        !slug.is_empty() && slug.len() <= 40 && slug.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
        "the instance's short name must be 1 to 40 lower-case letters, digits or '-'"
    );
    let secrets = std::sync::Arc::new(platform::secrets::SecretBox::load_or_create(&m.config.secret_key_path)?);
    let store = mdm::store::Store::connect(&m.config.database_url, secrets).await.context("opening the mdm's database")?;
    anyhow::ensure!(store.instance_by_slug(slug).await?.is_none(), "an instance named {slug} already exists");
    let spec = mdm::seed::InstanceSpec { slug, name, version, conditional_access_privilege: true };
    let i = mdm::seed::instance(&store, spec, now_ms()).await?;
    let base = m.config.public_url.clone().unwrap_or_else(|| format!("https://localhost:{}", m.port));
    Ok(NewInstance {
        url: format!("{}/i/{}", base.trim_end_matches('/'), i.slug),
        slug: i.slug,
        admin_username: i.admin_username,
        admin_password: i.admin_password,
        enrolment_invitation: i.invitation,
    })
}
