//! gRPC health nodes: `grpc.health.v1.Health/Check` over HTTP/2 (cleartext or TLS), the protobuf
//! encoded by hand (one enum field) so the simulator needs no code generation.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};

use super::node::NodeHandle;
use super::plan::Behavior;

/// `HealthCheckResponse.ServingStatus` values (grpc/health/v1/health.proto).
const SERVING: u8 = 1;
const NOT_SERVING: u8 = 2;
/// The health method path.
pub const CHECK_PATH: &str = "/grpc.health.v1.Health/Check";

type Body = BoxBody<Bytes, Infallible>;

pub(crate) async fn serve<S>(stream: S, node: NodeHandle)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |req| {
        let node = node.clone();
        async move { Ok::<_, Infallible>(handle(req, node).await) }
    });
    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(stream), svc)
        .await;
}

async fn handle(req: Request<Incoming>, node: NodeHandle) -> Response<Body> {
    let (config, behavior) = node.next_request();
    if !config.latency.is_zero() {
        tokio::time::sleep(config.latency).await;
    }
    if req.uri().path() != CHECK_PATH {
        return trailers_only(12, "unknown method"); // UNIMPLEMENTED
    }
    let _ = req.into_body().collect().await;
    let status = match behavior {
        Behavior::Healthy | Behavior::Degraded | Behavior::Body(_) => SERVING,
        Behavior::Hang => return std::future::pending().await,
        Behavior::Garbage => {
            let frames = vec![Ok(Frame::data(Bytes::from_static(b"\x00\x00\x00\x00\x09garbage")))];
            return Response::builder()
                .header("content-type", "application/grpc")
                .body(BodyExt::boxed(StreamBody::new(futures::stream::iter(frames))))
                .expect("static response parts are valid");
        }
        Behavior::Status(code) if code >= 1000 => return trailers_only(code - 1000, "status"),
        _ => NOT_SERVING,
    };
    let msg = Bytes::from(vec![0, 0, 0, 0, 2, 0x08, status]);
    let mut trailers = hyper::HeaderMap::new();
    trailers.insert("grpc-status", hyper::header::HeaderValue::from_static("0"));
    let frames = vec![Ok(Frame::data(msg)), Ok(Frame::trailers(trailers))];
    Response::builder()
        .header("content-type", "application/grpc")
        .body(BodyExt::boxed(StreamBody::new(futures::stream::iter(frames))))
        .expect("static response parts are valid")
}

/// A gRPC error answer with the status in the headers and no message (gRPC over HTTP/2 spec,
/// "Trailers-Only").
fn trailers_only(code: u16, message: &'static str) -> Response<Body> {
    Response::builder()
        .header("content-type", "application/grpc")
        .header("grpc-status", code.to_string())
        .header("grpc-message", message)
        .body(BodyExt::boxed(http_body_util::Empty::new().map_err(|e| match e {})))
        .expect("static response parts are valid")
}
