//! Secrets never leave: a value that must never appear in logs, `Debug` output or error
//! messages (R2 secret keys, API keys), read with [`Secret::expose`] only where a client
//! credential is built; and [`redact`], which takes credentials out of every URL in a text
//! before it is logged, printed or written to JSON.

use std::borrow::Cow;
use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

/// A redacting wrapper: `Debug` and `Display` print `***`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call only where the credential is handed to a client.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// `scheme://userinfo@`: the userinfo of a URL (`user:password@`, or a token as the user).
static USERINFO: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"([A-Za-z][A-Za-z0-9+.\-]*)://([^/?#@\s"'<>\\]+)@"#).expect("the userinfo pattern is valid"));

/// `?name=value` / `&name=value` where the name looks like a credential (`apikey`, `token`,
/// `X-Amz-Signature`, `password`, ...).
static SECRET_PARAM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)([?&;][^=&#\s"'<>]*(?:key|token|secret|passw|pwd|auth|sig|credential|session)[^=&#\s"'<>]*=)[^&#\s"'<>]*"#)
        .expect("the parameter pattern is valid")
});

/// `text` with credentials removed from every URL in it: userinfo (`user:pass@`, or a token
/// in the user part) becomes `***@`, and the value of every query parameter whose name looks
/// like a credential becomes `***`. The login name of an `ssh://user@host` URL is kept (it is
/// not a secret, and SSH URLs carry no password). Applied where text leaves the process: logs,
/// error messages, stdout.
#[must_use]
pub fn redact(text: &str) -> Cow<'_, str> {
    if !text.contains("://") && !text.contains('=') {
        return Cow::Borrowed(text);
    }
    let without_userinfo = USERINFO.replace_all(text, |found: &regex::Captures<'_>| {
        let (scheme, userinfo) = (&found[1], &found[2]);
        if scheme.eq_ignore_ascii_case("ssh") && !userinfo.contains(':') { found[0].to_owned() } else { format!("{scheme}://***@") }
    });
    match SECRET_PARAM.replace_all(&without_userinfo, "${1}***") {
        Cow::Borrowed(_) => without_userinfo,
        Cow::Owned(redacted) => Cow::Owned(redacted),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_removes_userinfo_and_secret_query_values_from_urls() {
        assert_eq!(redact("wss://alice:hunter2@node.example:443/ws"), "wss://***@node.example:443/ws");
        assert_eq!(
            redact("failed: http://h/v1?apikey=sk-1&model=m&X-Amz-Signature=abc#f"),
            "failed: http://h/v1?apikey=***&model=m&X-Amz-Signature=***#f"
        );
        assert_eq!(
            redact(r#"{"base_url": "https://u:p@x.chutes.ai/v1?token=t"}"#),
            r#"{"base_url": "https://***@x.chutes.ai/v1?token=***"}"#
        );
        assert_eq!(redact("mail me at a@b.c, see https://example.com/a@b"), "mail me at a@b.c, see https://example.com/a@b");
        assert!(matches!(redact("no urls here"), Cow::Borrowed(_)));
        assert_eq!(redact("ssh://deploy@gpu-1:22 and ssh://u:pw@h"), "ssh://deploy@gpu-1:22 and ssh://***@h");
    }

    #[test]
    fn secret_debug_and_display_never_show_the_value() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?} {secret}"), "Secret(***) ***");
        assert_eq!(secret.expose(), "hunter2");
    }
}
