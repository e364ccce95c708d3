//! The HTTP/1.1 listener serving `GET /metrics`: hyper on a listener bound here (so a port-0 bind
//! reports its port), driven by a current-thread tokio runtime on a thread of its own.
//!
//! Each connection gets one response and is closed (`Connection: close`; Prometheus reconnects
//! per scrape). Bounded: at most [`MAX_CONNECTIONS`] connections at once (others wait in the
//! kernel's accept queue), a request head of at most [`MAX_REQUEST_HEAD`] bytes, and
//! [`REQUEST_TIMEOUT`] to send it.

use super::exposition::CONTENT_TYPE;
use super::Registry;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Semaphore};

/// Most connections served at once (scrapers are few; this only bounds misbehaving clients).
pub const MAX_CONNECTIONS: usize = 16;
/// Longest request head read (request line and headers); longer gets 431 and a close. (hyper's
/// read buffer, whose smallest allowed size this is.)
pub const MAX_REQUEST_HEAD: usize = 8 * 1024;
/// Time a client has to send its request head.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// How long [`bind_listener`] keeps retrying a port still held by a process being torn down
/// (a restart right after `kill -9`: the old listener closes only when its exit completes).
pub const BIND_RETRY: Duration = Duration::from_secs(5);

/// Pause between two bind attempts of [`bind_listener`].
const BIND_RETRY_STEP: Duration = Duration::from_millis(100);

/// Bind a TCP listener on `addr` for the metrics endpoint with `SO_REUSEADDR` (a restart
/// rebinds while the old connections are in TIME_WAIT), retrying "address in use" for up to
/// `retry_for` (the port of a killed process is released when its exit completes).
pub fn bind_listener(addr: SocketAddr, retry_for: Duration) -> io::Result<std::net::TcpListener> {
    let start = std::time::Instant::now();
    let mut warned = false;
    loop {
        match bind_once(addr) {
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && start.elapsed() < retry_for => {
                if !warned {
                    warned = true;
                    tracing::warn!(%addr, "metrics port in use, retrying for {retry_for:?}");
                }
                std::thread::sleep(BIND_RETRY_STEP);
            }
            result => return result,
        }
    }
}

