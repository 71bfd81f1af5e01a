//! Cloud profiles (docs/operations.md): the hosts a component talks to for one Microsoft cloud.

use serde::{Deserialize, Serialize};

/// Roots in the same sense as `https://login.microsoftonline.com`: clients append
/// `/{tenant}/oauth2/v2.0/token`, `/v1.0/…`, `/{tenant}/…?api-version=1.6` to them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloudProfile {
    pub name: String,
    pub display_name: String,
    pub authority: String,
    pub graph: String,
    pub aad_graph: String,
    /// App ID URI of Microsoft Graph, used to build `scope=<resource>/.default`.
    pub graph_resource: String,
    /// App ID URI of the Intune API (`None` where the cloud does not publish one).
    pub intune_resource: Option<String>,
}

impl CloudProfile {
    /// The names the "Sovereign Cloud" pop-up offers, in display order.
    pub const NAMES: [&'static str; 5] = ["local", "global", "usgov", "usgov-dod", "china"];

    /// A built-in profile of a real Microsoft cloud.
    pub fn builtin(name: &str) -> Option<CloudProfile> {
        let p = |display: &str, authority: &str, graph: &str, aad: &str, intune: Option<&str>| {
            Some(CloudProfile {
                name: name.to_string(),
                display_name: display.to_string(),
                authority: format!("https://{authority}"),
                graph: format!("https://{graph}"),
                aad_graph: format!("https://{aad}"),
                graph_resource: format!("https://{graph}"),
                intune_resource: intune.map(str::to_string),
            })
        };
        match name {
            "global" => p(
                "Global",
                "login.microsoftonline.com",
                "graph.microsoft.com",
                "graph.windows.net",
                Some("https://api.manage.microsoft.com/"),
            ),
            "usgov" => p(
                "US Government (L4)",
                "login.microsoftonline.us",
                "graph.microsoft.us",
                "graph.windows.net",
                Some("https://api.manage.microsoft.us/"),
            ),
            "usgov-dod" => p(
                "US Government (L5, DoD)",
                "login.microsoftonline.us",
                "dod-graph.microsoft.us",
                "graph.windows.net",
                Some("https://api.manage.microsoft.us/"),
            ),
            "china" => p("China (21Vianet)", "login.chinacloudapi.cn", "microsoftgraph.chinacloudapi.cn", "graph.chinacloudapi.cn", None),
            _ => None,
        }
    }

    /// The `local` profile: the bundled cloud at `base` (for example `https://127.0.0.1:8443`).
    /// Resource identifiers stay those of the global cloud, so clients build the same scopes.
    pub fn local(base: &str) -> CloudProfile {
        let base = base.trim_end_matches('/');
        CloudProfile {
            name: "local".into(),
            display_name: "Local (bundled cloud)".into(),
            authority: base.to_string(),
            graph: format!("{base}/graph"),
            aad_graph: format!("{base}/aadgraph"),
            graph_resource: "https://graph.microsoft.com".into(),
            intune_resource: Some("https://api.manage.microsoft.com/".into()),
        }
    }

    /// `scope` value of a v2 client-credentials request for `resource`.
    /// A resource ending in `/` gives the "double slash" form Microsoft expects.
    pub fn default_scope(resource: &str) -> String {
        format!("{resource}/.default")
    }

    pub fn token_endpoint(&self, tenant: &str) -> String {
        format!("{}/{tenant}/oauth2/v2.0/token", self.authority)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_name_resolves() {
        for name in CloudProfile::NAMES {
            let p = if name == "local" { CloudProfile::local("https://127.0.0.1:1") } else { CloudProfile::builtin(name).expect(name) };
            assert_eq!(p.name, name);
            assert!(p.authority.starts_with("https://"));
        }
        assert!(CloudProfile::builtin("mars").is_none());
    }

    #[test]
    fn intune_scope_has_the_double_slash() {
        let p = CloudProfile::builtin("global").unwrap();
        assert_eq!(CloudProfile::default_scope(p.intune_resource.as_deref().unwrap()), "https://api.manage.microsoft.com//.default");
    }
}
