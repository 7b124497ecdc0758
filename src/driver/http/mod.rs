//! The load's HTTP/1.1 client: one [`Agent`] per user, holding that user's connections (one per
//! origin) and, once a response sets one, its cookie jar.
//!
//! Invariants:
//! - A user's connection is driven inside the user's own task (hyper's `client::conn`, polled
//!   together with the exchange), never by a task of its own: a request costs no wake-up of
//!   another task or thread, and no pool look-up.
//! - Building an agent reads no file and opens nothing: TLS is set up once per run
//!   ([`Connector::new`]) and connections are opened by the first request that needs them.
//! - Everything a user had with a general-purpose client is kept: TLS with the platform's roots,
//!   redirects (up to 10, with the usual method and header rules), cookies per user, one timeout
//!   for the whole exchange, `Connection: close` and servers closing idle connections (a request
//!   that was never written is sent again on a new connection).

use std::future::{Future, poll_fn};
use std::net::{IpAddr, SocketAddr};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::error::chain;
use base64::Engine as _;
use bytes::Bytes;
use http::header::{
    AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, HOST, HeaderMap, HeaderValue, LOCATION,
    PROXY_AUTHORIZATION, REFERER, SET_COOKIE, TRANSFER_ENCODING, WWW_AUTHENTICATE,
};
use http::uri::PathAndQuery;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use percent_encoding::percent_decode_str;
use reqwest::cookie::{CookieStore as _, Jar};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Redirects followed before a request fails (as browsers and curl's default).
const MAX_REDIRECTS: usize = 10;

/// Connections a user keeps open at once (one per origin it talks to).
const MAX_CONNECTIONS: usize = 8;

/// Where requests go: scheme, host and port, with what the requests carry for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    tls: bool,
    host: String,
    port: u16,
    /// The `Host` header: the authority as written, without user information.
    host_header: HeaderValue,
    /// `Authorization: Basic …` from user information in the URL (`http://user:pass@host`).
    basic_auth: Option<HeaderValue>,
}

impl Origin {
    /// The origin of an absolute `http` or `https` URL and the URL's path and query.
    pub(crate) fn split(url: &str) -> Result<(Origin, PathAndQuery), String> {
        let parsed = reqwest::Url::parse(url).map_err(|e| format!("`{url}` is not a URL: {e}"))?;
        let origin = Self::of(&parsed)?;
        Ok((origin, path_of(&parsed)?))
    }

    /// The origin of a parsed URL.
    pub(crate) fn of(url: &reqwest::Url) -> Result<Origin, String> {
        let tls = match url.scheme() {
            "http" => false,
            "https" => true,
            other => return Err(format!("`{url}`: scheme `{other}` is not http or https")),
        };
        let host = url
            .host_str()
            .ok_or_else(|| format!("`{url}` has no host"))?
            .to_owned();
        let port = url
            .port_or_known_default()
            .unwrap_or(if tls { 443 } else { 80 });
        let authority = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        };
        let host_header = HeaderValue::from_str(&authority)
            .map_err(|_| format!("`{url}`: host `{authority}` is not a valid header value"))?;
        let basic_auth = (!url.username().is_empty() || url.password().is_some()).then(|| {
            let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
            let user = decode(url.username());
            let pass = url.password().map(decode).unwrap_or_default();
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
            let mut value = HeaderValue::from_str(&format!("Basic {token}"))
                .unwrap_or(HeaderValue::from_static(""));
            value.set_sensitive(true);
            value
        });
        Ok(Origin {
            tls,
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
            host_header,
            basic_auth,
        })
    }

    /// The full URL of `path` at this origin (for cookies and redirects; not on the hot path).
    fn url(&self, path: &PathAndQuery) -> Option<reqwest::Url> {
        let scheme = if self.tls { "https" } else { "http" };
        let host = self.host_header.to_str().ok()?;
        reqwest::Url::parse(&format!("{scheme}://{host}{path}")).ok()
    }

    fn same_host(&self, other: &Origin) -> bool {
        self.host == other.host && self.port == other.port && self.tls == other.tls
    }
}

/// The path and query of a URL, as sent in the request line.
pub(crate) fn path_of(url: &reqwest::Url) -> Result<PathAndQuery, String> {
    let text = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    PathAndQuery::try_from(text).map_err(|e| format!("`{url}`: {e}"))
}

