//! Where a miner's OpenAI-compatible endpoint is: a template over the chute's slug. Production
//! uses Chutes' own hosts; a devnet or a private gateway routes miners elsewhere.

/// Chutes' inference hosts: `https://{slug}.chutes.ai/v1`.
pub const DEFAULT_TEMPLATE: &str = "https://{slug}.chutes.ai/v1";

/// A base-URL template with one `{slug}` placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InferenceUrlTemplate(String);

impl Default for InferenceUrlTemplate {
    fn default() -> Self {
        Self(DEFAULT_TEMPLATE.to_owned())
    }
}

impl InferenceUrlTemplate {
    /// Checks `template`: an `http://` or `https://` URL containing `{slug}` once.
    ///
    /// # Errors
    /// What is wrong with it.
    pub fn parse(template: &str) -> Result<Self, String> {
        let template = template.trim();
        if !(template.starts_with("http://") || template.starts_with("https://")) {
            return Err(format!("the inference URL template must start with http:// or https://, not {template:?}"));
        }
        if template.matches("{slug}").count() != 1 {
            return Err(format!("the inference URL template must contain {{slug}} once, as in {DEFAULT_TEMPLATE}"));
        }
        Ok(Self(template.to_owned()))
    }

    /// The base URL of the chute with `slug`.
    #[must_use]
    pub fn base_url(&self, slug: &str) -> String {
        self.0.replace("{slug}", slug)
    }

    /// The template text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_need_a_scheme_and_one_slug() {
        assert_eq!(InferenceUrlTemplate::default().base_url("o-affine-m"), "https://o-affine-m.chutes.ai/v1");
        let local = InferenceUrlTemplate::parse("http://127.0.0.1:9948/{slug}/v1").expect("valid");
        assert_eq!(local.base_url("a"), "http://127.0.0.1:9948/a/v1");
        assert!(InferenceUrlTemplate::parse("127.0.0.1/{slug}").is_err());
        assert!(InferenceUrlTemplate::parse("http://x/v1").is_err());
        assert!(InferenceUrlTemplate::parse("http://{slug}/{slug}").is_err());
    }
}
