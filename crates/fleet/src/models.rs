//! What a fleet runs: Mac models and the macOS releases real Macs report, from the data
//! in `data/` (see `data/README.md`).

use rand::Rng;
use rand::rngs::StdRng;

/// (model identifier, architecture, cores, RAM in MB).
pub(crate) const MODELS: [(&str, &str, i32, i64); 10] = [
    ("MacBookPro14,1", "x86_64", 2, 8192),
    ("MacBookPro15,1", "x86_64", 6, 16384),
    ("iMac19,1", "x86_64", 6, 32768),
    ("MacBookPro18,3", "arm64", 8, 16384),
    ("MacBookAir10,1", "arm64", 8, 8192),
    ("Mac14,2", "arm64", 8, 16384),
    ("Mac14,7", "arm64", 8, 8192),
    ("iMac21,1", "arm64", 8, 16384),
    ("Macmini9,1", "arm64", 8, 8192),
    ("Mac15,3", "arm64", 8, 16384),
];

/// A row of `data/mac-models.csv` (see `data/README.md`).
#[derive(serde::Deserialize)]
struct ModelRow {
    model_identifier: String,
    marketing_name: String,
    latest_supported_major: u32,
}

/// The marketing name of a model and the newest macOS major it runs.
pub(crate) fn model_facts(identifier: &str) -> (String, u32) {
    static MODELS_CSV: &str = include_str!("../../../data/mac-models.csv");
    static ROWS: std::sync::LazyLock<Vec<ModelRow>> = std::sync::LazyLock::new(|| {
        csv::Reader::from_reader(MODELS_CSV.as_bytes()).deserialize::<ModelRow>().filter_map(Result::ok).collect()
    });
    ROWS.iter()
        .find(|m| m.model_identifier == identifier)
        .map(|m| (m.marketing_name.clone(), m.latest_supported_major))
        .unwrap_or_else(|| (identifier.to_string(), 26))
}

/// How a fleet spreads over macOS majors: mostly current, a tail back to Big Sur.
const MAJOR_WEIGHTS: [(u32, u32); 6] = [(11, 2), (12, 5), (13, 10), (14, 20), (15, 33), (26, 30)];

/// A macOS release from Apple's history (`data/macos-releases.csv`): a major by
/// [`MAJOR_WEIGHTS`], then one of its releases with a known build (Rapid Security
/// Responses included, betas not), newer ones likelier as fleets update.
pub(crate) fn pick_release(rng: &mut StdRng) -> (String, String) {
    let total: u32 = MAJOR_WEIGHTS.iter().map(|w| w.1).sum();
    let mut n = rng.random_range(0..total);
    let major = MAJOR_WEIGHTS
        .iter()
        .find(|(_, w)| {
            if n < *w {
                true
            } else {
                n -= w;
                false
            }
        })
        .map_or(15, |w| w.0);
    let releases: Vec<&wire::apple::MacOsRelease> = wire::apple::release_history()
        .iter()
        .filter(|r| r.kind != "beta" && r.build.is_some() && r.product_version.split('.').next() == Some(&major.to_string()))
        .collect();
    // Weight i + 1 for the i-th oldest: the newest release is the likeliest.
    let weights: u32 = (1..=releases.len() as u32).sum();
    let mut n = rng.random_range(0..weights.max(1));
    for (i, r) in releases.iter().enumerate() {
        if n <= i as u32 {
            return (r.product_version.clone(), r.build.clone().unwrap_or_default());
        }
        n -= i as u32 + 1;
    }
    ("15.7.9".into(), "24G830".into())
}
