//! Graded enforcement of a compliance policy, per assigned group: an administrator rolls a
//! policy out as *report only* (evaluated, never enforced), then *warn* until a deadline
//! (a noncompliant device is in its grace period: its user signs in, but is shown what to
//! fix and by when), then *block* (Intune's own behaviour, with the policy's grace
//! period). Intune itself offers only the last, with a grace period counted per device
//! (Microsoft Learn, "Configure actions for noncompliant devices in Intune"); the other
//! two extend it here (docs/microsoft-compatibility.md).

use serde::{Deserialize, Serialize};

use crate::intune::combine::PolicyState;
use crate::intune::compliance::{ComplianceState, Verdict};

/// How one assignment of a policy is enforced. Stored as `policy_assignments.enforcement`
/// (`block`, `warn`, `reportOnly`) with `warn_until_ms`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "mode")]
pub enum Enforcement {
    /// Evaluated and reported; the device's compliance ignores it.
    ReportOnly,
    /// Until `until_ms` (milliseconds since the epoch) a device that does not meet the
    /// policy is in its grace period; after it, as [`Enforcement::Block`].
    Warn {
        #[serde(rename = "untilMs")]
        until_ms: i64,
    },
    /// Enforced as Intune enforces it.
    #[default]
    Block,
}

impl Enforcement {
    /// Reads the stored columns; an unknown mode is enforced (never silently weaker).
    pub fn from_columns(mode: &str, warn_until_ms: Option<i64>) -> Enforcement {
        match (mode, warn_until_ms) {
            ("reportOnly", _) => Enforcement::ReportOnly,
            ("warn", Some(until_ms)) => Enforcement::Warn { until_ms },
            _ => Enforcement::Block,
        }
    }

    /// The stored `enforcement` column and `warn_until_ms`.
    pub fn columns(self) -> (&'static str, Option<i64>) {
        match self {
            Enforcement::ReportOnly => ("reportOnly", None),
            Enforcement::Warn { until_ms } => ("warn", Some(until_ms)),
            Enforcement::Block => ("block", None),
        }
    }

    /// Reads a mode as the console and Graph name it (`reportOnly`, `warn`, `block`); a
    /// warning needs its deadline, later than `now_ms`.
    pub fn parse(mode: &str, warn_until_ms: Option<i64>, now_ms: i64) -> Result<Enforcement, String> {
        match mode {
            "reportOnly" => Ok(Enforcement::ReportOnly),
            "block" | "" => Ok(Enforcement::Block),
            "warn" => match warn_until_ms {
                Some(until_ms) if until_ms > now_ms => Ok(Enforcement::Warn { until_ms }),
                Some(_) => Err("The warning's deadline must be in the future.".into()),
                None => Err("A warning needs its deadline (when blocking starts).".into()),
            },
            other => Err(format!("enforcement must be reportOnly, warn or block, not '{other}'.")),
        }
    }

    /// The stricter of two assignments of one policy reaching one user (through two of
    /// their groups): block over warn over report only, the earlier deadline of two warnings.
    pub fn stricter(self, other: Enforcement) -> Enforcement {
        use Enforcement::*;
        match (self, other) {
            (Block, _) | (_, Block) => Block,
            (Warn { until_ms: a }, Warn { until_ms: b }) => Warn { until_ms: a.min(b) },
            (w @ Warn { .. }, ReportOnly) | (ReportOnly, w @ Warn { .. }) => w,
            (ReportOnly, ReportOnly) => ReportOnly,
        }
    }

    /// Whether the device's compliance counts this policy.
    pub fn enforced(self) -> bool {
        self != Enforcement::ReportOnly
    }

    /// One policy's verdict under this enforcement at `now_ms`: while a warning lasts, a
    /// noncompliant policy is in its grace period until the deadline (or its own grace
    /// period, whichever ends later); report only and block leave it as evaluated.
    pub fn apply(self, verdict: Verdict, now_ms: i64) -> Verdict {
        let Enforcement::Warn { until_ms } = self else { return verdict };
        let failing = matches!(verdict.state, ComplianceState::Noncompliant | ComplianceState::InGracePeriod);
        if !failing {
            return verdict;
        }
        if now_ms >= until_ms {
            // The warning is over. A grace period held only by the warning (kept through
            // an unreadable report as the previous state) ends with it.
            let own_grace = verdict.grace_expires_ms.is_some_and(|g| g > now_ms);
            if verdict.state == ComplianceState::InGracePeriod && !own_grace {
                return Verdict { state: ComplianceState::Noncompliant, grace_expires_ms: None, ..verdict };
            }
            return verdict;
        }
        let ends = verdict.grace_expires_ms.filter(|own| verdict.state == ComplianceState::InGracePeriod && *own > until_ms);
        Verdict { state: ComplianceState::InGracePeriod, grace_expires_ms: Some(ends.unwrap_or(until_ms)), ..verdict }
    }

