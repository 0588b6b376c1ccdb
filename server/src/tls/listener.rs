//! Listeners that serve TLS, plain text, or both on one port.
//!
//! [`SecureListener`] takes the raw listener and runs an accept loop of its
//! own: each connection's handshake runs in a task of its own with etcd's
//! 10 s deadline (a client that stalls mid-handshake holds neither the loop
//! nor other clients, GHSA-6vch-q96h-7gc3), and a failed handshake is
//! logged as etcd logs it ("rejected connection on client endpoint").
//! Connections that completed their handshake are handed to hyper.
//!
//! When a port is named by both an `http://` and an `https://` URL, etcd
//! serves both on it; so does [`Mode::Both`], by the client's first byte (a
//! TLS handshake record starts with 0x16, HTTP/1 and HTTP/2 with a letter).

use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Semaphore, mpsc};

use super::server::ServerTls;
use super::stream::MaybeTls;
use super::{Side, san};

/// What a listener serves.
#[derive(Clone, Debug)]
pub enum Mode {
    Plain,
    Tls(Arc<ServerTls>),
    /// Plain and TLS on one port, told apart by the first byte.
    Both(Arc<ServerTls>),
}

/// etcd's bound on a TLS handshake (`tlsHandshakeTimeout`).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once per listener: beyond it, accepting waits.
const MAX_HANDSHAKES: usize = 1024;
/// The first TLS record byte: a handshake.
const TLS_HANDSHAKE: u8 = 0x16;

/// A socket a [`SecureListener`] can serve.
pub trait Socket: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// The first bytes the client sent, without consuming them (at most
    /// `buf.len()`, at least one unless the client closed; none on sockets
    /// that cannot peek).
    fn peek_start(&self, buf: &mut [u8]) -> impl Future<Output = io::Result<usize>> + Send;
    /// The remote address's IP, for the peer SAN check.
    fn remote_ip(&self) -> Option<IpAddr>;
    /// Socket options every accepted connection gets.
    fn prepare(&self) {}
}

impl Socket for tokio::net::TcpStream {
    async fn peek_start(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.peek(buf).await
    }

    fn remote_ip(&self) -> Option<IpAddr> {
        self.peer_addr().ok().map(|a| a.ip())
    }

    /// Without TCP_NODELAY, a reply written as several small frames waits
    /// for the client's delayed ACK (40 ms on Linux) behind Nagle.
    fn prepare(&self) {
        let _ = self.set_nodelay(true);
    }
}

impl Socket for tokio::net::UnixStream {
    async fn peek_start(&self, _buf: &mut [u8]) -> io::Result<usize> {
        Ok(0)
    }

    fn remote_ip(&self) -> Option<IpAddr> {
        None
    }
}

/// Who is connected: the remote address and, over TLS with a verified
/// client certificate, its common name (the user for authorization when
/// `--client-cert-auth` is on and auth is enabled).
///
/// Axum hands it to the router as the connection's address; requests get
/// its common name as [`ClientCommonName`].
#[derive(Clone, Debug)]
#[allow(dead_code, reason = "the address is read through Debug in logs")]
pub struct Remote<A> {
    pub addr: A,
    pub common_name: Option<Arc<str>>,
}

/// The verified client certificate's common name, in every request's
/// extensions (as `ConnectInfo`) when the router is served with
/// `into_make_service_with_connect_info::<ClientCommonName>()`: with
/// `--client-cert-auth` it names the user, as in etcd.
#[derive(Clone, Debug, Default)]
pub struct ClientCommonName(pub Option<Arc<str>>);

impl ClientCommonName {
    pub fn of<A>(remote: &Remote<A>) -> Self {
        ClientCommonName(remote.common_name.clone())
    }
}

/// A connection whose handshake is done, with who is on the other end.
type Accepted<L> = (MaybeTls<<L as axum::serve::Listener>::Io>, Remote<<L as axum::serve::Listener>::Addr>);

/// A listener serving `Mode` over the connections of `L`.
pub struct SecureListener<L: axum::serve::Listener> {
    local: io::Result<L::Addr>,
    accepted: mpsc::Receiver<Accepted<L>>,
}

