//! Scripted responses, request recording, routing, the `Date` header and
//! shutdown of the Kriptomat simulator, driven over HTTP.

use std::time::{Duration, Instant};

use kriptomat_testkit::clock::TestClock;
use kriptomat_testkit::kriptomat::{Account, ScriptedResponse, Simulator, LOGIN_PATH};
use serde_json::{json, Value};

const RFC_SEED: &[u8] = b"12345678901234567890";
const START: u64 = 1_234_567_890;
const CODE_AT_START: &str = "005924";
const EMAIL: &str = "ops@partner.example.test";
const PASSWORD: &str = "correct-horse-battery";
const CLIENT_SECRET: &str = "cs_test_0123456789";

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|value| value.to_str().unwrap())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("response body is not JSON")
    }
}

fn send(method: reqwest::Method, url: &str, body: Option<&Value>) -> Reply {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut request = reqwest::Client::new()
            .request(method, url)
            .header("accept", "application/json")
            .header("x-requested-with", "XMLHttpRequest");
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .expect("request to the simulator failed");
        Reply {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.bytes().await.unwrap().to_vec(),
        }
    })
}

fn post_login(simulator: &Simulator) -> Reply {
    send(
        reqwest::Method::POST,
        &simulator.login_url(),
        Some(&login_body()),
    )
}

fn login_body() -> Value {
    json!({
        "email": EMAIL,
        "password": PASSWORD,
        "security_code": CODE_AT_START,
        "client_id": 5,
        "client_secret": CLIENT_SECRET,
        "expires_in": 3600,
    })
}

fn simulator() -> Simulator {
    let simulator = Simulator::start(TestClock::starting_at(START));
    simulator.add_account(Account::new(
        EMAIL,
        PASSWORD,
        5,
        CLIENT_SECRET,
        RFC_SEED.to_vec(),
    ));
    simulator
}

#[test]
fn url_has_no_trailing_slash() {
    let simulator = simulator();

    let url = simulator.url();

    assert!(url.starts_with("http://127.0.0.1:"), "url {url}");
    assert!(!url.ends_with('/'), "url {url}");
    assert_eq!(simulator.login_url(), format!("{url}{LOGIN_PATH}"));
}

#[test]
fn rate_limited_then_normal() {
    let simulator = simulator();
    simulator.push_response(ScriptedResponse::rate_limited(7));

    let throttled = post_login(&simulator);
    assert_eq!(throttled.status, 429);
    assert_eq!(throttled.header("retry-after"), Some("7"));
    assert_eq!(throttled.header("content-type"), Some("application/json"));
    assert!(throttled.json()["message"].is_string());

    let normal = post_login(&simulator);
    assert_eq!(normal.status, 200);
    assert!(normal.json()["access_token"].is_string());

    assert_eq!(simulator.logins_attempted(), 2);
    assert_eq!(simulator.logins_succeeded(), 1);
    assert_eq!(simulator.pending_responses(), 0);
}

#[test]
fn scripted_responses_sent_in_order() {
    let simulator = simulator();
    simulator.push_response(ScriptedResponse::json(
        500,
        json!({ "message": "Server Error" }),
    ));
    simulator.push_response(ScriptedResponse::bad_gateway());
    simulator.push_response(ScriptedResponse::html(503, "<h1>Maintenance</h1>"));
    simulator.push_response(ScriptedResponse::text(200, "OK"));
    simulator.push_response(ScriptedResponse::new(200));
    simulator.push_response(ScriptedResponse::json(
        200,
        json!({ "access_token": 123, "expires_in": 3600 }),
    ));
    assert_eq!(simulator.pending_responses(), 6);

    let server_error = post_login(&simulator);
    assert_eq!(server_error.status, 500);
    assert_eq!(server_error.json(), json!({ "message": "Server Error" }));

    let bad_gateway = post_login(&simulator);
    assert_eq!(bad_gateway.status, 502);
    assert_eq!(
        bad_gateway.header("content-type"),
        Some("text/html; charset=UTF-8")
    );
    let page = String::from_utf8(bad_gateway.body.clone()).unwrap();
    assert!(page.contains("502 Bad Gateway"), "page {page}");

    let maintenance = post_login(&simulator);
    assert_eq!(maintenance.status, 503);
    assert_eq!(maintenance.body, b"<h1>Maintenance</h1>");

    let not_json = post_login(&simulator);
    assert_eq!(not_json.status, 200);
    assert_eq!(not_json.body, b"OK");

    let empty = post_login(&simulator);
    assert_eq!(empty.status, 200);
    assert!(empty.body.is_empty());
    assert_eq!(empty.header("content-type"), None);

    let wrong_type = post_login(&simulator);
    assert_eq!(wrong_type.status, 200);
    assert_eq!(wrong_type.json()["access_token"], json!(123));

    // Scripted responses neither use up the step nor issue tokens.
    assert_eq!(simulator.logins_attempted(), 6);
    assert_eq!(simulator.logins_succeeded(), 0);
    assert!(simulator.issued_tokens().is_empty());
    assert_eq!(simulator.last_used_step(EMAIL), None);
    assert_eq!(post_login(&simulator).status, 200);
}

#[test]
fn response_repeated_count_times() {
    let simulator = simulator();
    simulator.push_response_times(ScriptedResponse::bad_gateway(), 2);

    assert_eq!(post_login(&simulator).status, 502);
    assert_eq!(post_login(&simulator).status, 502);
    assert_eq!(post_login(&simulator).status, 200);
}

