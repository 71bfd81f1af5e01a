//! Device registration (the Workplace Join a Mac performs through the Company Portal):
//! the device sends a PKCS#10 request for its own key; the tenant's device CA issues a
//! certificate whose subject is the new Entra device ID.

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls_pki_types::CertificateSigningRequestDer;

use crate::entra::directory::{Tenant, User};
use crate::error::{CloudError, Result};
use crate::store::{DeviceRow, Store};
use wire::{DeviceId, TenantId};

pub struct Registration {
    pub device_id: DeviceId,
    pub certificate_der: Vec<u8>,
    pub thumbprint: String,
}

async fn device_ca(store: &Store, tenant: &Tenant) -> Result<(String, String)> {
    if let Some(ca) = store.device_ca(&tenant.id).await? {
        return Ok(ca);
    }
    let key = KeyPair::generate().map_err(CloudError::internal)?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(CloudError::internal)?;
    params.distinguished_name.push(DnType::CommonName, format!("MS-Organization-Access {}", tenant.id));
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let cert = params.self_signed(&key).map_err(CloudError::internal)?;
    store.insert_device_ca(&tenant.id, &cert.pem(), &key.serialize_pem()).await?;
    // Another request may have won the race; read back whichever was stored.
    store.device_ca(&tenant.id).await?.ok_or_else(|| CloudError::internal("device CA vanished"))
}

pub async fn register(
    store: &Store,
    tenant: &Tenant,
    user: &User,
    csr_der: &[u8],
    display_name: &str,
    os_version: &str,
    now_ms: i64,
) -> Result<Registration> {
    let mut csr = rcgen::CertificateSigningRequestParams::from_der(&CertificateSigningRequestDer::from(csr_der))
        .map_err(|e| CloudError::bad_request(format!("CertificateRequest is not a valid PKCS#10 request: {e}")))?;
    let device_id = DeviceId::from(uuid::Uuid::new_v4().to_string());
    csr.params.distinguished_name = rcgen::DistinguishedName::new();
    csr.params.distinguished_name.push(DnType::CommonName, device_id.to_string());
    csr.params.subject_alt_names.clear();
    let (ca_pem, ca_key_pem) = device_ca(store, tenant).await?;
    let ca_key = KeyPair::from_pem(&ca_key_pem).map_err(CloudError::internal)?;
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key).map_err(CloudError::internal)?;
    let cert = csr.signed_by(&issuer).map_err(CloudError::internal)?;
    let der = cert.der().to_vec();
    let thumbprint: String = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &der).as_ref().iter().map(|b| format!("{b:02X}")).collect();
    use rcgen::PublicKeyData;
    store
        .insert_device(&DeviceRow {
            id: uuid::Uuid::new_v4().to_string(),
            tenant_id: tenant.id.clone(),
            device_id: device_id.clone(),
            display_name: display_name.into(),
            owner_user_id: user.id.clone(),
            operating_system: "MacMDM".into(),
            os_version: os_version.into(),
            public_key: STANDARD.encode(csr.public_key.der_bytes()),
            certificate_thumbprint: thumbprint.clone(),
            is_compliant: None,
            is_managed: 0,
            mdm_app_id: None,
            registered_ms: now_ms,
            compliance_updated_ms: None,
            last_sign_in_ms: None,
            account_enabled: 1,
        })
        .await?;
    Ok(Registration { device_id, certificate_der: der, thumbprint })
}

/// What a device presents at sign-in to prove it is a registered device: a short-lived
/// JWT (ES256) signed with its Workplace Join key, with claims `device_id`, `tid`, `iat`
/// and `exp`. It stands in for the device credential the platform's SSO extension sends.
pub const DEVICE_CREDENTIAL_HEADER: &str = "x-ms-device-credential";

#[derive(serde::Deserialize)]
struct DeviceProof {
    device_id: DeviceId,
    tid: String,
    iat: i64,
    exp: i64,
}

/// The registered device a proof names, if the proof is valid for `tenant_id` now.
/// Any failure (unknown device, other tenant, bad signature, stale) means "no device".
pub async fn verify_proof(store: &Store, tenant_id: &TenantId, proof: &str, now_s: i64) -> Result<Option<DeviceRow>> {
    let Ok(claims) = jsonwebtoken::dangerous::insecure_decode::<DeviceProof>(proof) else { return Ok(None) };
    if claims.claims.tid != *tenant_id
        || claims.claims.exp < now_s
        || claims.claims.iat > now_s + 300
        || claims.claims.exp - claims.claims.iat > 600
    {
        return Ok(None);
    }
    let Some(device) = store.device(tenant_id, &claims.claims.device_id).await? else { return Ok(None) };
    let Ok(raw) = STANDARD.decode(&device.public_key) else { return Ok(None) };
    let key = jsonwebtoken::DecodingKey::from_ec_der(&raw);
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    Ok(jsonwebtoken::decode::<serde_json::Value>(proof, &key, &validation).ok().map(|_| device))
}
