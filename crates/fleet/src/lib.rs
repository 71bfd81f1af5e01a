//! The `fleet` role: simulated Macs and their users. Each Mac behaves as the real agent
//! and Company Portal do: enrol with an instance, report inventory, register with the
//! cloud (Workplace Join with its own device key), post its Entra IDs to the instance,
//! and answer the instance's commands (`agent`).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
pub mod agent;
pub mod jamf;
mod models;
mod sign_in;

use models::{MODELS, model_facts, pick_release};
use wire::agent::{
    AadRegistration, Enroll, Enrolled, FileVaultState, GatekeeperStatus, Hardware, InventoryReport, LocalUser, PasswordPolicy, Security,
    SipStatus, Volume,
};

#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("{step}: HTTP {status}: {body}")]
    Http { step: &'static str, status: u16, body: String },
    #[error("{step}: {source}")]
    Transport { step: &'static str, source: reqwest::Error },
    #[error("device key: {0}")]
    Key(String),
}

/// What a Mac is and who uses it.
#[derive(Debug, Clone)]
pub struct MacProfile {
    pub udid: String,
    pub serial_number: String,
    pub device_name: String,
    /// The name Apple sells the model under (`MacBook Air (M2, 2022)`).
    pub model: String,
    /// `Mac14,2`.
    pub model_identifier: String,
    pub processor_architecture: String,
    pub core_count: i32,
    pub total_ram_mb: i64,
    pub mac_address: String,
    /// As `sw_vers` shows it with its extra: `26.3.1 (a)` for a Rapid Security Response.
    pub os_version: String,
    pub os_build: String,
    /// FileVault on the boot volume.
    pub filevault: bool,
    /// A second, external volume, and whether FileVault covers it.
    pub external_volume: Option<bool>,
    pub sip: bool,
    pub firewall: bool,
    pub stealth_mode: bool,
    pub gatekeeper: GatekeeperStatus,
    pub password_min_length: i32,
    pub password_alphanumeric: bool,
    /// Whether the Mac still checks in (every 15 minutes).
    pub checks_in: bool,
    pub username: String,
    pub upn: String,
    pub password: String,
}

/// A reproducible fleet: one Mac per user, with `noncompliant_share` of them having
/// FileVault off (the demo's policy requires it).
pub fn generate(users: &[(String, String)], seed: u64, noncompliant_share: f64) -> Vec<MacProfile> {
    let mut rng = StdRng::seed_from_u64(seed);
    users
        .iter()
        .enumerate()
        .map(|(i, (upn, password))| {
            let (os_version, os_build) = pick_release(&mut rng);
            let major: u32 = os_version.split('.').next().and_then(|m| m.parse().ok()).unwrap_or(15);
            // Only a model that runs this macOS.
            let models: Vec<_> = MODELS.iter().filter(|m| model_facts(m.0).1 >= major).collect();
            let (identifier, arch, cores, ram) = *models[rng.random_range(0..models.len())];
            let model = model_facts(identifier).0;
            let username = upn.split('@').next().unwrap_or("user").to_string();
            let mac: [u8; 5] = rng.random();
            MacProfile {
                udid: uuid::Uuid::from_u128(rng.random()).to_string().to_uppercase(),
                serial_number: format!("C02{:09}", rng.random_range(0..1_000_000_000u64)),
                device_name: format!("{username}'s Mac {}", i + 1),
                model,
                model_identifier: identifier.into(),
                processor_architecture: arch.into(),
                core_count: cores,
                total_ram_mb: ram,
                mac_address: format!("a4:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", mac[0], mac[1], mac[2], mac[3], mac[4]),
                os_version,
                os_build,
                filevault: rng.random::<f64>() >= noncompliant_share,
                external_volume: (rng.random::<f64>() < 0.1).then(|| rng.random::<f64>() < 0.5),
                sip: rng.random::<f64>() > 0.02,
                firewall: rng.random::<f64>() > 0.2,
                stealth_mode: rng.random::<f64>() > 0.7,
                gatekeeper: if rng.random::<f64>() > 0.05 {
                    GatekeeperStatus::AppStoreAndIdentifiedDevelopers
                } else {
                    GatekeeperStatus::Disabled
                },
                password_min_length: [6, 8, 8, 10, 12][rng.random_range(0..5)],
                password_alphanumeric: rng.random::<f64>() > 0.1,
                checks_in: true,
                username,
                upn: upn.clone(),
                password: password.clone(),
            }
        })
        .collect()
}

/// A Mac after enrolment (and, once registered, with its Entra identity).
#[derive(Debug, Clone)]
pub struct Mac {
    pub profile: MacProfile,
    pub instance_url: String,
    pub computer_id: i64,
    pub credential: String,
    pub device_id: Option<String>,
    pub user_object_id: Option<String>,
    pub tenant_id: Option<String>,
    /// PKCS#8 PEM of the device key (the Workplace Join key).
    pub device_key_pem: Option<String>,
}

impl Mac {
    /// A Mac not enrolled with any instance (yet): it can still register with Entra.
    pub fn unenrolled(profile: MacProfile) -> Mac {
        Mac {
            profile,
            instance_url: String::new(),
            computer_id: 0,
            credential: String::new(),
            device_id: None,
            user_object_id: None,
            tenant_id: None,
            device_key_pem: None,
        }
    }
}

/// Talks to an mdm instance and the cloud as a Mac would.
#[derive(Clone)]
pub struct Fleet {
    http: reqwest::Client,
    /// The cloud's authority root (`https://127.0.0.1:PORT`).
    authority: String,
}

async fn expect_ok(step: &'static str, resp: Result<reqwest::Response, reqwest::Error>) -> Result<reqwest::Response, FleetError> {
    let resp = resp.map_err(|source| FleetError::Transport { step, source })?;
    if resp.status().is_success() {
        return Ok(resp);
    }
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap_or_default();
    Err(FleetError::Http { step, status, body })
}

async fn json<T: serde::de::DeserializeOwned>(step: &'static str, resp: reqwest::Response) -> Result<T, FleetError> {
    resp.json().await.map_err(|source| FleetError::Transport { step, source })
}

impl Fleet {
    pub fn new(http: reqwest::Client, authority: &str) -> Self {
        Fleet { http, authority: authority.trim_end_matches('/').into() }
    }

    pub async fn enroll(&self, profile: MacProfile, instance_url: &str, invitation: &str) -> Result<Mac, FleetError> {
        let resp = self
            .http
            .post(format!("{instance_url}/api/agent/v1/enrollments"))
            .json(&Enroll {
                invitation: invitation.into(),
                udid: profile.udid.clone(),
                serial_number: profile.serial_number.clone(),
                device_name: profile.device_name.clone(),
                model: profile.model.clone(),
            })
            .send()
            .await;
        let enrolled: Enrolled = json("enroll", expect_ok("enroll", resp).await?).await?;
        Ok(Mac {
            profile,
            instance_url: instance_url.into(),
            computer_id: enrolled.computer_id,
            credential: enrolled.credential,
            device_id: None,
            user_object_id: None,
            tenant_id: None,
            device_key_pem: None,
        })
    }

    pub fn inventory(mac: &Mac, collected_at: chrono::DateTime<chrono::Utc>) -> InventoryReport {
        let p = &mac.profile;
        let state = |encrypted: bool| if encrypted { FileVaultState::Encrypted } else { FileVaultState::Unencrypted };
        // As `sw_vers` reports it: a Rapid Security Response's letter apart from the version.
        let (os_version, os_version_extra) = match p.os_version.split_once(' ') {
            Some((version, extra)) => (version.to_string(), Some(extra.to_string())),
            None => (p.os_version.clone(), None),
        };
        let mut volumes = vec![Volume { name: "Macintosh HD".into(), boot: true, filevault: state(p.filevault) }];
        if let Some(encrypted) = p.external_volume {
            volumes.push(Volume { name: "Projects".into(), boot: false, filevault: state(encrypted) });
        }
        InventoryReport {
            collected_at: platform::clock::rfc3339(collected_at),
            device_name: p.device_name.clone(),
            model: p.model.clone(),
            hardware: Hardware {
                model_identifier: Some(p.model_identifier.clone()),
                processor_architecture: Some(p.processor_architecture.clone()),
                processor_type: Some(if p.processor_architecture == "arm64" { "Apple M-series" } else { "Intel Core i7" }.into()),
                core_count: Some(p.core_count),
                total_ram_mb: Some(p.total_ram_mb),
                mac_address: Some(p.mac_address.clone()),
            },
            os_name: "macOS".into(),
            os_version,
            os_version_extra,
            os_build: p.os_build.clone(),
            security: Security {
                filevault_enabled: p.filevault,
                sip: if p.sip { SipStatus::Enabled } else { SipStatus::Disabled },
                gatekeeper: p.gatekeeper,
                firewall_enabled: p.firewall,
                firewall_block_all_incoming: false,
                firewall_stealth_mode: p.firewall && p.stealth_mode,
                prevent_auto_login: true,
            },
            volumes,
            password_policy: PasswordPolicy {
                min_length: Some(p.password_min_length),
                min_complex_characters: Some(if p.password_alphanumeric { 1 } else { 0 }),
                max_age_days: Some(90),
                require_alphanumeric: Some(p.password_alphanumeric),
                history_depth: Some(5),
            },
            local_users: vec![LocalUser { username: p.username.clone(), full_name: p.upn.clone() }],
        }
    }

    pub async fn report_inventory(&self, mac: &Mac, collected_at: chrono::DateTime<chrono::Utc>) -> Result<(), FleetError> {
        let resp = self
            .http
            .put(format!("{}/api/agent/v1/inventory", mac.instance_url))
            .bearer_auth(&mac.credential)
            .json(&Self::inventory(mac, collected_at))
            .send()
            .await;
        expect_ok("inventory", resp).await?;
        Ok(())
    }

    pub async fn check_in(&self, mac: &Mac) -> Result<(), FleetError> {
        let resp = self.http.post(format!("{}/api/agent/v1/checkins", mac.instance_url)).bearer_auth(&mac.credential).send().await;
        expect_ok("check-in", resp).await?;
        Ok(())
    }

    /// Workplace Join as the Company Portal performs it: the user signs in, the Mac sends a
    /// certificate request for its own key, the cloud returns the device ID and certificate.
    pub async fn workplace_join(&self, mac: &mut Mac) -> Result<(), FleetError> {
        let p = &mac.profile;
        let domain = p.upn.split('@').nth(1).unwrap_or("organizations");
        let resp = self
            .http
            .post(format!("{}/{domain}/oauth2/v2.0/token", self.authority))
            .form(&[
                ("grant_type", "password"),
                ("client_id", wire::ids::COMPANY_PORTAL_APP_ID),
                ("scope", "urn:ms-drs:enterpriseregistration.windows.net/.default"),
                ("username", p.upn.as_str()),
                ("password", p.password.as_str()),
            ])
            .send()
            .await;
        #[derive(serde::Deserialize)]
        struct Token {
            access_token: String,
        }
        let token: Token = json("sign-in", expect_ok("sign-in", resp).await?).await?;
        let key = rcgen::KeyPair::generate().map_err(|e| FleetError::Key(e.to_string()))?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| FleetError::Key(e.to_string()))?;
        params.distinguished_name.push(rcgen::DnType::CommonName, "7E980AD9-B86D-4306-9425-9AC066FB014A");
        let csr = params.serialize_request(&key).map_err(|e| FleetError::Key(e.to_string()))?;
        let body = serde_json::json!({
            "CertificateRequest": {"Type": "pkcs10", "Data": STANDARD.encode(csr.der())},
            "TransportKey": STANDARD.encode(rcgen::PublicKeyData::der_bytes(&key)),
            "TargetDomain": domain,
            "DeviceType": "MacOS",
            "OSVersion": p.os_version,
            "DeviceDisplayName": p.device_name,
            "JoinType": 4,
        });
        let resp = self
            .http
            .post(format!("{}/EnrollmentServer/device/?api-version=2.0", self.authority))
            .bearer_auth(&token.access_token)
            .json(&body)
            .send()
            .await;
        let joined: serde_json::Value = json("workplace join", expect_ok("workplace join", resp).await?).await?;
        mac.device_id = joined["DeviceId"].as_str().map(str::to_string);
        mac.user_object_id = claim(&token.access_token, "oid");
        mac.tenant_id = claim(&token.access_token, "tid");
        mac.device_key_pem = Some(key.serialize_pem());
        Ok(())
    }

    /// The registration agent posts the Entra device and user IDs to the instance.
    pub async fn submit_entra_ids(&self, mac: &Mac) -> Result<(), FleetError> {
        let resp = self
            .http
            .post(format!("{}/api/agent/v1/aad-registrations", mac.instance_url))
            .bearer_auth(&mac.credential)
            .json(&AadRegistration {
                username: mac.profile.username.clone(),
                aad_device_id: mac.device_id.clone().unwrap_or_default(),
                aad_user_id: mac.user_object_id.clone().unwrap_or_default(),
                upn: mac.profile.upn.clone(),
            })
            .send()
            .await;
        expect_ok("submit Entra IDs", resp).await?;
        Ok(())
    }

    /// The user follows the *Register* action of the instance's registration landing page:
    /// Self Service runs the registration policy (Workplace Join, then the Entra IDs are
    /// posted). Returns `false` when the page offers no such action.
    pub async fn register_from_landing_page(&self, mac: &mut Mac, page: &str) -> Result<bool, FleetError> {
        let Some(action) = between(page, "id=\"register\" class=\"button\" href=\"", "\"").map(|l| l.replace("&amp;", "&")) else {
            return Ok(false);
        };
        if !action.starts_with("jamfselfservice://") || !action.contains("register-with-entra-id") {
            return Ok(false);
        }
        self.workplace_join(mac).await?;
        self.submit_entra_ids(mac).await?;
        Ok(true)
    }

    /// The whole first day of a Mac: enrol, inventory, Workplace Join, Entra IDs.
    pub async fn onboard(
        &self,
        profile: MacProfile,
        instance_url: &str,
        invitation: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Mac, FleetError> {
        let mut mac = self.enroll(profile, instance_url, invitation).await?;
        self.report_inventory(&mac, now).await?;
        self.workplace_join(&mut mac).await?;
        self.submit_entra_ids(&mac).await?;
        Ok(mac)
    }
}

/// How a Mac drifts from the state it was enrolled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drift {
    /// The user turns FileVault off on the boot volume.
    FileVaultOff,
    /// The firewall is turned off.
    FirewallOff,
    /// The Mac stays on an old macOS (below a policy's minimum).
    OsBelowMinimum,
    /// The Mac is put away: no more check-ins or reports.
    StopsCheckingIn,
}

