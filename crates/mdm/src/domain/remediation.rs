//! What a user can do about each reason Intune gives for a noncompliant Mac: the reason
//! as Intune words it (`<setting label>: <what was reported>`, the labels of the Intune
//! admin center) and the steps on the Mac that fix it, in macOS's own menu names
//! (System Settings, macOS 13 and later).

/// One reason, split into the setting and what was found, with the steps that fix it.
#[derive(Debug, Clone, PartialEq)]
pub struct Fix {
    pub setting: String,
    pub found: String,
    pub steps: &'static str,
}

/// The steps that satisfy the setting Intune labels `setting`.
fn steps_for(setting: &str) -> &'static str {
    match setting {
        "Require encryption" => "Turn on FileVault: System Settings › Privacy & Security › FileVault › Turn On, then restart when asked.",
        "Firewall" => "Turn on the firewall: System Settings › Network › Firewall.",
        "Stealth Mode" => "System Settings › Network › Firewall › Options, turn on Enable stealth mode.",
        "Incoming connections" => "System Settings › Network › Firewall › Options, turn on Block all incoming connections.",
        "Minimum OS version" | "Minimum OS build version" => {
            "Update macOS: System Settings › General › Software Update, install the update offered and restart."
        }
        "Maximum OS version" | "Maximum OS build version" => {
            "This version of macOS is newer than your organization allows yet: ask your IT department when it will be."
        }
        "Require system integrity protection" => {
            "System Integrity Protection is off. Your IT department turns it back on (in macOS Recovery, csrutil enable)."
        }
        "Allow apps downloaded from these locations" => {
            "System Settings › Privacy & Security › Security, set Allow applications from to the choice your organization requires."
        }
        "Require a password to unlock devices"
        | "Minimum password length"
        | "Password type"
        | "Simple passwords"
        | "Number of non-alphanumeric characters in password"
        | "Password expiration (days)"
        | "Number of previous passwords to prevent reuse" => {
            "Change your login password to one that meets the rule: System Settings › Users & Groups › Change Password."
        }
        _ => "Ask your IT department what to change.",
    }
}

/// The reason that gives a warned Mac's deadline (`Access is blocked from 8 Dec 2026 09:00
/// UTC unless this is fixed.`), when Intune gave one.
pub fn deadline(reasons: &[String]) -> Option<&str> {
    reasons.iter().map(String::as_str).find(|r| r.starts_with(wire::partner::DEADLINE_PREFIX))
}

/// When the deadline sentence says access is blocked (ms since the epoch), when it can be
/// read: `Access is blocked from 8 Dec 2026 09:00 UTC unless this is fixed.`
pub fn deadline_ms(sentence: &str) -> Option<i64> {
    let date = sentence.strip_prefix(wire::partner::DEADLINE_PREFIX)?.split(" unless").next()?;
    Some(chrono::NaiveDateTime::parse_from_str(date, "%d %b %Y %H:%M UTC").ok()?.and_utc().timestamp_millis())
}

/// The fix for each of Intune's reasons (`"Require encryption: reported not encrypted"`);
/// a reason naming no setting keeps its whole text as what was found. The deadline is not
/// a fix ([`deadline`]).
pub fn fixes(reasons: &[String]) -> Vec<Fix> {
    reasons
        .iter()
        .filter(|r| !r.starts_with(wire::partner::DEADLINE_PREFIX))
        .map(|r| match r.split_once(": ") {
            // A value Intune could not read is not fixed on the Mac by the user.
            Some((setting, found)) if found.contains("cannot be evaluated") => {
                Fix { setting: setting.to_string(), found: found.to_string(), steps: steps_for("") }
            }
            Some((setting, found)) => Fix { setting: setting.to_string(), found: found.to_string(), steps: steps_for(setting) },
            None => Fix { setting: String::new(), found: r.clone(), steps: steps_for("") },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reason_gets_the_steps_of_its_setting() {
        let f = fixes(&[
            "Require encryption: reported not encrypted".into(),
            "Minimum OS version: requires >= 14.0, reported 13.6.9".into(),
            "The compliance status has expired".into(),
        ]);
        assert_eq!((f[0].setting.as_str(), f[0].found.as_str()), ("Require encryption", "reported not encrypted"));
        assert!(f[0].steps.contains("FileVault"));
        assert!(f[1].steps.contains("Software Update") && f[1].found == "requires >= 14.0, reported 13.6.9");
        assert_eq!((f[2].setting.as_str(), f[2].steps), ("", "Ask your IT department what to change."));
        let warned = [
            "Require encryption: reported not encrypted".into(),
            "Access is blocked from 8 Dec 2026 09:00 UTC unless this is fixed.".into(),
        ];
        assert_eq!(fixes(&warned).len(), 1, "the deadline is not a fix");
        assert_eq!(deadline(&warned), Some("Access is blocked from 8 Dec 2026 09:00 UTC unless this is fixed."));
        assert_eq!(deadline(&warned[..1]), None);
        assert_eq!(deadline_ms(&warned[1]), Some(1_796_720_400_000));
        assert_eq!(deadline_ms("Access is blocked from someday unless this is fixed."), None);
    }
}
