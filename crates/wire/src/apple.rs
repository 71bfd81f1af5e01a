//! macOS version and build numbers as Macs, Jamf Pro and Apple's release history write
//! them, ordered as Apple numbers them.
//!
//! - A **version** is one to three numbers (`14`, `14.5`, `13.4.1`), optionally followed
//!   by a Rapid Security Response letter in parentheses, as `sw_vers` reports it in
//!   `ProductVersionExtra` and Jamf Pro in `operatingSystem.rapidSecurityResponse`:
//!   `13.4.1 (a)`. Versions compare number by number (`10.15.7 < 11.0 < 11.10`,
//!   `14 == 14.0`); an RSR letter orders after its base version (`13.4.1 < 13.4.1 (a) <
//!   13.4.1 (c) < 13.4.2`).
//! - A **build** is `<major><train letter><number>[<suffix letter>]` (`23H124`,
//!   `24A5331b`, `22F770820d`). Builds compare by major, then train letter, then the
//!   position inside the train, where Apple's numbering marks three kinds of build:
//!   - a Rapid Security Response build writes `77`, the three-digit base build and `0`,
//!     then its letter: `22F770820d` is an RSR of `22F82` and sorts after it and before
//!     `22F83` and `22G74` (Microsoft's compliance documentation gives `20E772520a`, an
//!     RSR of `20E252`, as such a build);
//!   - since macOS 11 (build major 20), a four-digit number starting with 5 and ending in
//!     a letter is a beta of the build in its last three digits (`24A5331b` before the
//!     release `24A335`);
//!   - since macOS 11, a four-digit number starting with 2–9 is a variant of the build in
//!     its last three digits, released beside it for particular hardware
//!     (`23D2057` beside `23D56`, before `23D60`; `24B2083` beside `24B83`).
//!
//!   Anything else orders by its number (`21G1974 < 21H1015`, `19H1922 < 19H2026`).
//!
//! The ordering is checked against Apple's release history in `data/macos-releases.csv`.

use std::cmp::Ordering;
use std::fmt;

use winnow::Parser;
use winnow::ascii::{digit1, space0};
use winnow::combinator::{delimited, eof, opt, preceded, separated, terminated};
use winnow::token::one_of;

/// A macOS version such as `14`, `14.5.1` or `13.4.1 (a)`. Equal when they order equal
/// (`14 == 14.0`).
#[derive(Debug, Clone)]
pub struct MacOsVersion {
    /// One to three numbers, as written (`14` stays one number).
    numbers: Vec<u32>,
    /// The Rapid Security Response letter, lower case.
    rsr: Option<char>,
}

impl MacOsVersion {
    /// The version without its Rapid Security Response letter.
    pub fn base(&self) -> MacOsVersion {
        MacOsVersion { numbers: self.numbers.clone(), rsr: None }
    }

    /// The Rapid Security Response letter, if any.
    pub fn rsr(&self) -> Option<char> {
        self.rsr
    }

    /// The major version (`14` of `14.5`).
    pub fn major(&self) -> u32 {
        self.numbers[0]
    }

    /// The numbers written out (`13.4.1`), without the RSR letter.
    pub fn numbers_text(&self) -> String {
        self.numbers.iter().map(u32::to_string).collect::<Vec<_>>().join(".")
    }

    fn padded(&self) -> [u32; 3] {
        let mut out = [0; 3];
        out[..self.numbers.len()].copy_from_slice(&self.numbers);
        out
    }

    /// Compares base versions only: a Rapid Security Response counts as the version it
    /// patches (Intune's `osMinimumVersion` and `osMaximumVersion`).
    pub fn cmp_base(&self, other: &MacOsVersion) -> Ordering {
        self.padded().cmp(&other.padded())
    }
}

impl Ord for MacOsVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.cmp_base(other).then(self.rsr.cmp(&other.rsr))
    }
}

impl PartialEq for MacOsVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for MacOsVersion {}

impl std::hash::Hash for MacOsVersion {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (self.padded(), self.rsr).hash(state);
    }
}

impl PartialOrd for MacOsVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for MacOsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.numbers_text())?;
        match self.rsr {
            Some(letter) => write!(f, " ({letter})"),
            None => Ok(()),
        }
    }
}

