//! HTTP layer of the simulator: records each request, sends scripted
//! responses, routes the login path and sets the `Date` header.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use axum::Router;
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::login::{handle_login, LoginReply};
use super::{LoginRecord, ScriptedResponse, Shared, LOGIN_PATH};

/// Largest request body read, in bytes. A login body is a few hundred bytes.
const MAX_BODY_BYTES: usize = 1 << 20;

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

/// Handles every request, whatever its method and path.
async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let at_unix = shared.clock.now_unix();
    let body = match to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => bytes.to_vec(),
        Err(error) => {
            let reply = json!({ "message": format!("Failed to read the request body: {error}") });
            return json_response(&shared, 413, &reply);
        }
    };

    let path = parts.uri.path().to_string();
    let is_login = path == LOGIN_PATH;
    let is_login_post = is_login && parts.method == Method::POST;
    let body_is_json = content_type_is_json(&parts.headers);
    let record = LoginRecord {
        method: parts.method.to_string(),
        path: path.clone(),
        query: parts.uri.query().map(str::to_string),
        headers: lower_case_headers(&parts.headers),
        json: serde_json::from_slice(&body).ok(),
        body,
        at_unix,
    };

    let (scripted, response_delay) = {
        let mut state = shared.lock();
        state.requests.push(record.clone());
        if is_login_post {
            state.logins_attempted += 1;
        }
        (state.script.pop_front(), state.response_delay)
    };

    if let Some(scripted) = scripted {
        if !scripted.delay.is_zero() {
            tokio::time::sleep(scripted.delay).await;
        }
        return scripted_response(&shared, scripted);
    }

    let reply = if is_login_post {
        let mut state = shared.lock();
        handle_login(&mut state, at_unix, body_is_json, &record.body)
    } else if is_login {
        LoginReply {
            status: 405,
            body: json!({
                "message": format!("Method {} is not allowed on {LOGIN_PATH}; use POST.", record.method)
            }),
        }
    } else {
        LoginReply {
            status: 404,
            body: json!({
                "message": format!("No route matches the path {path}.")
            }),
        }
    };

    if !response_delay.is_zero() {
        tokio::time::sleep(response_delay).await;
    }
    let mut response = json_response(&shared, reply.status, &reply.body);
    if reply.status == 405 {
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
    }
    response
}

/// Returns whether the `Content-Type` is JSON by the test Laravel applies:
/// the media type contains `/json` or `+json`.
fn content_type_is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(|value| value.to_ascii_lowercase())
        .is_some_and(|value| value.contains("/json") || value.contains("+json"))
}

fn lower_case_headers(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut map: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        // The http crate stores names in lower case already.
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        map.entry(name.as_str().to_string())
            .and_modify(|joined| {
                joined.push_str(", ");
                joined.push_str(&value);
            })
            .or_insert(value);
    }
    map
}

fn json_response(shared: &Shared, status: u16, body: &Value) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status_code(status);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    insert_date(headers, shared);
    response
}

fn scripted_response(shared: &Shared, scripted: ScriptedResponse) -> Response {
    let mut response = Response::new(Body::from(scripted.body));
    *response.status_mut() = status_code(scripted.status);
    let headers = response.headers_mut();
    insert_date(headers, shared);
    for (name, value) in &scripted.headers {
        // Simulator::push_response checked the names and values.
        let name = HeaderName::try_from(name.as_str()).expect("checked header name");
        let value = HeaderValue::try_from(value.as_str()).expect("checked header value");
        // A scripted header replaces the simulator's own `Date`, and repeated
        // names are all sent.
        if name == header::DATE {
            headers.insert(name, value);
        } else {
            headers.append(name, value);
        }
    }
    response
}

fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).expect("checked status code")
}

/// Sets `Date` from the simulator's clock. Hyper adds the system time only
/// when the header is absent, so the client receives this one.
fn insert_date(headers: &mut HeaderMap, shared: &Shared) {
    let date = http_date(shared.clock.now_unix());
    let value = HeaderValue::try_from(date).expect("an HTTP date is a valid header value");
    headers.insert(header::DATE, value);
}

/// Formats a unix time as an HTTP date (RFC 9110 IMF-fixdate), such as
/// `Fri, 13 Feb 2009 23:31:30 GMT`.
fn http_date(unix_secs: u64) -> String {
    let time = i64::try_from(unix_secs)
        .ok()
        .and_then(|secs| OffsetDateTime::from_unix_timestamp(secs).ok())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let weekday = time.weekday().to_string();
    let month = time.month().to_string();
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        &weekday[..3],
        time.day(),
        &month[..3],
        time.year(),
        time.hour(),
        time.minute(),
        time.second(),
    )
}

#[cfg(test)]
mod tests {
    use super::http_date;

    #[test]
    fn http_date_formats_imf_fixdate() {
        assert_eq!(http_date(1_234_567_890), "Fri, 13 Feb 2009 23:31:30 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    }
}