fn bind_once(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// A running metrics listener; dropping it stops it.
#[derive(Debug)]
pub struct MetricsServer {
    local_addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Bind `addr` (TCP; port 0 picks a free port) and serve `registry` on a thread named
    /// `msgin5g-metrics`: `GET /metrics` (query ignored) renders it; `HEAD` likewise without
    /// body; other paths 404, other methods 405, unparsable requests 400.
    pub fn spawn(addr: SocketAddr, registry: Registry) -> io::Result<MetricsServer> {
        MetricsServer::spawn_on(bind_listener(addr, BIND_RETRY)?, registry)
    }

    /// Serve `registry` on an already-bound listener. Binding first (before starting what the
    /// registry observes) fails early on a bad address, and scrapers connecting meanwhile wait in
    /// the kernel's accept queue.
    pub fn spawn_on(
        std_listener: std::net::TcpListener,
        registry: Registry,
    ) -> io::Result<MetricsServer> {
        std_listener.set_nonblocking(true)?;
        let local_addr = std_listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let listener = {
            let _guard = runtime.enter();
            TcpListener::from_std(std_listener)?
        };
        let registry = Arc::new(registry);
        let (tx, rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("msgin5g-metrics".to_string())
            .spawn(move || runtime.block_on(serve(listener, registry, rx)))?;
        tracing::info!(%local_addr, "metrics at http://{local_addr}/metrics");
        Ok(MetricsServer {
            local_addr,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// The bound address (the real port when `addr` had port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stop accepting, close the listener and join the thread.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::warn!("metrics listener thread panicked");
            }
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn serve(listener: TcpListener, registry: Arc<Registry>, shutdown: oneshot::Receiver<()>) {
    tokio::pin!(shutdown);
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => return,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        let accepted = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let registry = registry.clone();
                tokio::spawn(async move {
                    if let Err(error) = handle(stream, registry).await {
                        tracing::debug!(%peer, %error, "metrics connection ended with an error");
                    }
                    drop(permit);
                });
            }
            // EMFILE and the like: wait a little instead of spinning on the error.
            Err(error) => {
                tracing::warn!(%error, "metrics listener accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Serve one connection: one request, one response, then close (HTTP/1.1 by hyper; the head is
/// bounded by [`MAX_REQUEST_HEAD`] (431 beyond) and [`REQUEST_TIMEOUT`]).
async fn handle(stream: TcpStream, registry: Arc<Registry>) -> hyper::Result<()> {
    let service = service_fn(move |request: Request<Incoming>| {
        let response = answer(&registry, request.method(), request.uri().path());
        async move { Ok::<_, Infallible>(response) }
    });
    http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(REQUEST_TIMEOUT)
        .max_buf_size(MAX_REQUEST_HEAD)
        .keep_alive(false)
        .title_case_headers(true)
        .serve_connection(TokioIo::new(stream), service)
        .await
}

/// The answer to `method path`: `GET`/`HEAD /metrics` (query ignored) renders `registry` (hyper
/// leaves out a `HEAD` answer's body); other paths 404, other methods 405.
fn answer(registry: &Registry, method: &Method, path: &str) -> Response<Full<Bytes>> {
    if method != Method::GET && method != Method::HEAD {
        return plain(StatusCode::METHOD_NOT_ALLOWED);
    }
    if path != "/metrics" {
        return plain(StatusCode::NOT_FOUND);
    }
    respond(StatusCode::OK, CONTENT_TYPE, registry.render())
}

/// A status-only answer: its reason phrase as a plain-text body.
fn plain(status: StatusCode) -> Response<Full<Bytes>> {
    let text = format!(
        "{} {}",
        status.as_str(),
        status.canonical_reason().unwrap_or_default()
    );
    respond(status, "text/plain; charset=utf-8", text)
}

fn respond(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Exposition, MetricType, Source};
    use std::io::{Read, Write};

    struct Fixed;

    impl Source for Fixed {
        fn render(&self, page: &mut Exposition) {
            page.family("msgin5g_test_up", MetricType::Gauge, "Up.");
            page.sample("msgin5g_test_up", &[], 1);
        }
    }

    fn exchange(addr: SocketAddr, request: &[u8]) -> String {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(request).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    }

    #[test]
    fn the_port_binds_again_right_after_a_drop_with_connections_in_time_wait() {
        // A scrape the server side closes first: its end stays in TIME_WAIT on the port.
        let scrape_then_drop = |listener: std::net::TcpListener| {
            let addr = listener.local_addr().unwrap();
            let client = std::net::TcpStream::connect(addr).unwrap();
            let (served, _) = listener.accept().unwrap();
            drop(served);
            drop(client);
            drop(listener);
        };
        let first = bind_listener("127.0.0.1:0".parse().unwrap(), Duration::ZERO).unwrap();
        let addr = first.local_addr().unwrap();
        assert!(socket2::SockRef::from(&first).reuse_address().unwrap());
        scrape_then_drop(first);
        let second = bind_listener(addr, Duration::ZERO).expect("rebinds at once");
        scrape_then_drop(second);
        let again = bind_listener(addr, Duration::ZERO).expect("and again");
        // A port still listening elsewhere: refused after the (here empty) retry period.
        let err = bind_listener(addr, Duration::from_millis(200)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        drop(again);
    }

    #[test]
    fn serves_metrics_and_refuses_the_rest() {
        let server =
            MetricsServer::spawn("127.0.0.1:0".parse().unwrap(), Registry::new().with(Fixed))
                .unwrap();
        let addr = server.local_addr();
        assert_ne!(addr.port(), 0);

        let ok = exchange(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.contains(&format!("Content-Type: {CONTENT_TYPE}\r\n")));
        let body = "# HELP msgin5g_test_up Up.\n# TYPE msgin5g_test_up gauge\nmsgin5g_test_up 1\n";
        assert!(ok.contains(&format!("Content-Length: {}\r\n", body.len())));
        assert!(ok.contains("Connection: close\r\n"), "{ok}");
        assert!(ok.ends_with(&format!("\r\n\r\n{body}")), "{ok}");

        let head = exchange(addr, b"HEAD /metrics HTTP/1.1\r\n\r\n");
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n") && head.ends_with("\r\n\r\n"));
        assert!(
            head.contains(&format!("Content-Length: {}\r\n", body.len())),
            "{head}"
        );

        let missing = exchange(addr, b"GET /other HTTP/1.1\r\n\r\n");
        assert!(
            missing.starts_with("HTTP/1.1 404 Not Found\r\n"),
            "{missing}"
        );
        let post = exchange(addr, b"POST /metrics HTTP/1.1\r\n\r\n");
        assert!(post.starts_with("HTTP/1.1 405 "), "{post}");
        let bad = exchange(addr, b"hello\r\n\r\n");
        assert!(bad.starts_with("HTTP/1.1 400 "), "{bad}");
        // Exactly the bound, never terminated: all of it is read, then 431.
        let huge = vec![b'a'; MAX_REQUEST_HEAD];
        let huge = exchange(addr, &huge);
        assert!(huge.starts_with("HTTP/1.1 431 "), "{huge}");

        server.shutdown();
        assert!(std::net::TcpStream::connect(addr).is_err());
    }
}
