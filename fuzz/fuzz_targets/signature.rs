//! `domain::verify` on arbitrary header strings, bodies, secrets and clocks: it never panics;
//! a header it accepts really carries the HMAC of the body at the header's `t`; a header made
//! by `domain::sign` verifies within the tolerance, and fails once a body byte changes.
#![no_main]

use domain::{sign, verify, SignatureError, TOLERANCE_SECS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(
    |input: (Vec<u8>, Option<String>, Vec<u8>, i64, i64, i64, u8)| {
        let (secret, header, body, now, t, skew, flip) = input;

        // 1. Arbitrary headers: no panic, and acceptance only with the real MAC at the header's `t`.
        let tolerance = TOLERANCE_SECS;
        if verify(&secret, header.as_deref(), &body, now, tolerance).is_ok() {
            let header = header.as_deref().unwrap_or_default();
            let t_text = header
                .split(',')
                .filter_map(|part| part.trim().split_once('='))
                .find(|(k, _)| *k == "t")
                .map(|(_, v)| v)
                .expect("an accepted header has a t");
            let t: i64 = t_text.parse().expect("an accepted t is an integer");
            assert!(now.abs_diff(t) <= tolerance as u64, "accepted a stale t");
            let expected = sign(&secret, t, &body);
            let v1 = expected.split_once(",v1=").expect("sign's format").1;
            assert!(
                header.to_ascii_lowercase().contains(v1),
                "accepted a header without the expected MAC"
            );
        }
        // Any tolerance (also negative or huge) must not panic either.
        let _ = verify(&secret, header.as_deref(), &body, now, skew);

        // 2. What `sign` makes verifies within the tolerance, and is stale beyond it.
        let signed = sign(&secret, t, &body);
        let skew = skew.rem_euclid(2 * tolerance + 1) - tolerance; // -300..=300
        if let Some(at) = t.checked_add(skew) {
            assert_eq!(verify(&secret, Some(&signed), &body, at, tolerance), Ok(()));
        }
        if let Some(late) = t.checked_add(tolerance + 1) {
            assert_eq!(
                verify(&secret, Some(&signed), &body, late, tolerance),
                Err(SignatureError::Stale)
            );
        }

        // 3. Changing one body byte breaks it.
        if !body.is_empty() {
            let mut tampered = body.clone();
            let i = usize::from(flip) % tampered.len();
            tampered[i] ^= flip.max(1);
            assert_eq!(
                verify(&secret, Some(&signed), &tampered, t, tolerance),
                Err(SignatureError::Mismatch)
            );
        }
    }
);
