//! Transport behaviour of the fake Vault: methods, path checks, sealing,
//! faults, the request log and the standalone binary.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kriptomat_testkit::vault::{FakeVault, Fault};
use serde_json::{json, Value};

/// A response read in full, or the transport error.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "body is not JSON ({error}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .map(|value| value.to_str().expect("ascii header"))
    }
}

fn try_call(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Result<Answer, reqwest::Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("valid method");
        let mut request = reqwest::Client::new().request(method, format!("{base}{path}"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await?.to_vec();
        Ok(Answer {
            status,
            headers,
            body,
        })
    })
}

fn call(vault: &FakeVault, method: &str, path: &str, body: Option<Value>) -> Answer {
    try_call(
        &vault.addr(),
        method,
        path,
        &[("X-Vault-Token", vault.root_token())],
        body,
    )
    .expect("request succeeds")
}

/// Sends a hand-written HTTP/1.1 request, so paths reach the server exactly
/// as written (URL parsers would clean `/./`), and returns the status code.
fn raw_status(vault: &FakeVault, request_line: &str) -> u16 {
    let mut stream = TcpStream::connect(vault.socket_addr()).expect("connect");
    let request = format!(
        "{request_line}\r\nHost: 127.0.0.1\r\nX-Vault-Token: root\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).expect("write request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {response:?}"))
}

#[test]
fn responses_carry_standard_headers() {
    let vault = FakeVault::start();
    vault.write("secret", "app", json!({"v": 1}));

    let answer = call(&vault, "GET", "/v1/secret/data/app", None);

    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(answer.header("cache-control"), Some("no-store"));
}

#[test]
fn unknown_method_is_405() {
    let vault = FakeVault::start();

    let answer = call(&vault, "PROPFIND", "/v1/secret/data/app", None);

    assert_eq!(answer.status, 405);
    assert_eq!(answer.json(), json!({"errors": []}));
}

#[test]
fn uncleaned_paths_are_rejected() {
    let vault = FakeVault::start();
    vault.write("secret", "app", json!({"v": 1}));

    assert_eq!(raw_status(&vault, "GET /v1/secret/data/app HTTP/1.1"), 200);
    assert_eq!(raw_status(&vault, "GET /v1/secret//data/app HTTP/1.1"), 400);
    assert_eq!(
        raw_status(&vault, "GET /v1/secret/./data/app HTTP/1.1"),
        400
    );
    assert_eq!(
        raw_status(&vault, "GET /v1/secret/x/../data/app HTTP/1.1"),
        400
    );
    assert_eq!(
        raw_status(&vault, "GET /v1/secret/%2E%2E/data/app HTTP/1.1"),
        400
    );
}

#[test]
fn sealed_vault_answers_503() {
    let vault = FakeVault::start();
    vault.set_sealed(true);

    let read = call(&vault, "GET", "/v1/secret/data/app", None);
    assert_eq!(read.status, 503);
    assert_eq!(read.json(), json!({"errors": ["Vault is sealed"]}));
    let health = call(&vault, "GET", "/v1/sys/health", None);
    assert_eq!(health.status, 503);
    assert_eq!(health.json()["sealed"], true);

    vault.set_sealed(false);
    let health = call(&vault, "GET", "/v1/sys/health", None);
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["sealed"], false);
    assert_eq!(health.json()["initialized"], true);
}

#[test]
fn status_fault_applies_count_times() {
    let vault = FakeVault::start();
    vault.write("secret", "app", json!({"v": 1}));
    let body = br#"{"errors":["request path \"secret/data/app\": rate limit quota exceeded"]}"#;
    vault.inject(
        Fault::status("GET", "/v1/secret/data/", 429, body.to_vec())
            .with_header("Retry-After", "2")
            .times(2),
    );

    for _ in 0..2 {
        let limited = call(&vault, "GET", "/v1/secret/data/app", None);
        assert_eq!(limited.status, 429);
        assert_eq!(limited.header("retry-after"), Some("2"));
        assert_eq!(limited.body, body);
    }
    assert_eq!(
        call(
            &vault,
            "POST",
            "/v1/secret/data/app",
            Some(json!({"data": {}}))
        )
        .status,
        200
    );
    assert_eq!(call(&vault, "GET", "/v1/secret/data/app", None).status, 200);
    assert_eq!(vault.pending_faults(), 0);
}