impl Drift {
    pub const ALL: [Drift; 4] = [Drift::FileVaultOff, Drift::FirewallOff, Drift::OsBelowMinimum, Drift::StopsCheckingIn];

    /// The inventory sections the change touches (what a partial report carries).
    pub fn sections(self) -> &'static [&'static str] {
        match self {
            Drift::FileVaultOff => &["security", "volumes"],
            Drift::FirewallOff => &["security"],
            Drift::OsBelowMinimum => &["os_version", "os_build"],
            Drift::StopsCheckingIn => &[],
        }
    }

    /// Applies the change to the Mac's profile.
    pub fn apply(self, mac: &mut Mac) {
        let p = &mut mac.profile;
        match self {
            Drift::FileVaultOff => p.filevault = false,
            Drift::FirewallOff => p.firewall = false,
            Drift::OsBelowMinimum => {
                p.os_version = "12.7.6".into();
                p.os_build = "21H1320".into();
            }
            Drift::StopsCheckingIn => p.checks_in = false,
        }
    }
}

impl Fleet {
    /// The agent's partial report: `collected_at` and only `sections` of the inventory.
    pub async fn report_changes(
        &self,
        mac: &Mac,
        sections: &[&str],
        collected_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), FleetError> {
        let full = serde_json::to_value(Self::inventory(mac, collected_at)).map_err(|e| FleetError::Key(e.to_string()))?;
        let mut patch = serde_json::Map::new();
        patch.insert("collected_at".into(), full["collected_at"].clone());
        for s in sections {
            patch.insert((*s).into(), full[*s].clone());
        }
        let resp =
            self.http.patch(format!("{}/api/agent/v1/inventory", mac.instance_url)).bearer_auth(&mac.credential).json(&patch).send().await;
        expect_ok("partial inventory", resp).await?;
        Ok(())
    }

