//! The real `parachute` process with `server.api_token` set in bots.yaml: every guarded route,
//! spelled every way the path generator knows, sent byte for byte over TCP without the token,
//! is refused (401, or 404 where no route matches) and changes nothing; only the page and the
//! plain health check answer.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::Server;
use parachute_testkit::path_variants::{GUARDED_ROUTES, sample};

const API_TOKEN: &str = "api-token-0d9c8b7a6f5e4d3c";

/// Sends one raw HTTP/1.1 request; returns the status code and the body.
fn send_raw(url: &str, method: &str, target: &str, body: &str, token: Option<&str>) -> (u16, String) {
    let authority = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(authority).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let request = format!(
        "{method} {target} HTTP/1.1\r\nHost: {authority}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("send");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let status = answer.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

#[test]
fn the_real_server_refuses_every_spelling_of_a_guarded_route_without_the_token() {
    let server = Server::start(Some(&format!("server:\n  api_token: {API_TOKEN}\n")));
    let file_before = std::fs::read(server.config_path()).unwrap();
    let mut sent = 0;
    for (method, path, body) in GUARDED_ROUTES {
        for variant in sample(path, 24) {
            let (status, answer) = send_raw(&server.url, method, &variant.raw, body, None);
            let refused = status == 401 || status == 400 || (status == 404 && answer.contains("no such endpoint"));
            assert!(refused, "{method} {} answered {status} without the token: {answer}", variant.raw);
            if variant.same_route {
                assert_eq!(status, 401, "{method} {} is routed to {path}", variant.raw);
            }
            sent += 1;
        }
    }
    assert!(sent > 20 * GUARDED_ROUTES.len(), "only {sent} requests were sent");
    assert_eq!(std::fs::read(server.config_path()).unwrap(), file_before, "bots.yaml was not changed");

    for target in
        ["/api/health?detailed=%74rue", "/%61pi/health?detailed=true", "/api/health?detailed=true&detailed=false"]
    {
        let (status, answer) = send_raw(&server.url, "GET", target, "", None);
        assert!(status == 401 || status == 400, "{target}: {status} {answer}");
        assert!(!answer.contains("uptime"), "{target}: {answer}");
    }
    let (status, answer) = send_raw(&server.url, "GET", "/api/health", "", None);
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("\"ok\"") && !answer.contains("uptime"), "{answer}");
    let (status, answer) = send_raw(&server.url, "GET", "/", "", None);
    assert_eq!(status, 200, "the page is open: {answer}");
    let (status, answer) = send_raw(&server.url, "GET", "/%61pi/bots/status", "", Some(API_TOKEN));
    assert_eq!(status, 200, "with the token the encoded path is the route: {answer}");
    assert!(answer.contains("connectors"), "{answer}");
    let logs = server.logs();
    assert!(!logs.contains(API_TOKEN), "the token reached the log");
}
