//! Tolerating the HTTP/2 `:authority` that etcd 3.4 clients send.
//!
//! etcdctl 3.4 and clientv3 3.4 dial a single endpoint given as
//! `http://host:port` with `:authority` set to that whole URL (scheme included)
//! — e.g. every `endpoint status --cluster` call. grpc-go servers accept it; the
//! `h2` crate under hyper rejects it as a malformed authority (a stream
//! PROTOCOL_ERROR), so those commands failed against Capstan.
//!
//! [`AuthorityFix`] sits between the socket and hyper and reads the client's
//! first request headers. If their `:authority` carries a scheme, it decodes
//! every header block the client sends on that connection (HPACK, with the
//! client's dynamic table), strips the scheme from `:authority`, and encodes
//! the block again (with its own table, which h2's decoder follows). Any other
//! connection — well-formed HTTP/2, or HTTP/1 — is passed through untouched
//! after that first look.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const FRAME_HEADER: usize = 9;
const HEADERS: u8 = 0x1;
const CONTINUATION: u8 = 0x9;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;
/// The largest frame h2 accepts before the client learns a larger limit
/// (we never advertise more): re-encoded blocks are split to fit.
const MAX_FRAME: usize = 16_384;
/// The largest frame a client may send: hyper's HTTP/2 server never
/// advertises a SETTINGS_MAX_FRAME_SIZE above the protocol's initial 16 KiB,
/// so a larger frame is a protocol error h2 would refuse anyway.
const MAX_ACCEPTED_FRAME: usize = MAX_FRAME;
/// The most bytes of one header block (HEADERS plus CONTINUATIONs) buffered
/// while waiting for its end. Four times hyper's 16 KiB limit on the decoded
/// header list: HPACK only shrinks headers, so no acceptable block is larger,
/// and an endless CONTINUATION stream cannot grow the buffer without bound.
const MAX_HEADER_BLOCK: usize = 64 << 10;

enum Mode {
    /// Waiting for the connection preface.
    Preface,
    /// HTTP/2: waiting for the first request's headers to decide.
    FirstHeaders,
    /// Rewriting every header block.
    Rewrite(Box<Rewriter>),
    /// Nothing to do for this connection.
    Passthrough,
}

struct Rewriter {
    decoder: loona_hpack::Decoder<'static>,
    encoder: loona_hpack::Encoder<'static>,
}

/// An accepted connection, with the client's `:authority` made acceptable.
pub struct AuthorityFix<S> {
    inner: S,
    mode: Mode,
    /// Bytes read from the socket and not yet examined.
    input: BytesMut,
    /// Bytes ready for hyper.
    output: BytesMut,
    eof: bool,
}

impl<S> AuthorityFix<S> {
    pub fn new(inner: S) -> Self {
        Self { inner, mode: Mode::Preface, input: BytesMut::new(), output: BytesMut::new(), eof: false }
    }
}

/// One frame, parsed from the front of a buffer.
struct Frame {
    kind: u8,
    flags: u8,
    stream: u32,
    len: usize,
}

fn peek_frame(buf: &[u8]) -> io::Result<Option<Frame>> {
    if buf.len() < FRAME_HEADER {
        return Ok(None);
    }
    let len = (usize::from(buf[0]) << 16) | (usize::from(buf[1]) << 8) | usize::from(buf[2]);
    if len > MAX_ACCEPTED_FRAME {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "HTTP/2 frame too large"));
    }
    let stream = u32::from_be_bytes([buf[5], buf[6], buf[7], buf[8]]) & 0x7fff_ffff;
    let frame = Frame { kind: buf[3], flags: buf[4], stream, len };
    Ok((buf.len() >= FRAME_HEADER + len).then_some(frame))
}

/// A complete header block: the HEADERS frame and its CONTINUATIONs.
struct HeaderBlock {
    stream: u32,
    /// HEADERS flags other than PADDED and END_HEADERS (END_STREAM, PRIORITY).
    flags: u8,
    /// The 5 priority bytes, when PRIORITY is set.
    priority: Option<[u8; 5]>,
    fragment: Vec<u8>,
    /// How many input bytes the block occupied.
    consumed: usize,
}

