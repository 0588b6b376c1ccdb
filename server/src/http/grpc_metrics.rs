//! gRPC server metrics as a tower layer: what etcd gets from
//! go-grpc-middleware's Prometheus interceptors, without touching the
//! service handlers.
//!
//! For every call to a method of etcd's API it records
//! `grpc_server_started_total`, `grpc_server_handled_total{grpc_code}`
//! (from the `grpc-status` in the response headers or trailers; a call
//! dropped before its status counts as `Canceled`), one
//! `grpc_server_msg_received_total` / `grpc_server_msg_sent_total` per
//! length-prefixed gRPC message in each direction, their payload bytes in
//! `etcd_network_client_grpc_{received,sent}_bytes_total`, and
//! `etcd_server_client_requests_total` from the `client-api-version`
//! metadata. Other requests (plain HTTP, unknown methods) pass untouched.
//!
//! Wiring (the gRPC part of the client router only):
//! `grpc.into_axum_router().layer(GrpcMetricsLayer::new(metrics))`, or
//! `tonic::transport::Server::builder().layer(GrpcMetricsLayer::new(metrics))`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};

use crate::metrics::{GRPC_CODE_CANCELED, GRPC_CODE_UNKNOWN, GrpcMethod, GrpcType, Metrics};

/// Adds gRPC metrics to a service (see the module docs).
#[derive(Clone)]
pub struct GrpcMetricsLayer {
    metrics: Arc<Metrics>,
}

impl GrpcMetricsLayer {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self { metrics }
    }
}

impl<S> tower::Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetricsService { inner, metrics: self.metrics.clone() }
    }
}

/// The service [`GrpcMetricsLayer`] produces.
#[derive(Clone)]
pub struct GrpcMetricsService<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/grpc"))
}

fn grpc_status(headers: &HeaderMap) -> Option<i32> {
    headers.get("grpc-status")?.to_str().ok()?.trim().parse().ok()
}

impl<S, B, RB> tower::Service<Request<B>> for GrpcMetricsService<S>
where
    S: tower::Service<Request<MeteredBody<B>>, Response = Response<RB>>,
    S::Future: Send + 'static,
    S::Error: 'static,
    B: HttpBody<Data = Bytes>,
    RB: HttpBody<Data = Bytes> + 'static,
{
    type Response = Response<MeteredBody<RB>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let method = if is_grpc(req.headers()) { GrpcMethod::from_path(req.uri().path()) } else { None };
        let Some(method) = method else {
            let fut = self.inner.call(req.map(MeteredBody::plain));
            return Box::pin(async move { Ok(fut.await?.map(MeteredBody::plain)) });
        };
        let metrics = self.metrics.clone();
        metrics.grpc_started(method);
        let version = req.headers().get("client-api-version").and_then(|v| v.to_str().ok());
        metrics.client_request(method.kind() != GrpcType::Unary, version);
        let req = req.map(|b| MeteredBody::new(b, Meter::new(metrics.clone(), method, Direction::Received, None)));
        // Owned by the future, then by the response body: dropping either
        // before the status is known counts the call as canceled.
        let mut guard = HandledGuard { metrics: metrics.clone(), method, done: false };
        let fut = self.inner.call(req);
        Box::pin(async move {
            match fut.await {
                Ok(resp) => {
                    // A trailers-only response carries the status in its headers.
                    if let Some(code) = grpc_status(resp.headers()) {
                        guard.finish(code);
                    }
                    let meter = Meter::new(metrics, method, Direction::Sent, Some(guard));
                    Ok(resp.map(|b| MeteredBody::new(b, meter)))
                }
                Err(e) => {
                    guard.finish(GRPC_CODE_UNKNOWN);
                    Err(e)
                }
            }
        })
    }
}

/// Records `grpc_server_handled_total` once: with the status seen, or as
/// `Canceled` when dropped first.
struct HandledGuard {
    metrics: Arc<Metrics>,
    method: GrpcMethod,
    done: bool,
}

