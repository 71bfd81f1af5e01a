//! `<data-dir>/endpoints.json` (docs/operations.md). Field names are a contract: add, never rename.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EndpointsFile {
    pub ca_certificate: String,
    pub cloud: CloudEndpoints,
    pub connector: ConnectorEndpoints,
    pub mdm: MdmEndpoints,
    pub consoles: Consoles,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<Seed>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CloudEndpoints {
    pub authority: String,
    pub graph: String,
    pub aad_graph: String,
    pub intune_resource: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConnectorEndpoints {
    pub url: String,
    /// Bearer token of the connector's operator API (the `cloudconnector admin` commands).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_token: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MdmEndpoints {
    pub url: String,
    pub instances: Vec<MdmInstance>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MdmInstance {
    pub id: String,
    pub name: String,
    pub url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Consoles {
    pub entra: String,
    pub intune: String,
    pub mdm: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Seed {
    pub tenant_id: crate::TenantId,
    pub tenant_domain: String,
    pub global_admin: Credentials,
    pub mdm_admin: MdmAdmin,
    /// The admin of every instance (the first is `mdm_admin`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mdm_admins: Vec<MdmAdmin>,
    pub test_client: TestClient,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Credentials {
    pub upn: String,
    pub password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MdmAdmin {
    pub instance: String,
    pub username: String,
    pub password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestClient {
    pub client_id: String,
    pub client_secret: String,
    pub graph_permissions: Vec<String>,
    /// Certificate credential of the same app (PEM), for certificate-based clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_pem: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key_pem: Option<String>,
    /// Hex SHA-1 thumbprint of the certificate (what MSAL's `thumbprint` takes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbprint_sha1: Option<String>,
}