/// Reads a header block starting at the front of `buf` (a HEADERS frame),
/// or `None` if it is not complete yet.
fn take_header_block(buf: &[u8]) -> io::Result<Option<HeaderBlock>> {
    let Some(first) = peek_frame(buf)? else { return Ok(None) };
    let payload = &buf[FRAME_HEADER..FRAME_HEADER + first.len];
    let mut body = payload;
    let mut pad = 0usize;
    if first.flags & PADDED != 0 {
        let Some((&p, rest)) = body.split_first() else { return Err(malformed()) };
        pad = usize::from(p);
        body = rest;
    }
    let mut priority = None;
    if first.flags & PRIORITY != 0 {
        if body.len() < 5 {
            return Err(malformed());
        }
        priority = Some([body[0], body[1], body[2], body[3], body[4]]);
        body = &body[5..];
    }
    if pad > body.len() {
        return Err(malformed());
    }
    let mut fragment = body[..body.len() - pad].to_vec();
    let mut at = FRAME_HEADER + first.len;
    let mut done = first.flags & END_HEADERS != 0;
    while !done {
        if at > MAX_HEADER_BLOCK {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "HTTP/2 header block too large"));
        }
        let Some(next) = peek_frame(&buf[at..])? else { return Ok(None) };
        if next.kind != CONTINUATION || next.stream != first.stream {
            return Err(malformed());
        }
        fragment.extend_from_slice(&buf[at + FRAME_HEADER..at + FRAME_HEADER + next.len]);
        done = next.flags & END_HEADERS != 0;
        at += FRAME_HEADER + next.len;
    }
    let flags = first.flags & !(PADDED | END_HEADERS);
    Ok(Some(HeaderBlock { stream: first.stream, flags, priority, fragment, consumed: at }))
}

fn malformed() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "malformed HTTP/2 header block")
}

/// The authority without a scheme, if it has one.
fn strip_scheme(authority: &[u8]) -> Option<&[u8]> {
    for scheme in [&b"http://"[..], b"https://", b"unix://", b"unixs://"] {
        if authority.len() > scheme.len() && authority[..scheme.len()].eq_ignore_ascii_case(scheme) {
            return Some(&authority[scheme.len()..]);
        }
    }
    None
}

fn needs_rewrite(headers: &[(Vec<u8>, Vec<u8>)]) -> bool {
    headers.iter().any(|(n, v)| n == b":authority" && strip_scheme(v).is_some())
}

/// Writes `block` with `fragment` as a HEADERS frame plus CONTINUATIONs.
fn write_block(out: &mut BytesMut, block: &HeaderBlock, fragment: &[u8]) {
    let prefix = block.priority.map_or(0, |_| 5);
    let first_len = fragment.len().min(MAX_FRAME - prefix);
    let (head, mut rest) = fragment.split_at(first_len);
    let end = if rest.is_empty() { END_HEADERS } else { 0 };
    put_frame_header(out, prefix + head.len(), HEADERS, block.flags | end, block.stream);
    if let Some(p) = block.priority {
        out.extend_from_slice(&p);
    }
    out.extend_from_slice(head);
    while !rest.is_empty() {
        let n = rest.len().min(MAX_FRAME);
        let (chunk, tail) = rest.split_at(n);
        put_frame_header(out, n, CONTINUATION, if tail.is_empty() { END_HEADERS } else { 0 }, block.stream);
        out.extend_from_slice(chunk);
        rest = tail;
    }
}

