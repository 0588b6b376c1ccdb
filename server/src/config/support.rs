//! What Capstan does with each flag, enforced: the flag table's
//! [`Support`] status becomes a refusal at start-up or a warning.
//!
//! A flag left at its default value is never refused nor warned about,
//! whatever its status: "default" is decided by parsing both values through
//! the flag's own setter, so `0s`, `0` and `0ns` are all the same default.

use super::*;

/// Why a `unix://` peer URL is refused (client URLs may be unix sockets).
const UNIX_PEER_URL: &str = "peers talk over TCP: unix sockets are only supported for client URLs";
/// `--log-outputs` values Capstan writes to (see `telemetry::init`).
const LOG_OUTPUTS: &[&str] = &["default", "stderr", "stdout"];

/// Whether `value` sets the same configuration as the flag's default.
fn is_default_value(flag: &Flag, value: &str) -> bool {
    let mut default = Config::blank();
    if !flag.default.is_empty() && (flag.set)(&mut default, flag.default).is_err() {
        return false;
    }
    let mut given = Config::blank();
    if (flag.set)(&mut given, value).is_err() {
        return false;
    }
    default.notices.clear();
    given.notices.clear();
    default == given
}

/// Refusal of one URL of a partly supported URL flag: unix sockets
/// anywhere but the client URLs.
fn url_refusal(flag: &str, url: &ParsedUrl) -> Option<ConfigError> {
    let client_flag = matches!(flag, "listen-client-urls" | "advertise-client-urls");
    match url.scheme {
        UrlScheme::Http | UrlScheme::Https => None,
        UrlScheme::Unix | UrlScheme::Unixs if client_flag => None,
        UrlScheme::Unix | UrlScheme::Unixs => {
            Some(ConfigError::Unsupported { what: format!("--{flag} {}", url.raw), reason: UNIX_PEER_URL.to_string() })
        }
    }
}

impl Config {
    /// The value a flag was explicitly given, when that is not its default.
    fn non_default(&self, flag: &Flag) -> Option<&str> {
        let value = self.explicit.get(flag.name)?;
        (!is_default_value(flag, value)).then_some(value.as_str())
    }

    /// Refuses what Capstan does not implement: a refused flag set to
    /// another value than its default, and the refused values of the partly
    /// supported flags (URL schemes other than http, log outputs other than
    /// the standard streams, feature gates that change correctness).
    pub(super) fn check_support(&self) -> Result<(), ConfigError> {
        for flag in FLAGS {
            if let Support::Refused(note) = flag.support
                && self.non_default(flag).is_some()
            {
                let what = match flag.scope {
                    Scope::FileOnly => format!("config file key {}", flag.name),
                    _ => format!("--{}", flag.name),
                };
                return Err(ConfigError::Unsupported { what, reason: note.to_string() });
            }
        }
        for (flag, urls) in [
            ("listen-client-urls", &self.listen_client_urls),
            ("advertise-client-urls", &self.advertise_client_urls),
            ("listen-peer-urls", &self.listen_peer_urls),
            ("initial-advertise-peer-urls", &self.initial_advertise_peer_urls),
        ] {
            for url in parse_url_list(flag, urls)? {
                if let Some(e) = url_refusal(flag, &url) {
                    return Err(e);
                }
            }
        }
        for (_, urls) in parse_initial_cluster(&self.initial_cluster)? {
            for url in parse_url_list("initial-cluster", &urls)? {
                if let Some(e) = url_refusal("initial-cluster", &url) {
                    return Err(e);
                }
            }
        }
        if let Some(output) = self.log_outputs.iter().find(|o| !LOG_OUTPUTS.contains(&o.as_str())) {
            return Err(ConfigError::Unsupported {
                what: format!("--log-outputs {output}"),
                reason: "logging goes to stderr or stdout only (default, stderr, stdout)".to_string(),
            });
        }
        for (gate, default, _, support) in FEATURE_GATES {
            if let Support::Refused(note) = support
                && self.feature_enabled(gate) != *default
            {
                return Err(ConfigError::Unsupported {
                    what: format!("--feature-gates {gate}={}", !default),
                    reason: note.to_string(),
                });
            }
        }
        Ok(())
    }

    /// Warns about every ignored setting that is not at its default, and,
    /// like etcd, about TLS files and client-certificate authentication that
    /// have no effect on `http://` URLs.
    pub(super) fn support_notices(&mut self) {
        let mut warnings = Vec::new();
        for flag in FLAGS {
            let Support::Ignored(note) = flag.support else {
                continue;
            };
            if self.non_default(flag).is_none() {
                continue;
            }
            let name = match flag.scope {
                Scope::FileOnly => format!("config file key {}", flag.name),
                _ => format!("--{}", flag.name),
            };
            warnings.push(format!("{name} is ignored by Capstan: {note}"));
        }
        for (gate, default, _, support) in FEATURE_GATES {
            if let Support::Ignored(note) = support
                && self.feature_enabled(gate) != *default
            {
                warnings.push(format!("--feature-gates {gate}={} is ignored by Capstan: {note}", !default));
            }
        }
        // etcd's own warnings (embed.configureClientListeners/configurePeerListeners).
        let client = self.client_tls();
        for url in self.listen_client_urls.iter().chain(&self.listen_client_http_urls) {
            if url.starts_with("http://") || url.starts_with("unix://") {
                if !client.is_empty() {
                    warnings.push(format!("scheme is http or unix while key and cert files are present; ignoring key and cert files (client-url: {url})"));
                }
                if client.client_cert_auth {
                    warnings.push(format!("scheme is http or unix while --client-cert-auth is enabled; ignoring client cert auth for this URL (client-url: {url})"));
                }
            }
        }
        let peer = self.peer_tls();
        for url in self.listen_peer_urls.iter().filter(|u| u.starts_with("http://")) {
            if !peer.is_empty() {
                warnings.push(format!(
                    "scheme is HTTP while key and cert files are present; ignoring key and cert files (peer-url: {url})"
                ));
            }
            if peer.client_cert_auth {
                warnings.push(format!("scheme is HTTP while --peer-client-cert-auth is enabled; ignoring client cert auth for this URL (peer-url: {url})"));
            }
        }
        for w in warnings {
            self.warn(w);
        }
    }
}
