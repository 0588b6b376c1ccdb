//! systemd's readiness protocol (`sd_notify`): with `Type=notify`, systemd
//! waits for `READY=1` on the datagram socket named by `NOTIFY_SOCKET` and
//! kills a service that never sends it. etcd sends it once it serves
//! clients (`etcdmain.notifySystemd`); Capstan does the same, and also says
//! `STOPPING=1` when it begins to shut down, so `systemctl stop` and a
//! restart show the right state while the member drains.
//!
//! Without `NOTIFY_SOCKET` (not under systemd, or `Type=simple`) nothing is
//! sent. A failure to notify is logged, never fatal: the member serves
//! either way, as etcd's does.

use std::io;
use std::os::unix::net::UnixDatagram;

/// The environment variable systemd sets for `Type=notify` services.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// Tells systemd the member serves clients, with etcd's log lines (etcd
/// says "successfully notified" also when there is no socket to notify:
/// tools grep for the line).
pub fn notify_ready() {
    tracing::info!("notifying init daemon");
    match notify_env("READY=1") {
        Ok(_) => tracing::info!("successfully notified init daemon"),
        Err(e) => tracing::error!(error = %e, "failed to notify systemd for readiness"),
    }
}

/// Tells systemd the member is shutting down.
pub fn notify_stopping() {
    if let Err(e) = notify_env("STOPPING=1") {
        tracing::warn!(error = %e, "failed to notify systemd of the shutdown");
    }
}

/// Sends `state` to `$NOTIFY_SOCKET`; false when the variable is unset.
fn notify_env(state: &str) -> io::Result<bool> {
    match std::env::var_os(NOTIFY_SOCKET) {
        Some(path) if !path.is_empty() => notify(&path.to_string_lossy(), state).map(|()| true),
        _ => Ok(false),
    }
}

/// Sends `state` as one datagram to `socket`: a file system path, or an
/// abstract socket when it starts with `@` (as systemd's own
/// `sd_notify` reads it).
pub fn notify(socket: &str, state: &str) -> io::Result<()> {
    let sender = UnixDatagram::unbound()?;
    if let Some(name) = socket.strip_prefix('@') {
        #[cfg(target_os = "linux")]
        {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
            sender.send_to_addr(state.as_bytes(), &addr)?;
            return Ok(());
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = name;
            return Err(io::Error::new(io::ErrorKind::Unsupported, "abstract sockets exist only on Linux"));
        }
    }
    if !socket.starts_with('/') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{NOTIFY_SOCKET}={socket} is neither an absolute path nor an abstract socket"),
        ));
    }
    sender.send_to(state.as_bytes(), socket)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_socket_receives_the_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let receiver = UnixDatagram::bind(&path).unwrap();
        notify(path.to_str().unwrap(), "READY=1").unwrap();
        let mut buf = [0u8; 64];
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn an_abstract_socket_receives_the_state() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("capstan-notify-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let receiver = UnixDatagram::bind_addr(&addr).unwrap();
        notify(&format!("@{name}"), "STOPPING=1").unwrap();
        let mut buf = [0u8; 64];
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1");
    }

    #[test]
    fn a_relative_path_or_a_missing_socket_is_an_error() {
        assert_eq!(notify("relative/notify", "READY=1").unwrap_err().kind(), io::ErrorKind::InvalidInput);
        assert!(notify("/nonexistent/capstan/notify", "READY=1").is_err());
    }
}
