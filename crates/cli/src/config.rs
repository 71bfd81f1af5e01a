//! Configuration of `serve`: defaults, then a TOML file, then `CLOUDCONNECTOR__…`
//! environment variables (`__` separates levels). Any key may instead be given as a file
//! path in a variable ending in `_FILE`, for secrets mounted as files.

use std::path::PathBuf;

use anyhow::Context;
use figment::Figment;
use figment::providers::{Env, Format, Json, Serialized, Toml};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServeConfig {
    pub data_dir: PathBuf,
    pub cloud: Option<CloudSection>,
    pub connector: Option<ConnectorSection>,
    pub mdm: Option<MdmSection>,
    /// Ports of cloud, connector and mdm for `--role all`.
    pub ports: [u16; 3],
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig { data_dir: PathBuf::from(".cloudconnector"), cloud: None, connector: None, mdm: None, ports: [8443, 8444, 8445] }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CloudSection {
    pub port: u16,
    #[serde(flatten)]
    pub config: cloud::CloudConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConnectorSection {
    pub port: u16,
    #[serde(flatten)]
    pub config: connector::ConnectorConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MdmSection {
    pub port: u16,
    #[serde(flatten)]
    pub config: mdm::MdmConfig,
}

const PREFIX: &str = "CLOUDCONNECTOR__";

/// `CLOUDCONNECTOR__CONNECTOR__REGISTRATION_SECRET_FILE=/run/secrets/x` becomes the key
/// `connector.registration_secret` with the file's contents.
fn file_secrets() -> anyhow::Result<Figment> {
    let mut figment = Figment::new();
    for (name, path) in std::env::vars() {
        let Some(key) = name.strip_prefix(PREFIX).and_then(|k| k.strip_suffix("_FILE")) else {
            continue;
        };
        let value = std::fs::read_to_string(&path).with_context(|| format!("{name}: reading {path}"))?;
        let key = key.to_ascii_lowercase().replace("__", ".");
        figment = figment.merge((key, value.trim_end_matches(['\n', '\r']).to_string()));
    }
    Ok(figment)
}

pub fn load(file: Option<&std::path::Path>) -> anyhow::Result<ServeConfig> {
    let mut figment = Figment::from(Serialized::defaults(ServeConfig::default()));
    if let Some(f) = file {
        figment = if f.extension().is_some_and(|e| e == "json") {
            figment.merge(Json::file_exact(f))
        } else {
            figment.merge(Toml::file_exact(f))
        };
    }
    figment = figment.merge(Env::prefixed(PREFIX).split("__").filter(|k| !k.as_str().ends_with("_file"))).merge(file_secrets()?);
    let config: ServeConfig = figment.extract().context("configuration")?;
    config.validate()?;
    Ok(config)
}

impl ServeConfig {
    /// Each role's own rules (every URL a secret travels on is `https`), before anything
    /// starts.
    pub fn validate(&self) -> anyhow::Result<()> {
        let refused = |role: &str, why: String| anyhow::anyhow!("configuration of the {role}: {why}");
        if let Some(c) = &self.cloud {
            c.config.validate().map_err(|e| refused("cloud", e))?;
        }
        if let Some(c) = &self.connector {
            c.config.validate().map_err(|e| refused("connector", e))?;
        }
        if let Some(m) = &self.mdm {
            m.config.validate().map_err(|e| refused("mdm", e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API fixes the closure's error type.
    fn file_values_and_secret_files_combine() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "cc.toml",
                r#"
                data_dir = "/tmp/cc"
                [cloud]
                port = 9443
                database_url = "sqlite:///tmp/cc/cloud.db"
            "#,
            )?;
            jail.create_file("secret.txt", "s3cret\n")?;
            jail.set_env("CLOUDCONNECTOR__CLOUD__PORT", "9999");
            jail.set_env("CLOUDCONNECTOR__CLOUD__DATABASE_URL_FILE", "secret.txt");
            let c = load(Some(std::path::Path::new("cc.toml"))).map_err(|e| e.to_string())?;
            let cloud = c.cloud.expect("cloud section");
            assert_eq!(cloud.port, 9999);
            assert_eq!(cloud.config.database_url, "s3cret");
            assert_eq!(c.data_dir, PathBuf::from("/tmp/cc"));
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API fixes the closure's error type.
    fn urls_secrets_travel_on_must_be_https() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "cc.toml",
                r#"
                [mdm]
                port = 8445
                database_url = "sqlite:///tmp/cc/mdm.db"
                connector_url = "http://connector.example:8444"
                connector_registration_secret = "x"
            "#,
            )?;
            let err = load(Some(std::path::Path::new("cc.toml"))).unwrap_err().to_string();
            assert!(err.contains("connector_url must be an https URL"), "{err}");
            jail.create_file(
                "cc.toml",
                r#"
                [connector]
                port = 8444
                database_url = "sqlite:///tmp/cc/connector.db"
                registration_secret = "x"
                [[connector.clouds]]
                client_id = "app"
                client_secret = "s"
                registration_app_id = "reg"
                [connector.clouds.profile]
                name = "global"
                display_name = "Global"
                authority = "http://login.example"
                graph = "https://graph.example"
                aad_graph = "https://graph.windows.example"
                graph_resource = "https://graph.microsoft.com"
            "#,
            )?;
            let err = load(Some(std::path::Path::new("cc.toml"))).unwrap_err().to_string();
            assert!(err.contains("cloud 'global' authority must be an https URL"), "{err}");
            Ok(())
        });
    }
}
