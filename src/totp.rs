//! TOTP codes from the stored seed (RFC 6238).
//!
//! The seed field accepts base32 in either case, with spaces, newlines and
//! `=` padding or without, and `otpauth://totp/` URIs whose `secret`,
//! `digits`, `period` and `algorithm` are honoured. Errors name the field and
//! its length or the position of a bad character, never the seed. The
//! decoded bytes live in zeroizing buffers, and the totp-rs value that
//! computes the code exists only inside [`code_at`].

use crate::clock::Clock;
use crate::error::Error;
use crate::secret::Secret;
use std::time::Duration;
use tracing::info;
use zeroize::Zeroizing;

/// Seeds shorter than this many bits are rejected as malformed.
pub const MIN_SEED_BITS: usize = 80;

/// The HMAC algorithm of the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

/// A decoded seed with the code parameters.
pub struct TotpParams {
    seed: Zeroizing<Vec<u8>>,
    pub digits: u32,
    pub period: u64,
    pub algorithm: Algorithm,
}

impl std::fmt::Debug for TotpParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpParams")
            .field("seed", &"***")
            .field("digits", &self.digits)
            .field("period", &self.period)
            .field("algorithm", &self.algorithm)
            .finish()
    }
}

/// Parses the stored seed field; `path` and `field` name it in errors.
pub fn parse_seed(value: &Secret, path: &str, field: &str) -> Result<TotpParams, Error> {
    let text = value.expose().trim();
    // Compared as bytes: slicing the text could split a multi-byte character.
    if text
        .as_bytes()
        .get(..10)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"otpauth://"))
    {
        return parse_uri(text, path, field);
    }
    let seed = decode_base32(text).map_err(|problem| Error::bad_field(path, field, &problem))?;
    check_length(&seed, path, field)?;
    Ok(TotpParams {
        seed,
        digits: 6,
        period: 30,
        algorithm: Algorithm::Sha1,
    })
}

fn check_length(seed: &[u8], path: &str, field: &str) -> Result<(), Error> {
    if seed.len() * 8 < MIN_SEED_BITS {
        return Err(Error::bad_field(
            path,
            field,
            &format!(
                "decodes to {} bits, fewer than the {MIN_SEED_BITS} a TOTP seed needs",
                seed.len() * 8
            ),
        ));
    }
    Ok(())
}

fn parse_uri(text: &str, path: &str, field: &str) -> Result<TotpParams, Error> {
    let bad = |problem: &str| Error::bad_field(path, field, problem);
    let rest = &text["otpauth://".len()..];
    let (kind, rest) = rest
        .split_once('/')
        .ok_or_else(|| bad("is an otpauth URI without a type"))?;
    if !kind.eq_ignore_ascii_case("totp") {
        return Err(bad(
            "is an otpauth URI of a type other than totp; only time-based codes are supported",
        ));
    }
    let query = rest.split_once('?').map(|(_, q)| q).unwrap_or("");
    let mut params = TotpParams {
        seed: Zeroizing::new(Vec::new()),
        digits: 6,
        period: 30,
        algorithm: Algorithm::Sha1,
    };
    let mut found_secret = false;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, raw) = pair.split_once('=').unwrap_or((pair, ""));
        let value =
            percent_decode(raw).ok_or_else(|| bad("has a malformed percent escape in its URI"))?;
        match key.to_ascii_lowercase().as_str() {
            "secret" => {
                params.seed = decode_base32(&value).map_err(|p| {
                    bad(&format!(
                        "has a URI secret that {}",
                        p.trim_start_matches("is ")
                    ))
                })?;
                found_secret = true;
            }
            "digits" => {
                params.digits = match value.as_str() {
                    "6" => 6,
                    "8" => 8,
                    _ => return Err(bad("has a URI digits value other than 6 or 8")),
                }
            }
            "period" => {
                params.period = value
                    .parse()
                    .ok()
                    .filter(|p| (1..=300).contains(p))
                    .ok_or_else(|| {
                        bad("has a URI period that is not a number of seconds from 1 to 300")
                    })?
            }
            "algorithm" => {
                params.algorithm = match value.to_ascii_uppercase().as_str() {
                    "SHA1" => Algorithm::Sha1,
                    "SHA256" => Algorithm::Sha256,
                    "SHA512" => Algorithm::Sha512,
                    _ => return Err(bad("has a URI algorithm other than SHA1, SHA256 or SHA512")),
                }
            }
            _ => {}
        }
    }
    if !found_secret {
        return Err(bad("is an otpauth URI without a secret parameter"));
    }
    check_length(&params.seed, path, field)?;
    Ok(params)
}