impl HandledGuard {
    fn finish(&mut self, code: i32) {
        if !self.done {
            self.done = true;
            self.metrics.grpc_handled(self.method, code);
        }
    }
}

impl Drop for HandledGuard {
    fn drop(&mut self) {
        self.finish(GRPC_CODE_CANCELED);
    }
}

/// Splits a byte stream into gRPC messages (1-byte flag, 4-byte big-endian
/// length, payload), across arbitrary chunk boundaries.
#[derive(Debug, Default)]
struct Framer {
    header: [u8; 5],
    header_len: usize,
    /// Payload bytes of the current message still to come.
    remaining: u64,
}

impl Framer {
    /// Feeds a chunk; calls `on_message(payload_len)` for each message header completed.
    fn feed(&mut self, mut data: &[u8], mut on_message: impl FnMut(u64)) {
        while !data.is_empty() {
            if self.remaining > 0 {
                let n = self.remaining.min(data.len() as u64) as usize;
                self.remaining -= n as u64;
                data = &data[n..];
                continue;
            }
            let n = (5 - self.header_len).min(data.len());
            self.header[self.header_len..self.header_len + n].copy_from_slice(&data[..n]);
            self.header_len += n;
            data = &data[n..];
            if self.header_len == 5 {
                let h = self.header;
                let len = u64::from(u32::from_be_bytes([h[1], h[2], h[3], h[4]]));
                on_message(len);
                self.remaining = len;
                self.header_len = 0;
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Received,
    Sent,
}

struct Meter {
    metrics: Arc<Metrics>,
    method: GrpcMethod,
    direction: Direction,
    framer: Framer,
    /// Response side only: the call's status.
    handled: Option<HandledGuard>,
}

impl Meter {
    fn new(metrics: Arc<Metrics>, method: GrpcMethod, direction: Direction, handled: Option<HandledGuard>) -> Self {
        Self { metrics, method, direction, framer: Framer::default(), handled }
    }

    fn data(&mut self, data: &[u8]) {
        let (metrics, method, direction) = (&self.metrics, self.method, self.direction);
        self.framer.feed(data, |len| match direction {
            Direction::Received => metrics.grpc_msg_received(method, len),
            Direction::Sent => metrics.grpc_msg_sent(method, len),
        });
    }

    fn finish(&mut self, code: i32) {
        if let Some(h) = self.handled.as_mut() {
            h.finish(code);
        }
    }
}

/// A body that counts the gRPC messages passing through it (and, on the
/// response side, records the call's status from the trailers).
pub struct MeteredBody<B> {
    inner: Pin<Box<B>>,
    meter: Option<Meter>,
}

impl<B> MeteredBody<B> {
    /// A body passed through without counting.
    pub fn plain(inner: B) -> Self {
        Self { inner: Box::pin(inner), meter: None }
    }

    fn new(inner: B, meter: Meter) -> Self {
        Self { inner: Box::pin(inner), meter: Some(meter) }
    }
}

impl<B> HttpBody for MeteredBody<B>
where
    B: HttpBody<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        let polled = this.inner.as_mut().poll_frame(cx);
        if let Some(meter) = this.meter.as_mut() {
            match &polled {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        meter.data(data);
                    } else if let Some(trailers) = frame.trailers_ref() {
                        meter.finish(grpc_status(trailers).unwrap_or(GRPC_CODE_UNKNOWN));
                    }
                }
                // Ended without a status, or failed: grpc-go reports Unknown.
                Poll::Ready(Some(Err(_))) | Poll::Ready(None) => meter.finish(GRPC_CODE_UNKNOWN),
                Poll::Pending => {}
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::convert::Infallible;

    /// A body yielding scripted frames.
    struct Scripted(VecDeque<Frame<Bytes>>);

    impl HttpBody for Scripted {
        type Data = Bytes;
        type Error = Infallible;
        fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            Poll::Ready(self.0.pop_front().map(Ok))
        }
    }

    fn grpc_frame(payload_len: usize) -> Vec<u8> {
        let mut v = vec![0u8];
        v.extend_from_slice(&(payload_len as u32).to_be_bytes());
        v.extend(std::iter::repeat_n(7u8, payload_len));
        v
    }

    async fn drain<B: HttpBody<Data = Bytes> + Unpin>(mut b: B) {
        while std::future::poll_fn(|cx| Pin::new(&mut b).poll_frame(cx)).await.is_some() {}
    }

    #[test]
    fn framer_handles_split_headers_and_payloads() {
        let mut bytes = grpc_frame(3);
        bytes.extend(grpc_frame(0));
        bytes.extend(grpc_frame(300));
        let mut seen = Vec::new();
        // Feed one byte at a time, then all at once.
        let mut f = Framer::default();
        for b in &bytes {
            f.feed(std::slice::from_ref(b), |n| seen.push(n));
        }
        assert_eq!(seen, [3, 0, 300]);
        seen.clear();
        Framer::default().feed(&bytes, |n| seen.push(n));
        assert_eq!(seen, [3, 0, 300]);
    }

    fn grpc_request(path: &str) -> Request<Scripted> {
        let body = Scripted(VecDeque::from([Frame::data(Bytes::from(grpc_frame(10)))]));
        Request::builder()
            .uri(path)
            .header("content-type", "application/grpc")
            .header("client-api-version", "3.6")
            .body(body)
            .unwrap()
    }

    #[tokio::test]
    async fn counts_a_unary_call_with_trailers() {
        let metrics = Metrics::new();
        let svc = tower::service_fn(|req: Request<MeteredBody<Scripted>>| async move {
            drain(req.into_body()).await;
            let mut trailers = HeaderMap::new();
            trailers.insert("grpc-status", "0".parse().unwrap());
            let body = Scripted(VecDeque::from([Frame::data(Bytes::from(grpc_frame(25))), Frame::trailers(trailers)]));
            Ok::<_, Infallible>(Response::new(body))
        });
        let mut svc = tower::Layer::layer(&GrpcMetricsLayer::new(metrics.clone()), svc);
        let resp = tower::Service::call(&mut svc, grpc_request("/etcdserverpb.KV/Range")).await.unwrap();
        drain(resp.into_body()).await;
        let text = metrics.render(None);
        let l = "grpc_method=\"Range\",grpc_service=\"etcdserverpb.KV\",grpc_type=\"unary\"";
        assert!(text.contains(&format!("grpc_server_started_total{{{l}}} 1\n")), "{text}");
        assert!(text.contains(&format!("grpc_server_handled_total{{grpc_code=\"OK\",{l}}} 1\n")));
        assert!(text.contains(&format!("grpc_server_msg_received_total{{{l}}} 1\n")));
        assert!(text.contains(&format!("grpc_server_msg_sent_total{{{l}}} 1\n")));
        assert!(text.contains("etcd_network_client_grpc_received_bytes_total 10\n"));
        assert!(text.contains("etcd_network_client_grpc_sent_bytes_total 25\n"));
        assert!(text.contains("etcd_server_client_requests_total{client_api_version=\"3.6\",type=\"unary\"} 1\n"));
    }

    #[tokio::test]
    async fn trailers_only_error_and_canceled_stream() {
        let metrics = Metrics::new();
        let svc = tower::service_fn(|req: Request<MeteredBody<Scripted>>| async move {
            let path = req.uri().path().to_string();
            let mut resp = Response::new(Scripted(VecDeque::new()));
            if path.ends_with("/Put") {
                resp.headers_mut().insert("grpc-status", "14".parse().unwrap());
            } else {
                // A stream: one message, then never finishes.
                *resp.body_mut() = Scripted(VecDeque::from([Frame::data(Bytes::from(grpc_frame(1)))]));
            }
            Ok::<_, Infallible>(resp)
        });
        let mut svc = tower::Layer::layer(&GrpcMetricsLayer::new(metrics.clone()), svc);
        let resp = tower::Service::call(&mut svc, grpc_request("/etcdserverpb.KV/Put")).await.unwrap();
        drop(resp);
        let resp = tower::Service::call(&mut svc, grpc_request("/etcdserverpb.Watch/Watch")).await.unwrap();
        let mut body = resp.into_body();
        let first = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        assert!(first.is_some());
        drop(body); // client went away before the status
        let text = metrics.render(None);
        assert!(text.contains(
            "grpc_server_handled_total{grpc_code=\"Unavailable\",grpc_method=\"Put\",grpc_service=\"etcdserverpb.KV\",grpc_type=\"unary\"} 1\n"
        ));
        assert!(text.contains(
            "grpc_server_handled_total{grpc_code=\"Canceled\",grpc_method=\"Watch\",grpc_service=\"etcdserverpb.Watch\",grpc_type=\"bidi_stream\"} 1\n"
        ));
        assert!(text.contains(
            "grpc_server_msg_sent_total{grpc_method=\"Watch\",grpc_service=\"etcdserverpb.Watch\",grpc_type=\"bidi_stream\"} 1\n"
        ));
        assert!(text.contains("etcd_server_client_requests_total{client_api_version=\"3.6\",type=\"stream\"} 1\n"));
    }

    /// The wiring used by `serve.rs`: a layer on the gRPC axum router, merged
    /// with the HTTP router (which stays unmetered).
    #[tokio::test]
    async fn works_as_an_axum_router_layer() {
        use tower::ServiceExt;
        let metrics = Metrics::new();
        let grpc = axum::Router::new()
            .route(
                "/etcdserverpb.KV/Put",
                axum::routing::post(|| async {
                    let mut resp = axum::response::Response::new(axum::body::Body::empty());
                    resp.headers_mut().insert("content-type", "application/grpc".parse().unwrap());
                    resp.headers_mut().insert("grpc-status", "3".parse().unwrap());
                    resp
                }),
            )
            .layer(GrpcMetricsLayer::new(metrics.clone()));
        // tonic's router accepts the layer too.
        let _tonic = tonic::service::Routes::default().into_axum_router().layer(GrpcMetricsLayer::new(metrics.clone()));
        let app = grpc.merge(axum::Router::new().route("/version", axum::routing::get(|| async { "v" })));
        let req = Request::post("/etcdserverpb.KV/Put")
            .header("content-type", "application/grpc")
            .body(axum::body::Body::from(grpc_frame(4)))
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        let _ = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        let resp = app.oneshot(Request::get("/version").body(axum::body::Body::empty()).unwrap()).await.unwrap();
        assert_eq!(resp.status(), 200);
        let text = metrics.render(None);
        assert!(text.contains(
            "grpc_server_handled_total{grpc_code=\"InvalidArgument\",grpc_method=\"Put\",grpc_service=\"etcdserverpb.KV\",grpc_type=\"unary\"} 1\n"
        ));
    }

    #[tokio::test]
    async fn plain_http_passes_untouched() {
        let metrics = Metrics::new();
        let svc = tower::service_fn(|_req: Request<MeteredBody<Scripted>>| async move {
            Ok::<_, Infallible>(Response::new(Scripted(VecDeque::new())))
        });
        let mut svc = tower::Layer::layer(&GrpcMetricsLayer::new(metrics.clone()), svc);
        let req = Request::builder().uri("/etcdserverpb.KV/Range").body(Scripted(VecDeque::new())).unwrap();
        let _ = tower::Service::call(&mut svc, req).await.unwrap();
        let req = Request::builder()
            .uri("/unknown.Service/Method")
            .header("content-type", "application/grpc")
            .body(Scripted(VecDeque::new()))
            .unwrap();
        let _ = tower::Service::call(&mut svc, req).await.unwrap();
        let text = metrics.render(None);
        assert!(text.contains(
            "grpc_server_started_total{grpc_method=\"Range\",grpc_service=\"etcdserverpb.KV\",grpc_type=\"unary\"} 0\n"
        ));
        assert!(!text.contains("unknown.Service"));
    }
}
