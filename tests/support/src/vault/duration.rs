//! Durations and timestamps in the formats Vault reads and writes.

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Parses a TTL the way Vault's `parseutil.ParseDurationSecond` does:
/// a JSON integer or numeric string is seconds, a string with a `d` suffix
/// is days, and anything else must be a Go duration such as `"1h30m"`.
/// Returns whole seconds, or `None` when the value is not a duration.
pub fn parse_seconds(value: &Value) -> Option<i64> {
    match value {
        Value::Number(number) => number
            .as_i64()
            .or_else(|| number.as_f64().map(|float| float as i64)),
        Value::String(text) => parse_seconds_str(text),
        _ => None,
    }
}

/// Parses a duration string; see [`parse_seconds`].
pub fn parse_seconds_str(text: &str) -> Option<i64> {
    let text = text.trim();
    if text.is_empty() {
        return Some(0);
    }
    if let Ok(seconds) = text.parse::<i64>() {
        return Some(seconds);
    }
    if let Some(days) = text.strip_suffix('d') {
        if let Ok(days) = days.parse::<i64>() {
            return Some(days * 86_400);
        }
    }
    parse_go_duration(text).map(|nanos| (nanos / 1_000_000_000) as i64)
}

/// Parses Go's `time.ParseDuration` syntax into nanoseconds.
fn parse_go_duration(text: &str) -> Option<i128> {
    let (negative, mut rest) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if number_len == 0 {
            return None;
        }
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per_unit: f64 = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * nanos_per_unit;
    }
    let nanos = total as i128;
    Some(if negative { -nanos } else { nanos })
}

/// Formats whole seconds as Go's `time.Duration.String` does (`"0s"`,
/// `"1h0m0s"`, `"3h25m19s"`), which is how Vault renders
/// `delete_version_after`.
pub fn format_go_duration(seconds: i64) -> String {
    if seconds == 0 {
        return "0s".to_string();
    }
    let sign = if seconds < 0 { "-" } else { "" };
    let total = seconds.unsigned_abs();
    let (hours, minutes, secs) = (total / 3600, (total % 3600) / 60, total % 60);
    if hours > 0 {
        format!("{sign}{hours}h{minutes}m{secs}s")
    } else if minutes > 0 {
        format!("{sign}{minutes}m{secs}s")
    } else {
        format!("{sign}{secs}s")
    }
}

/// Formats a timestamp as RFC 3339 in UTC with sub-second digits, like Go's
/// `time.RFC3339Nano`.
pub fn rfc3339(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .expect("a UTC timestamp always formats as RFC 3339")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parse_seconds_accepts_vault_forms() {
        assert_eq!(parse_seconds(&json!(300)), Some(300));
        assert_eq!(parse_seconds(&json!("3600")), Some(3600));
        assert_eq!(parse_seconds(&json!("300s")), Some(300));
        assert_eq!(parse_seconds(&json!("90m")), Some(5400));
        assert_eq!(parse_seconds(&json!("1h30m")), Some(5400));
        assert_eq!(parse_seconds(&json!("1.5h")), Some(5400));
        assert_eq!(parse_seconds(&json!("2d")), Some(172_800));
        assert_eq!(parse_seconds(&json!("soon")), None);
        assert_eq!(parse_seconds(&json!("5x")), None);
        assert_eq!(parse_seconds(&json!(true)), None);
    }

    #[test]
    fn go_duration_format() {
        assert_eq!(format_go_duration(0), "0s");
        assert_eq!(format_go_duration(59), "59s");
        assert_eq!(format_go_duration(61), "1m1s");
        assert_eq!(format_go_duration(3600), "1h0m0s");
        assert_eq!(format_go_duration(12_319), "3h25m19s");
    }
}
