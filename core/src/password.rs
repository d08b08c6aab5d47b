//! What a shopper's (or the admin's) password must be: at least 8 characters, not all
//! whitespace, and not guessable, as judged by zxcvbn (its dictionaries hold the common
//! passwords, names and keyboard walks). A refusal says why and how to do better.

/// The fewest characters a password may have.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// The lowest zxcvbn score accepted: 2 = more than a million guesses ("somewhat guessable"),
/// out of reach of an online attacker slowed by the login throttle.
const MIN_SCORE: zxcvbn::Score = zxcvbn::Score::Two;

/// Why a password was refused, in words for the person choosing it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}{}", suggestion.as_deref().map(|s| format!(" {s}")).unwrap_or_default())]
pub struct WeakPassword {
    pub reason: String,
    pub suggestion: Option<String>,
}

/// Checks `password`; `context` holds words an attacker would try first (the user name).
pub fn check_password(password: &str, context: &[&str]) -> Result<(), WeakPassword> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(WeakPassword {
            reason: format!("Password must be at least {MIN_PASSWORD_CHARS} characters."),
            suggestion: None,
        });
    }
    if password.trim().is_empty() {
        return Err(WeakPassword {
            reason: "Password must not be only spaces.".into(),
            suggestion: None,
        });
    }
    let estimate = zxcvbn::zxcvbn(password, context);
    if estimate.score() >= MIN_SCORE {
        return Ok(());
    }
    let feedback = estimate.feedback();
    let reason = feedback
        .and_then(|f| f.warning())
        .map(|w| format!("Password is too easy to guess: {w}"))
        .unwrap_or_else(|| "Password is too easy to guess.".into());
    let suggestion = feedback
        .map(|f| {
            f.suggestions()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|s| !s.is_empty());
    Err(WeakPassword { reason, suggestion })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_short_and_blank_passwords_are_refused_with_a_reason() {
        for weak in [
            "password",
            "aaaaaaaa",
            "        ",
            "12345678",
            "short",
            "qwertyuiop",
        ] {
            let refused = check_password(weak, &[]).expect_err(weak);
            assert!(!refused.reason.is_empty(), "{weak}");
        }
        let common = check_password("password", &[]).expect_err("common");
        assert!(common.to_string().contains("guess"), "{common}");
    }

    #[test]
    fn a_password_made_of_the_user_name_is_refused() {
        assert!(check_password("alice-shopper", &["alice-shopper"]).is_err());
    }

    #[test]
    fn a_long_uncommon_password_is_accepted() {
        for strong in ["correct horse", "tulip-garage-47-orbit", "Xk9#mP2!vL"] {
            assert_eq!(check_password(strong, &[]), Ok(()), "{strong}");
        }
    }
}
