//! `cloudconnector bench …`: reproducible measurements on this machine, traffic on
//! loopback only, bounded in time.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use serde::Serialize;

use crate::stack::{Stack, StackOptions};

#[derive(Debug, Serialize)]
pub struct TokenBench {
    pub credential: String,
    pub concurrency: usize,
    pub seconds: f64,
    pub tokens: u64,
    pub tokens_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Client-credentials tokens per second from the cloud's v2 token endpoint, with a
/// client secret or a certificate assertion, `concurrency` requests in flight.
pub async fn tokens(data_dir: &Path, seconds: u64, concurrency: usize, certificate: bool) -> anyhow::Result<TokenBench> {
    let mut opts = StackOptions::new(data_dir, 0);
    opts.instances.clear();
    let stack = Stack::start(opts).await?;
    let url = format!("{}/{}/oauth2/v2.0/token", stack.cloud.url(), stack.tenant.tenant_id);
    let tenant = stack.tenant.clone();
    let count = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (http, url, tenant, count) = (stack.http.clone(), url.clone(), tenant.clone(), count.clone());
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let mut form = vec![
                    ("grant_type", "client_credentials".to_string()),
                    ("client_id", tenant.test_client_id.clone()),
                    ("scope", "https://graph.microsoft.com/.default".to_string()),
                ];
                if certificate {
                    form.push(("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into()));
                    form.push(("client_assertion", assertion(&tenant, &url)?));
                } else {
                    form.push(("client_secret", tenant.test_client_secret.clone()));
                }
                let t0 = Instant::now();
                let resp = http.post(&url).form(&form).send().await?;
                if !resp.status().is_success() {
                    bail!("token endpoint answered {}: {}", resp.status(), resp.text().await.unwrap_or_default());
                }
                resp.bytes().await?;
                latencies.push(t0.elapsed().as_secs_f64() * 1000.0);
                count.fetch_add(1, Ordering::Relaxed);
            }
            Ok(latencies)
        });
    }
    let mut latencies = Vec::new();
    while let Some(r) = tasks.join_next().await {
        latencies.extend(r??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    stack.shutdown().await;
    latencies.sort_by(|a, b| a.total_cmp(b));
    let pct =
        |p: f64| latencies.get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1))).copied().unwrap_or(0.0);
    let tokens = count.load(Ordering::Relaxed);
    Ok(TokenBench {
        credential: if certificate { "certificate (PS256 assertion)" } else { "client secret" }.into(),
        concurrency,
        seconds: elapsed,
        tokens,
        tokens_per_second: tokens as f64 / elapsed,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
    })
}

fn assertion(tenant: &cloud::seed::CustomerTenant, audience: &str) -> anyhow::Result<String> {
    use base64::Engine;
    let body: String = tenant.test_client_certificate_pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(body)?;
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::PS256);
    header.x5t_s256 = Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(cloud::entra::assertions::thumbprints(&der).1));
    let now = chrono::Utc::now().timestamp();
    let claims = serde_json::json!({"aud": audience, "iss": tenant.test_client_id, "sub": tenant.test_client_id,
        "jti": uuid::Uuid::new_v4().to_string(), "nbf": now, "exp": now + 600});
    Ok(jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_rsa_pem(tenant.test_client_key_pem.as_bytes())?)?)
}
