//! `cloudconnector demo`: the whole story on one machine. Starts every role on loopback,
//! connects two instances to one tenant through the consoles and consent pages (S3),
//! registers a fleet of Macs, waits until every upload is processed, and reports.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::admin_steps;
use crate::graph_reader::GraphReader;
use crate::stack::{Stack, StackOptions};

pub struct DemoOptions {
    pub data_dir: PathBuf,
    pub devices: usize,
    pub exit: bool,
    pub json: bool,
    /// Share of Macs with FileVault off (they fail the demo's policy).
    pub noncompliant_share: f64,
    /// Share of Macs that drift after registration (one kind each, in turn).
    pub drift_share: f64,
}

#[derive(Debug, Serialize)]
pub struct InstanceSummary {
    pub id: String,
    pub name: String,
    pub connection_type: String,
    pub status: String,
    pub devices: usize,
    pub registered: usize,
    pub delivered: i64,
    pub compliant: usize,
    pub noncompliant: usize,
    /// Intune's `complianceState` `error`: a value the cloud could not evaluate.
    pub in_error: usize,
}

/// The macOS releases the fleet runs, from Apple's release history.
#[derive(Debug, Serialize)]
pub struct FleetReleases {
    /// Distinct version and build pairs.
    pub releases: usize,
    /// Macs on a Rapid Security Response.
    pub on_rsr: usize,
}

#[derive(Debug, Serialize)]
pub struct TenantSummary {
    pub id: wire::TenantId,
    pub partner_state: String,
}

#[derive(Debug, Serialize)]
pub struct Phase {
    pub name: String,
    pub seconds: f64,
}

#[derive(Debug, Serialize)]
pub struct Consoles {
    pub mdm: String,
    pub intune: String,
    pub entra: String,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub instances: Vec<InstanceSummary>,
    pub tenant: TenantSummary,
    /// Macs that checked in during the 15-minute round.
    pub check_ins: usize,
    pub fleet: FleetReleases,
    pub drift: DriftSummary,
    pub sign_ins: SignIns,
    /// A policy previewed, assigned report only, then warned; a user recovering through Recheck.
    pub rollout: crate::demo_rollout::Rollout,
    pub consoles: Consoles,
    pub phases: Vec<Phase>,
}