/// One request, ready to send.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub(crate) method: Method,
    pub(crate) origin: Arc<Origin>,
    pub(crate) path: PathAndQuery,
    /// The request's headers, defaults included (`Host` is added from the origin if absent).
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// A complete response.
#[derive(Debug)]
pub(crate) struct Received {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    /// The body, when the caller asked for it (empty otherwise: it was read and dropped).
    pub(crate) body: Bytes,
}

/// Why an exchange got no complete response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Resolving, connecting or the TLS handshake failed.
    Connect(String),
    /// No complete response within the timeout.
    Timeout(String),
    /// Anything else: the connection broke, the response was malformed, too many redirects.
    Other(String),
}

/// What every agent of a run shares: TLS set-up and the timeout.
///
/// Invariant: building an agent reads no file. The platform's root certificates are loaded
/// once here (a general-purpose client loads and parses every file in `/etc/ssl/certs` for
/// each client: done per user, a pool of 1 000 users spent seconds on it before it could serve).
pub(crate) struct Connector {
    tls: Option<tokio_rustls::TlsConnector>,
    tls_error: Option<String>,
    timeout: Duration,
}

impl Connector {
    /// Load the TLS roots once. When they cannot be loaded, plain HTTP still works and every
    /// HTTPS request fails with the reason.
    pub(crate) fn new(timeout: Duration) -> Self {
        match tls_config() {
            Ok(config) => Self {
                tls: Some(tokio_rustls::TlsConnector::from(Arc::new(config))),
                tls_error: None,
                timeout,
            },
            Err(e) => Self {
                tls: None,
                tls_error: Some(e.to_string()),
                timeout,
            },
        }
    }

    /// A new user's agent: no connection and no cookie yet.
    pub(crate) fn agent(self: &Arc<Self>) -> Agent {
        Agent {
            connector: self.clone(),
            conns: Vec::new(),
            jar: None,
        }
    }

    async fn connect(&self, origin: &Origin) -> Result<Conn, Failure> {
        let addrs: Vec<SocketAddr> = match origin.host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, origin.port)],
            Err(_) => tokio::net::lookup_host((origin.host.as_str(), origin.port))
                .await
                .map_err(|e| Failure::Connect(format!("cannot resolve `{}`: {e}", origin.host)))?
                .collect(),
        };
        let mut last = None;
        let mut tcp = None;
        for addr in &addrs {
            match TcpStream::connect(addr).await {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last = Some(format!("connect to {addr}: {e}")),
            }
        }
        let tcp = tcp.ok_or_else(|| {
            Failure::Connect(last.unwrap_or_else(|| format!("`{}` has no address", origin.host)))
        })?;
        // Requests are written whole; waiting to fill a segment would only add latency.
        let _ = tcp.set_nodelay(true);
        let stream = if origin.tls {
            let Some(tls) = &self.tls else {
                return Err(Failure::Connect(format!(
                    "TLS is unavailable: {}",
                    self.tls_error.as_deref().unwrap_or("no configuration")
                )));
            };
            let name = rustls::pki_types::ServerName::try_from(origin.host.clone())
                .map_err(|e| Failure::Connect(format!("`{}`: {e}", origin.host)))?;
            let tls = tls.connect(name, tcp).await.map_err(|e| {
                Failure::Connect(format!("TLS handshake with `{}` failed: {e}", origin.host))
            })?;
            Stream::Tls(Box::new(tls))
        } else {
            Stream::Plain(tcp)
        };
        let (sender, driver) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| Failure::Connect(chain(&e)))?;
        Ok(Conn {
            origin: origin.clone(),
            sender,
            driver: Some(driver),
            reused: false,
        })
    }
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("tls", &self.tls.is_some())
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// What every client sends: the platform's roots, safe protocol versions, HTTP/1.1 over ALPN.
fn tls_config() -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    let verifier = rustls_platform_verifier::Verifier::new(provider.clone())?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// One user's HTTP client.
#[derive(Debug)]
pub(crate) struct Agent {
    connector: Arc<Connector>,
    conns: Vec<Conn>,
    /// Created by the first response that sets a cookie: until then no request pays for one.
    jar: Option<Jar>,
}

impl Agent {
    /// Another agent of the same run, with no connection and no cookie.
    pub(crate) fn fresh(&self) -> Agent {
        self.connector.agent()
    }

