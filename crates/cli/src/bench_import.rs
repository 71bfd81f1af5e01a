//! `cloudconnector bench import`: a Jamf Pro inventory imported into a connected instance
//! and evaluated end to end. The Macs' users registered them with Entra beforehand (not
//! timed); then pages of 1,000 records are posted to the instance's import API, and the
//! clock runs until the cloud has decided every Mac. Last, the imported fleet is
//! previewed under a draft policy (Intune's `CompliancePreview` through the connector).

use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;

use crate::admin_steps;
use crate::stack::{Stack, StackOptions};

#[derive(Debug, Serialize)]
pub struct ImportBench {
    pub computers: usize,
    pub pages: usize,
    /// Posting every page until the last answer (stored, normalised, queued).
    pub import_seconds: f64,
    pub records_per_second: f64,
    /// From the first page posted to the last Mac's verdict recorded on the instance.
    pub evaluated_seconds: f64,
    pub compliant: u64,
    /// Records the import refused.
    pub refused: u64,
    /// Registered Macs whose items the cloud refused.
    pub rejected: u64,
    /// The compliance preview of the whole fleet under "Sonoma or later" (minimum macOS
    /// 14.0), from the read API's request to its answer.
    pub preview_seconds: f64,
    /// Macs the preview found would be noncompliant.
    pub preview_noncompliant: u64,
}

pub async fn import(data_dir: &std::path::Path, computers: usize) -> anyhow::Result<ImportBench> {
    let users = computers.div_ceil(50).max(1);
    let mut opts = StackOptions::new(data_dir, users);
    opts.instances.truncate(1);
    let stack = Stack::start(opts).await?;
    let slug = stack.instances[0].slug.clone();
    admin_steps::connect_instance(&stack, &slug).await?;
    let macs = registered_macs(&stack, computers).await?;
    let at = platform::clock::rfc3339(stack.clock.now() - chrono::Duration::minutes(5));
    let records: Vec<serde_json::Value> =
        macs.iter().enumerate().map(|(n, m)| fleet::jamf::computer_record(m, n as u64 + 1, &at, &at)).collect();
    let admin = stack.instance(&slug).clone();
    let url = format!("{}/api/v1/computers-inventory/import", stack.instance_url(&slug));
    let started = Instant::now();
    let mut refused = 0;
    let pages: Vec<&[serde_json::Value]> = records.chunks(1000).collect();
    for chunk in &pages {
        let body = fleet::jamf::page(chunk.to_vec(), computers);
        let resp = stack.http.post(&url).basic_auth(&admin.admin_username, Some(&admin.admin_password)).json(&body).send().await?;
        let summary: serde_json::Value = resp.error_for_status()?.json().await?;
        refused += summary["refused"].as_array().map(Vec::len).unwrap_or(0) as u64;
    }
    let import_seconds = started.elapsed().as_secs_f64();
    let summary = loop {
        let s = crate::demo::instance_summary(&stack, &slug).await?;
        if s["delivered"].as_u64().unwrap_or(0) + s["rejected"].as_u64().unwrap_or(0) >= computers as u64 - refused {
            break s;
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(600), "not every imported Mac was evaluated within 10 minutes: {s}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let evaluated_seconds = started.elapsed().as_secs_f64();
    let compliant = crate::graph_reader::GraphReader::new(&stack).await?.compliance().await?.values().filter(|v| **v == Some(true)).count();
    let previewing = Instant::now();
    let draft = serde_json::json!({"policies": [{"displayName": "Sonoma or later", "osMinimumVersion": "14.0"}]});
    let url = format!("{}/api/v1/compliance-preview", stack.instance_url(&slug));
    let resp = stack.http.post(&url).basic_auth(&admin.admin_username, Some(&admin.admin_password)).json(&draft).send().await?;
    let preview: serde_json::Value = resp.error_for_status()?.json().await?;
    let preview_seconds = previewing.elapsed().as_secs_f64();
    stack.shutdown().await;
    Ok(ImportBench {
        computers,
        pages: pages.len(),
        import_seconds,
        records_per_second: computers as f64 / import_seconds,
        evaluated_seconds,
        compliant: compliant as u64,
        refused,
        rejected: summary["rejected"].as_u64().unwrap_or(0),
        preview_seconds,
        preview_noncompliant: preview["noncompliant"].as_u64().unwrap_or(0),
    })
}

/// `computers` Macs whose users registered them with Entra (Workplace Join), fifty per
/// user, sixteen at a time.
async fn registered_macs(stack: &Stack, computers: usize) -> anyhow::Result<Vec<fleet::Mac>> {
    let users: Vec<(String, String)> =
        stack.tenant.users.iter().map(|u| (u.upn.clone(), u.password.clone())).cycle().take(computers).collect();
    let fleet = fleet::Fleet::new(stack.http.clone(), &stack.cloud.url());
    let mut tasks = tokio::task::JoinSet::new();
    let mut macs = Vec::with_capacity(computers);
    for profile in fleet::generate(&users, 114, 0.25) {
        let fleet = fleet.clone();
        tasks.spawn(async move {
            let mut mac = fleet::Mac::unenrolled(profile);
            fleet.workplace_join(&mut mac).await.map(|_| mac)
        });
        while tasks.len() >= 16 {
            macs.push(tasks.join_next().await.context("a registration task")??.context("Workplace Join")?);
        }
    }
    while let Some(joined) = tasks.join_next().await {
        macs.push(joined?.context("Workplace Join")?);
    }
    Ok(macs)
}
