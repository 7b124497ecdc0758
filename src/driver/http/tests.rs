//! The agent against a loopback server written here byte by byte, so each case controls exactly
//! what the server says and when it closes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

use super::{Agent, Connector, Failure, Origin, Outgoing, Received};

/// What the server does with one request.
enum Reply {
    /// Write this response and keep the connection.
    Send(String),
    /// Write this response, then close the connection (no `Connection: close` header: a
    /// keep-alive connection the server drops, as idle timeouts do).
    SendAndDrop(String),
    /// Say nothing (the client's timeout must end it).
    Hang,
}

/// A request as the server read it.
#[derive(Debug, Clone)]
struct Seen {
    head: String,
    body: String,
}

impl Seen {
    fn line(&self) -> &str {
        self.head.lines().next().unwrap_or_default()
    }

    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
}

struct Server {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    connections: Arc<AtomicUsize>,
}

fn response(status: &str, headers: &[&str], body: &str) -> String {
    let mut out = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\n", body.len());
    for h in headers {
        out.push_str(h);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.push_str(body);
    out
}

/// Serve on a free loopback port; `answer` gets each request and everything seen before it.
async fn serve(answer: fn(&Seen, &[Seen]) -> Reply) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let connections = Arc::new(AtomicUsize::new(0));
    let (s, c) = (seen.clone(), connections.clone());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            c.fetch_add(1, Ordering::SeqCst);
            let seen = s.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    let Some(end) = head_end(&buf) else {
                        let mut chunk = [0u8; 4096];
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                    let length = head
                        .lines()
                        .find_map(|l| {
                            let (n, v) = l.split_once(':')?;
                            n.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    while buf.len() < end + 4 + length {
                        let mut chunk = [0u8; 4096];
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let body =
                        String::from_utf8_lossy(&buf[end + 4..end + 4 + length]).into_owned();
                    buf.drain(..end + 4 + length);
                    let request = Seen { head, body };
                    let reply = {
                        let mut seen = seen.lock().expect("lock");
                        let reply = answer(&request, &seen);
                        seen.push(request);
                        reply
                    };
                    match reply {
                        Reply::Send(text) => {
                            if socket.write_all(text.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                        Reply::SendAndDrop(text) => {
                            let _ = socket.write_all(text.as_bytes()).await;
                            return;
                        }
                        Reply::Hang => {
                            tokio::time::sleep(Duration::from_secs(30)).await;
                            return;
                        }
                    }
                }
            });
        }
    });
    Server {
        port,
        seen,
        connections,
    }
}

fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n")
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

fn agent(timeout: Duration) -> Agent {
    Arc::new(Connector::new(timeout)).agent()
}

fn request(method: Method, url: &str, body: &str) -> Outgoing {
    let (origin, path) = Origin::split(url).expect("a URL");
    Outgoing {
        method,
        origin: Arc::new(origin),
        path,
        headers: HeaderMap::new(),
        body: Bytes::from(body.to_owned()),
    }
}

async fn get(agent: &mut Agent, url: &str) -> Result<Received, Failure> {
    agent.send(&request(Method::GET, url, ""), true).await
}

#[tokio::test]
async fn one_connection_serves_a_user_s_requests_and_the_host_is_sent() {
    let server = serve(|_, _| Reply::Send(response("200 OK", &[], "hello"))).await;
    let mut a = agent(Duration::from_secs(5));
    for _ in 0..50 {
        let r = get(&mut a, &server.url("/x?q=1"))
            .await
            .expect("a response");
        assert_eq!((r.status, &r.body[..]), (StatusCode::OK, &b"hello"[..]));
    }
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
    let seen = server.seen();
    assert_eq!(seen[0].line(), "GET /x?q=1 HTTP/1.1");
    assert_eq!(
        seen[0].header("host"),
        Some(format!("127.0.0.1:{}", server.port))
    );
    // The body is read whole either way; it is kept only when asked for.
    let r = a
        .send(&request(Method::GET, &server.url("/"), ""), false)
        .await
        .expect("a response");
    assert!(r.body.is_empty());
}

