//! etcd's transport limit on gRPC request messages, with grpc-go's refusal.
//!
//! etcd's gRPC server receives messages of at most `--max-request-bytes` plus
//! 512 KiB ([`crate::api::GRPC_OVERHEAD_BYTES`]); a larger one is refused by
//! grpc-go before it is read, with `ResourceExhausted` and "grpc: received
//! message larger than max (N vs. M)". Capstan's services are built with the
//! same decoding limit, so a client can no longer make the server buffer a
//! 64 MiB message; tonic refuses at the length prefix too, but with its own
//! code and text (`OutOfRange`, "Error, decoded message length too large:
//! found N bytes, the limit is: M bytes"). [`etcd_refusal`] rewrites that
//! status, wherever it appears in the response (the headers of a
//! trailers-only response, or the trailers), into grpc-go's.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::HeaderMap;
use http_body::Frame;
use tonic::{Code, Status};

/// The start of tonic's refusal of an over-long message.
const TONIC_TOO_LARGE: &str = "Error, decoded message length too large: found ";

/// grpc-go's refusal for the status tonic put in `headers`, if that status
/// is tonic's refusal of an over-long message.
fn translate(headers: &HeaderMap) -> Option<Status> {
    let status = Status::from_header_map(headers)?;
    if status.code() != Code::OutOfRange {
        return None;
    }
    let rest = status.message().strip_prefix(TONIC_TOO_LARGE)?;
    let (found, rest) = rest.split_once(" bytes, the limit is: ")?;
    let limit = rest.strip_suffix(" bytes")?;
    let (found, limit): (u64, u64) = (found.parse().ok()?, limit.parse().ok()?);
    Some(Status::resource_exhausted(format!("grpc: received message larger than max ({found} vs. {limit})")))
}

/// Replaces the gRPC status in `headers` by `status`.
fn replace_status(headers: &mut HeaderMap, status: &Status) {
    headers.remove("grpc-status");
    headers.remove("grpc-message");
    headers.remove("grpc-status-details");
    // Only fails for a message that cannot be a header value; ours can.
    let _ = status.add_header(headers);
}

/// Axum response mapper for the gRPC routes (see the module doc).
pub async fn etcd_refusal(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    if let Some(status) = translate(&parts.headers) {
        replace_status(&mut parts.headers, &status);
        return Response::from_parts(parts, body);
    }
    let is_grpc =
        parts.headers.get(http::header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    if !is_grpc {
        return Response::from_parts(parts, body);
    }
    Response::from_parts(parts, Body::new(TrailerRewrite { inner: body }))
}

/// A response body whose trailers get [`translate`]d.
struct TrailerRewrite {
    inner: Body,
}

impl http_body::Body for TrailerRewrite {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let frame = match frame.into_trailers() {
                    Ok(mut trailers) => {
                        if let Some(status) = translate(&trailers) {
                            replace_status(&mut trailers, &status);
                        }
                        Frame::trailers(trailers)
                    }
                    Err(frame) => frame,
                };
                Poll::Ready(Some(Ok(frame)))
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers_of(status: &Status) -> HeaderMap {
        let mut h = HeaderMap::new();
        status.add_header(&mut h).unwrap();
        h
    }

    #[test]
    fn tonic_refusal_becomes_grpc_go_refusal() {
        let tonic = Status::out_of_range(format!("{TONIC_TOO_LARGE}3145738 bytes, the limit is: 2097152 bytes"));
        let etcd = translate(&headers_of(&tonic)).unwrap();
        assert_eq!(etcd.code(), Code::ResourceExhausted);
        assert_eq!(etcd.message(), "grpc: received message larger than max (3145738 vs. 2097152)");
    }

    #[test]
    fn other_statuses_are_left_alone() {
        for s in [
            Status::out_of_range("etcdserver: too large lease TTL"),
            Status::ok(""),
            Status::invalid_argument(TONIC_TOO_LARGE),
        ] {
            assert!(translate(&headers_of(&s)).is_none(), "{s:?}");
        }
    }

    #[tokio::test]
    async fn trailers_are_rewritten() {
        use http_body_util::BodyExt;
        let tonic = Status::out_of_range(format!("{TONIC_TOO_LARGE}10 bytes, the limit is: 5 bytes"));
        let body = http_body_util::StreamBody::new(futures::stream::iter([Ok::<_, axum::Error>(Frame::trailers(
            headers_of(&tonic),
        ))]));
        let response = Response::builder().header("content-type", "application/grpc").body(Body::new(body)).unwrap();
        let collected = etcd_refusal(response).await.into_body().collect().await.unwrap();
        let trailers = collected.trailers().unwrap();
        assert_eq!(trailers.get("grpc-status").unwrap(), "8");
        let status = Status::from_header_map(trailers).unwrap();
        assert_eq!(status.message(), "grpc: received message larger than max (10 vs. 5)");
    }
}
