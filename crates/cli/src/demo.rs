//! `cloudconnector demo`: the whole story on one machine. Starts every role on loopback,
//! connects two instances to one tenant through the consoles and consent pages (S3),
//! registers a fleet of Macs, waits until every upload is processed, and reports.

use std::collections::HashMap;
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
}

#[derive(Debug, Serialize)]
pub struct TenantSummary {
    pub id: String,
    pub partner_state: String,
}

#[derive(Debug, Serialize)]
pub struct Phase {
    pub name: String,
    pub seconds: f64,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub instances: Vec<InstanceSummary>,
    pub tenant: TenantSummary,
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
    let stack = Stack::start(StackOptions::new(&opts.data_dir, opts.devices)).await?;
    let endpoints = stack.write_endpoints(&opts.data_dir)?;
    timer.lap("start services");
    tracing::info!(path = %endpoints.display(), "endpoints written");

    for instance in &stack.instances {
        let page = admin_steps::connect_instance(&stack, &instance.slug).await?;
        if page.element_text("status").as_deref() != Some("Active") {
            bail!("connecting {} did not succeed:\n{}", instance.name, page.body);
        }
    }
    timer.lap("connect instances (S3)");

    let summary = register_fleet(&stack, &opts, &mut timer).await?;
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

async fn register_fleet(stack: &Stack, opts: &DemoOptions, timer: &mut Timer) -> anyhow::Result<Summary> {
    let users: Vec<(String, String)> = stack.tenant.users.iter().map(|u| (u.upn.clone(), u.password.clone())).collect();
    let profiles = fleet::generate(&users, 2026, opts.noncompliant_share);
    let fleet = fleet::Fleet::new(stack.http.clone(), &stack.cloud.url());
    let bar = progress(profiles.len() as u64, "register Macs");
    let limit = Arc::new(Semaphore::new(32));
    let mut tasks = tokio::task::JoinSet::new();
    for (n, profile) in profiles.into_iter().enumerate() {
        let instance = &stack.instances[n % stack.instances.len()];
        let (url, invitation, slug) = (stack.instance_url(&instance.slug), instance.invitation.clone(), instance.slug.clone());
        let (fleet, limit, bar, now) = (fleet.clone(), limit.clone(), bar.clone(), stack.clock.now());
        tasks.spawn(async move {
            let _permit = limit.acquire().await.expect("semaphore");
            let mac = fleet.onboard(profile, &url, &invitation, now).await;
            bar.inc(1);
            mac.map(|m| (slug, m))
        });
    }
    let mut macs: HashMap<String, Vec<fleet::Mac>> = HashMap::new();
    while let Some(joined) = tasks.join_next().await {
        let (slug, mac) = joined??;
        macs.entry(slug).or_default().push(mac);
    }
    bar.finish_and_clear();
    timer.lap("register Macs");

    let registered: usize = macs.values().map(Vec::len).sum();
    let bar = progress(registered as u64, "deliver and evaluate");
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let mut settled = 0;
        for i in &stack.instances {
            let s = instance_summary(stack, &i.slug).await?;
            settled += s["delivered"].as_i64().unwrap_or(0) + s["rejected"].as_i64().unwrap_or(0);
        }
        bar.set_position(settled as u64);
        if settled as usize >= registered {
            break;
        }
        if Instant::now() > deadline {
            bail!("only {settled} of {registered} devices were delivered within 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bar.finish_and_clear();
    timer.lap("deliver and evaluate");

    let graph = GraphReader::new(stack).await?;
    let compliance = graph.compliance().await?;
    let partner_state = graph.partner_state().await?;
    let mut instances = Vec::new();
    for i in &stack.instances {
        let s = instance_summary(stack, &i.slug).await?;
        let ca = instance_ca(stack, &i.slug).await?;
        let own = macs.get(&i.slug).map(Vec::as_slice).unwrap_or_default();
        let verdicts: Vec<Option<bool>> =
            own.iter().map(|m| compliance.get(m.device_id.as_deref().unwrap_or_default()).copied().flatten()).collect();
        instances.push(InstanceSummary {
            id: i.id.clone(),
            name: i.name.clone(),
            connection_type: ca["settings"]["connection_type"].as_str().unwrap_or_default().to_string(),
            status: ca["status"].as_str().unwrap_or_default().to_string(),
            devices: s["computers"].as_i64().unwrap_or(0) as usize,
            registered: own.len(),
            delivered: s["delivered"].as_i64().unwrap_or(0),
            compliant: verdicts.iter().filter(|v| **v == Some(true)).count(),
            noncompliant: verdicts.iter().filter(|v| **v == Some(false)).count(),
        });
    }
    timer.lap("report");
    Ok(Summary {
        instances,
        tenant: TenantSummary { id: stack.tenant.tenant_id.clone(), partner_state },
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
        "{:<14} {:<16} {:<8} {:>8} {:>11} {:>10} {:>10} {:>13}",
        "instance", "connection", "status", "devices", "registered", "delivered", "compliant", "noncompliant"
    );
    for i in &s.instances {
        println!(
            "{:<14} {:<16} {:<8} {:>8} {:>11} {:>10} {:>10} {:>13}",
            i.name, i.connection_type, i.status, i.devices, i.registered, i.delivered, i.compliant, i.noncompliant
        );
    }
    println!();
    println!(
        "tenant {} ({}): partner state {} (Intune shows {})",
        s.tenant.id,
        stack.tenant.domain,
        s.tenant.partner_state,
        cloud::intune::partner::display(&s.tenant.partner_state)
    );
    println!();
    for p in &s.phases {
        println!("  {:<28} {:>8.2} s", p.name, p.seconds);
    }
    println!();
}
