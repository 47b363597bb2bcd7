//! Login handling: Laravel-style validation, the credential check, TOTP
//! verification with the replay guard, and token issue.

use rand::distr::Alphanumeric;
use rand::Rng;
use serde_json::{json, Map, Value};

use super::{ExpiresInFormat, State, DEFAULT_EXPIRES_IN, TOKEN_PREFIX};

/// Number of random characters after [`TOKEN_PREFIX`] in an access token.
const TOKEN_RANDOM_CHARS: usize = 40;

/// Code length that validation expects when no account has the request's
/// email, so the length cannot come from the account.
const DEFAULT_DIGITS: usize = 6;

/// HTTP status and JSON body of a login response.
pub(super) struct LoginReply {
    pub status: u16,
    pub body: Value,
}

/// Field values of a request that passed validation.
struct LoginFields {
    email: String,
    password: String,
    security_code: String,
    client_id: JsonInteger,
    client_secret: String,
    expires_in: Option<u64>,
}

/// JSON integer, sorted by whether it fits the simulator's `u64` fields.
#[derive(Clone, Copy)]
enum JsonInteger {
    Unsigned(u64),
    /// Larger than `u64::MAX`. Only serde_json's `arbitrary_precision`
    /// feature keeps such digits, because without it the number is a float.
    TooLarge,
    Negative,
}

/// Validation errors in the order Laravel reports them: by field, in the
/// order the rules are declared.
struct ValidationErrors(Vec<(&'static str, String)>);

impl ValidationErrors {
    fn add(&mut self, field: &'static str, message: String) {
        self.0.push((field, message));
    }

    /// Builds Laravel's 422 body: the first message, with a count of the
    /// others, and every message grouped by field.
    fn into_reply(self) -> LoginReply {
        let first = self.0[0].1.clone();
        let message = match self.0.len() - 1 {
            0 => first,
            1 => format!("{first} (and 1 more error)"),
            others => format!("{first} (and {others} more errors)"),
        };

        let mut errors = Map::new();
        for (field, text) in self.0 {
            let entry = errors
                .entry(field)
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(list) = entry {
                list.push(Value::String(text));
            }
        }

        LoginReply {
            status: 422,
            body: json!({ "message": message, "errors": errors }),
        }
    }
}

/// Handles one login request that arrived at `now_unix` (simulator time).
///
/// `body_is_json` is whether the `Content-Type` names JSON. Laravel reads the
/// body as JSON only then, so any other body has no fields and fails
/// validation.
pub(super) fn handle_login(
    state: &mut State,
    now_unix: u64,
    body_is_json: bool,
    body: &[u8],
) -> LoginReply {
    let object = if body_is_json {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(object)) => object,
            _ => Map::new(),
        }
    } else {
        Map::new()
    };

    let fields = match validate(state, &object) {
        Ok(fields) => fields,
        Err(errors) => return errors.into_reply(),
    };

    let Some(entry) = state.accounts.get_mut(&fields.email) else {
        return unauthorized();
    };
    let account = &entry.account;
    let client_id_matches = matches!(
        fields.client_id,
        JsonInteger::Unsigned(id) if id == account.client_id
    );
    if fields.password != account.password
        || !client_id_matches
        || fields.client_secret != account.client_secret
    {
        return unauthorized();
    }

    let current_step = account.step_at(now_unix);
    let first_step = current_step.saturating_sub(state.window);
    let last_step = current_step.saturating_add(state.window);
    let matching_steps: Vec<u64> = (first_step..=last_step)
        .filter(|step| account.code_at(step * account.period) == fields.security_code)
        .collect();
    if matching_steps.is_empty() {
        return security_code_error("The security code is invalid.");
    }

    // A code from a step at or before the last accepted one is a replay,
    // as RFC 6238 section 5.2 requires. A code can match two steps of the window
    // by chance, so the oldest unused one is taken.
    let unused_step = matching_steps
        .iter()
        .copied()
        .find(|step| entry.last_step.is_none_or(|last| *step > last));
    let Some(step) = unused_step else {
        return security_code_error("The security code has already been used.");
    };
    entry.last_step = Some(step);

    let token = new_token();
    state.logins_succeeded += 1;
    state.issued_tokens.push(token.clone());

    let expires_in = fields
        .expires_in
        .unwrap_or(DEFAULT_EXPIRES_IN)
        .min(state.max_expires_in);
    let body = match state.expires_in_format {
        ExpiresInFormat::Number => json!({ "access_token": token, "expires_in": expires_in }),
        ExpiresInFormat::String => {
            json!({ "access_token": token, "expires_in": expires_in.to_string() })
        }
        ExpiresInFormat::Missing => json!({ "access_token": token }),
    };
    LoginReply { status: 200, body }
}