    /// As the Intune admin center shows the schedule: `Report only`, `Warn until 8 Dec
    /// 2026 09:00 UTC, then block`, `Block` (`Block since …` once a warning ended).
    pub fn label(self, now_ms: i64) -> String {
        match self {
            Enforcement::ReportOnly => "Report only".into(),
            Enforcement::Warn { until_ms } if until_ms > now_ms => format!("Warn until {}, then block", when(until_ms)),
            Enforcement::Warn { until_ms } => format!("Block since {}", when(until_ms)),
            Enforcement::Block => "Block".into(),
        }
    }
}

/// A deadline as people read it: `8 Dec 2026 09:00 UTC`.
pub fn when(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.format("%-d %b %Y %H:%M UTC").to_string()).unwrap_or_default()
}

/// The sentence a warned device's reasons end with, for its user (the remediation page
/// shows it as the deadline): `Access is blocked from 8 Dec 2026 09:00 UTC unless this is
/// fixed.`
pub fn deadline_sentence(until_ms: i64) -> String {
    format!("{DEADLINE_PREFIX}{} unless this is fixed.", when(until_ms))
}

pub use wire::partner::DEADLINE_PREFIX;

/// What a sign-in tells of a device's warned policies (the sign-in log's
/// `additionalDetails`, and the page a warned user sees).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The device fails warned policies (by name) whose deadline is ahead: the sign-in
    /// succeeds, with this warning.
    Warned { until_ms: i64, policies: Vec<String> },
    /// A warning ended and its policy now blocks the device.
    Ended { since_ms: i64, policies: Vec<String> },
}

impl Notice {
    /// The notice from a device's state (`device`, with the end of its grace period) and
    /// its policy states at `now_ms`; `name` gives a policy's display name. Warned while
    /// the device is in its grace period because of a warned policy still ahead (until
    /// the device's grace period ends: when it is really blocked); ended once the device
    /// is noncompliant and a warned policy it fails is past its deadline; else `None`.
    pub fn of(
        states: &[PolicyState],
        device: ComplianceState,
        device_grace_ms: Option<i64>,
        name: impl Fn(&str) -> String,
        now_ms: i64,
    ) -> Option<Notice> {
        let failing = |p: &&PolicyState| matches!(p.state, ComplianceState::Noncompliant | ComplianceState::InGracePeriod);
        let warned: Vec<(&PolicyState, i64)> = states
            .iter()
            .filter(failing)
            .filter_map(|p| match p.enforcement {
                Enforcement::Warn { until_ms } => Some((p, until_ms)),
                _ => None,
            })
            .collect();
        let names = |ahead: bool| -> Vec<String> {
            warned.iter().filter(|(_, until)| (*until > now_ms) == ahead).map(|(p, _)| name(&p.policy_id)).collect()
        };
        match device {
            ComplianceState::InGracePeriod => {
                let policies = names(true);
                let until_ms = device_grace_ms.filter(|g| *g > now_ms)?;
                (!policies.is_empty()).then_some(Notice::Warned { until_ms, policies })
            }
            ComplianceState::Noncompliant => {
                let policies = names(false);
                let since_ms = warned.iter().map(|(_, u)| *u).filter(|u| *u <= now_ms).max()?;
                (!policies.is_empty()).then_some(Notice::Ended { since_ms, policies })
            }
            _ => None,
        }
    }