fn put_frame_header(out: &mut BytesMut, len: usize, kind: u8, flags: u8, stream: u32) {
    out.extend_from_slice(&[(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
}

impl Rewriter {
    fn new() -> Self {
        Self { decoder: loona_hpack::Decoder::new(), encoder: loona_hpack::Encoder::new() }
    }

    fn rewrite(&mut self, block: &HeaderBlock, out: &mut BytesMut) -> io::Result<()> {
        let headers = self
            .decoder
            .decode(&block.fragment)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        self.emit(block, headers, out);
        Ok(())
    }

    fn emit(&mut self, block: &HeaderBlock, headers: Vec<(Vec<u8>, Vec<u8>)>, out: &mut BytesMut) {
        let fixed: Vec<(Vec<u8>, Vec<u8>)> = headers
            .into_iter()
            .map(|(n, v)| {
                if n == b":authority" {
                    let v = strip_scheme(&v).map(<[u8]>::to_vec).unwrap_or(v);
                    (n, v)
                } else {
                    (n, v)
                }
            })
            .collect();
        let encoded = self.encoder.encode(fixed.iter().map(|(n, v)| (&n[..], &v[..])));
        write_block(out, block, &encoded);
    }
}

impl<S> AuthorityFix<S> {
    /// Moves what can be decided from `input` to `output`.
    fn process(&mut self) -> io::Result<()> {
        loop {
            match &mut self.mode {
                Mode::Passthrough => {
                    let all = self.input.split();
                    self.output.unsplit(all);
                    return Ok(());
                }
                Mode::Preface => {
                    let n = self.input.len().min(PREFACE.len());
                    if self.input[..n] != PREFACE[..n] {
                        self.mode = Mode::Passthrough;
                        continue;
                    }
                    if n < PREFACE.len() {
                        return Ok(());
                    }
                    let preface = self.input.split_to(PREFACE.len());
                    self.output.unsplit(preface);
                    self.mode = Mode::FirstHeaders;
                }
                Mode::FirstHeaders => {
                    let Some(frame) = peek_frame(&self.input)? else { return Ok(()) };
                    if frame.kind != HEADERS {
                        let bytes = self.input.split_to(FRAME_HEADER + frame.len);
                        self.output.unsplit(bytes);
                        continue;
                    }
                    let Some(block) = take_header_block(&self.input)? else { return Ok(()) };
                    let mut rewriter = Rewriter::new();
                    let headers = rewriter
                        .decoder
                        .decode(&block.fragment)
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                    if needs_rewrite(&headers) {
                        tracing::debug!("client sent a URL as HTTP/2 :authority; rewriting its header blocks");
                        self.input.advance(block.consumed);
                        rewriter.emit(&block, headers, &mut self.output);
                        self.mode = Mode::Rewrite(Box::new(rewriter));
                    } else {
                        self.mode = Mode::Passthrough;
                    }
                }
                Mode::Rewrite(rewriter) => {
                    let Some(frame) = peek_frame(&self.input)? else { return Ok(()) };
                    if frame.kind != HEADERS {
                        let bytes = self.input.split_to(FRAME_HEADER + frame.len);
                        self.output.unsplit(bytes);
                        continue;
                    }
                    let Some(block) = take_header_block(&self.input)? else { return Ok(()) };
                    self.input.advance(block.consumed);
                    rewriter.rewrite(&block, &mut self.output)?;
                }
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for AuthorityFix<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if !this.output.is_empty() {
                let n = this.output.len().min(buf.remaining());
                buf.put_slice(&this.output.split_to(n));
                return Poll::Ready(Ok(()));
            }
            if matches!(this.mode, Mode::Passthrough) && this.input.is_empty() {
                return Pin::new(&mut this.inner).poll_read(cx, buf);
            }
            if this.eof {
                // Whatever is left undecided goes through as it is.
                let rest = this.input.split();
                if rest.is_empty() {
                    return Poll::Ready(Ok(()));
                }
                this.output.unsplit(rest);
                continue;
            }
            let mut chunk = [0u8; 16 * 1024];
            let mut read = ReadBuf::new(&mut chunk);
            match Pin::new(&mut this.inner).poll_read(cx, &mut read) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => {
                    if read.filled().is_empty() {
                        this.eof = true;
                    } else {
                        this.input.extend_from_slice(read.filled());
                        this.process()?;
                    }
                }
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for AuthorityFix<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A listener whose connections are wrapped in [`AuthorityFix`].
pub struct FixingListener<L>(pub L);

impl<L> axum::serve::Listener for FixingListener<L>
where
    L: axum::serve::Listener,
{
    type Io = AuthorityFix<L::Io>;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (stream, addr) = self.0.accept().await;
        (AuthorityFix::new(stream), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = BytesMut::new();
        put_frame_header(&mut out, payload.len(), kind, flags, stream);
        out.extend_from_slice(payload);
        out.to_vec()
    }

    fn request(enc: &mut loona_hpack::Encoder<'_>, authority: &[u8]) -> Vec<u8> {
        enc.encode([
            (&b":method"[..], &b"POST"[..]),
            (b":scheme", b"http"),
            (b":path", b"/etcdserverpb.KV/Range"),
            (b":authority", authority),
        ])
    }

    async fn pass(input: Vec<u8>) -> Vec<u8> {
        let mut fix = AuthorityFix::new(&input[..]);
        let mut out = Vec::new();
        fix.read_to_end(&mut out).await.unwrap();
        out
    }

    fn decode_blocks(bytes: &[u8]) -> Vec<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut dec = loona_hpack::Decoder::new();
        let mut at = PREFACE.len();
        let mut out = Vec::new();
        while at < bytes.len() {
            let f = peek_frame(&bytes[at..]).unwrap().unwrap();
            if f.kind == HEADERS {
                let block = take_header_block(&bytes[at..]).unwrap().unwrap();
                out.push(dec.decode(&block.fragment).unwrap());
                at += block.consumed;
            } else {
                at += FRAME_HEADER + f.len;
            }
        }
        out
    }

    #[tokio::test]
    async fn strips_the_scheme_from_every_block_of_a_3_4_client() {
        let mut enc = loona_hpack::Encoder::new();
        let mut input = PREFACE.to_vec();
        input.extend(frame(0x4, 0, 0, &[])); // SETTINGS
        input.extend(frame(HEADERS, END_HEADERS, 1, &request(&mut enc, b"http://127.0.0.1:2379")));
        input.extend(frame(0x0, 0x1, 1, b"body"));
        // The second block refers to the client's dynamic table.
        input.extend(frame(HEADERS, END_HEADERS, 3, &request(&mut enc, b"http://127.0.0.1:2379")));
        let out = pass(input).await;
        let blocks = decode_blocks(&out);
        assert_eq!(blocks.len(), 2);
        for b in blocks {
            let auth = b.iter().find(|(n, _)| n == b":authority").unwrap();
            assert_eq!(auth.1, b"127.0.0.1:2379");
        }
        assert!(out.windows(4).any(|w| w == b"body"));
    }

    #[tokio::test]
    async fn leaves_well_formed_connections_and_http1_alone() {
        let mut enc = loona_hpack::Encoder::new();
        let mut input = PREFACE.to_vec();
        input.extend(frame(HEADERS, END_HEADERS, 1, &request(&mut enc, b"127.0.0.1:2379")));
        assert_eq!(pass(input.clone()).await, input);
        let http1 = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
        assert_eq!(pass(http1.clone()).await, http1);
    }

    async fn refused(input: Vec<u8>) -> io::Error {
        let mut fix = AuthorityFix::new(&input[..]);
        let mut out = Vec::new();
        fix.read_to_end(&mut out).await.expect_err("the connection must be refused")
    }

    /// R1: a CONTINUATION flood (a header block that never ends) used to be
    /// buffered without bound.
    #[tokio::test]
    async fn an_endless_header_block_is_refused() {
        let mut input = PREFACE.to_vec();
        input.extend(frame(HEADERS, 0, 1, b"\x82"));
        for _ in 0..8 {
            input.extend(frame(CONTINUATION, 0, 1, &[0u8; 16_000]));
        }
        let e = refused(input).await;
        assert!(e.to_string().contains("header block too large"), "{e}");
    }

    /// R1: frames above the 16 KiB the server advertises used to be accepted
    /// up to 16 MiB.
    #[tokio::test]
    async fn a_frame_larger_than_advertised_is_refused() {
        let mut input = PREFACE.to_vec();
        input.extend(frame(HEADERS, END_HEADERS, 1, &vec![0u8; MAX_FRAME + 1]));
        let e = refused(input).await;
        assert!(e.to_string().contains("frame too large"), "{e}");
    }

    #[tokio::test]
    async fn splits_large_blocks_into_continuations() {
        let mut enc = loona_hpack::Encoder::new();
        let big = vec![b'x'; 40_000];
        let block = enc.encode([(&b":authority"[..], &b"http://h:1"[..]), (b"big", &big[..])]);
        let mut input = PREFACE.to_vec();
        // The client sends it as HEADERS + CONTINUATION already.
        let (a, rest) = block.split_at(10_000);
        let (b, c) = rest.split_at(16_000);
        input.extend(frame(HEADERS, 0, 1, a));
        input.extend(frame(CONTINUATION, 0, 1, b));
        input.extend(frame(CONTINUATION, END_HEADERS, 1, c));
        let out = pass(input).await;
        let blocks = decode_blocks(&out);
        assert_eq!(blocks[0][0].1, b"h:1");
        assert_eq!(blocks[0][1].1.len(), 40_000);
    }
}
