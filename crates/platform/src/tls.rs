//! The local CA (like mkcert): generated on first start into the data directory, then
//! reused, so every service serves HTTPS and every client trusts exactly this CA.

use std::path::{Path, PathBuf};

use crate::Error;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};

/// PEM material of the local CA and the server certificate it issued.
#[derive(Clone, Debug)]
pub struct LocalCa {
    pub ca_path: PathBuf,
    pub ca_pem: String,
    pub ca_key_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.into(), source })
}

fn write(path: &Path, contents: &str) -> Result<(), Error> {
    std::fs::write(path, contents).map_err(|source| Error::Io { path: path.into(), source })
}

impl LocalCa {
    /// Loads `<dir>/tls/*` or creates it. The server certificate covers `localhost`,
    /// `127.0.0.1` and `::1`: every service listens on loopback.
    pub fn load_or_create(dir: &Path) -> Result<LocalCa, Error> {
        let tls = dir.join("tls");
        std::fs::create_dir_all(&tls).map_err(|source| Error::Io { path: tls.clone(), source })?;
        let paths = ["ca.pem", "ca-key.pem", "server.pem", "server-key.pem"].map(|f| tls.join(f));
        if paths.iter().all(|p| p.exists()) {
            return Ok(LocalCa {
                ca_path: paths[0].clone(),
                ca_pem: read(&paths[0])?,
                ca_key_pem: read(&paths[1])?,
                server_cert_pem: read(&paths[2])?,
                server_key_pem: read(&paths[3])?,
            });
        }
        let ca = Self::generate()?;
        write(&paths[0], &ca.ca_pem)?;
        write(&paths[1], &ca.ca_key_pem)?;
        write(&paths[2], &ca.server_cert_pem)?;
        write(&paths[3], &ca.server_key_pem)?;
        Ok(LocalCa { ca_path: paths[0].clone(), ..ca })
    }

    fn generate() -> Result<LocalCa, Error> {
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "Cloud Connector local CA");
        dn.push(DnType::OrganizationName, "Cloud Connector");
        ca_params.distinguished_name = dn;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key)?;

        let server_key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()])?;
        params.distinguished_name.push(DnType::CommonName, "Cloud Connector services");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let issuer = Issuer::new(ca_params, &ca_key);
        let server_cert = params.signed_by(&server_key, &issuer)?;
        Ok(LocalCa {
            ca_path: PathBuf::new(),
            ca_pem: ca_cert.pem(),
            ca_key_pem: ca_key.serialize_pem(),
            server_cert_pem: server_cert.pem(),
            server_key_pem: server_key.serialize_pem(),
        })
    }
}
