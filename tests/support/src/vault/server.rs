//! The HTTP side: accepting connections, recording requests, applying
//! faults and turning replies into responses.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use percent_encoding::percent_decode_str;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use super::reply::{errors, Reply};
use super::state::{Request, State};
use super::{Fault, RecordedRequest};

/// Vault's default maximum request size (32 MiB).
const MAX_REQUEST_BODY_BYTES: usize = 32 * 1024 * 1024;

/// Returned to hyper to close a connection without any response.
#[derive(Debug)]
struct ConnectionDropped;

impl std::fmt::Display for ConnectionDropped {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("connection dropped by an injected fault")
    }
}

impl std::error::Error for ConnectionDropped {}

/// Accepts connections until `shutdown` changes. hyper's HTTP/1 parser
/// takes any token as a method, so the custom `LIST` verb reaches the
/// handler. With `tls` set, every connection must complete a TLS handshake
/// first, so plain HTTP clients get no response.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    state: Arc<Mutex<State>>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    continue;
                };
                let state = Arc::clone(&state);
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        None => serve_connection(stream, state).await,
                        // A failed handshake (an untrusted certificate on
                        // either side, a missing client certificate or a
                        // plain HTTP client) only ends this connection,
                        // and the client sees the TLS error.
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                serve_connection(stream, state).await;
                            }
                        }
                    }
                });
            }
        }
    }
}

async fn serve_connection<I>(io: I, state: Arc<Mutex<State>>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request| respond(Arc::clone(&state), request));
    // Errors here are client disconnects and the connections that drop
    // faults close on purpose, so there is nothing to report.
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .await;
}

async fn respond(
    state: Arc<Mutex<State>>,
    request: hyper::Request<Incoming>,
) -> Result<Response<Full<Bytes>>, ConnectionDropped> {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_REQUEST_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes().to_vec(),
        Err(_) => {
            return Ok(reply_response(errors(
                413,
                &["http: request body too large"],
            )))
        }
    };

    let method = parts.method.as_str().to_string();
    let raw_path = parts.uri.path().to_string();
    let raw_query = parts.uri.query().unwrap_or("").to_string();
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        headers
            .entry(name.as_str().to_string())
            .and_modify(|joined| {
                joined.push_str(", ");
                joined.push_str(&value);
            })
            .or_insert(value);
    }

    let fault = {
        let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
        state.requests.push(RecordedRequest {
            method: method.clone(),
            path: raw_path.clone(),
            query: raw_query.clone(),
            headers: headers.clone(),
            body: body.clone(),
        });
        take_fault(&mut state.faults, &method, &raw_path)
    };
    if let Some(fault) = fault {
        if !fault.delay.is_zero() {
            tokio::time::sleep(fault.delay).await;
        }
        if fault.drop_connection {
            return Err(ConnectionDropped);
        }
        if fault.status != 0 {
            return Ok(fault_response(&fault));
        }
    }

    let reply = match parse_request(method, &raw_path, &raw_query, headers, body) {
        Ok(request) => state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .handle(&request),
        Err(reply) => reply,
    };
    Ok(reply_response(reply))
}

/// Removes one use of the first fault matching the request and returns it.
fn take_fault(faults: &mut Vec<Fault>, method: &str, path: &str) -> Option<Fault> {
    let index = faults
        .iter()
        .position(|fault| fault.matches(method, path))?;
    let fault = faults[index].clone();
    if faults[index].count <= 1 {
        faults.remove(index);
    } else {
        faults[index].count -= 1;
    }
    Some(fault)
}

/// Checks the transport-level rules and decodes the path and query.
fn parse_request(
    method: String,
    raw_path: &str,
    raw_query: &str,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
) -> Result<Request, Reply> {
    let Some(encoded) = raw_path.strip_prefix("/v1/") else {
        return Err(errors(404, &[]));
    };
    let path = percent_decode_str(encoded)
        .decode_utf8()
        .map_err(|_| {
            errors(
                400,
                &["invalid request path: not valid UTF-8 after percent-decoding"],
            )
        })?
        .into_owned();
    // Vault 1.19.16+, 1.20.10+, 1.21.5+ and 2.0 reject uncleaned paths.
    // NOTE: the 400 status and message are a guess because Vault's exact
    // response was not verified.
    let full = format!("/{path}");
    let uncleaned = full.contains("//")
        || full.contains("/./")
        || full.contains("/../")
        || full.ends_with("/.")
        || full.ends_with("/..");
    if uncleaned {
        return Err(errors(
            400,
            &["invalid request path: paths must not contain '//', '/./' or '/../'"],
        ));
    }
    Ok(Request {
        method,
        path,
        query: parse_query(raw_query),
        headers,
        body,
    })
}

/// Decodes an `application/x-www-form-urlencoded` query string. The first
/// value of a repeated name wins.
fn parse_query(raw: &str) -> BTreeMap<String, String> {
    let decode = |text: &str| {
        percent_decode_str(&text.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    let mut query = BTreeMap::new();
    for pair in raw.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        query.entry(decode(name)).or_insert_with(|| decode(value));
    }
    query
}

fn base_response(status: u16) -> hyper::http::response::Builder {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    Response::builder()
        .status(status)
        .header("cache-control", "no-store")
}

fn reply_response(reply: Reply) -> Response<Full<Bytes>> {
    let (status, body) = match reply {
        Reply::Json { status, body } => (status, body),
        Reply::NoContent => (204, Vec::new()),
        Reply::EmptyBody { status } => (status, Vec::new()),
    };
    base_response(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("static headers are valid")
}

/// Builds the response of a fault: its status, body and headers, with a JSON
/// content type unless the fault sets its own.
fn fault_response(fault: &Fault) -> Response<Full<Bytes>> {
    let mut builder = base_response(fault.status);
    let sets_content_type = fault
        .headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("content-type"));
    if !sets_content_type {
        builder = builder.header("content-type", "application/json");
    }
    for (name, value) in &fault.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder
        .body(Full::new(Bytes::from(fault.body.clone())))
        .unwrap_or_else(|_| {
            reply_response(errors(
                500,
                &["fake vault: the injected fault has an invalid header"],
            ))
        })
}
