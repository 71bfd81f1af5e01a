//! `bench sign-in`: interactive sign-ins decided by Conditional Access, as the fleet
//! performs them. `macs` Macs are enrolled, evaluated (a share without FileVault, so
//! noncompliant) and registered with Entra; then `concurrency` flows sign in to the
//! tenant's Conditional Access-protected app for `seconds`, every fourth without presenting
//! its device (an unknown device). Each flow is the real one: the authorize page, then the
//! credentials with the device's proof. It reports decisions per second and the server's
//! time for each decision from its `Server-Timing` header.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;

use crate::stack::{Stack, StackOptions};

#[derive(Debug, Serialize)]
pub struct SignInBench {
    pub macs: usize,
    pub concurrency: usize,
    pub seconds: f64,
    pub decisions: usize,
    pub decisions_per_second: f64,
    pub granted: usize,
    pub refused_noncompliant: usize,
    pub refused_unknown_device: usize,
    /// The server's time for the decision (`Server-Timing: decision`), milliseconds.
    pub decision_ms_p50: f64,
    pub decision_ms_p99: f64,
    pub decision_ms_max: f64,
    /// The whole sign-in step (credentials and decision) as the client saw it.
    pub client_ms_p50: f64,
    pub client_ms_p99: f64,
}

/// One flow's measurements: (AADSTS code or "granted", decision ms, client ms).
type Sample = (String, f64, f64);

/// Runs the benchmark (see the module) on a stack in `data_dir` and reports it.
pub async fn sign_in(data_dir: &Path, macs: usize, seconds: u64, concurrency: usize) -> anyhow::Result<SignInBench> {
    let (stack, slug, fleet, enrolled) = Stack::with_enrolled_macs(StackOptions::new(data_dir, macs), 17, 0.3).await?;
    wait_delivered(&stack, &slug, macs).await?;
    let enrolled = Arc::new(enrolled);
    let (app, redirect) = (stack.tenant.portal_app_id.clone(), stack.tenant.portal_redirect_uri.clone());
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut flows = Vec::new();
    for worker in 0..concurrency.max(1) {
        let (fleet, enrolled, app, redirect, clock) = (fleet.clone(), enrolled.clone(), app.clone(), redirect.clone(), stack.clock.clone());
        flows.push(tokio::spawn(async move {
            let mut samples: Vec<Sample> = Vec::new();
            let mut n = worker;
            while Instant::now() < deadline {
                let mac = &enrolled[n % enrolled.len()];
                let present = n % 4 != 3;
                let asked = Instant::now();
                let (outcome, decision) = fleet.sign_in_timed(mac, &app, &redirect, present, clock.now()).await?;
                let client_ms = asked.elapsed().as_secs_f64() * 1000.0;
                let label = match outcome {
                    fleet::SignIn::Granted { .. } => "granted".to_string(),
                    fleet::SignIn::Warned { .. } => "warned".to_string(),
                    fleet::SignIn::Refused { aadsts, .. } => aadsts,
                };
                samples.push((label, decision.context("no Server-Timing decision")?, client_ms));
                n += concurrency.max(1);
            }
            anyhow::Ok(samples)
        }));
    }
    let mut samples = Vec::new();
    for f in flows {
        samples.extend(f.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    stack.shutdown_and(true).await;
    Ok(summary(macs, concurrency, elapsed, &samples))
}

/// Waits until the instance's every Mac has had its update delivered and evaluated.
async fn wait_delivered(stack: &Stack, slug: &str, macs: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let instance = stack.mdm.state.store.instance_by_slug(slug).await?.context("instance")?;
        let (_, _, delivered, _) = stack.mdm.state.store.delivery_summary(&instance.id).await?;
        if delivered as usize >= macs {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "the Macs' updates were not delivered in time ({delivered} of {macs})");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn summary(macs: usize, concurrency: usize, seconds: f64, samples: &[Sample]) -> SignInBench {
    let mut decision: Vec<f64> = samples.iter().map(|s| s.1).collect();
    let mut client: Vec<f64> = samples.iter().map(|s| s.2).collect();
    decision.sort_by(f64::total_cmp);
    client.sort_by(f64::total_cmp);
    let count = |label: &str| samples.iter().filter(|s| s.0 == label).count();
    SignInBench {
        macs,
        concurrency,
        seconds,
        decisions: samples.len(),
        decisions_per_second: samples.len() as f64 / seconds,
        granted: count("granted"),
        refused_noncompliant: count("AADSTS53000"),
        refused_unknown_device: count("AADSTS530003"),
        decision_ms_p50: percentile(&decision, 0.5),
        decision_ms_p99: percentile(&decision, 0.99),
        decision_ms_max: decision.last().copied().unwrap_or_default(),
        client_ms_p50: percentile(&client, 0.5),
        client_ms_p99: percentile(&client, 0.99),
    }
}