#[test]
fn html_fault_keeps_its_content_type() {
    let vault = FakeVault::start();
    vault.inject(
        Fault::status(
            None::<&str>,
            "/v1/sys/internal/ui/mounts/secret",
            502,
            "<html>bad gateway</html>",
        )
        .with_header("Content-Type", "text/html")
        .exact(),
    );

    let prefix_only = call(&vault, "GET", "/v1/sys/internal/ui/mounts/secret/app", None);
    assert_eq!(
        prefix_only.status, 200,
        "an exact fault ignores longer paths"
    );
    let answer = call(&vault, "GET", "/v1/sys/internal/ui/mounts/secret", None);
    assert_eq!(answer.status, 502);
    assert_eq!(answer.header("content-type"), Some("text/html"));
    assert_eq!(answer.body, b"<html>bad gateway</html>");
}

#[test]
fn drop_fault_closes_connection() {
    let vault = FakeVault::start();
    vault.inject(Fault::drop_connection("GET", "/v1/secret/"));

    let dropped = try_call(&vault.addr(), "GET", "/v1/secret/data/app", &[], None);
    assert!(
        dropped.is_err(),
        "the connection should close without a response"
    );

    assert_eq!(call(&vault, "GET", "/v1/secret/data/app", None).status, 404);
}

#[test]
fn delay_fault_slows_response() {
    let vault = FakeVault::start();
    vault.inject(Fault::delay(
        "GET",
        "/v1/sys/health",
        Duration::from_millis(300),
    ));

    let started = Instant::now();
    let answer = call(&vault, "GET", "/v1/sys/health", None);

    assert_eq!(answer.status, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn drop_ends_pending_slow_requests() {
    let vault = FakeVault::start();
    vault.inject(Fault::delay(
        "GET",
        "/v1/sys/health",
        Duration::from_secs(30),
    ));
    let address = vault.addr();
    let slow = std::thread::spawn(move || try_call(&address, "GET", "/v1/sys/health", &[], None));
    std::thread::sleep(Duration::from_millis(200));

    let started = Instant::now();
    drop(vault);

    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let outcome = slow.join().expect("client thread");
    assert!(
        outcome.is_err(),
        "the delayed request should fail once the server stops"
    );
}

#[test]
fn request_log_records_everything() {
    let vault = FakeVault::start();
    let headers = [
        ("X-Vault-Token", "root"),
        ("X-Vault-Request", "true"),
        ("X-Vault-Namespace", "team-a/"),
    ];
    try_call(
        &vault.addr(),
        "POST",
        "/v1/secret/data/app",
        &headers,
        Some(json!({"data": {"v": 1}, "options": {"cas": 0}})),
    )
    .expect("write succeeds, the namespace is ignored");
    try_call(
        &vault.addr(),
        "LIST",
        "/v1/secret/metadata/",
        &headers,
        None,
    )
    .expect("list");
    try_call(
        &vault.addr(),
        "GET",
        "/v1/secret/data/app?version=1",
        &headers,
        None,
    )
    .expect("read");

    let requests = vault.requests();
    assert_eq!(requests.len(), 3);
    let write = &requests[0];
    assert_eq!(write.method, "POST");
    assert_eq!(write.path, "/v1/secret/data/app");
    assert_eq!(write.headers["x-vault-token"], "root");
    assert_eq!(write.headers["x-vault-namespace"], "team-a/");
    assert_eq!(write.header("X-Vault-Request"), Some("true"));
    assert_eq!(
        write.json(),
        Some(json!({"data": {"v": 1}, "options": {"cas": 0}}))
    );
    assert_eq!(requests[1].method, "LIST");
    assert_eq!(requests[2].query, "version=1");
    assert_eq!(requests[2].json(), None);

    vault.clear_requests();
    assert!(vault.requests().is_empty());
}

#[test]
fn binary_prints_address_and_serves() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fake-vault"))
        .args(["--listen", "127.0.0.1:0", "--root-token", "bin-root"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("fake-vault starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout piped"))
        .read_line(&mut line)
        .expect("first line");
    let address = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();

    let read = try_call(
        &address,
        "GET",
        "/v1/sys/internal/ui/mounts/secret",
        &[("X-Vault-Token", "bin-root")],
        None,
    );
    let wrong_token = try_call(
        &address,
        "GET",
        "/v1/sys/internal/ui/mounts/secret",
        &[("X-Vault-Token", "root")],
        None,
    );
    child.kill().expect("kill fake-vault");
    child.wait().expect("reap fake-vault");

    let read = read.expect("request to the binary");
    assert_eq!(read.status, 200);
    assert_eq!(read.json()["data"]["options"]["version"], "2");
    assert_eq!(wrong_token.expect("request to the binary").status, 403);
}

#[test]
fn binary_rejects_non_loopback() {
    let output = Command::new(env!("CARGO_BIN_EXE_fake-vault"))
        .args(["--listen", "0.0.0.0:0"])
        .output()
        .expect("fake-vault runs");

    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("non-loopback"));
}
