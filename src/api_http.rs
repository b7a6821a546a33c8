//! What the management-API clients (Hugging Face Hub, Chutes) share: how a configured base URL
//! is checked and the HTTP client they send with. Per-request timeouts stay with each client.

use std::time::Duration;

use reqwest::Url;

/// Time allowed to open a connection to an API.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// `configured` as an absolute http(s) base URL ending in `/`, so relative paths join under
/// it.
///
/// # Errors
/// Why it is refused: not a URL, or not an http(s) URL that can be a base.
pub fn base_url(configured: &str) -> Result<Url, String> {
    let trimmed = configured.trim_end_matches('/');
    let url = Url::parse(&format!("{trimmed}/")).map_err(|e| e.to_string())?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err("not an http(s) URL".to_owned());
    }
    Ok(url)
}

/// The HTTP client: `af/<version>` user agent, a connect timeout, no Nagle delay. Bodies are
/// read through [`crate::http_body`].
///
/// # Errors
/// TLS cannot be set up.
pub fn client() -> Result<reqwest::Client, reqwest::Error> {
    client_builder().build()
}

/// The builder of [`client`], for a client that adds its own timeouts.
pub fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder().user_agent(concat!("af/", env!("CARGO_PKG_VERSION"))).connect_timeout(CONNECT_TIMEOUT).tcp_nodelay(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_end_in_one_slash_and_must_be_http() {
        assert_eq!(base_url("https://api.chutes.ai").expect("valid").as_str(), "https://api.chutes.ai/");
        assert_eq!(base_url("http://127.0.0.1:9/api//").expect("valid").as_str(), "http://127.0.0.1:9/api/");
        assert_eq!(base_url("ftp://x").expect_err("scheme"), "not an http(s) URL");
        assert!(base_url("not a url").is_err());
    }
}
