//! The YAML config file: etcd's flat keys and nested sections.

use super::*;

// ---------------------------------------------------------------------------
// Config-file layout
// ---------------------------------------------------------------------------

/// A key inside one of etcd's nested config-file sections.
pub(super) enum Node {
    /// Stores into this flag.
    Leaf(&'static str),
    /// A further nested mapping.
    Map(&'static [(&'static str, Node)]),
}

pub(super) const CLIENT_SECURITY: &[(&str, Node)] = &[
    ("cert-file", Node::Leaf("cert-file")),
    ("key-file", Node::Leaf("key-file")),
    ("client-cert-file", Node::Leaf("client-cert-file")),
    ("client-key-file", Node::Leaf("client-key-file")),
    ("client-cert-auth", Node::Leaf("client-cert-auth")),
    ("trusted-ca-file", Node::Leaf("trusted-ca-file")),
    ("auto-tls", Node::Leaf("auto-tls")),
    ("allowed-cn", Node::Leaf("client-transport-security.allowed-cn")),
    ("allowed-hostname", Node::Leaf("client-cert-allowed-hostname")),
    ("skip-client-san-verification", Node::Leaf("client-transport-security.skip-client-san-verification")),
    // Not read by etcd from this section; accepted as an extension.
    ("crl-file", Node::Leaf("client-crl-file")),
];

pub(super) const PEER_SECURITY: &[(&str, Node)] = &[
    ("cert-file", Node::Leaf("peer-cert-file")),
    ("key-file", Node::Leaf("peer-key-file")),
    ("client-cert-file", Node::Leaf("peer-client-cert-file")),
    ("client-key-file", Node::Leaf("peer-client-key-file")),
    ("client-cert-auth", Node::Leaf("peer-client-cert-auth")),
    ("trusted-ca-file", Node::Leaf("peer-trusted-ca-file")),
    ("auto-tls", Node::Leaf("peer-auto-tls")),
    ("allowed-cn", Node::Leaf("peer-cert-allowed-cn")),
    ("allowed-hostname", Node::Leaf("peer-cert-allowed-hostname")),
    ("skip-client-san-verification", Node::Leaf("peer-skip-client-san-verification")),
    // Not read by etcd from this section; accepted as an extension.
    ("crl-file", Node::Leaf("peer-crl-file")),
];

pub(super) const SOCKET_OPTIONS: &[(&str, Node)] =
    &[("reuse-port", Node::Leaf("socket-reuse-port")), ("reuse-address", Node::Leaf("socket-reuse-address"))];

pub(super) const DISCOVERY_SECURE: &[(&str, Node)] = &[
    ("cert", Node::Leaf("discovery-cert")),
    ("key", Node::Leaf("discovery-key")),
    ("cacert", Node::Leaf("discovery-cacert")),
    ("server-name", Node::Leaf("discovery-config.client.secure.server-name")),
    ("insecure-transport", Node::Leaf("discovery-insecure-transport")),
    ("insecure-skip-tls-verify", Node::Leaf("discovery-insecure-skip-tls-verify")),
];

pub(super) const DISCOVERY_AUTH: &[(&str, Node)] =
    &[("username", Node::Leaf("discovery-user")), ("password", Node::Leaf("discovery-password"))];

pub(super) const DISCOVERY_CLIENT: &[(&str, Node)] = &[
    ("endpoints", Node::Leaf("discovery-endpoints")),
    ("request-timeout", Node::Leaf("discovery-request-timeout")),
    ("dial-timeout", Node::Leaf("discovery-dial-timeout")),
    ("keepalive-time", Node::Leaf("discovery-keepalive-time")),
    ("keepalive-timeout", Node::Leaf("discovery-keepalive-timeout")),
    ("max-request-bytes", Node::Leaf("discovery-config.client.max-request-bytes")),
    ("max-recv-bytes", Node::Leaf("discovery-config.client.max-recv-bytes")),
    ("secure", Node::Map(DISCOVERY_SECURE)),
    ("auth", Node::Map(DISCOVERY_AUTH)),
];

pub(super) const DISCOVERY_CONFIG: &[(&str, Node)] =
    &[("token", Node::Leaf("discovery-token")), ("client", Node::Map(DISCOVERY_CLIENT))];