impl<L> SecureListener<L>
where
    L: axum::serve::Listener,
    L::Io: Socket,
    L::Addr: Clone + Send + Sync + std::fmt::Debug + 'static,
{
    /// Starts accepting on `inner`; the loop ends when this is dropped.
    pub fn spawn(mut inner: L, mode: Mode, side: Side, check_peer_san: bool) -> Self {
        let local = inner.local_addr();
        let (tx, rx) = mpsc::channel(64);
        let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
        tokio::spawn(async move {
            loop {
                let permit = tokio::select! {
                    _ = tx.closed() => return,
                    p = handshakes.clone().acquire_owned() => p.expect("never closed"),
                };
                let (io, addr) = tokio::select! {
                    _ = tx.closed() => return,
                    accepted = inner.accept() => accepted,
                };
                let tx = tx.clone();
                let mode = mode.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    io.prepare();
                    let remote_ip = io.remote_ip();
                    let outcome = tokio::time::timeout(HANDSHAKE_TIMEOUT, open(io, &mode)).await;
                    let (conn, server_name) = match outcome {
                        Ok(Ok(opened)) => opened,
                        Ok(Err((error, server_name))) => {
                            rejected(side, &addr, server_name.as_deref(), &error.to_string());
                            return;
                        }
                        Err(_) => {
                            rejected(side, &addr, None, "TLS handshake timed out");
                            return;
                        }
                    };
                    let certs = conn.peer_certificates();
                    if check_peer_san
                        && let (Some(leaf), Some(ip)) = (certs.first(), remote_ip)
                        && let Err(error) = san::check(leaf, ip).await
                    {
                        rejected(side, &addr, server_name.as_deref(), &error);
                        return;
                    }
                    let common_name = certs
                        .first()
                        .and_then(|c| super::material::CertFacts::read(c).ok())
                        .and_then(|f| f.common_name)
                        .map(Arc::from);
                    let _ = tx.send((conn, Remote { addr, common_name })).await;
                });
            }
        });
        Self { local, accepted: rx }
    }
}

fn rejected<A: std::fmt::Debug>(side: Side, addr: &A, server_name: Option<&str>, error: &str) {
    tracing::warn!(
        remote_addr = ?addr,
        server_name = server_name.unwrap_or(""),
        error,
        "rejected connection on {} endpoint",
        side.endpoint()
    );
}

type Opened<S> = (MaybeTls<S>, Option<String>);

/// Runs the handshake `mode` asks for; the SNI name comes back for the log.
async fn open<S: Socket>(io: S, mode: &Mode) -> Result<Opened<S>, (io::Error, Option<String>)> {
    match mode {
        Mode::Plain => {
            // A TLS client on a plain port: closed without an answer, as etcd
            // does (hyper would answer its ClientHello with an HTTP/1.1 400).
            let mut first = [0u8; 1];
            match io.peek_start(&mut first).await {
                Ok(1) if first[0] == TLS_HANDSHAKE => {
                    // Read the ClientHello before closing: closing with unread
                    // data would reset the connection rather than end it.
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let mut hello = [0u8; 4096];
                    let mut io = io;
                    let _ = tokio::time::timeout(Duration::from_millis(100), io.read(&mut hello)).await;
                    let _ = io.shutdown().await;
                    let e = io::Error::new(io::ErrorKind::InvalidData, "TLS handshake on a plain-text port");
                    Err((e, None))
                }
                _ => Ok((MaybeTls::Plain(io), None)),
            }
        }
        Mode::Tls(tls) => {
            let io = refuse_plain_text(io).await?;
            handshake(io, tls).await
        }
        Mode::Both(tls) => {
            let mut first = [0u8; 1];
            match io.peek_start(&mut first).await {
                Ok(1) if first[0] == TLS_HANDSHAKE => handshake(io, tls).await,
                Ok(_) => Ok((MaybeTls::Plain(io), None)),
                Err(e) => Err((e, None)),
            }
        }
    }
}

/// A TLS-only port closes a connection whose first byte does not open a
/// TLS handshake without answering, as etcd does ("tls: first record does
/// not look like a TLS handshake"): a plain-text gRPC client then reports
/// etcd's "error reading server preface: EOF", not a garbled TLS alert.
async fn refuse_plain_text<S: Socket>(mut io: S) -> Result<S, (io::Error, Option<String>)> {
    let mut first = [0u8; 1];
    let n = io.peek_start(&mut first).await.map_err(|e| (e, None))?;
    if n == 1 && first[0] != TLS_HANDSHAKE {
        use tokio::io::AsyncWriteExt;
        let _ = io.shutdown().await;
        let e = io::Error::new(io::ErrorKind::InvalidData, "tls: first record does not look like a TLS handshake");
        return Err((e, None));
    }
    Ok(io)
}

async fn handshake<S: Socket>(io: S, tls: &ServerTls) -> Result<Opened<S>, (io::Error, Option<String>)> {
    let start =
        tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), io).await.map_err(|e| (e, None))?;
    let server_name = start.client_hello().server_name().map(str::to_string);
    match start.into_stream(tls.current()).await {
        Ok(stream) => Ok((MaybeTls::Tls(Box::new(tokio_rustls::TlsStream::Server(stream))), server_name)),
        Err(e) => Err((e, server_name)),
    }
}

impl<L> axum::serve::Listener for SecureListener<L>
where
    L: axum::serve::Listener,
    L::Io: Socket,
    L::Addr: Clone + Send + Sync + std::fmt::Debug + 'static,
{
    type Io = MaybeTls<L::Io>;
    type Addr = Remote<L::Addr>;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.accepted.recv().await {
            Some(conn) => conn,
            // The accept loop only ends when this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        match &self.local {
            Ok(a) => Ok(Remote { addr: a.clone(), common_name: None }),
            Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
        }
    }
}
