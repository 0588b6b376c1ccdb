//! `--help` and `--version` texts.

use super::*;

// ---------------------------------------------------------------------------
// Help and version
// ---------------------------------------------------------------------------

/// The `--help` text: usage, then every flag with its default, grouped like
/// `etcd --help`.
pub fn help_text() -> String {
    let mut out = String::from(
        "Usage:

  capstan [flags]
    Start a Capstan member (an etcd-compatible key-value server).

  capstan --version
    Show the version of capstan and the etcd version it emulates.

  capstan -h | --help
    Show this help.

  capstan --config-file PATH
    Read the configuration from an etcd YAML config file (also ETCD_CONFIG_FILE). When a
    config file is given, other command-line flags and environment variables are ignored.

Every flag can also be set with an environment variable ETCD_<FLAG>, upper case with '-'
replaced by '_' (e.g. ETCD_INITIAL_CLUSTER for --initial-cluster); a flag given on the
command line wins. Flags are written --flag value or --flag=value; booleans --flag or
--flag=false.
",
    );
    for (group, title) in HELP_GROUPS {
        out.push('\n');
        out.push_str(title);
        out.push_str(":\n");
        for flag in FLAGS.iter().filter(|f| f.group == group) {
            let shown = flag.shown_default.unwrap_or(flag.default);
            out.push_str(&format!("  --{} '{}'\n", flag.name, shown));
            for line in flag.help.lines() {
                out.push_str("    ");
                out.push_str(line);
                out.push('\n');
            }
            if flag.name == "feature-gates" {
                for (gate, default, stage) in FEATURE_GATES {
                    out.push_str(&format!(
                        "      {gate}=true|false ({stage} - default={default})\n"
                    ));
                }
            }
        }
    }
    out.push_str("\nCAUTIOUS with unsafe flags! They may break the guarantees given by the consensus protocol!\n");
    out
}

/// The `--version` text; `emulated` is the etcd version Capstan claims to be.
pub fn version_text(emulated: &str) -> String {
    format!(
        "capstan Version: {}\netcd API Version: {}\nGit SHA: {}\nRust Version: {}\nOS/Arch: {}/{}\n",
        env!("CARGO_PKG_VERSION"),
        emulated,
        option_env!("CAPSTAN_GIT_SHA").unwrap_or("Not provided"),
        option_env!("CAPSTAN_RUST_VERSION").unwrap_or("Not provided"),
        std::env::consts::OS,
        std::env::consts::ARCH,
    )
}
