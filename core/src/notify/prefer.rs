//! `Prefer: respond-async` (RFC 7240 §4.1): the client would rather get `202 Accepted` now
//! than wait for the result.

/// Whether any `Prefer` header value asks for `respond-async`. Preferences are
/// comma-separated tokens, each optionally `=value` and `;parameters`; names are
/// case-insensitive.
pub fn prefers_respond_async<'a>(values: impl IntoIterator<Item = &'a str>) -> bool {
    values.into_iter().any(|value| {
        value.split(',').any(|preference| {
            let name = preference
                .split([';', '='])
                .next()
                .unwrap_or_default()
                .trim();
            name.eq_ignore_ascii_case("respond-async")
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_respond_async_among_preferences() {
        for yes in [
            "respond-async",
            "Respond-Async",
            " respond-async ; foo=bar",
            "return=minimal, respond-async, wait=10",
        ] {
            assert!(prefers_respond_async([yes]), "{yes}");
        }
        assert!(prefers_respond_async(["wait=5", "respond-async"]));
        for no in [
            "",
            "return=representation",
            "wait=respond-async",
            "respond-asynchronously",
        ] {
            assert!(!prefers_respond_async([no]), "{no}");
        }
        assert!(!prefers_respond_async([]));
    }
}