    /// A Mac drifts and its agent reports what changed (nothing, when it went silent).
    pub async fn drift(&self, mac: &mut Mac, drift: Drift, collected_at: chrono::DateTime<chrono::Utc>) -> Result<(), FleetError> {
        drift.apply(mac);
        if !drift.sections().is_empty() {
            self.report_changes(mac, drift.sections(), collected_at).await?;
        }
        Ok(())
    }

    /// One 15-minute round: every Mac that still checks in does, `concurrency` at a time.
    /// Returns how many checked in.
    pub async fn check_in_round(&self, macs: &[Mac], concurrency: usize) -> Result<usize, FleetError> {
        let limit = std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        for mac in macs.iter().filter(|m| m.profile.checks_in) {
            let (fleet, mac, limit) = (self.clone(), mac.clone(), limit.clone());
            tasks.spawn(async move {
                let _permit = limit.acquire().await.expect("semaphore");
                fleet.check_in(&mac).await
            });
        }
        let mut n = 0;
        while let Some(joined) = tasks.join_next().await {
            joined.map_err(|e| FleetError::Key(e.to_string()))??;
            n += 1;
        }
        Ok(n)
    }
}

/// Picks `share` of the Macs (seeded) and a drift for each, cycling through every kind.
pub fn plan_drift(macs: usize, share: f64, seed: u64) -> Vec<(usize, Drift)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut picked: Vec<usize> = (0..macs).filter(|_| rng.random::<f64>() < share).collect();
    picked.sort_unstable();
    picked.into_iter().enumerate().map(|(n, i)| (i, Drift::ALL[n % Drift::ALL.len()])).collect()
}

