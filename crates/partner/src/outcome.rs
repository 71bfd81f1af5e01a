//! What one item's result in a message status means for the partner that sent it. The
//! connector and the mdm's Manual mode read results the same way: only an `Accepted`
//! item was applied; `Stale` was kept out because the cloud holds a newer state of the
//! device, which an admin must not see as delivered.

use wire::connector_api::OutcomeStatus;
use wire::partner::{ItemResult, ItemStatus};

/// An item's result, as recorded for the device that sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemOutcome {
    /// `accepted`, `stale` or `rejected`.
    pub status: OutcomeStatus,
    pub detail: Option<String>,
    pub compliance_state: Option<String>,
    pub compliance_reasons: Vec<String>,
}

impl ItemOutcome {
    /// The outcome of an item whose result is `result`; `missing` says why there is none.
    pub fn of(result: Option<&ItemResult>, missing: &str) -> ItemOutcome {
        let refused =
            |status, detail: String| ItemOutcome { status, detail: Some(detail), compliance_state: None, compliance_reasons: vec![] };
        let Some(r) = result else { return refused(OutcomeStatus::Rejected, missing.to_string()) };
        let reason = || match (&r.error_code, &r.error_detail) {
            (Some(code), Some(detail)) => format!("{code}: {detail}"),
            (Some(code), None) => code.clone(),
            (None, Some(detail)) => detail.clone(),
            (None, None) => "no reason given".into(),
        };
        match &r.status {
            ItemStatus::Accepted => ItemOutcome {
                status: OutcomeStatus::Accepted,
                detail: None,
                compliance_state: r.compliance_state.clone(),
                compliance_reasons: r.compliance_reasons.clone(),
            },
            ItemStatus::Stale => refused(OutcomeStatus::Stale, reason()),
            ItemStatus::Rejected => refused(OutcomeStatus::Rejected, reason()),
            ItemStatus::Other(other) => {
                refused(OutcomeStatus::Rejected, format!("the cloud answered the unknown item status '{other}': {}", reason()))
            }
        }
    }

    pub fn is_accepted(&self) -> bool {
        self.status == OutcomeStatus::Accepted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_accepted_items_count_as_delivered() {
        let result = |status: &str| ItemResult {
            device_id: "d".into(),
            status: status.parse().unwrap(),
            error_detail: Some("A newer state of this device is already stored.".into()),
            ..Default::default()
        };
        let stale = ItemOutcome::of(Some(&result("Stale")), "none");
        assert_eq!((stale.status, stale.is_accepted()), (OutcomeStatus::Stale, false));
        assert_eq!(stale.detail.as_deref(), Some("A newer state of this device is already stored."));
        let accepted = ItemOutcome::of(
            Some(&ItemResult { compliance_state: Some("noncompliant".into()), compliance_reasons: vec!["x".into()], ..result("Accepted") }),
            "none",
        );
        assert!(accepted.is_accepted() && accepted.detail.is_none());
        assert_eq!((accepted.compliance_state.as_deref(), accepted.compliance_reasons.len()), (Some("noncompliant"), 1));
        assert_eq!(ItemOutcome::of(None, "no result").detail.as_deref(), Some("no result"));
        let weird = ItemOutcome::of(Some(&result("Weird")), "");
        assert_eq!(weird.status, OutcomeStatus::Rejected);
        assert!(weird.detail.unwrap().contains("'Weird'"));
    }
}