fn percent_decode(text: &str) -> Option<Zeroizing<String>> {
    let bytes = text.as_bytes();
    let mut out = Zeroizing::new(Vec::with_capacity(bytes.len()));
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out.to_vec()).ok().map(Zeroizing::new)
}

/// Decodes base32 after normalising it: white space removed, upper-cased,
/// trailing `=` dropped. The error describes the problem without the text.
pub fn decode_base32(text: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    let mut clean = Zeroizing::new(String::with_capacity(text.len()));
    clean.extend(
        text.chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase()),
    );
    let length = clean.chars().count();
    let noun = if length == 1 {
        "character"
    } else {
        "characters"
    };
    let unpadded = clean.trim_end_matches('=');
    if let Some(position) = unpadded
        .chars()
        .position(|c| !matches!(c, 'A'..='Z' | '2'..='7'))
    {
        return Err(format!(
            "is not valid base32 ({length} {noun}, invalid character at position {})",
            position + 1
        ));
    }
    if unpadded.is_empty() {
        return Err("is empty".to_owned());
    }
    if matches!(unpadded.len() % 8, 1 | 3 | 6) {
        return Err(format!(
            "is not valid base32 ({length} {noun}, an impossible length)"
        ));
    }
    let mut out = Zeroizing::new(Vec::with_capacity(unpadded.len() * 5 / 8));
    let (mut buffer, mut bits) = (0u64, 0u32);
    for c in unpadded.bytes() {
        let value = if c.is_ascii_uppercase() {
            c - b'A'
        } else {
            c - b'2' + 26
        };
        buffer = (buffer << 5) | u64::from(value);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    zeroize::Zeroize::zeroize(&mut buffer);
    Ok(out)
}

/// Computes the code for a unix time, as a zero-padded string.
pub fn code_at(params: &TotpParams, unix_time: u64) -> Secret {
    let algorithm = match params.algorithm {
        Algorithm::Sha1 => totp_rs::Algorithm::SHA1,
        Algorithm::Sha256 => totp_rs::Algorithm::SHA256,
        Algorithm::Sha512 => totp_rs::Algorithm::SHA512,
    };
    // The seed copy moves into the Totp value, which wipes it on drop.
    let totp = totp_rs::Builder::new()
        .with_algorithm(algorithm)
        .with_digits(params.digits as u8)
        .with_step_duration(params.period)
        .with_secret(params.seed.to_vec())
        .build_noncompliant();
    let token = totp.generate(unix_time);
    let mut text = Zeroizing::new(String::with_capacity(8));
    std::fmt::Write::write_fmt(&mut *text, format_args!("{token}")).expect("writing to a String");
    Secret::new(std::mem::take(&mut *text))
}

/// A code ready to send and the step it belongs to.
#[derive(Debug)]
pub struct Code {
    pub code: Secret,
    pub step: u64,
}

/// Computes the code to send now. When less than `margin` is left in the
/// current step, waits for the next step so the code does not expire in
/// flight.
pub async fn current_code(params: &TotpParams, clock: &Clock, margin: Duration) -> Code {
    let now = clock.now();
    let period = params.period as f64;
    let left = period - now.rem_euclid(period);
    if left < margin.as_secs_f64() {
        info!(
            seconds_left = left,
            "TOTP step nearly over; waiting for the next one"
        );
        clock.sleep(Duration::from_secs_f64(left + 0.05)).await;
    }
    let time = clock.now_secs();
    Code {
        code: code_at(params, time),
        step: time / params.period,
    }
}

