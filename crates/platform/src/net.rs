//! Outbound requests to addresses a user or a remote service chose: they never reach this
//! machine's own network (loopback, private, link-local ranges) unless the host is one the
//! operator configured, such as the local cloud.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// Loopback, private, link-local, carrier-grade NAT, unique-local and unspecified addresses.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || o[0] == 0
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || v6.to_ipv4_mapped().is_some_and(|v4| is_internal(IpAddr::V4(v4)))
        }
    }
}

/// Checks a URL before it is used for an outbound request: https, a host, no credentials,
/// and not an internal address (or `localhost`) unless the host is in `allowed_hosts`.
pub fn check_outbound(url: &str, allowed_hosts: &[String]) -> Result<url::Url, String> {
    let parsed = url::Url::parse(url).map_err(|_| format!("'{url}' is not an absolute URL"))?;
    if parsed.scheme() != "https" {
        return Err(format!("'{url}' must use https"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!("'{url}' must not carry credentials"));
    }
    let host = match parsed.host() {
        Some(url::Host::Domain(d)) => d.to_ascii_lowercase(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        None => return Err(format!("'{url}' has no host")),
    };
    if allowed_hosts.iter().any(|h| h.eq_ignore_ascii_case(&host)) {
        return Ok(parsed);
    }
    let internal = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => is_internal(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => is_internal(IpAddr::V6(ip)),
        _ => host == "localhost" || host.ends_with(".localhost"),
    };
    if internal {
        return Err(format!("'{url}' points at an internal address"));
    }
    Ok(parsed)
}

/// A configured URL that credentials or tokens travel on: it must be `https` with a host
/// and no user information. `what` names the setting in the error.
pub fn require_https<'a>(what: &str, url: &'a str) -> Result<&'a str, String> {
    let refused = |why: &str| format!("{what} must be an https URL ({why}): '{url}'");
    let parsed = url::Url::parse(url).map_err(|_| refused("it is not an absolute URL"))?;
    if parsed.scheme() != "https" {
        return Err(refused("secrets and tokens travel on it, never in clear"));
    }
    if parsed.host().is_none() {
        return Err(refused("it has no host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(refused("it must not carry credentials"));
    }
    Ok(url)
}

/// The base URL a service publishes in everything it hands out (discovery documents,
/// redirects, consent and landing-page URLs, `endpoints.json`): `public_url` when the
/// operator set one (the address of a load balancer or reverse proxy in front of the
/// service), else `https://` and the address the service listens on. A public URL must
/// be `https` with a host, no user information, query or fragment; a trailing `/` is
/// dropped so paths append to it.
pub fn public_base(what: &str, public_url: Option<&str>, listening: SocketAddr) -> Result<String, String> {
    let Some(url) = public_url else { return Ok(format!("https://{listening}")) };
    let parsed = url::Url::parse(require_https(what, url)?).map_err(|e| e.to_string())?;
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(format!("{what} must be a base URL without a query or fragment: '{url}'"));
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// The name a service node goes by among the nodes sharing its database: this machine's
/// host name and the port it listens on. Stable across restarts, so a node that comes
/// back takes up the leases it held at once; distinct between nodes, as two processes
/// cannot listen on one port of one host.
pub fn node_name(listening: SocketAddr) -> String {
    let host = ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok().map(|h| h.trim().to_string()).filter(|h| !h.is_empty()))
        .unwrap_or_else(|| "localhost".to_string());
    format!("{host}:{}", listening.port())
}

/// The host of each URL (for `allowed_hosts`).
pub fn hosts_of<'a>(urls: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    urls.into_iter().filter_map(|u| url::Url::parse(u).ok()?.host_str().map(|h| h.trim_matches(['[', ']']).to_ascii_lowercase())).collect()
}

/// A DNS resolver that refuses names resolving to internal addresses, except the names
/// the operator allowed. (Address literals never reach a resolver: `check_outbound`
/// covers them.)
pub struct PublicResolver {
    allowed_hosts: Vec<String>,
}

impl PublicResolver {
    pub fn new(allowed_hosts: Vec<String>) -> Arc<Self> {
        Arc::new(PublicResolver { allowed_hosts })
    }
}

impl reqwest::dns::Resolve for PublicResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_ascii_lowercase();
        let allowed = self.allowed_hosts.contains(&host);
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = addrs.into_iter().filter(|a| allowed || !is_internal(a.ip())).collect();
            if public.is_empty() {
                return Err(format!("{host} resolves only to internal addresses").into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn configured_urls_must_be_https() {
        assert!(super::require_https("connector_url", "https://connector.example:8444").is_ok());
        for bad in ["http://connector.example", "ftp://x", "connector.example", "https://user:pw@connector.example", "https://"] {
            let e = super::require_https("connector_url", bad).unwrap_err();
            assert!(e.starts_with("connector_url must be an https URL"), "{e}");
        }
    }

    use super::*;

    #[test]
    fn a_service_publishes_its_public_url_or_else_its_listener() {
        let listening = SocketAddr::from(([127, 0, 0, 1], 8443));
        assert_eq!(public_base("public_url", None, listening).unwrap(), "https://127.0.0.1:8443");
        assert_eq!(public_base("public_url", Some("https://connector.example/"), listening).unwrap(), "https://connector.example");
        assert_eq!(public_base("public_url", Some("https://lb.example:9443/cc"), listening).unwrap(), "https://lb.example:9443/cc");
        let e = public_base("public_url", Some("http://connector.example"), listening).unwrap_err();
        assert!(e.starts_with("public_url must be an https URL"), "{e}");
        for bad in ["https://connector.example/?x=1", "https://connector.example/#top"] {
            let e = public_base("public_url", Some(bad), listening).unwrap_err();
            assert!(e.contains("without a query or fragment"), "{e}");
        }
    }

    #[test]
    fn internal_addresses_are_refused_unless_configured() {
        let local = vec!["127.0.0.1".to_string()];
        assert!(check_outbound("https://127.0.0.1:8443/x", &local).is_ok());
        for bad in [
            "https://127.0.0.2/x",
            "https://10.1.2.3/",
            "https://192.168.0.1/",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/",
            "https://[fd00::1]/",
            "https://localhost/",
            "http://fef.example.com/",
            "https://user:pw@fef.example.com/",
        ] {
            assert!(check_outbound(bad, &local).is_err(), "{bad}");
        }
        assert!(check_outbound("https://fef.msua06.manage.microsoft.com/StatelessPartnerDeviceDataSyncService", &[]).is_ok());
        assert!(is_internal("100.64.0.1".parse().unwrap()));
        assert!(!is_internal("20.190.128.1".parse().unwrap()));
        assert_eq!(hosts_of(["https://127.0.0.1:9/a", "https://[::1]:8/"]), ["127.0.0.1", "::1"]);
    }
}
