//! A stand-in for `reference-service` in the Docker backend's tests: same configuration
//! (BIND_ADDR, DATABASE_URL, REDIS_URL) and the same probe endpoints, std only, so the tests can
//! build it with plain `rustc` and put it in an image with `ci/build-images.sh --service-bin`.
//!
//! `/ready` answers 200 only when TCP connections to the hosts named in DATABASE_URL and
//! REDIS_URL succeed, which proves the container network and its DNS names work.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::time::Duration;

fn host_port(url: &str, default_port: u16) -> Option<(String, u16)> {
    let rest = url.split("://").nth(1)?;
    let authority = rest.split('/').next()?;
    let host_port = authority.rsplit('@').next()?;
    match host_port.rsplit_once(':') {
        Some((host, port)) => Some((host.to_owned(), port.parse().ok()?)),
        None => Some((host_port.to_owned(), default_port)),
    }
}

fn reachable(var: &str, default_port: u16) -> bool {
    let Some((host, port)) = std::env::var(var).ok().and_then(|u| host_port(&u, default_port))
    else {
        return false;
    };
    let Ok(addrs) = (host.as_str(), port).to_socket_addrs() else {
        return false;
    };
    addrs
        .into_iter()
        .any(|a| TcpStream::connect_timeout(&a, Duration::from_secs(1)).is_ok())
}

fn answer(mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut line = String::new();
    if BufReader::new(&stream).read_line(&mut line).is_err() {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/");
    let (status, body) = match path {
        "/health" => ("200 OK", "ok\n".to_owned()),
        "/ready" if reachable("DATABASE_URL", 5432) && reachable("REDIS_URL", 6379) => {
            ("200 OK", "ready\n".to_owned())
        }
        "/ready" => ("503 Service Unavailable", "dependencies unreachable\n".to_owned()),
        "/metrics" => (
            "200 OK",
            format!(
                "# TYPE fake_seed_items gauge\nfake_seed_items {}\n",
                std::env::var("SEED_ITEMS").unwrap_or_default()
            ),
        ),
        _ => ("404 Not Found", "not found\n".to_owned()),
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn main() {
    let bind = std::env::var("BIND_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    let listener = match TcpListener::bind(&bind) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot bind {bind}: {e}");
            std::process::exit(1);
        }
    };
    println!("listening on {bind}");
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || answer(stream));
    }
}