/// Why a version or build could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{value}' is not a macOS {what} ({expected})")]
pub struct ParseError {
    pub value: String,
    pub what: &'static str,
    pub expected: &'static str,
}

fn number(input: &mut &str) -> winnow::Result<u32> {
    digit1.try_map(str::parse).parse_next(input)
}

fn rsr_letter(input: &mut &str) -> winnow::Result<char> {
    preceded(space0, delimited('(', one_of('a'..='z'), ')')).parse_next(input)
}

impl std::str::FromStr for MacOsVersion {
    type Err = ParseError;

    /// Accepts `14`, `14.5`, `13.4.1`, `13.4.1 (a)` and `13.4.1(a)`, surrounding blanks,
    /// a leading `macOS ` and an upper-case RSR letter.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let error = || ParseError { value: s.into(), what: "version", expected: "such as 14.5, 13.4.1 or 13.4.1 (a)" };
        let lowered = s.trim().to_ascii_lowercase();
        let text = lowered.strip_prefix("macos").map(str::trim_start).unwrap_or(&lowered);
        let numbers = separated(1..=3, number, '.');
        let (numbers, rsr): (Vec<u32>, Option<char>) = terminated((numbers, opt(rsr_letter)), eof).parse(text).map_err(|_| error())?;
        Ok(MacOsVersion { numbers, rsr })
    }
}

/// A macOS build number such as `23H124`, `24A5331b` or `22F770820d`. Equal when they
/// order equal (`23h124 == 23H124`).
#[derive(Debug, Clone)]
pub struct MacOsBuild {
    major: u32,
    train: char,
    /// The number as written (leading zeros matter in an RSR's base).
    digits: String,
    suffix: Option<char>,
}

/// What Apple's numbering says a build is (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildKind {
    Release,
    /// A pre-release of the build `base` of its train.
    Beta {
        base: u32,
    },
    /// A release of the build `base` for particular hardware.
    Variant {
        base: u32,
    },
    /// A Rapid Security Response on top of the build `base` of its train.
    RapidSecurityResponse {
        base: u32,
    },
}

impl MacOsBuild {
    fn number(&self) -> u64 {
        self.digits.parse().unwrap_or(u64::MAX)
    }

    pub fn kind(&self) -> BuildKind {
        let d = &self.digits;
        let last3 = || d[d.len() - 3..].parse().unwrap_or(0);
        if d.len() >= 6 && d.starts_with("77") && d.ends_with('0') {
            return BuildKind::RapidSecurityResponse { base: d[2..d.len() - 1].parse().unwrap_or(0) };
        }
        if self.major >= 20 && d.len() == 4 {
            match d.as_bytes()[0] {
                b'5' if self.suffix.is_some() => return BuildKind::Beta { base: last3() },
                b'2'..=b'9' => return BuildKind::Variant { base: last3() },
                _ => {}
            }
        }
        BuildKind::Release
    }

    /// Whether the build is a Rapid Security Response.
    pub fn is_rsr(&self) -> bool {
        matches!(self.kind(), BuildKind::RapidSecurityResponse { .. })
    }

    /// The sort key: major, train, position in the train, kind, letter, raw number.
    fn key(&self) -> (u32, char, u64, u8, Option<char>, u64) {
        let (position, rank) = match self.kind() {
            BuildKind::Beta { base } => (base as u64, 0),
            BuildKind::Release => (self.number(), 1),
            BuildKind::Variant { base } => (base as u64, 1),
            BuildKind::RapidSecurityResponse { base } => (base as u64, 2),
        };
        (self.major, self.train, position, rank, self.suffix, self.number())
    }
}

impl Ord for MacOsBuild {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

impl PartialEq for MacOsBuild {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for MacOsBuild {}

impl std::hash::Hash for MacOsBuild {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

impl PartialOrd for MacOsBuild {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for MacOsBuild {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.major, self.train, self.digits)?;
        match self.suffix {
            Some(letter) => write!(f, "{letter}"),
            None => Ok(()),
        }
    }
}

impl std::str::FromStr for MacOsBuild {
    type Err = ParseError;