/// Computes the code to send now, for a step that starts at or after
/// `used_until`, the end of the newest step already sent: a server that
/// follows RFC 6238 accepts each step once. The caller drops a value too far
/// ahead of the clock before calling this.
pub async fn code_after(
    params: &TotpParams,
    clock: &Clock,
    margin: Duration,
    used_until: Option<u64>,
) -> Code {
    if let Some(until) = used_until {
        let now = clock.now();
        if now < until as f64 {
            info!(
                wait_secs = until as f64 - now,
                "TOTP step already used; waiting for the next one"
            );
            clock
                .sleep(Duration::from_secs_f64(until as f64 - now + 0.05))
                .await;
        }
    }
    current_code(params, clock, margin).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_SEED: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

    fn params(seed: &str) -> TotpParams {
        parse_seed(&Secret::from(seed), "secret/p", "totp_secret").unwrap()
    }

    fn code(seed: &str, time: u64) -> String {
        code_at(&params(seed), time).expose().to_owned()
    }

    #[test]
    fn rfc6238_sha1_vectors() {
        // RFC 6238 appendix B, SHA-1, 8 digits, seed "12345678901234567890".
        let uri = format!("otpauth://totp/x?secret={RFC_SEED}&digits=8");
        for (time, expected) in [
            (59, "94287082"),
            (1111111109, "07081804"),
            (1111111111, "14050471"),
            (1234567890, "89005924"),
            (2000000000, "69279037"),
            (20000000000, "65353130"),
        ] {
            assert_eq!(code(&uri, time), expected, "time {time}");
        }
    }

    #[test]
    fn rfc6238_sha256_and_sha512_vectors() {
        // The RFC uses 32- and 64-byte seeds for these algorithms.
        let seed256 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZA";
        let seed512 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNA";
        let sha256 = format!("otpauth://totp/x?secret={seed256}&digits=8&algorithm=SHA256");
        let sha512 = format!("otpauth://totp/x?secret={seed512}&digits=8&algorithm=SHA512");
        assert_eq!(code(&sha256, 59), "46119246");
        assert_eq!(code(&sha512, 59), "90693936");
        assert_eq!(code(&sha256, 1234567890), "91819424");
        assert_eq!(code(&sha512, 1234567890), "93441116");
    }

    #[test]
    fn six_digit_codes_keep_leading_zeros() {
        assert_eq!(code(RFC_SEED, 59), "287082");
        assert_eq!(code(RFC_SEED, 1234567890), "005924");
        assert_eq!(code(RFC_SEED, 1111111109), "081804");
        assert_eq!(code(RFC_SEED, 1234567888), "980357");
        assert_eq!(code(RFC_SEED, 1234567920), "590587");
    }

    #[test]
    fn seed_forms_give_same_code() {
        for seed in [
            "gezdgnbvgy3tqojqgezdgnbvgy3tqojq",
            "GEZD GNBV GY3T QOJQ\nGEZD GNBV GY3T QOJQ",
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n",
            "otpauth://totp/TeamA:ops%40example.test?secret=gezdgnbvgy3tqojqgezdgnbvgy3tqojq&issuer=OtherCo&digits=6&period=30",
        ] {
            assert_eq!(code(seed, 59), "287082", "{seed:?}");
        }
    }

    #[test]
    fn padded_and_unpadded_26_char_seed() {
        for seed in [
            "GEZDGNBVGY3TQOJQGEZDGNBVGY======",
            "GEZDGNBVGY3TQOJQGEZDGNBVGY",
            "gezdgnbvgy3tqojqgezdgnbvgy",
        ] {
            assert_eq!(code(seed, 59), "970934", "{seed}");
        }
    }

    #[test]
    fn eighty_bit_seed_accepted() {
        assert_eq!(params("GEZDGNBVGY3TQOJQ").seed.len(), 10);
    }

    #[test]
    fn invalid_char_reported_by_position() {
        let error = parse_seed(
            &Secret::from("GEZDGNBVGY3TQOJ1"),
            "secret/app/creds",
            "totp_secret",
        )
        .unwrap_err();
        assert_eq!(error.exit_code(), 65);
        let text = error.to_string();
        assert!(text.contains("position 16"), "{text}");
        assert!(text.contains("16 characters"), "{text}");
        assert!(!text.contains("GEZDGNBVGY3TQOJ"), "{text}");
    }

    #[test]
    fn short_seed_rejected() {
        let error = parse_seed(&Secret::from("GEZDGNBV"), "p", "totp_secret").unwrap_err();
        assert!(error.to_string().contains("40 bits"), "{error}");
    }

    #[test]
    fn hotp_uri_rejected_without_echo() {
        let error = parse_seed(
            &Secret::from(format!("otpauth://hotp/x?secret={RFC_SEED}&counter=1").as_str()),
            "p",
            "totp_secret",
        )
        .unwrap_err();
        assert!(error.to_string().contains("totp"), "{error}");
        assert!(!error.to_string().contains(RFC_SEED), "{error}");
    }

    #[test]
    fn uri_digits_and_period_validated() {
        for bad in ["digits=7", "period=0", "algorithm=MD5"] {
            let uri = format!("otpauth://totp/x?secret={RFC_SEED}&{bad}");
            assert!(
                parse_seed(&Secret::from(uri.as_str()), "p", "f").is_err(),
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn waits_for_next_step_near_boundary() {
        let clock = Clock::manual(1234567888.0);
        let code = current_code(&params(RFC_SEED), &clock, Duration::from_secs(5)).await;
        assert_eq!(code.code.expose(), "005924");
        assert_eq!(code.step, 41152263);
        assert!(clock.now() >= 1234567890.0);
    }

    #[tokio::test]
    async fn used_step_waited_out() {
        let clock = Clock::manual(1234567905.0);
        let code = code_after(
            &params(RFC_SEED),
            &clock,
            Duration::from_secs(5),
            Some(41152264 * 30),
        )
        .await;
        assert_eq!(code.step, 41152264);
        assert_eq!(code.code.expose(), "590587");
    }

    #[test]
    fn multibyte_characters_without_panic() {
        // A thin space is white space, so the seed is valid.
        let spaced = Secret::from("GEZDGNBVG\u{2009}Y3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(
            code_at(&parse_seed(&spaced, "p", "f").unwrap(), 59).expose(),
            "287082"
        );
        let accented = Secret::from("GEZDGNBVG\u{e9}Y3TQOJQGEZDGNBVGY3TQOJQ");
        let error = parse_seed(&accented, "p", "totp_secret").unwrap_err();
        assert_eq!(error.exit_code(), 65);
        assert!(error.to_string().contains("position 10"), "{error}");
        assert!(!error.to_string().contains("GEZDGNBVG"), "{error}");
    }

    #[tokio::test]
    async fn older_used_step_no_wait() {
        let clock = Clock::manual(1234567880.0);
        let code = code_after(
            &params(RFC_SEED),
            &clock,
            Duration::from_secs(5),
            Some(41152262 * 30),
        )
        .await;
        assert_eq!(code.step, 41152262);
        assert_eq!(clock.now(), 1234567880.0);
    }

    #[tokio::test]
    async fn sends_current_code_with_time_left() {
        let clock = Clock::manual(1234567880.0);
        let code = current_code(&params(RFC_SEED), &clock, Duration::from_secs(5)).await;
        assert_eq!(code.code.expose(), "980357");
        assert_eq!(clock.now(), 1234567880.0);
    }
}
