//! The local CA (like mkcert): generated on first start into the data directory, then
//! reused, so every service serves HTTPS and every client trusts exactly this CA.

use std::path::{Path, PathBuf};

use crate::Error;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};

/// PEM material of the local CA and the server certificate it issued. The CA's private
/// key is used once, to issue the server certificate, and never kept; the server's is
/// kept sealed (`tls/server-key.sealed`, with the key file `tls/sealing.key`).
#[derive(Clone, Debug)]
pub struct LocalCa {
    pub ca_path: PathBuf,
    pub ca_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.into(), source })
}

fn write(path: &Path, contents: &str) -> Result<(), Error> {
    std::fs::write(path, contents).map_err(|source| Error::Io { path: path.into(), source })
}

fn remove(path: &Path) -> Result<(), Error> {
    std::fs::remove_file(path).map_err(|source| Error::Io { path: path.into(), source })
}

/// What the sealed server key is bound to.
const SERVER_KEY_CONTEXT: &str = "tls/server-key";

impl LocalCa {
    /// The key file sealing the server's private key, in `<dir>/tls`.
    pub fn sealing_key_path(dir: &Path) -> PathBuf {
        dir.join("tls").join("sealing.key")
    }

    /// Loads `<dir>/tls/*` or creates it. The server certificate covers `localhost`,
    /// `127.0.0.1` and `::1`: every service listens on loopback. Private keys a version
    /// before sealing left in clear are sealed (the server's) or removed (the CA's).
    pub fn load_or_create(dir: &Path) -> Result<LocalCa, Error> {
        let tls = dir.join("tls");
        std::fs::create_dir_all(&tls).map_err(|source| Error::Io { path: tls.clone(), source })?;
        let sealing = crate::sealing::SecretBox::load_or_create(&Self::sealing_key_path(dir))?;
        let [ca, server, sealed_key] = ["ca.pem", "server.pem", "server-key.sealed"].map(|f| tls.join(f));
        let [clear_ca_key, clear_server_key] = ["ca-key.pem", "server-key.pem"].map(|f| tls.join(f));
        if clear_server_key.exists() && !sealed_key.exists() {
            write(&sealed_key, &sealing.seal_value(&read(&clear_server_key)?, SERVER_KEY_CONTEXT))?;
        }
        for clear in [&clear_ca_key, &clear_server_key] {
            if clear.exists() {
                remove(clear)?;
            }
        }
        if ca.exists() && server.exists() && sealed_key.exists() {
            let invalid = || Error::Io {
                path: sealed_key.clone(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, "the server key does not open with tls/sealing.key"),
            };
            return Ok(LocalCa {
                ca_path: ca.clone(),
                ca_pem: read(&ca)?,
                server_cert_pem: read(&server)?,
                server_key_pem: sealing.open_value(&read(&sealed_key)?, SERVER_KEY_CONTEXT).ok_or_else(invalid)?,
            });
        }
        let generated = Self::generate()?;
        write(&ca, &generated.ca_pem)?;
        write(&server, &generated.server_cert_pem)?;
        write(&sealed_key, &sealing.seal_value(&generated.server_key_pem, SERVER_KEY_CONTEXT))?;
        Ok(LocalCa { ca_path: ca, ..generated })
    }

    /// Seals the server key again with a new key file (`cloudconnector admin
    /// rotate-sealing-keys`): the new key is written to `sealing.key.next` first, then
    /// takes `sealing.key`'s place, the old one kept as `sealing.key.previous`.
    pub fn rotate_sealing_key(dir: &Path) -> Result<(), Error> {
        let path = Self::sealing_key_path(dir);
        let sealed_key = dir.join("tls").join("server-key.sealed");
        let old = crate::sealing::SecretBox::load_or_create(&path)?;
        let new = crate::sealing::SecretBox::create_next(&path)?;
        let invalid =
            || Error::Io { path: sealed_key.clone(), source: std::io::Error::other("the server key does not open with tls/sealing.key") };
        let key = old.open_value(&read(&sealed_key)?, SERVER_KEY_CONTEXT).ok_or_else(invalid)?;
        write(&sealed_key, &new.seal_value(&key, SERVER_KEY_CONTEXT))?;
        crate::sealing::SecretBox::promote_next(&path)
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
            server_cert_pem: server_cert.pem(),
            server_key_pem: server_key.serialize_pem(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        std::env::temp_dir().join(format!("cc-tls-{}", crate::secrets::random_token(8)))
    }

    fn clear_key_files(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir.join("tls"))
            .unwrap()
            .filter_map(|e| {
                let path = e.ok()?.path();
                std::fs::read_to_string(&path).ok()?.contains("PRIVATE KEY").then(|| path.display().to_string())
            })
            .collect()
    }

    #[test]
    fn no_private_key_is_kept_in_clear_and_old_ones_are_sealed() {
        let d = dir();
        let ca = LocalCa::load_or_create(&d).unwrap();
        assert!(clear_key_files(&d).is_empty(), "{:?}", clear_key_files(&d));
        assert_eq!(LocalCa::load_or_create(&d).unwrap().server_key_pem, ca.server_key_pem, "the same key comes back");
        // A data directory of a version that kept both keys in clear.
        let tls = d.join("tls");
        std::fs::remove_file(tls.join("server-key.sealed")).unwrap();
        std::fs::write(tls.join("server-key.pem"), &ca.server_key_pem).unwrap();
        std::fs::write(tls.join("ca-key.pem"), "-----BEGIN PRIVATE KEY-----\n").unwrap();
        assert_eq!(LocalCa::load_or_create(&d).unwrap().server_key_pem, ca.server_key_pem);
        assert!(clear_key_files(&d).is_empty(), "{:?}", clear_key_files(&d));
        LocalCa::rotate_sealing_key(&d).unwrap();
        assert_eq!(LocalCa::load_or_create(&d).unwrap().server_key_pem, ca.server_key_pem, "opens with the new key");
        let _ = std::fs::remove_dir_all(d);
    }
}