#[test]
fn scripted_delay_slows_answer() {
    let simulator = simulator();
    simulator
        .push_response(ScriptedResponse::rate_limited(1).with_delay(Duration::from_millis(1200)));

    let started = Instant::now();
    let reply = post_login(&simulator);

    assert_eq!(reply.status, 429);
    assert!(
        started.elapsed() >= Duration::from_millis(1200),
        "answered after {:?}",
        started.elapsed()
    );
}

#[test]
fn slow_answer_times_out_client() {
    let simulator = simulator();
    simulator.push_response(ScriptedResponse::new(200).with_delay(Duration::from_secs(5)));

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = runtime.block_on(async {
        reqwest::Client::new()
            .post(simulator.login_url())
            .json(&login_body())
            .timeout(Duration::from_millis(300))
            .send()
            .await
    });

    let error = result.expect_err("a 5 s answer must exceed a 300 ms timeout");
    assert!(error.is_timeout(), "error {error}");
}

#[test]
fn response_delay_applies_to_normal_logins() {
    let simulator = simulator();
    simulator.set_response_delay(Duration::from_millis(800));

    let started = Instant::now();
    let reply = post_login(&simulator);

    assert_eq!(reply.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(800));
}

#[test]
fn scripted_headers_sent() {
    let simulator = simulator();
    simulator.push_response(
        ScriptedResponse::new(204)
            .with_header("x-request-id", "abc")
            .with_header("date", "Mon, 01 Jan 2024 00:00:00 GMT"),
    );

    let reply = post_login(&simulator);

    assert_eq!(reply.status, 204);
    assert_eq!(reply.header("x-request-id"), Some("abc"));
    assert_eq!(reply.header("date"), Some("Mon, 01 Jan 2024 00:00:00 GMT"));
}

#[test]
#[should_panic(expected = "not a valid HTTP status")]
fn invalid_scripted_status_panics() {
    let simulator = simulator();
    simulator.push_response(ScriptedResponse::new(1000));
}

#[test]
fn request_recorded() {
    let simulator = simulator();

    let reply = post_login(&simulator);
    assert_eq!(reply.status, 200);

    let requests = simulator.requests();
    assert_eq!(requests.len(), 1);
    let record = &requests[0];
    assert_eq!(record.method, "POST");
    assert_eq!(record.path, LOGIN_PATH);
    assert_eq!(record.query, None);
    assert_eq!(
        record.headers.get("content-type").map(String::as_str),
        Some("application/json")
    );
    assert_eq!(
        record.headers.get("accept").map(String::as_str),
        Some("application/json")
    );
    assert_eq!(
        record.headers.get("x-requested-with").map(String::as_str),
        Some("XMLHttpRequest")
    );
    assert!(record
        .headers
        .keys()
        .all(|name| *name == name.to_lowercase()));
    assert_eq!(record.json, Some(login_body()));
    assert_eq!(
        serde_json::from_slice::<Value>(&record.body).unwrap(),
        login_body()
    );
    assert!(
        (START..START + 2).contains(&record.at_unix),
        "at_unix {}",
        record.at_unix
    );
}

#[test]
fn record_debug_hides_body() {
    let simulator = simulator();
    post_login(&simulator);

    let printed = format!("{:?}", simulator.requests());

    assert!(!printed.contains(PASSWORD), "printed {printed}");
    assert!(!printed.contains(CLIENT_SECRET), "printed {printed}");
    assert!(printed.contains("security_code"), "printed {printed}");
}

#[test]
fn old_login_path_not_served() {
    let simulator = simulator();
    let old_url = format!("{}/v1/auth/login?trace=1", simulator.url());

    let reply = send(reqwest::Method::POST, &old_url, Some(&login_body()));

    assert_eq!(reply.status, 404);
    assert!(reply.json()["message"].is_string());
    let requests = simulator.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/v1/auth/login");
    assert_eq!(requests[0].query.as_deref(), Some("trace=1"));
    assert_eq!(simulator.logins_attempted(), 0);
    assert_eq!(simulator.last_used_step(EMAIL), None);
}

#[test]
fn get_on_login_path_not_allowed() {
    let simulator = simulator();

    let reply = send(reqwest::Method::GET, &simulator.login_url(), None);

    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("POST"));
    assert!(reply.json()["message"].is_string());
    assert_eq!(simulator.logins_attempted(), 0);
    assert_eq!(simulator.requests()[0].method, "GET");
}

#[test]
fn date_header_follows_simulator_clock() {
    let simulator = simulator();

    let login = post_login(&simulator);
    let missing = send(
        reqwest::Method::GET,
        &format!("{}/missing", simulator.url()),
        None,
    );
    simulator.push_response(ScriptedResponse::bad_gateway());
    let scripted = post_login(&simulator);

    // 1234567890 is Fri, 13 Feb 2009 23:31:30 GMT.
    for reply in [&login, &missing, &scripted] {
        let date = reply.header("date").unwrap();
        assert!(date.starts_with("Fri, 13 Feb 2009 23:31:3"), "date {date}");
        assert!(date.ends_with(" GMT"), "date {date}");
    }
}

#[test]
fn drop_stops_server() {
    let simulator = simulator();
    let address = simulator.url().trim_start_matches("http://").to_string();
    assert!(std::net::TcpStream::connect(&address).is_ok());

    drop(simulator);

    assert!(std::net::TcpStream::connect(&address).is_err());
}

#[tokio::test]
async fn usable_from_async_test() {
    let simulator = simulator();

    let response = reqwest::Client::new()
        .post(simulator.login_url())
        .json(&login_body())
        .send()
        .await
        .unwrap();

    assert_eq!(response.status().as_u16(), 200);
    drop(simulator);
}