/// Applies the request rules in declaration order: `required|string` for
/// the strings, `size` for `security_code`, `required|integer` for
/// `client_id` and `sometimes|integer|min:1` for `expires_in`.
///
/// `client_id` and `expires_in` must be JSON integers. Laravel's own integer
/// rule would also accept a digit string such as `"5"`. The simulator
/// rejects it, so a client that sends the wrong type fails its tests.
fn validate(state: &State, object: &Map<String, Value>) -> Result<LoginFields, ValidationErrors> {
    let mut errors = ValidationErrors(Vec::new());

    let email = required_string(object, "email", &mut errors);
    let password = required_string(object, "password", &mut errors);

    // The code length depends on the account, which is known only when the
    // email names one.
    let digits = email
        .as_ref()
        .and_then(|email| state.accounts.get(email))
        .map_or(DEFAULT_DIGITS, |entry| entry.account.digits as usize);
    let security_code = required_string(object, "security_code", &mut errors);
    let security_code = security_code.filter(|code| {
        let valid = code.chars().count() == digits;
        if !valid {
            errors.add(
                "security_code",
                format!("The security code field must be {digits} characters."),
            );
        }
        valid
    });

    let client_id = match object.get("client_id") {
        None | Some(Value::Null) => {
            errors.add("client_id", required_message("client_id"));
            None
        }
        Some(Value::String(text)) if text.trim().is_empty() => {
            errors.add("client_id", required_message("client_id"));
            None
        }
        Some(value) => {
            let integer = json_integer(value);
            if integer.is_none() {
                errors.add("client_id", integer_message("client_id"));
            }
            integer
        }
    };

    let client_secret = required_string(object, "client_secret", &mut errors);

    // NOTE: an explicit `null` is rejected, because the documentation lists
    // no nullable rule. Whether the real API accepts it is unknown.
    let expires_in = match object.get("expires_in") {
        None => Ok(None),
        Some(value) => match json_integer(value) {
            Some(JsonInteger::Unsigned(secs)) if secs >= 1 => Ok(Some(secs)),
            Some(JsonInteger::TooLarge) => Ok(Some(u64::MAX)),
            Some(JsonInteger::Unsigned(_)) | Some(JsonInteger::Negative) => {
                errors.add(
                    "expires_in",
                    "The expires in field must be at least 1.".to_string(),
                );
                Err(())
            }
            None => {
                errors.add("expires_in", integer_message("expires_in"));
                Err(())
            }
        },
    };

    match (
        email,
        password,
        security_code,
        client_id,
        client_secret,
        expires_in,
    ) {
        (
            Some(email),
            Some(password),
            Some(security_code),
            Some(client_id),
            Some(client_secret),
            Ok(expires_in),
        ) if errors.0.is_empty() => Ok(LoginFields {
            email,
            password,
            security_code,
            client_id,
            client_secret,
            expires_in,
        }),
        _ => Err(errors),
    }
}

/// Reads a field under Laravel's `required|string` rules. Missing, `null`
/// and blank strings fail `required`, and any other non-string value fails
/// `string`.
fn required_string(
    object: &Map<String, Value>,
    field: &'static str,
    errors: &mut ValidationErrors,
) -> Option<String> {
    match object.get(field) {
        None | Some(Value::Null) => {
            errors.add(field, required_message(field));
            None
        }
        Some(Value::String(text)) if text.trim().is_empty() => {
            errors.add(field, required_message(field));
            None
        }
        Some(Value::String(text)) => Some(text.clone()),
        Some(_) => {
            errors.add(
                field,
                format!("The {} field must be a string.", label(field)),
            );
            None
        }
    }
}

/// Classifies a JSON number written without a fraction or exponent. Returns
/// `None` for any other value, digit strings included.
fn json_integer(value: &Value) -> Option<JsonInteger> {
    let Value::Number(number) = value else {
        return None;
    };
    if let Some(unsigned) = number.as_u64() {
        return Some(JsonInteger::Unsigned(unsigned));
    }
    if number.as_i64().is_some() {
        return Some(JsonInteger::Negative);
    }

    // Outside the i64 and u64 ranges only the text shows whether the number
    // was an integer, and only with serde_json's `arbitrary_precision`.
    let text = number.to_string();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.as_str()),
    };
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    Some(if negative {
        JsonInteger::Negative
    } else {
        JsonInteger::TooLarge
    })
}

fn label(field: &str) -> String {
    field.replace('_', " ")
}

fn required_message(field: &str) -> String {
    format!("The {} field is required.", label(field))
}

fn integer_message(field: &str) -> String {
    format!("The {} field must be an integer.", label(field))
}

fn unauthorized() -> LoginReply {
    LoginReply {
        status: 401,
        body: json!({ "message": "Invalid login credentials." }),
    }
}

fn security_code_error(message: &str) -> LoginReply {
    LoginReply {
        status: 422,
        body: json!({ "message": message, "errors": { "security_code": [message] } }),
    }
}

fn new_token() -> String {
    let random: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(TOKEN_RANDOM_CHARS)
        .map(char::from)
        .collect();
    format!("{TOKEN_PREFIX}{random}")
}