    /// One sentence: `Warned: this device does not meet Require FileVault; access is
    /// blocked from 8 Dec 2026 09:00 UTC unless it is fixed.` or `Blocked since 8 Dec 2026
    /// 09:00 UTC, when the warning of Require FileVault ended.`
    pub fn sentence(&self) -> String {
        match self {
            Notice::Warned { until_ms, policies } => format!(
                "Warned: this device does not meet {}; access is blocked from {} unless it is fixed.",
                policies.join(", "),
                when(*until_ms)
            ),
            Notice::Ended { since_ms, policies } => {
                format!("Blocked since {}, when the warning of {} ended.", when(*since_ms), policies.join(", "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3600 * 1000;

    fn failing(state: ComplianceState) -> Verdict {
        Verdict { state, noncompliant_since_ms: Some(0), error_since_ms: None, grace_expires_ms: None }
    }

    #[test]
    fn a_warning_holds_a_failing_policy_in_its_grace_period_until_the_deadline() {
        let warn = Enforcement::Warn { until_ms: 48 * HOUR };
        let before = warn.apply(failing(ComplianceState::Noncompliant), HOUR);
        assert_eq!(
            (before.state, before.grace_expires_ms, before.is_compliant()),
            (ComplianceState::InGracePeriod, Some(48 * HOUR), Some(true))
        );
        let after = warn.apply(failing(ComplianceState::Noncompliant), 48 * HOUR);
        assert_eq!((after.state, after.is_compliant()), (ComplianceState::Noncompliant, Some(false)));
        // A compliant policy stays compliant; the policy's own longer grace period is kept.
        assert_eq!(warn.apply(Verdict::decided(true), HOUR).state, ComplianceState::Compliant);
        let own = Verdict { grace_expires_ms: Some(72 * HOUR), ..failing(ComplianceState::InGracePeriod) };
        assert_eq!(warn.apply(own, HOUR).grace_expires_ms, Some(72 * HOUR));
        // Past the deadline, a grace period held only by the warning ends with it.
        let held = Verdict { grace_expires_ms: None, ..failing(ComplianceState::InGracePeriod) };
        assert_eq!(warn.apply(held, 48 * HOUR).state, ComplianceState::Noncompliant);
        // Block and report only leave the evaluation as it is.
        assert_eq!(Enforcement::Block.apply(failing(ComplianceState::Noncompliant), HOUR).state, ComplianceState::Noncompliant);
        assert_eq!(Enforcement::ReportOnly.apply(failing(ComplianceState::Noncompliant), HOUR).state, ComplianceState::Noncompliant);
    }

    #[test]
    fn two_groups_give_the_stricter_enforcement() {
        use Enforcement::*;
        let (early, late) = (Warn { until_ms: HOUR }, Warn { until_ms: 2 * HOUR });
        assert_eq!(ReportOnly.stricter(early), early);
        assert_eq!(late.stricter(early), early);
        assert_eq!(early.stricter(Block), Block);
        assert_eq!(ReportOnly.stricter(ReportOnly), ReportOnly);
    }

    #[test]
    fn modes_are_read_and_told_as_the_console_shows_them() {
        let deadline = 1_796_720_400_000; // 8 Dec 2026 09:00 UTC
        assert_eq!(Enforcement::parse("warn", Some(deadline), 0), Ok(Enforcement::Warn { until_ms: deadline }));
        assert!(Enforcement::parse("warn", None, 0).unwrap_err().contains("deadline"));
        assert!(Enforcement::parse("warn", Some(deadline), deadline).unwrap_err().contains("future"));
        assert!(Enforcement::parse("audit", None, 0).unwrap_err().contains("'audit'"));
        assert_eq!(Enforcement::Warn { until_ms: deadline }.label(0), "Warn until 8 Dec 2026 09:00 UTC, then block");
        assert_eq!(Enforcement::Warn { until_ms: deadline }.label(deadline), "Block since 8 Dec 2026 09:00 UTC");
        assert_eq!(Enforcement::from_columns("warn", Some(deadline)).columns(), ("warn", Some(deadline)));
        assert_eq!(Enforcement::from_columns("unheard-of", None), Enforcement::Block);
        assert_eq!(deadline_sentence(deadline), "Access is blocked from 8 Dec 2026 09:00 UTC unless this is fixed.");
    }

    #[test]
    fn a_sign_in_tells_the_warning_and_when_it_ended() {
        let state = |id: &str, state, enforcement| PolicyState {
            policy_id: id.into(),
            state,
            noncompliant_since_ms: Some(0),
            error_since_ms: None,
            grace_expires_ms: None,
            enforcement,
        };
        let deadline = 1_796_720_400_000;
        let states = [
            state("disk", ComplianceState::InGracePeriod, Enforcement::Warn { until_ms: deadline }),
            state("os", ComplianceState::Compliant, Enforcement::Warn { until_ms: deadline - 1 }),
            state("fw", ComplianceState::Noncompliant, Enforcement::ReportOnly),
        ];
        let name = |id: &str| format!("Require {id}");
        let warned = Notice::of(&states, ComplianceState::InGracePeriod, Some(deadline), name, 0).unwrap();
        assert_eq!(warned, Notice::Warned { until_ms: deadline, policies: vec!["Require disk".into()] });
        assert_eq!(
            warned.sentence(),
            "Warned: this device does not meet Require disk; access is blocked from 8 Dec 2026 09:00 UTC unless it is fixed."
        );
        let ended = Notice::of(&states, ComplianceState::Noncompliant, None, name, deadline).unwrap();
        assert_eq!(ended.sentence(), "Blocked since 8 Dec 2026 09:00 UTC, when the warning of Require disk ended.");
        assert_eq!(
            Notice::of(&states[1..], ComplianceState::InGracePeriod, Some(deadline), name, 0),
            None,
            "a met or report-only policy warns of nothing"
        );
        // Blocked by another policy: no warning, though the warned one is ahead.
        assert_eq!(Notice::of(&states, ComplianceState::Noncompliant, None, name, 0), None);
        // In grace for its own reason past the deadline: neither warned nor blocked.
        assert_eq!(Notice::of(&states, ComplianceState::InGracePeriod, Some(deadline + 1), name, deadline), None);
    }
}