#[tokio::test]
async fn a_connection_the_server_drops_is_replaced_without_failing_a_request() {
    // Every response goes out on a connection the server then drops (idle timeouts,
    // `Connection: close`): the next request goes on a new one.
    let server = serve(|_, _| Reply::SendAndDrop(response("200 OK", &[], "ok"))).await;
    let mut a = agent(Duration::from_secs(5));
    for _ in 0..5 {
        let r = get(&mut a, &server.url("/")).await.expect("a response");
        assert_eq!(r.status, StatusCode::OK);
    }
    assert_eq!(server.connections.load(Ordering::SeqCst), 5);
    let server = serve(|_, _| Reply::Send(response("200 OK", &["connection: close"], "ok"))).await;
    for _ in 0..3 {
        get(&mut a, &server.url("/")).await.expect("a response");
    }
    assert_eq!(server.connections.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_post_redirected_by_302_is_followed_as_a_get_carrying_the_cookie_set_on_the_way() {
    let server = serve(|req, _| match req.line() {
        "POST /login HTTP/1.1" => Reply::Send(response(
            "302 Found",
            &["location: /home", "set-cookie: sid=abc; Path=/"],
            "",
        )),
        _ => Reply::Send(response("200 OK", &[], "home")),
    })
    .await;
    let mut a = agent(Duration::from_secs(5));
    let mut login = request(Method::POST, &server.url("/login"), "user=ann");
    login.headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    let r = a.send(&login, true).await.expect("a response");
    assert_eq!((r.status, &r.body[..]), (StatusCode::OK, &b"home"[..]));
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].body, "user=ann");
    assert_eq!(seen[1].line(), "GET /home HTTP/1.1");
    assert_eq!(seen[1].body, "");
    assert_eq!(seen[1].header("content-type"), None);
    assert_eq!(seen[1].header("cookie").as_deref(), Some("sid=abc"));
    assert_eq!(seen[1].header("referer"), Some(server.url("/login")));
    // Later requests of this user carry the cookie; another user's do not.
    get(&mut a, &server.url("/next")).await.expect("a response");
    let mut b = agent(Duration::from_secs(5));
    get(&mut b, &server.url("/next")).await.expect("a response");
    let seen = server.seen();
    assert_eq!(seen[2].header("cookie").as_deref(), Some("sid=abc"));
    assert_eq!(seen[3].header("cookie"), None);
}

#[tokio::test]
async fn a_307_redirect_keeps_the_method_and_body_and_an_endless_one_fails() {
    let server = serve(|req, _| match req.line() {
        "PUT /old HTTP/1.1" => {
            Reply::Send(response("307 Temporary Redirect", &["location: /new"], ""))
        }
        "GET /loop HTTP/1.1" => Reply::Send(response("302 Found", &["location: /loop"], "")),
        _ => Reply::Send(response("200 OK", &[], "")),
    })
    .await;
    let mut a = agent(Duration::from_secs(5));
    a.send(
        &request(Method::PUT, &server.url("/old"), "{\"a\":1}"),
        false,
    )
    .await
    .expect("a response");
    let seen = server.seen();
    assert_eq!(seen[1].line(), "PUT /new HTTP/1.1");
    assert_eq!(seen[1].body, "{\"a\":1}");
    match get(&mut a, &server.url("/loop")).await {
        Err(Failure::Other(m)) => assert!(m.contains("more than 10 redirects"), "{m}"),
        other => panic!("expected too many redirects, got {other:?}"),
    }
    // The first request and ten redirects.
    assert_eq!(server.seen().len(), 2 + 11);
}

#[tokio::test]
async fn a_response_that_never_comes_times_out_and_the_user_goes_on() {
    let server = serve(|req, _| {
        if req.line().starts_with("GET /hang") {
            Reply::Hang
        } else {
            Reply::Send(response("200 OK", &[], "ok"))
        }
    })
    .await;
    let mut a = agent(Duration::from_millis(300));
    let start = Instant::now();
    match get(&mut a, &server.url("/hang")).await {
        Err(Failure::Timeout(m)) => assert!(m.contains("300ms"), "{m}"),
        other => panic!("expected a timeout, got {other:?}"),
    }
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "{took:?}"
    );
    let r = get(&mut a, &server.url("/")).await.expect("a response");
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn refused_connections_and_tls_to_a_plain_server_are_connect_failures() {
    let free = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = free.local_addr().expect("address").port();
    drop(free);
    let mut a = agent(Duration::from_secs(5));
    match get(&mut a, &format!("http://127.0.0.1:{port}/")).await {
        Err(Failure::Connect(m)) => assert!(m.contains("refused"), "{m}"),
        other => panic!("expected a connect failure, got {other:?}"),
    }
    // A plain HTTP server answers a TLS hello with a plain error.
    let plain = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = plain.local_addr().expect("address").port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = plain.accept().await {
            let _ = socket
                .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                .await;
        }
    });
    match get(&mut a, &format!("https://127.0.0.1:{port}/")).await {
        Err(Failure::Connect(m)) => assert!(m.contains("TLS handshake"), "{m}"),
        other => panic!("expected a TLS failure, got {other:?}"),
    }
}

#[tokio::test]
async fn user_information_in_a_url_is_sent_as_basic_authorization() {
    let server = serve(|_, _| Reply::Send(response("200 OK", &[], ""))).await;
    let mut a = agent(Duration::from_secs(5));
    get(
        &mut a,
        &format!("http://ann:p%40ss@127.0.0.1:{}/", server.port),
    )
    .await
    .expect("a response");
    let seen = server.seen();
    // base64("ann:p@ss")
    assert_eq!(
        seen[0].header("authorization").as_deref(),
        Some("Basic YW5uOnBAc3M=")
    );
    assert_eq!(
        seen[0].header("host"),
        Some(format!("127.0.0.1:{}", server.port))
    );
}