pub use sign_in::SignIn;

fn between(text: &str, start: &str, end: &str) -> Option<String> {
    let from = text.find(start)? + start.len();
    let to = text[from..].find(end)? + from;
    Some(text[from..to].to_string())
}

/// A claim of a token the Mac was issued (read, not verified: it came from the authority).
fn claim(token: &str, name: &str) -> Option<String> {
    let payload = URL_SAFE_NO_PAD.decode(token.split('.').nth(1)?).ok()?;
    serde_json::from_slice::<serde_json::Value>(&payload).ok()?.get(name)?.as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_fleet() {
        let users: Vec<(String, String)> = (0..50).map(|i| (format!("u{i}@x.example"), "p".into())).collect();
        let a = generate(&users, 7, 0.3);
        let b = generate(&users, 7, 0.3);
        assert_eq!(a.iter().map(|m| &m.udid).collect::<Vec<_>>(), b.iter().map(|m| &m.udid).collect::<Vec<_>>());
        let off = a.iter().filter(|m| !m.filevault).count();
        assert!((5..=25).contains(&off), "{off} of 50 without FileVault");
        // Every Mac runs a real release, with its build, on a model that supports it.
        let many: Vec<(String, String)> = (0..3000).map(|i| (format!("u{i}@x.example"), "p".into())).collect();
        let fleet = generate(&many, 11, 0.0);
        for m in &fleet {
            let real = wire::apple::release_history()
                .iter()
                .any(|r| r.product_version == m.os_version && r.build.as_deref() == Some(m.os_build.as_str()));
            assert!(real, "{} {} is not in Apple's history", m.os_version, m.os_build);
            let major: u32 = m.os_version.split('.').next().unwrap().parse().unwrap();
            assert!(model_facts(&m.model_identifier).1 >= major, "{} cannot run {}", m.model_identifier, m.os_version);
        }
        let rsr = fleet.iter().filter(|m| m.os_version.contains('(')).count();
        assert!(rsr > 0, "Rapid Security Responses are in the fleet too");
        assert!(fleet.iter().any(|m| m.os_version.starts_with("26.")) && fleet.iter().any(|m| m.os_version.starts_with("12.")));
        let mac = Mac::unenrolled(fleet.iter().find(|m| m.os_version.contains('(')).unwrap().clone());
        let report = Fleet::inventory(&mac, chrono::Utc::now());
        assert!(report.os_version_extra.as_deref().is_some_and(|e| e.starts_with('(')), "sw_vers reports the RSR letter apart");
    }

    #[test]
    fn drift_is_planned_reproducibly_across_every_kind() {
        let plan = plan_drift(1000, 0.1, 5);
        assert_eq!(plan, plan_drift(1000, 0.1, 5));
        assert!((60..=140).contains(&plan.len()), "{}", plan.len());
        for kind in Drift::ALL {
            assert!(plan.iter().any(|(_, d)| *d == kind), "{kind:?}");
        }
    }
}