    /// Send `request`, following redirects, and read the whole response — within the timeout.
    /// The body is kept only when `keep_body`.
    pub(crate) async fn send(
        &mut self,
        request: &Outgoing,
        keep_body: bool,
    ) -> Result<Received, Failure> {
        let timeout = self.connector.timeout;
        match tokio::time::timeout(timeout, self.exchange(request, keep_body)).await {
            Ok(result) => result,
            Err(_) => {
                // The connection is mid-exchange: it cannot serve another request.
                self.conns.clear();
                Err(Failure::Timeout(format!(
                    "no complete response within {}",
                    humantime::format_duration(timeout)
                )))
            }
        }
    }

    async fn exchange(&mut self, request: &Outgoing, keep_body: bool) -> Result<Received, Failure> {
        let mut origin = request.origin.clone();
        let mut method = request.method.clone();
        let mut path = request.path.clone();
        let mut body = request.body.clone();
        // What redirects changed, applied to the request's own headers at every hop.
        let (mut other_host, mut body_dropped, mut referer) = (false, false, None);
        let mut hop = 0;
        loop {
            let mut headers = request.headers.clone();
            if other_host {
                for name in [AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION, WWW_AUTHENTICATE] {
                    headers.remove(name);
                }
            }
            if body_dropped {
                for name in [TRANSFER_ENCODING, CONTENT_TYPE, CONTENT_LENGTH] {
                    headers.remove(name);
                }
            }
            if let Some(referer) = &referer {
                headers.insert(REFERER, HeaderValue::clone(referer));
            }
            if other_host || !headers.contains_key(HOST) {
                headers.insert(HOST, origin.host_header.clone());
            }
            if let Some(auth) = &origin.basic_auth
                && !headers.contains_key(AUTHORIZATION)
            {
                headers.insert(AUTHORIZATION, auth.clone());
            }
            let url = self.jar.as_ref().and_then(|_| origin.url(&path));
            if let (Some(jar), Some(url)) = (&self.jar, &url)
                && let Some(cookies) = jar.cookies(url)
            {
                headers.insert(COOKIE, cookies);
            }
            let mut req = Request::new(Full::new(body.clone()));
            *req.method_mut() = method.clone();
            *req.uri_mut() = path.clone().into();
            *req.headers_mut() = headers;
            let received = self.round_trip(&origin, req, keep_body).await?;
            if received.headers.contains_key(SET_COOKIE)
                && let Some(url) = url.or_else(|| origin.url(&path))
            {
                let jar = self.jar.get_or_insert_with(Jar::default);
                jar.set_cookies(&mut received.headers.get_all(SET_COOKIE).iter(), &url);
            }
            let Some(next) = redirect(&received) else {
                return Ok(received);
            };
            if hop == MAX_REDIRECTS {
                return Err(Failure::Other(format!(
                    "more than {MAX_REDIRECTS} redirects (the last to `{next}`)"
                )));
            }
            let from = origin
                .url(&path)
                .ok_or_else(|| Failure::Other(format!("cannot follow the redirect to `{next}`")))?;
            let to = from
                .join(&next)
                .map_err(|e| Failure::Other(format!("redirect to `{next}`: {e}")))?;
            let next_origin = Origin::of(&to).map_err(Failure::Other)?;
            other_host |= !next_origin.same_host(&origin);
            referer = (!(from.scheme() == "https" && to.scheme() == "http"))
                .then(|| {
                    let mut r = from.clone();
                    r.set_fragment(None);
                    let _ = r.set_username("");
                    let _ = r.set_password(None);
                    HeaderValue::from_str(r.as_str()).ok()
                })
                .flatten();
            if matches!(
                received.status,
                StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND | StatusCode::SEE_OTHER
            ) {
                body = Bytes::new();
                body_dropped = true;
                if method != Method::GET && method != Method::HEAD {
                    method = Method::GET;
                }
            }
            path = path_of(&to).map_err(Failure::Other)?;
            if next_origin != *origin {
                origin = Arc::new(next_origin);
            }
            hop += 1;
        }
    }

