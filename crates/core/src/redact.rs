//! Redaction: keep configured secrets and token-looking values out of text shown to people.

/// What a removed secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Replaces every occurrence of each secret (ignoring ones shorter than 4 characters, which
/// would redact ordinary words) and the values of `access_token=`, `token=` and
/// `Authorization: Bearer` style fragments with `[redacted]`.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        if out.contains(*secret) {
            out = out.replace(*secret, REDACTED);
        }
    }
    for marker in ["access_token=", "token=", "Bearer ", "bot"] {
        out = redact_after(&out, marker);
    }
    out
}

/// Redacts the run of token characters following `marker` (e.g. `/bot123:ABC/` in a
/// Telegram URL), when that run is long enough to be a credential.
fn redact_after(text: &str, marker: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find(marker) {
        let (before, after) = rest.split_at(pos + marker.len());
        out.push_str(before);
        let len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-' | '.' | '~' | '+' | '/' | '=')))
            .unwrap_or(after.len());
        let candidate = &after[..len];
        let looks_secret = candidate.len() >= 16 && candidate.chars().any(|c| c.is_ascii_digit());
        if looks_secret && (marker != "bot" || candidate.contains(':')) {
            out.push_str(REDACTED);
            rest = &after[len..];
        } else {
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_configured_secrets_and_token_fragments() {
        let out = redact("login failed for syt_abc123secret", &["syt_abc123secret"]);
        assert_eq!(out, "login failed for [redacted]");
        let url = "error sending request for url (https://api.telegram.org/bot123456:AAEhBP0av28pH9zGXp7yQn/getMe)";
        let out = redact(url, &[]);
        assert!(!out.contains("AAEhBP0av28"), "{out}");
        let out = redact("GET /sync?access_token=mct_0123456789abcdefXYZ&since=1", &[]);
        assert!(!out.contains("mct_0123456789abcdef"), "{out}");
        assert!(out.contains("since=1"));
    }

    #[test]
    fn leaves_ordinary_text_alone() {
        let text = "connection refused (os error 111); the robot said token= ok";
        assert_eq!(redact(text, &["ab"]), text);
    }
}
