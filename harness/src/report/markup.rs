//! Escaping text for HTML and SVG, the one thing both of their renderers share.

/// `text` with `&`, `<`, `>` and both quotes escaped: safe in element content and attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn markup_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(
            escape(r#"kill -TERM 1 && echo "<done>" 'ok' ≈"#),
            "kill -TERM 1 &amp;&amp; echo &quot;&lt;done&gt;&quot; &#39;ok&#39; ≈"
        );
    }
}