    /// Accepts a build with blanks around it and its letters in either case (the train
    /// letter is written upper case, a suffix lower case).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let error = || ParseError { value: s.into(), what: "build", expected: "such as 23H124, 24A5331b or 22F770820d" };
        let (major, train, digits, suffix) = terminated(build_parts, eof).parse(s.trim()).map_err(|_| error())?;
        Ok(MacOsBuild { major, train, digits: digits.to_string(), suffix })
    }
}

/// `<major: 1–2 digits><train letter><number: 1–9 digits>[<letter>]`.
fn build_parts<'i>(input: &mut &'i str) -> winnow::Result<(u32, char, &'i str, Option<char>)> {
    let major = digit1.verify(|d: &str| d.len() <= 2).try_map(str::parse::<u32>);
    let letter = || one_of(|c: char| c.is_ascii_alphabetic());
    let digits = digit1.verify(|d: &str| d.len() <= 9);
    (major, letter().map(|c: char| c.to_ascii_uppercase()), digits, opt(letter().map(|c: char| c.to_ascii_lowercase()))).parse_next(input)
}

/// One release in Apple's release history (`data/macos-releases.csv`, from the SOFA
/// feed; see `data/README.md`).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct MacOsRelease {
    /// As the Mac reports it, RSRs with their letter: `13.4.1 (a)`.
    pub product_version: String,
    /// Empty where the source never gave one.
    pub build: Option<String>,
    /// `YYYY-MM-DD`.
    pub release_date: String,
    /// `Sonoma`, `Sequoia`, `Tahoe`, …
    pub major_name: String,
    /// `release`, `rsr` or `beta`.
    pub kind: String,
}

static RELEASES_CSV: &str = include_str!("../../../data/macos-releases.csv");

