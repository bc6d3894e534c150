//! The `Aourly-Signature` header (integration guide "Authentication"), for inbound webhooks and outbound events:
//! `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.
//!
//! Several `v1=` entries may be present (a sender rotating its secret signs with both); the
//! header passes when any of them matches. Entries with other keys (`v0=`, a future `v2=`)
//! are ignored. The MAC covers `t` exactly as written in the header, and `t` must be written
//! canonically (no `+`, no leading zeros), so one timestamp has one signed form.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The header's name.
pub const SIGNATURE_HEADER: &str = "Aourly-Signature";

/// How far `t` may be from now, either way, in seconds (integration guide "Authentication").
pub const TOLERANCE_SECS: i64 = 300;

/// Why a signature header was refused. The text names no secret, signature or header value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature header is missing")]
    Missing,
    #[error("the signature header is malformed")]
    Malformed,
    #[error("the signature timestamp is too far from now")]
    Stale,
    #[error("the signature does not match")]
    Mismatch,
}

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], timestamp: &str, body: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret).expect("HMAC accepts any key");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// The full header value signing `body` at `timestamp` (unix seconds).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let t = timestamp.to_string();
    format!("t={t},v1={}", hex::encode(mac(secret, &t, body)))
}

/// Checks a header value against `body`, the secret and the clock (`now`, unix seconds):
/// `t` at most `tolerance_secs` away from `now`, and some `v1` equal to the expected MAC,
/// compared in constant time.
pub fn verify(
    secret: &[u8],
    header: Option<&str>,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let header = header.map(str::trim).unwrap_or_default();
    if header.is_empty() {
        return Err(SignatureError::Missing);
    }

    let mut timestamp: Option<&str> = None;
    let mut candidates: Vec<[u8; 32]> = Vec::new();
    for part in header.split(',') {
        let (key, value) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match key {
            "t" if timestamp.is_none() => timestamp = Some(value),
            "t" => return Err(SignatureError::Malformed),
            "v1" => {
                let mut tag = [0_u8; 32];
                hex::decode_to_slice(value, &mut tag).map_err(|_| SignatureError::Malformed)?;
                candidates.push(tag);
            }
            _ => {}
        }
    }
    let t_text = timestamp.ok_or(SignatureError::Malformed)?;
    let t: i64 = t_text.parse().map_err(|_| SignatureError::Malformed)?;
    if t.to_string() != t_text || candidates.is_empty() {
        return Err(SignatureError::Malformed);
    }

    if now.abs_diff(t) > tolerance_secs.max(0).unsigned_abs() {
        return Err(SignatureError::Stale);
    }

    let expected = mac(secret, t_text, body);
    // Compare against every candidate, without stopping early.
    let matched = candidates.iter().fold(subtle::Choice::from(0), |any, tag| {
        any | expected.ct_eq(tag)
    });
    if bool::from(matched) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECRET: &[u8] = b"whsec_test";
    const BODY: &[u8] = br#"{"id":"evt_1","type":"customer.created"}"#;
    const NOW: i64 = 1_795_000_000;

    #[test]
    fn matches_a_known_vector() {
        // Computed independently: printf '1795000000.{"id":"evt_1","type":"customer.created"}'
        //   | openssl dgst -sha256 -hmac whsec_test
        let header = sign(SECRET, NOW, BODY);
        assert_eq!(header, format!("t={NOW},v1={KNOWN}"));
    }
    const KNOWN: &str = "e7b49b3852efabfa24a76dd2e5e3802f21cba617f5829af5a08622ad0197ce50";

    #[test]
    fn round_trips() {
        let header = sign(SECRET, NOW, BODY);
        assert_eq!(
            verify(SECRET, Some(&header), BODY, NOW, TOLERANCE_SECS),
            Ok(())
        );
        assert_eq!(
            verify(SECRET, Some(&header), BODY, NOW + 300, TOLERANCE_SECS),
            Ok(())
        );
        assert_eq!(
            verify(SECRET, Some(&header), BODY, NOW - 300, TOLERANCE_SECS),
            Ok(())
        );
    }

    #[test]
    fn refuses_missing_and_malformed_headers() {
        let good = sign(SECRET, NOW, BODY);
        let v1 = good.split_once(",v1=").unwrap().1;
        assert_eq!(
            verify(SECRET, None, BODY, NOW, 300),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify(SECRET, Some("  "), BODY, NOW, 300),
            Err(SignatureError::Missing)
        );
        for bad in [
            "garbage".to_owned(),
            format!("v1={v1}"),
            format!("t={NOW}"),
            format!("t={NOW},v1=zz"),
            format!("t={NOW},v1={}", &v1[..62]),
            format!("t=abc,v1={v1}"),
            format!("t=+{NOW},v1={v1}"),
            format!("t=0{NOW},v1={v1}"),
            format!("t={NOW},t={NOW},v1={v1}"),
            format!("t={NOW},v1"),
        ] {
            assert_eq!(
                verify(SECRET, Some(&bad), BODY, NOW, 300),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
    }

    #[test]
    fn refuses_stale_and_wrong_signatures() {
        let header = sign(SECRET, NOW, BODY);
        assert_eq!(
            verify(SECRET, Some(&header), BODY, NOW + 301, 300),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(SECRET, Some(&header), BODY, NOW - 301, 300),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(b"other", Some(&header), BODY, NOW, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(SECRET, Some(&header), b"{}", NOW, 300),
            Err(SignatureError::Mismatch)
        );
        // Re-labelling the MAC with another (fresh) timestamp does not help.
        let v1 = header.split_once(",v1=").unwrap().1;
        let moved = format!("t={},v1={v1}", NOW + 1);
        assert_eq!(
            verify(SECRET, Some(&moved), BODY, NOW, 300),
            Err(SignatureError::Mismatch)
        );
        // Extreme values do not overflow.
        let far = sign(SECRET, i64::MIN, BODY);
        assert_eq!(
            verify(SECRET, Some(&far), BODY, i64::MAX, 300),
            Err(SignatureError::Stale)
        );
    }

    #[test]
    fn any_v1_entry_may_match_and_other_keys_are_ignored() {
        let new = sign(b"new-secret", NOW, BODY);
        let old = sign(b"old-secret", NOW, BODY);
        let v1_new = new.split_once(",v1=").unwrap().1;
        let v1_old = old.split_once(",v1=").unwrap().1;
        let both = format!("t={NOW}, v1={v1_new}, v1={v1_old}, v0=whatever");
        assert_eq!(verify(b"new-secret", Some(&both), BODY, NOW, 300), Ok(()));
        assert_eq!(verify(b"old-secret", Some(&both), BODY, NOW, 300), Ok(()));
        assert_eq!(
            verify(b"third", Some(&both), BODY, NOW, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn errors_reveal_nothing() {
        let header = sign(SECRET, NOW, BODY);
        let v1 = header.split_once(",v1=").unwrap().1;
        for e in [
            SignatureError::Missing,
            SignatureError::Malformed,
            SignatureError::Stale,
            SignatureError::Mismatch,
        ] {
            let text = format!("{e} {e:?}");
            assert!(!text.contains("whsec") && !text.contains(v1), "{text}");
        }
    }

    proptest! {
        #[test]
        fn sign_then_verify(secret in proptest::collection::vec(any::<u8>(), 0..80),
                            body in proptest::collection::vec(any::<u8>(), 0..300),
                            t in 0_i64..4_000_000_000,
                            skew in -300_i64..=300) {
            let header = sign(&secret, t, &body);
            prop_assert_eq!(verify(&secret, Some(&header), &body, t + skew, TOLERANCE_SECS), Ok(()));
        }

        #[test]
        fn any_flipped_body_byte_fails(body in proptest::collection::vec(any::<u8>(), 1..300),
                                       index in any::<prop::sample::Index>(),
                                       flip in 1_u8..=255) {
            let header = sign(SECRET, NOW, &body);
            let mut tampered = body.clone();
            tampered[index.index(body.len())] ^= flip;
            prop_assert_eq!(
                verify(SECRET, Some(&header), &tampered, NOW, TOLERANCE_SECS),
                Err(SignatureError::Mismatch)
            );
        }

        #[test]
        fn timestamps_beyond_300_seconds_fail(skew in 301_i64..10_000_000, sign_of in prop::bool::ANY) {
            let header = sign(SECRET, NOW, BODY);
            let now = if sign_of { NOW + skew } else { NOW - skew };
            prop_assert_eq!(
                verify(SECRET, Some(&header), BODY, now, TOLERANCE_SECS),
                Err(SignatureError::Stale)
            );
        }
    }
}