/// Top-level config-file sections holding nested mappings.
pub(super) const FILE_SECTIONS: &[(&str, Node)] = &[
    ("client-transport-security", Node::Map(CLIENT_SECURITY)),
    ("peer-transport-security", Node::Map(PEER_SECURITY)),
    ("socket-options", Node::Map(SOCKET_OPTIONS)),
    ("discovery-config", Node::Map(DISCOVERY_CONFIG)),
];

/// Whether etcd reads this flag from a config file only inside
/// `client-transport-security:`/`peer-transport-security:` (its flat key is
/// silently ignored by etcd).
fn is_nested_only_in_etcd(flag: &str) -> bool {
    [CLIENT_SECURITY, PEER_SECURITY].iter().any(|section| {
        section.iter().any(|(key, node)| {
            matches!(node, Node::Leaf(name) if *name == flag) && *key != "skip-client-san-verification"
        })
    })
}

/// Keys of etcd's own sample config (v2 proxy settings) that etcd 3.6 ignores.
pub(super) const IGNORED_FILE_KEYS: &[&str] = &[
    "proxy",
    "proxy-failure-wait",
    "proxy-refresh-interval",
    "proxy-dial-timeout",
    "proxy-write-timeout",
    "proxy-read-timeout",
];

// ---------------------------------------------------------------------------
// Loading