fn progress(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if std::io::stderr().is_terminal() {
        bar.set_style(ProgressStyle::with_template("{msg:24} [{bar:40}] {pos}/{len} {elapsed}").expect("template").progress_chars("=> "));
    } else {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_message(what.to_string());
    bar
}

struct Timer {
    phases: Vec<Phase>,
    started: Instant,
}

impl Timer {
    fn lap(&mut self, name: &str) {
        self.phases.push(Phase { name: name.into(), seconds: (self.started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0 });
        self.started = Instant::now();
    }
}

pub async fn run(opts: DemoOptions) -> anyhow::Result<Summary> {
    // A demo always tells its story from the beginning: earlier databases are removed,
    // the local CA is kept so browsers that trusted it still do.
    crate::stack::remove_databases(&opts.data_dir);
    let mut timer = Timer { phases: vec![], started: Instant::now() };
    // One more user than Macs: the Mac that never registers, for the sign-in outcomes.
    let stack = Stack::start(StackOptions::new(&opts.data_dir, opts.devices + 1)).await?;
    let endpoints = stack.write_endpoints(&opts.data_dir)?;
    timer.lap("start services");
    tracing::info!(path = %endpoints.display(), "endpoints written");
    let summary = story(&stack, &opts, &mut timer).await?;
    if !opts.json {
        print_table(&summary, &stack);
    }
    if !opts.exit {
        eprintln!(
            "Serving until Ctrl-C. Consoles: mdm {} · Intune {}{} · Entra {}/console/entra/enterprise-applications",
            stack.mdm.url(),
            stack.cloud.url(),
            cloud::http::PARTNER_PAGE,
            stack.cloud.url()
        );
        eprintln!("Endpoints and credentials: {}", endpoints.display());
        tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    }
    stack.shutdown().await;
    Ok(summary)
}

async fn connected(stack: &Stack, slug: &str) -> anyhow::Result<()> {
    let page = admin_steps::connect_instance(stack, slug).await?;
    if page.element_text("status").as_deref() != Some("Active") {
        bail!("connecting {slug} did not succeed:\n{}", page.body);
    }
    Ok(())
}

/// The administrator's guide, in order: a manual integration (S7), its replacement by the
/// Cloud Connector inside the 24-hour window (S2, S3), a second instance (S3 step 11), the
/// fleet (S4), sign-ins, and one instance disconnected (S5).
async fn story(stack: &Stack, opts: &DemoOptions, timer: &mut Timer) -> anyhow::Result<Summary> {
    let (first, second) = (stack.instances[0].slug.clone(), stack.instances[1].slug.clone());
    let users: Vec<(String, String)> = stack.tenant.users.iter().map(|u| (u.upn.clone(), u.password.clone())).collect();
    let mut profiles = fleet::generate(&users, 2026, opts.noncompliant_share);
    let stray = profiles.pop().context("no user left for the unregistered Mac")?;
    let early = (profiles.len() / 10).clamp(1, 50).min(profiles.len());
    let later = profiles.split_off(early);

    let manual_app = admin_steps::manual_integration(stack, &first).await?;
    let mut macs = onboard(stack, profiles.into_iter().map(|p| (first.clone(), p)).collect(), "register early Macs").await?;
    wait_delivered(stack, macs.len(), "deliver (manual)").await?;
    timer.lap("manual integration (S7)");

    admin_steps::remove_manual_integration(stack, &first, &manual_app).await?;
    connected(stack, &first).await?;
    // The early Macs carry on without registering again: their state is sent anew.
    wait_delivered(stack, macs.len(), "reconcile").await?;
    timer.lap("migrate to the Cloud Connector (S2, S3)");

    connected(stack, &second).await?;
    timer.lap("connect a second instance (S3)");

    let slugs = [first.clone(), second.clone()];
    let assigned = later.into_iter().enumerate().map(|(n, p)| (slugs[n % 2].clone(), p)).collect();
    macs.extend(onboard(stack, assigned, "register Macs").await?);
    timer.lap("register Macs");
    wait_delivered(stack, macs.len(), "deliver and evaluate").await?;
    timer.lap("deliver and evaluate");

    let fleet = fleet::Fleet::new(stack.http.clone(), &stack.cloud.url());
    let everyone: Vec<fleet::Mac> = macs.iter().map(|(_, m)| m.clone()).collect();
    let check_ins = fleet.check_in_round(&everyone, 32).await?;
    timer.lap("check-ins (one 15-minute round)");

    let drift = drift(stack, &fleet, &mut macs, opts.drift_share).await?;
    wait_delivered(stack, macs.len(), "re-evaluate after drift").await?;
    timer.lap("drift and re-evaluation");

    let sign_ins = sign_in_outcomes(stack, &macs, stray, &first).await?;
    timer.lap("sign-ins (S4)");

    let rollout = crate::demo_rollout::run(stack, &mut macs, &first).await?;
    timer.lap("policy rollout: preview, warn, Recheck");

    // What Entra and Intune held for the fleet, read before the second instance leaves:
    // its Macs' state is withdrawn once it has disconnected.
    let graph = GraphReader::new(stack).await?;
    let evaluated = (graph.compliance().await?, graph.compliance_states().await?);
    admin_steps::disconnect(stack, &second).await?;
    timer.lap("disconnect the second instance (S5)");
    let mut summary = report(stack, &macs, evaluated, sign_ins, check_ins, drift, timer).await?;
    summary.rollout = rollout;
    Ok(summary)
}

/// Each device's `isCompliant` in Entra and its compliance state in Intune, by device ID.
type Evaluated = (std::collections::HashMap<String, Option<bool>>, std::collections::HashMap<String, String>);

/// Drifted Macs, per kind of drift.
#[derive(Debug, Default, Serialize)]
pub struct DriftSummary {
    pub filevault_off: usize,
    pub firewall_off: usize,
    pub os_below_minimum: usize,
    pub stopped_checking_in: usize,
}

/// A seeded share of the fleet drifts; each agent reports only what changed.
async fn drift(stack: &Stack, fleet: &fleet::Fleet, macs: &mut [(String, fleet::Mac)], share: f64) -> anyhow::Result<DriftSummary> {
    let plan = fleet::plan_drift(macs.len(), share, 7);
    let bar = progress(plan.len() as u64, "drift");
    let mut summary = DriftSummary::default();
    let limit = Arc::new(Semaphore::new(32));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, kind) in plan {
        match kind {
            fleet::Drift::FileVaultOff => summary.filevault_off += 1,
            fleet::Drift::FirewallOff => summary.firewall_off += 1,
            fleet::Drift::OsBelowMinimum => summary.os_below_minimum += 1,
            fleet::Drift::StopsCheckingIn => summary.stopped_checking_in += 1,
        }
        kind.apply(&mut macs[i].1);
        let (fleet, mac, limit, bar) = (fleet.clone(), macs[i].1.clone(), limit.clone(), bar.clone());
        // A minute later than the inventory it replaces.
        let at = stack.clock.now() + chrono::Duration::seconds(60);
        tasks.spawn(async move {
            let _permit = limit.acquire().await.expect("semaphore");
            if !kind.sections().is_empty() {
                fleet.report_changes(&mac, kind.sections(), at).await?;
            }
            bar.inc(1);
            anyhow::Ok(())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined??;
    }
    bar.finish_and_clear();
    Ok(summary)
}

async fn onboard(stack: &Stack, assigned: Vec<(String, fleet::MacProfile)>, label: &str) -> anyhow::Result<Vec<(String, fleet::Mac)>> {
    let fleet = fleet::Fleet::new(stack.http.clone(), &stack.cloud.url());
    let bar = progress(assigned.len() as u64, label);
    let limit = Arc::new(Semaphore::new(32));
    let mut tasks = tokio::task::JoinSet::new();
    for (slug, profile) in assigned {
        let instance = stack.instance(&slug);
        let (url, invitation) = (stack.instance_url(&slug), instance.invitation.clone());
        let (fleet, limit, bar, now) = (fleet.clone(), limit.clone(), bar.clone(), stack.clock.now());
        tasks.spawn(async move {
            let _permit = limit.acquire().await.expect("semaphore");
            let mac = fleet.onboard(profile, &url, &invitation, now).await;
            bar.inc(1);
            mac.map(|m| (slug, m))
        });
    }
    let mut macs = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        macs.push(joined??);
    }
    bar.finish_and_clear();
    Ok(macs)
}

/// Waits until the instances report `expected` computers with a concluded delivery.
async fn wait_delivered(stack: &Stack, expected: usize, label: &str) -> anyhow::Result<()> {
    let bar = progress(expected as u64, label);
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let mut settled = 0;
        for i in &stack.instances {
            let s = instance_summary(stack, &i.slug).await?;
            settled += s["delivered"].as_i64().unwrap_or(0) + s["rejected"].as_i64().unwrap_or(0);
        }
        bar.set_position(settled as u64);
        if settled as usize >= expected {
            bar.finish_and_clear();
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("only {settled} of {expected} devices were delivered within 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[derive(Debug, Default, Serialize)]
pub struct SignIns {
    pub granted: usize,
    /// AADSTS53000, sent to the instance's remediation page.
    pub device_not_compliant: usize,
    /// AADSTS530003, sent to the instance's landing page.
    pub device_not_recognized: usize,
}

/// Users sign in to the protected app from a sample of the fleet, and from a Mac that
/// was enrolled but never registered.
async fn sign_in_outcomes(stack: &Stack, macs: &[(String, fleet::Mac)], stray: fleet::MacProfile, slug: &str) -> anyhow::Result<SignIns> {
    let fleet = fleet::Fleet::new(stack.http.clone(), &stack.cloud.url());
    let tenant = &stack.tenant;
    let mut outcomes = SignIns::default();
    let mut count = |result: fleet::SignIn| match result {
        fleet::SignIn::Granted { .. } | fleet::SignIn::Warned { .. } => outcomes.granted += 1,
        fleet::SignIn::Refused { aadsts, .. } if aadsts == "AADSTS53000" => outcomes.device_not_compliant += 1,
        fleet::SignIn::Refused { .. } => outcomes.device_not_recognized += 1,
    };
    for (_, mac) in macs.iter().take(20) {
        count(fleet.sign_in(mac, &tenant.portal_app_id, &tenant.portal_redirect_uri, true, stack.clock.now()).await?);
    }
    let unregistered = fleet.enroll(stray, &stack.instance_url(slug), &stack.instance(slug).invitation).await?;
    count(fleet.sign_in(&unregistered, &tenant.portal_app_id, &tenant.portal_redirect_uri, false, stack.clock.now()).await?);
    Ok(outcomes)
}

async fn report(
    stack: &Stack,
    macs: &[(String, fleet::Mac)],
    (compliance, states): Evaluated,
    sign_ins: SignIns,
    check_ins: usize,
    drift: DriftSummary,
    timer: &mut Timer,
) -> anyhow::Result<Summary> {
    let graph = GraphReader::new(stack).await?;
    let partner_state = graph.partner_state().await?;
    let mut instances = Vec::new();
    for i in &stack.instances {
        let s = instance_summary(stack, &i.slug).await?;
        let ca = instance_ca(stack, &i.slug).await?;
        let verdicts: Vec<Option<bool>> = macs
            .iter()
            .filter(|(slug, _)| *slug == i.slug)
            .map(|(_, m)| compliance.get(m.device_id.as_deref().unwrap_or_default()).copied().flatten())
            .collect();
        instances.push(InstanceSummary {
            id: i.id.clone(),
            name: i.name.clone(),
            connection_type: ca["settings"]["connection_type"].as_str().unwrap_or_default().to_string(),
            status: ca["status"].as_str().unwrap_or_default().to_string(),
            devices: s["computers"].as_i64().unwrap_or(0) as usize,
            registered: verdicts.len(),
            delivered: s["delivered"].as_i64().unwrap_or(0),
            compliant: verdicts.iter().filter(|v| **v == Some(true)).count(),
            noncompliant: verdicts.iter().filter(|v| **v == Some(false)).count(),
            in_error: macs
                .iter()
                .filter(|(slug, m)| *slug == i.slug && states.get(m.device_id.as_deref().unwrap_or_default()).is_some_and(|s| s == "error"))
                .count(),
        });
    }
    timer.lap("report");
    Ok(Summary {
        instances,
        tenant: TenantSummary { id: stack.tenant.tenant_id.clone(), partner_state },
        check_ins,
        fleet: FleetReleases {
            releases: macs
                .iter()
                .map(|(_, m)| (&m.profile.os_version, &m.profile.os_build))
                .collect::<std::collections::HashSet<_>>()
                .len(),
            on_rsr: macs.iter().filter(|(_, m)| m.profile.os_version.contains('(')).count(),
        },
        drift,
        sign_ins,
        rollout: Default::default(),
        consoles: Consoles {
            mdm: stack.mdm.url(),
            intune: format!("{}{}", stack.cloud.url(), cloud::http::PARTNER_PAGE),
            entra: format!("{}/console/entra/enterprise-applications", stack.cloud.url()),
        },
        phases: std::mem::take(&mut timer.phases),
    })
}

async fn read_api(stack: &Stack, slug: &str, path: &str) -> anyhow::Result<serde_json::Value> {
    let i = stack.instance(slug);
    let resp = stack
        .http
        .get(format!("{}/api/v1/{path}", stack.instance_url(slug)))
        .basic_auth(&i.admin_username, Some(&i.admin_password))
        .send()
        .await?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await?;
    if !status.is_success() {
        bail!("{path} of {slug}: {status} {body}");
    }
    Ok(body)
}

pub async fn instance_summary(stack: &Stack, slug: &str) -> anyhow::Result<serde_json::Value> {
    read_api(stack, slug, "conditional-access/summary").await
}

pub async fn instance_ca(stack: &Stack, slug: &str) -> anyhow::Result<serde_json::Value> {
    read_api(stack, slug, "conditional-access").await
}

fn print_table(s: &Summary, stack: &Stack) {
    println!();
    println!(
        "{:<14} {:<16} {:<8} {:>8} {:>11} {:>10} {:>10} {:>13} {:>6}",
        "instance", "connection", "status", "devices", "registered", "delivered", "compliant", "noncompliant", "error"
    );
    for i in &s.instances {
        println!(
            "{:<14} {:<16} {:<8} {:>8} {:>11} {:>10} {:>10} {:>13} {:>6}",
            i.name, i.connection_type, i.status, i.devices, i.registered, i.delivered, i.compliant, i.noncompliant, i.in_error
        );
    }
    println!();
    println!(
        "tenant {} ({}): partner state {} (Intune shows {})",
        s.tenant.id,
        stack.tenant.domain,
        s.tenant.partner_state,
        s.tenant.partner_state.parse().map_or("Unknown", cloud::intune::partner::display)
    );
    println!(
        "sign-ins to Contoso Portal: {} granted, {} refused as noncompliant (AADSTS53000), {} refused as not recognised (AADSTS530003)",
        s.sign_ins.granted, s.sign_ins.device_not_compliant, s.sign_ins.device_not_recognized
    );
    println!("fleet: {} macOS releases from Apple's history ({} Macs on a Rapid Security Response)", s.fleet.releases, s.fleet.on_rsr);
    println!(
        "fleet: {} check-ins in one 15-minute round; drift: {} FileVault off, {} firewall off, {} below the OS minimum, {} stopped checking in",
        s.check_ins, s.drift.filevault_off, s.drift.firewall_off, s.drift.os_below_minimum, s.drift.stopped_checking_in
    );
    let r = &s.rollout;
    println!(
        "rollout of \"Sonoma or later\": the preview found it would make {} of {} Macs of the first instance noncompliant; assigned report only, then warned",
        r.previewed_noncompliant, r.previewed
    );
    match (&r.warning, r.recheck_seconds) {
        (Some(w), Some(secs)) => println!(
            "  a warned user saw \"{w}\", updated macOS and pressed Recheck: new verdict in {secs:.2} s, then sign-in {}",
            r.after_recheck.as_deref().unwrap_or("not tried")
        ),
        _ => println!("  no Mac of the first instance was below macOS 14 with FileVault on: nobody to warn"),
    }
    println!("consoles: mdm {} · Intune {} · Entra {}", s.consoles.mdm, s.consoles.intune, s.consoles.entra);
    println!();
    for p in &s.phases {
        println!("  {:<42} {:>8.2} s", p.name, p.seconds);
    }
    println!();
}