/// Every release of the history, oldest first; read once.
pub fn release_history() -> &'static [MacOsRelease] {
    static HISTORY: std::sync::LazyLock<Vec<MacOsRelease>> = std::sync::LazyLock::new(|| {
        csv::Reader::from_reader(RELEASES_CSV.as_bytes())
            .deserialize()
            .collect::<Result<Vec<MacOsRelease>, _>>()
            .expect("data/macos-releases.csv is well formed (checked by a test)")
    });
    &HISTORY
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> MacOsVersion {
        s.parse().unwrap()
    }
    fn b(s: &str) -> MacOsBuild {
        s.parse().unwrap()
    }

    #[test]
    fn versions_read_as_macs_and_jamf_write_them() {
        assert_eq!(v("13.4.1 (a)").to_string(), "13.4.1 (a)");
        assert_eq!(v("13.4.1(A)"), v("13.4.1 (a)"));
        assert_eq!(v(" macOS 14.5 ").to_string(), "14.5");
        assert_eq!(v("14").cmp(&v("14.0.0")), Ordering::Equal);
        assert!(v("10.15.7") < v("11.0") && v("11.9") < v("11.10") && v("15.7.9") < v("26.0"));
        assert!(v("13.4.1") < v("13.4.1 (a)") && v("13.4.1 (a)") < v("13.4.1 (c)") && v("13.4.1 (c)") < v("13.4.2"));
        assert_eq!(v("13.4.1 (a)").cmp_base(&v("13.4.1")), Ordering::Equal);
        for bad in ["", "fourteen", "14.", "1.2.3.4", "14.5 (ab)", "14.5 (1)", "-14", "14..1"] {
            assert!(bad.parse::<MacOsVersion>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn builds_order_as_apple_numbers_them() {
        assert!(b("22F82") < b("22F770820d") && b("22F770820d") < b("22G74"), "an RSR sits after its base");
        assert!(b("22F770820b") < b("22F770820d"));
        assert!(b("24A5331b") < b("24A335"), "a beta precedes its release");
        assert!(b("23D2057") < b("23D60") && b("24B2083") < b("24B91"), "a hardware variant sits beside its base");
        assert!(b("25D2128") < b("25D771280a") && b("25D771280a") < b("25D2140"));
        assert!(b("21G1974") < b("21H1015") && b("19H1922") < b("19H2026"));
        assert!(b("22G830") < b("23A344") && b("23h124") == b("23H124") && b("24A5331B") == b("24A5331b"));
        assert_eq!(v("14"), v("14.0"), "equal as they order");
        assert_eq!(b("22F770820d").kind(), BuildKind::RapidSecurityResponse { base: 82 });
        for bad in ["", "23", "H124", "23H", "23H124bb", "123H4", "23-H124", "23H1234567890"] {
            assert!(bad.parse::<MacOsBuild>().is_err(), "{bad:?}");
        }
    }

    /// Within one major, a later version in Apple's history never has an earlier build.
    #[test]
    fn build_order_agrees_with_apple_release_history() {
        let rows: Vec<(MacOsVersion, MacOsBuild, &str)> =
            release_history().iter().filter_map(|r| Some((v(&r.product_version), b(r.build.as_deref()?), r.kind.as_str()))).collect();
        assert!(rows.len() > 90, "{} releases with builds", rows.len());
        let mut pairs = 0;
        for (va, ba, _) in &rows {
            for (vb, bb, kind_b) in &rows {
                if va.major() == vb.major() && va < vb && *kind_b != "beta" {
                    assert!(ba < bb, "{va} ({ba}) must order before {vb} ({bb})");
                    pairs += 1;
                }
            }
        }
        assert!(pairs > 900, "{pairs} pairs checked");
        // Every version of the history reads, RSRs with their letter.
        let rsr: Vec<&MacOsRelease> = release_history().iter().filter(|r| r.kind == "rsr").collect();
        assert!(rsr.len() >= 4 && rsr.iter().all(|r| v(&r.product_version).rsr().is_some()));
        assert!(rsr.iter().filter_map(|r| r.build.as_deref()).all(|x| b(x).is_rsr()));
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        fn version() -> impl Strategy<Value = MacOsVersion> {
            (proptest::collection::vec(0u32..40, 1..=3), proptest::option::of(proptest::char::range('a', 'z')))
                .prop_map(|(numbers, rsr)| MacOsVersion { numbers, rsr })
        }

        proptest! {
            #[test]
            fn versions_read_back_what_they_write(x in version()) {
                prop_assert_eq!(x.to_string().parse::<MacOsVersion>().unwrap(), x);
            }

            #[test]
            fn versions_order_number_by_number(x in version(), y in version()) {
                let pad = |v: &MacOsVersion| { let mut n = v.numbers.clone(); n.resize(3, 0); n };
                prop_assert_eq!(x.cmp_base(&y), pad(&x).cmp(&pad(&y)));
                if x.cmp_base(&y) != Ordering::Equal {
                    prop_assert_eq!(x.cmp(&y), x.cmp_base(&y), "an RSR letter never outweighs a number");
                }
            }

            #[test]
            fn builds_read_back_what_they_write(major in 10u32..40, train in proptest::char::range('A', 'Z'), n in 1u64..99_999_999, suffix in proptest::option::of(proptest::char::range('a', 'z'))) {
                let text = format!("{major}{train}{n}{}", suffix.map(String::from).unwrap_or_default());
                let build: MacOsBuild = text.parse().unwrap();
                prop_assert_eq!(build.to_string(), text);
            }

            /// An RSR of build `base` sorts after it, after its variants, and before the
            /// next build of the train; RSR letters order among themselves.
            #[test]
            fn an_rsr_sits_between_its_base_and_the_next_build(major in 20u32..40, train in proptest::char::range('A', 'Z'), base in 1u32..998, l1 in proptest::char::range('a', 'z'), l2 in proptest::char::range('a', 'z')) {
                let plain = |n: u32| format!("{major}{train}{n}").parse::<MacOsBuild>().unwrap();
                let rsr = |l: char| format!("{major}{train}77{base:03}0{l}").parse::<MacOsBuild>().unwrap();
                let variant = format!("{major}{train}2{base:03}").parse::<MacOsBuild>().unwrap();
                prop_assert!(plain(base) < rsr(l1));
                prop_assert!(variant < rsr(l1));
                prop_assert!(rsr(l1) < plain(base + 1));
                prop_assert_eq!(rsr(l1).cmp(&rsr(l2)), l1.cmp(&l2));
            }

            #[test]
            fn build_order_is_a_total_order(a in "[12][0-9][A-Ka-k][0-9]{1,7}[a-z]?", b in "[12][0-9][A-Ka-k][0-9]{1,7}[a-z]?", c in "[12][0-9][A-Ka-k][0-9]{1,7}[a-z]?") {
                let (a, b, c): (MacOsBuild, MacOsBuild, MacOsBuild) = (a.parse().unwrap(), b.parse().unwrap(), c.parse().unwrap());
                prop_assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
                if a <= b && b <= c {
                    prop_assert!(a <= c);
                }
            }
        }
    }
}
