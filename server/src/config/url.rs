//! Member URLs and `--initial-cluster`, checked with etcd's rules (`types.NewURLs`).

use super::*;

/// URL scheme accepted by etcd for member URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlScheme {
    Http,
    Https,
    Unix,
    Unixs,
}

impl UrlScheme {
    /// Whether connections on this URL use TLS.
    pub fn is_tls(self) -> bool {
        matches!(self, UrlScheme::Https | UrlScheme::Unixs)
    }
}

/// A member URL checked with etcd's rules (`types.NewURLs`): scheme
/// http/https/unix/unixs; http(s) need `host:port` and no path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedUrl {
    pub scheme: UrlScheme,
    /// Host without brackets (`::1` for `[::1]`); for unix URLs the whole authority.
    pub host: String,
    /// Port (always present for http/https; `None` for unix URLs).
    pub port: Option<u16>,
    /// Path (always empty for http/https).
    pub path: String,
    /// The URL as written (trimmed).
    pub raw: String,
}

impl ParsedUrl {
    /// Parses one URL with etcd's rules; the error is etcd's message.
    pub fn parse(s: &str) -> Result<ParsedUrl, String> {
        parse_url(s)
    }

    /// The address to bind for a listen URL: `localhost` means 127.0.0.1,
    /// otherwise the host must be an IP literal (etcd refuses names here).
    /// `None` for unix-socket URLs.
    pub fn bind_addr(&self) -> Option<Result<SocketAddr, ConfigError>> {
        let port = self.port?;
        let ip = if self.host == "localhost" {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            match self.host.parse::<IpAddr>() {
                Ok(ip) => ip,
                Err(_) => {
                    return Some(Err(ConfigError::BindUrlNotIp { url: self.raw.clone() }));
                }
            }
        };
        Some(Ok(SocketAddr::new(ip, port)))
    }

    /// Socket path of a unix/unixs URL (etcd uses the authority, e.g.
    /// `unix://localhost:2379` is the file `localhost:2379`, else the path).
    pub fn unix_socket_path(&self) -> Option<&str> {
        match self.scheme {
            UrlScheme::Unix | UrlScheme::Unixs if !self.host.is_empty() => Some(&self.host),
            UrlScheme::Unix | UrlScheme::Unixs => Some(&self.path),
            _ => None,
        }
    }
}

// URLs and the initial cluster
// ---------------------------------------------------------------------------

/// etcd's `types.NewURLs` check of one URL; errors are etcd's messages.
pub(super) fn parse_url(input: &str) -> Result<ParsedUrl, String> {
    let s = input.trim();
    let scheme_err = || format!("URL scheme must be http, https, unix, or unixs: {s}");
    let host_port_err = || format!("URL address does not have the form \"host:port\": {s}");
    let (scheme_text, rest) = match s.find("://") {
        Some(i) => (&s[..i], &s[i + 3..]),
        None => {
            let scheme = s.split(':').next().unwrap_or("").to_ascii_lowercase();
            return Err(if scheme == "http" || scheme == "https" { host_port_err() } else { scheme_err() });
        }
    };
    let scheme = match scheme_text.to_ascii_lowercase().as_str() {
        "http" => UrlScheme::Http,
        "https" => UrlScheme::Https,
        "unix" => UrlScheme::Unix,
        "unixs" => UrlScheme::Unixs,
        _ => return Err(scheme_err()),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let after = &rest[end..];
    let path = after.split(['?', '#']).next().unwrap_or("").to_string();
    if matches!(scheme, UrlScheme::Unix | UrlScheme::Unixs) {
        return Ok(ParsedUrl { scheme, host: authority.to_string(), port: None, path, raw: s.to_string() });
    }
    let (host, port) = split_host_port(authority).ok_or_else(host_port_err)?;
    let port: u16 = port.parse().map_err(|_| format!("invalid port {port:?} in URL {s}"))?;
    if !path.is_empty() {
        return Err(format!("URL must not contain a path: {s}"));
    }
    Ok(ParsedUrl { scheme, host: host.to_string(), port: Some(port), path, raw: s.to_string() })
}

/// Go's `net.SplitHostPort`, with a numeric, non-empty port.
pub(super) fn split_host_port(hostport: &str) -> Option<(&str, &str)> {
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        (host, after.strip_prefix(':')?)
    } else {
        let (host, port) = hostport.rsplit_once(':')?;
        if host.contains(':') {
            return None;
        }
        (host, port)
    };
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((host, port))
}

pub(super) fn parse_url_list(flag: &str, urls: &[String]) -> Result<Vec<ParsedUrl>, ConfigError> {
    urls.iter()
        .map(|u| {
            parse_url(u).map_err(|reason| ConfigError::InvalidUrl { flag: flag.to_string(), url: u.clone(), reason })
        })
        .collect()
}

pub(super) fn bind_addrs(flag: &str, urls: &[String]) -> Result<Vec<SocketAddr>, ConfigError> {
    let mut out = Vec::new();
    for parsed in parse_url_list(flag, urls)? {
        if let Some(addr) = parsed.bind_addr() {
            out.push(addr?);
        }
    }
    Ok(out)
}

/// etcd's `types.NewURLsMap`: `name=url` entries, every URL valid.
pub(super) fn parse_initial_cluster(value: &str) -> Result<Vec<(String, Vec<String>)>, ConfigError> {
    let mut members: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for entry in value.split(',').filter(|e| !e.is_empty()) {
        let (name, url) = entry.split_once('=').unwrap_or((entry, ""));
        let parsed =
            parse_url(url).map_err(|reason| ConfigError::InvalidInitialCluster { value: value.to_string(), reason })?;
        members.entry(name.to_string()).or_default().push(parsed.raw);
    }
    Ok(members.into_iter().collect())
}