    /// One request on this user's connection to `origin` (opened when there is none); a request
    /// that a closed keep-alive connection never wrote is sent once more on a new one.
    async fn round_trip(
        &mut self,
        origin: &Origin,
        request: Request<Full<Bytes>>,
        keep_body: bool,
    ) -> Result<Received, Failure> {
        let mut request = request;
        let mut resent = false;
        loop {
            let i = match self.conns.iter().position(|c| c.origin == *origin) {
                Some(i) => i,
                None => {
                    if self.conns.len() >= MAX_CONNECTIONS {
                        self.conns.remove(0);
                    }
                    // Boxed: the connect future (TLS state included) is large, and inline it
                    // would be copied with every request's future.
                    let conn = Box::pin(self.connector.connect(origin)).await?;
                    self.conns.push(conn);
                    self.conns.len() - 1
                }
            };
            let conn = &mut self.conns[i];
            match conn.exchange(request, keep_body).await {
                Ok(received) => {
                    conn.reused = true;
                    if conn.driver.is_none() {
                        // The server closed it after this response (`Connection: close`).
                        self.conns.remove(i);
                    }
                    return Ok(received);
                }
                // A kept-alive connection closed before it took the request: once more, on a
                // new one.
                Err(Exchange::NotSent(again, _)) if !resent && conn.reused => {
                    self.conns.remove(i);
                    request = *again;
                    resent = true;
                }
                Err(Exchange::NotSent(_, e) | Exchange::Failed(e)) => {
                    self.conns.remove(i);
                    return Err(Failure::Other(e));
                }
            }
        }
    }
}

/// Where a redirect response points, if it is one to follow.
fn redirect(received: &Received) -> Option<String> {
    matches!(
        received.status,
        StatusCode::MOVED_PERMANENTLY
            | StatusCode::FOUND
            | StatusCode::SEE_OTHER
            | StatusCode::TEMPORARY_REDIRECT
            | StatusCode::PERMANENT_REDIRECT
    )
    .then(|| {
        received
            .headers
            .get(LOCATION)?
            .to_str()
            .ok()
            .map(str::to_owned)
    })
    .flatten()
}

/// One open connection, driven by the task that uses it.
struct Conn {
    origin: Origin,
    sender: http1::SendRequest<Full<Bytes>>,
    /// `None` once the connection has ended.
    driver: Option<http1::Connection<TokioIo<Stream>, Full<Bytes>>>,
    /// It has served a response (so a closed one is worth one retry).
    reused: bool,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("origin", &self.origin)
            .field("open", &self.driver.is_some())
            .finish()
    }
}

enum Exchange {
    /// The request was not written: it can go on another connection.
    NotSent(Box<Request<Full<Bytes>>>, String),
    Failed(String),
}

impl Conn {
    /// Poll the connection's state machine; true when it has ended.
    fn drive(
        driver: &mut Option<http1::Connection<TokioIo<Stream>, Full<Bytes>>>,
        cx: &mut Context<'_>,
    ) -> bool {
        if let Some(d) = driver.as_mut()
            && Pin::new(d).poll(cx).is_ready()
        {
            // Dropping it fails whatever was waiting on it, so the exchange ends too.
            *driver = None;
        }
        driver.is_none()
    }

    async fn exchange(
        &mut self,
        request: Request<Full<Bytes>>,
        keep_body: bool,
    ) -> Result<Received, Exchange> {
        let Self { sender, driver, .. } = self;
        // Ready: the connection has taken in the previous exchange's end (or has closed).
        let ready = poll_fn(|cx| {
            Self::drive(driver, cx);
            sender.poll_ready(cx)
        })
        .await;
        if let Err(e) = ready {
            return Err(Exchange::NotSent(Box::new(request), chain(&e)));
        }
        let work = async {
            let response = sender.try_send_request(request).await.map_err(|mut e| {
                let why = chain(e.error());
                match e.take_message() {
                    Some(request) => Exchange::NotSent(Box::new(request), why),
                    None => Exchange::Failed(why),
                }
            })?;
            let (parts, mut body) = response.into_parts();
            let body = if keep_body {
                body.collect()
                    .await
                    .map_err(|e| Exchange::Failed(chain(&e)))?
                    .to_bytes()
            } else {
                while let Some(frame) = body.frame().await {
                    frame.map_err(|e| Exchange::Failed(chain(&e)))?;
                }
                Bytes::new()
            };
            Ok(Received {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        let mut work = pin!(work);
        poll_fn(|cx| {
            if let Poll::Ready(r) = work.as_mut().poll(cx) {
                return Poll::Ready(r);
            }
            if Self::drive(driver, cx) {
                // Ended: the exchange has its answer or its error now.
                return work.as_mut().poll(cx);
            }
            Poll::Pending
        })
        .await
    }
}

/// A connection's byte stream, plain or TLS.
enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests;
