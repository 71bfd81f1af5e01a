//! One place decides what a failed call to the cloud means: retry (and when) or give up.
//! Every sink of the connector uses it; the backoff is a pure function.

use crate::client::CallError;

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Try again; `after_ms` is the server's `Retry-After` when it gave one.
    Retry { after_ms: Option<u64> },
    /// A permanent failure: retrying cannot help until someone changes something.
    GiveUp(String),
}

pub fn classify(err: &CallError) -> Verdict {
    match err {
        CallError::Transport(_) => Verdict::Retry { after_ms: None },
        CallError::Http { status, retry_after_s, .. } => match *status {
            429 | 500 | 502 | 503 | 504 | 408 => Verdict::Retry { after_ms: retry_after_s.map(|s| s * 1000) },
            // A fresh token is sometimes refused; the client already retried once with a new one.
            401 => Verdict::Retry { after_ms: None },
            _ => Verdict::GiveUp(err.to_string()),
        },
        CallError::Login { error, description, .. } => match error.as_str() {
            "temporarily_unavailable" => Verdict::Retry { after_ms: None },
            _ => Verdict::GiveUp(description.clone()),
        },
        CallError::Insecure(why) => Verdict::GiveUp(why.clone()),
        // Nothing was sent: try once the tenant's gate opens.
        CallError::Paused { retry_after_ms } => Verdict::Retry { after_ms: Some(*retry_after_ms) },
        CallError::NotDiscovered(service) => {
            Verdict::GiveUp(format!("service discovery does not publish {service} for this tenant (is Intune licensed?)"))
        }
    }
}

/// Exponential backoff with full jitter: a uniformly random delay in
/// `[0, min(cap, base · 2^attempt)]`, never below the server's `Retry-After`.
pub fn backoff_ms(attempt: u32, jitter: f64, retry_after_ms: Option<u64>) -> u64 {
    const BASE_MS: u64 = 200;
    const CAP_MS: u64 = 60_000;
    let ceiling = BASE_MS.saturating_mul(1u64 << attempt.min(20)).min(CAP_MS);
    let jittered = (ceiling as f64 * jitter.clamp(0.0, 1.0)) as u64;
    jittered.max(retry_after_ms.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_never_precedes_retry_after_and_stays_capped() {
        for attempt in 0..40 {
            for jitter in [0.0, 0.3, 1.0] {
                let b = backoff_ms(attempt, jitter, None);
                assert!(b <= 60_000);
                assert!(backoff_ms(attempt, jitter, Some(7_000)) >= 7_000);
            }
        }
        assert_eq!(backoff_ms(3, 1.0, None), 1_600);
    }

    #[test]
    fn throttling_and_outages_retry_and_refusals_do_not() {
        let http = |status| CallError::Http { status, retry_after_s: Some(2), body: String::new() };
        assert_eq!(classify(&http(429)), Verdict::Retry { after_ms: Some(2000) });
        assert_eq!(classify(&http(503)), Verdict::Retry { after_ms: Some(2000) });
        assert!(matches!(classify(&http(403)), Verdict::GiveUp(_)));
        assert!(matches!(classify(&CallError::Transport("reset".into())), Verdict::Retry { .. }));
    }
}