impl Config {
    /// Applies a config file's YAML on top of the current values.
    pub(super) fn apply_yaml(&mut self, text: &str, path: &str) -> Result<(), ConfigError> {
        let doc: Value = serde_yaml::from_str(text)
            .map_err(|e| ConfigError::ParseFile { path: path.to_string(), message: e.to_string() })?;
        let map = match doc {
            Value::Null => return Ok(()),
            Value::Mapping(m) => m,
            _ => {
                return Err(ConfigError::ParseFile {
                    path: path.to_string(),
                    message: "expected a mapping of option names to values".to_string(),
                });
            }
        };
        let mut entries: Vec<(&'static Flag, String, Value)> = Vec::new();
        let mut flat_tls: Vec<String> = Vec::new();
        for (k, v) in &map {
            let key = yaml_key(k, path)?;
            if let Some((_, node)) = FILE_SECTIONS.iter().find(|(n, _)| *n == key) {
                collect_nested(node, &key, v, path, &mut entries)?;
                continue;
            }
            if IGNORED_FILE_KEYS.contains(&key.as_str()) {
                self.warn(format!("ignoring config file key {key:?} in {path}: the v2 proxy was removed in etcd 3.6"));
                continue;
            }
            // etcd's file key for this option is misspelled; both spellings work.
            let name = if key == "experimental-snapshot-catch-up-entries" {
                "experimental-snapshot-catchup-entries"
            } else {
                key.as_str()
            };
            match find_flag(name) {
                Some(flag) if flag.scope == Scope::All => {
                    if is_nested_only_in_etcd(flag.name) {
                        flat_tls.push(key.clone());
                    }
                    if flag.ty == Ty::Ignored {
                        self.warn(format!("ignoring config file key {key:?} in {path}: no longer supported"));
                    } else {
                        entries.push((flag, key.clone(), v.clone()));
                    }
                }
                Some(flag) if flag.scope == Scope::CommandLine => {
                    self.warn(format!("ignoring config file key {key:?} in {path}: only valid on the command line"));
                }
                _ => {
                    return Err(ConfigError::UnknownKey { key, path: path.to_string() });
                }
            }
        }

        if !flat_tls.is_empty() {
            // The seed guide writes TLS settings this way; etcd would start
            // without them. Capstan reads them as the flags of the same name.
            self.warn(format!(
                "config file keys {} in {path} are read as the flags of the same name; etcd ignores them at the top level and reads TLS settings only under client-transport-security: and peer-transport-security:",
                flat_tls.join(", ")
            ));
        }
        let mut seen: BTreeMap<&'static str, (String, String)> = BTreeMap::new();
        for (flag, key, value) in entries {
            let text = yaml_value_text(flag.ty, &value).map_err(|reason| ConfigError::InvalidValue {
                key: key.clone(),
                value: render_yaml(&value),
                origin: format!(" in {path}"),
                reason,
            })?;
            let Some(text) = text else { continue };
            if let Some((first, previous)) = seen.get(flag.name) {
                if *previous != text {
                    return Err(ConfigError::ConflictingKeys {
                        first: first.clone(),
                        second: key,
                        path: path.to_string(),
                    });
                }
                continue;
            }
            self.apply(flag, &text, Source::File { path, key: &key })?;
            seen.insert(flag.name, (key, text));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Config-file helpers
// ---------------------------------------------------------------------------

pub(super) fn yaml_key(k: &Value, path: &str) -> Result<String, ConfigError> {
    match k {
        Value::String(s) => Ok(s.clone()),
        other => Err(ConfigError::UnknownKey { key: render_yaml(other), path: path.to_string() }),
    }
}

/// Walks one nested section, collecting (flag, dotted key, value).
pub(super) fn collect_nested(
    node: &Node,
    prefix: &str,
    value: &Value,
    path: &str,
    out: &mut Vec<(&'static Flag, String, Value)>,
) -> Result<(), ConfigError> {
    match node {
        Node::Leaf(name) => {
            let flag = find_flag(name).expect("nested key maps to a known flag");
            out.push((flag, prefix.to_string(), value.clone()));
            Ok(())
        }
        Node::Map(children) => {
            let map = match value {
                Value::Null => return Ok(()),
                Value::Mapping(m) => m,
                other => {
                    return Err(ConfigError::InvalidValue {
                        key: prefix.to_string(),
                        value: render_yaml(other),
                        origin: format!(" in {path}"),
                        reason: "expected a mapping".to_string(),
                    });
                }
            };
            for (k, v) in map {
                let key = yaml_key(k, path)?;
                let full = format!("{prefix}.{key}");
                match children.iter().find(|(n, _)| *n == key) {
                    Some((_, child)) => collect_nested(child, &full, v, path, out)?,
                    None => {
                        return Err(ConfigError::UnknownKey { key: full, path: path.to_string() });
                    }
                }
            }
            Ok(())
        }
    }
}

/// A YAML value as the text a flag setter takes; `None` leaves the default
/// (null, and empty values for non-string options, as etcd's file loader does).
pub(super) fn yaml_value_text(ty: Ty, value: &Value) -> Result<Option<String>, String> {
    let scalar = |v: &Value| -> Result<Option<String>, String> {
        match v {
            Value::Null => Ok(None),
            Value::Bool(b) => Ok(Some(b.to_string())),
            Value::Number(n) if ty == Ty::Dur => match n.as_u64() {
                // etcd's file format stores durations as integer nanoseconds.
                Some(ns) => Ok(Some(format!("{ns}ns"))),
                None => Err("a duration is an integer number of nanoseconds or a string such as \"5s\"".to_string()),
            },
            Value::Number(n) => Ok(Some(n.to_string())),
            Value::String(s) if ty == Ty::Bool => Ok(Some(
                match s.as_str() {
                    "yes" | "Yes" | "YES" | "on" | "On" | "ON" => "true",
                    "no" | "No" | "NO" | "off" | "Off" | "OFF" => "false",
                    other => other,
                }
                .to_string(),
            )),
            Value::String(s) => Ok(Some(s.clone())),
            Value::Sequence(_) => Err("expected a single value, not a list".to_string()),
            Value::Mapping(_) => Err("expected a single value, not a mapping".to_string()),
            Value::Tagged(_) => Err("tagged values are not supported".to_string()),
        }
    };
    let text = match value {
        Value::Sequence(items) if ty == Ty::List => {
            let mut parts = Vec::new();
            for item in items {
                if let Some(s) = scalar(item)? {
                    parts.push(s);
                }
            }
            Some(parts.join(","))
        }
        other => scalar(other)?,
    };
    Ok(text.filter(|t| !(t.is_empty() && ty != Ty::Str)))
}

/// A short rendering of a YAML value for error messages.
pub(super) fn render_yaml(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Sequence(items) => format!("[{}]", items.iter().map(render_yaml).collect::<Vec<_>>().join(", ")),
        Value::Mapping(m) => format!(
            "{{{}}}",
            m.iter().map(|(k, v)| format!("{}: {}", render_yaml(k), render_yaml(v))).collect::<Vec<_>>().join(", ")
        ),
        Value::Tagged(t) => format!("{} {}", t.tag, render_yaml(&t.value)),
    }
}
