//! Device tokens that rotate. A device's token is replaced once it is older than the policy's
//! interval: a sync answer carries the next token, and the device uses it from then on. The
//! server keeps hashes only.
//!
//! A rotation has to survive a lost answer and the sync client's overlapping requests (the next
//! request goes out with the old token before the answer carrying the new one is committed):
//!
//! - The next token is derived from the token the device presented and a salt the server keeps
//!   (`next_token`), so every answer to the old token until the new one is used carries the same
//!   next token: an answer lost on the way costs nothing, and two answers never disagree.
//! - The old token stays the current one until the next token is first presented; then it is
//!   kept as the previous token for the grace period, for requests already under way, and dies.
//!
//! Knowing the salt and every hash (a copy of the database) gives no token; knowing a token
//! without the salt gives no next one.

use sha2::{Digest, Sha256};

use super::{DeviceRow, Refusal, admit};

/// How often tokens rotate and how long a replaced token is still accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenPolicy {
    /// A token first used longer ago than this is replaced at the next sync.
    pub rotate_after_ms: u64,
    /// A replaced token is accepted this long after its successor was first used: longer than any
    /// request stays under way (a client gives up after 30 s; the simulation delays up to 15 min).
    pub grace_ms: u64,
}

impl Default for TokenPolicy {
    fn default() -> TokenPolicy {
        TokenPolicy { rotate_after_ms: 7 * 24 * 3_600_000, grace_ms: 3_600_000 }
    }
}

/// Which of a device's tokens a request presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presented {
    Current,
    /// The token issued last and not used before: it becomes the current one.
    Next,
    /// The token the current one replaced, within its grace period.
    Previous,
}

/// A device's tokens as a backend read them (hashes only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokens {
    pub current: String,
    pub next: Option<String>,
    pub previous: Option<String>,
    pub previous_until_ms: Option<u64>,
}

/// Which token `hash` is, or `None`: not one of them, or a replaced one past its grace period.
pub fn presented(tokens: &Tokens, hash: &str, now_ms: u64) -> Option<Presented> {
    if tokens.current == hash {
        Some(Presented::Current)
    } else if tokens.next.as_deref() == Some(hash) {
        Some(Presented::Next)
    } else if tokens.previous.as_deref() == Some(hash) && tokens.previous_until_ms.is_some_and(|until| now_ms < until) {
        Some(Presented::Previous)
    } else {
        None
    }
}

/// The device a token belongs to and which of its tokens it is: a token that is none of the
/// device's (a replaced one past its grace period included) is unknown; then `admit` decides.
pub fn admit_token<T>(row: Option<(DeviceRow<T>, Tokens)>, hash: &str, now_ms: u64) -> Result<(T, Presented), Refusal> {
    let (row, tokens) = row.ok_or(Refusal::UnknownDevice)?;
    let presented = presented(&tokens, hash, now_ms).ok_or(Refusal::UnknownDevice)?;
    Ok((admit(Some(row))?, presented))
}

/// Until when the token replaced by a promotion at `now_ms` is accepted.
pub fn previous_until(now_ms: u64, policy: &TokenPolicy) -> u64 {
    now_ms.saturating_add(policy.grace_ms)
}

/// Whether an answer to a request that presented `presented` carries the next token: only an
/// answer to the current token, once that token is older than the interval. (An answer to the
/// previous token carries none: the device holds its successor already.)
pub fn rotation_due(presented: Presented, current_since_ms: u64, now_ms: u64, policy: &TokenPolicy) -> bool {
    presented == Presented::Current && now_ms.saturating_sub(current_since_ms) >= policy.rotate_after_ms
}

/// The salt a rotation uses: the one already issued (so the same next token is sent again), or
/// the fresh one, which the backend then stores.
pub fn rotation_salt(issued: Option<String>, fresh: String) -> (String, bool) {
    match issued {
        Some(salt) => (salt, false),
        None => (fresh, true),
    }
}

/// The token that follows `token` under `salt`, as 64 hex digits.
pub fn next_token(salt: &str, token: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(b"fit-field device token rotation v1\0");
    hash.update(salt.as_bytes());
    hash.update(b"\0");
    hash.update(token.as_bytes());
    hex::encode(hash.finalize())
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    fn tokens() -> Tokens {
        Tokens {
            current: "c".into(),
            next: Some("n".into()),
            previous: Some("p".into()),
            previous_until_ms: Some(1_000),
        }
    }

    #[rstest]
    #[case::current("c", 5_000, Some(Presented::Current))]
    #[case::next("n", 5_000, Some(Presented::Next))]
    #[case::previous_in_grace("p", 999, Some(Presented::Previous))]
    #[case::previous_after_grace("p", 1_000, None)]
    #[case::a_stranger("x", 0, None)]
    fn a_replaced_token_works_only_through_its_grace_period(
        #[case] hash: &str,
        #[case] now_ms: u64,
        #[case] expected: Option<Presented>,
    ) {
        assert_eq!(presented(&tokens(), hash, now_ms), expected);
    }

    #[rstest]
    #[case::young(Presented::Current, 99, false)]
    #[case::old(Presented::Current, 100, true)]
    #[case::next_is_fresh(Presented::Next, 1_000, false)]
    #[case::previous_never(Presented::Previous, 1_000, false)]
    fn only_an_old_current_token_is_rotated(#[case] presented: Presented, #[case] now: u64, #[case] due: bool) {
        let policy = TokenPolicy { rotate_after_ms: 100, grace_ms: 10 };
        assert_eq!(rotation_due(presented, 0, now, &policy), due);
    }

    #[test]
    fn a_rotation_issued_before_is_issued_again_the_same() {
        assert_eq!(rotation_salt(Some("old".into()), "fresh".into()), ("old".into(), false));
        assert_eq!(rotation_salt(None, "fresh".into()), ("fresh".into(), true));
        assert_eq!(next_token("s", "t"), next_token("s", "t"));
        assert_ne!(next_token("s", "t"), next_token("s2", "t"));
        assert_ne!(next_token("s", "t"), next_token("s", "t2"));
        assert_eq!(next_token("s", "t").len(), 64);
    }
}
