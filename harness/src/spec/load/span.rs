//! Where things are in a TOML file: byte offsets become `line:column`, and dotted field paths
//! (`must[2].role`, `workload.children[0].on.TERM`) are found from, and turned into, the spans
//! of a spanned parse.
//!
//! serde's errors carry a span but no path, and validation errors carry a path but no span;
//! [`Doc`] answers both questions from one flattened view of the file.

use std::fmt;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::signal::SignalNumber;

/// A path to a field of a spec, as validation names it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FieldPath(Vec<Segment>);

/// One step of a [`FieldPath`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// A table key.
    Key(String),
    /// An array element.
    Index(usize),
    /// A key of an `on` table: whatever spelling of this signal the file used.
    Signal(SignalNumber),
}

impl FieldPath {
    /// The document itself.
    pub(crate) fn root() -> FieldPath {
        FieldPath::default()
    }

    /// This path, then the table key `key`.
    pub(crate) fn key(&self, key: &str) -> FieldPath {
        self.with(Segment::Key(key.to_owned()))
    }

    /// This path, then the array element `index`.
    pub(crate) fn index(&self, index: usize) -> FieldPath {
        self.with(Segment::Index(index))
    }

    /// This path, then the key that spells `signal`, however it is spelled.
    pub(crate) fn signal(&self, signal: SignalNumber) -> FieldPath {
        self.with(Segment::Signal(signal))
    }

    fn with(&self, segment: Segment) -> FieldPath {
        let mut segments = self.0.clone();
        segments.push(segment);
        FieldPath(segments)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<Part> = self
            .0
            .iter()
            .map(|segment| match segment {
                Segment::Key(key) => Part::Key(key.clone()),
                Segment::Index(index) => Part::Index(*index),
                Segment::Signal(signal) => Part::Key(signal.name()),
            })
            .collect();
        f.write_str(&render(&parts))
    }
}

/// Which part of a `key = value` pair an error points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Anchor {
    /// The key: the complaint is that the entry exists at all.
    Key,
    /// The value: the complaint is about what was written.
    Value,
}

/// A place in a file: the byte offset an error points at and the field it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Spot {
    /// Byte offset into the text.
    pub(crate) offset: usize,
    /// Dotted path of the field (`must[1].role`), `(top level)` for the document itself.
    pub(crate) field: String,
}

/// A path as the file spells it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Key(String),
    Index(usize),
}

/// One key or array element of the file, flattened.
#[derive(Debug)]
struct Entry {
    path: Vec<Part>,
    /// The key's span; `None` for array elements.
    key: Option<Range<usize>>,
    /// The value's span. A table opened by a `[header]` spans the header only.
    value: Range<usize>,
    /// The value as text, for strings, numbers, booleans and datetimes.
    scalar: Option<String>,
    /// A table opened by `[header]` or `[[header]]`.
    header: bool,
}

/// The spans of one TOML file, flattened so that errors can be placed and named.
#[derive(Debug)]
pub(crate) struct Doc<'i> {
    text: &'i str,
    entries: Vec<Entry>,
    /// The file did not parse: what was recovered is partial.
    broken: bool,
}

impl<'i> Doc<'i> {
    /// Parse `text` for its spans. Never fails: a broken file yields what could be recovered,
    /// enough to name the table a syntax error is in.
    pub(crate) fn parse(text: &'i str) -> Doc<'i> {
        let (root, errors) = DeTable::parse_recoverable(text);
        let mut entries = Vec::new();
        flatten_table(text, root.get_ref(), &mut Vec::new(), &mut entries);
        Doc {
            text,
            entries,
            broken: !errors.is_empty(),
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub(crate) fn line_column(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &self.text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line = before.matches('\n').count() + 1;
        let column = before[line_start..].chars().count() + 1;
        (line, column)
    }

    /// Where a validation error about `path` points: the entry's key or value, or, when the
    /// field is not written in the file (a default), the nearest enclosing entry that is.
    pub(crate) fn locate(&self, path: &FieldPath, anchor: Anchor) -> Spot {
        let mut parts = Vec::new();
        let mut found: Option<&Entry> = None;
        for (depth, segment) in path.0.iter().enumerate() {
            let entry = self.entries.iter().find(|entry| {
                entry.path.len() == depth + 1
                    && entry.path[..depth] == parts[..]
                    && segment_matches(segment, &entry.path[depth])
            });
            match entry {
                Some(entry) => {
                    parts.push(entry.path[depth].clone());
                    found = Some(entry);
                }
                None => {
                    // Not in the file: name it as validation spelled it, point at the parent.
                    let rest = FieldPath(path.0[depth..].to_vec()).to_string();
                    let head = render(&parts);
                    let field = match (head.is_empty(), rest.starts_with('[')) {
                        (true, _) => rest,
                        (false, true) => format!("{head}{rest}"),
                        (false, false) => format!("{head}.{rest}"),
                    };
                    let offset = found.map_or(0, |entry| entry.value.start);
                    return Spot { offset, field };
                }
            }
        }
        let offset = match (found, anchor) {
            (None, _) => 0,
            (Some(entry), Anchor::Key) => entry.key.as_ref().unwrap_or(&entry.value).start,
            (Some(entry), Anchor::Value) => entry.value.start,
        };
        Spot {
            offset,
            field: render_field(&parts),
        }
    }

    /// The keys of the table at `path`, as written (for `on` tables: every spelling used).
    pub(crate) fn keys(&self, path: &FieldPath) -> Vec<String> {
        let Some(parent) = self.resolve(path) else {
            return Vec::new();
        };
        let mut children: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|entry| entry.path.len() == parent.len() + 1 && entry.path.starts_with(&parent))
            .collect();
        children.sort_by_key(|entry| entry.key.as_ref().map_or(entry.value.start, |k| k.start));
        children
            .into_iter()
            .filter_map(|entry| match entry.path.last() {
                Some(Part::Key(key)) => Some(key.clone()),
                _ => None,
            })
            .collect()
    }

    /// Where a `toml` error points, and which field it is about.
    ///
    /// A syntax error is named after the key on its line, else the table it is in. A serde
    /// error's span covers the offending key or value, but errors raised inside internally
    /// tagged enums (`kind = "caught"`, `action = "exit"`) lose their own span and get the
    /// enclosing table's; the first quoted word of the message (`unknown field `rol``,
    /// ``XX` is not a signal`) then finds the entry inside that table.
    pub(crate) fn locate_error(&self, error: &toml::de::Error) -> Spot {
        let span = error.span().unwrap_or(0..0);
        if self.broken {
            return self.locate_syntax(span);
        }
        let Some(entry) = self.entry_at(&span) else {
            return Spot {
                offset: span.start,
                field: render_field(&missing_field(error.message(), &[])),
            };
        };
        // `missing field `x``: `x` is not in the file, so it cannot be found in it.
        let missing = error.message().starts_with("missing field");
        if !missing
            && let Some(word) = first_quoted(error.message())
            && let Some((inner, anchor)) = self.descendant_matching(&entry.path, word)
        {
            let offset = match anchor {
                Anchor::Key => inner.key.as_ref().unwrap_or(&inner.value).start,
                Anchor::Value => inner.value.start,
            };
            return Spot {
                offset,
                field: render_field(&inner.path),
            };
        }
        let start = if entry.key.as_ref() == Some(&span) {
            span.start
        } else {
            entry.value.start.max(span.start)
        };
        Spot {
            offset: start,
            field: render_field(&missing_field(error.message(), &entry.path)),
        }
    }

    fn locate_syntax(&self, span: Range<usize>) -> Spot {
        let (line, _) = self.line_column(span.start);
        let on_line = self
            .entries
            .iter()
            .filter_map(|entry| entry.key.as_ref().map(|key| (entry, key)))
            .filter(|(_, key)| key.start <= span.start && self.line_column(key.start).0 == line)
            .max_by_key(|(_, key)| key.start);
        if let Some((entry, _)) = on_line {
            return Spot {
                offset: span.start,
                field: render_field(&entry.path),
            };
        }
        let mut path = self
            .entries
            .iter()
            .filter(|entry| entry.header && entry.value.start <= span.start)
            .max_by_key(|entry| entry.value.start)
            .map(|entry| entry.path.clone())
            .unwrap_or_default();
        // `title = "a"` twice: the span covers the second key, which recovery dropped.
        let word = self.text.get(span.clone()).unwrap_or("");
        if !word.is_empty() && is_bare_key(word) {
            path.push(Part::Key(word.to_owned()));
        }
        Spot {
            offset: span.start,
            field: render_field(&path),
        }
    }

    /// The entry a serde error's span designates: the key it covers, else the smallest value
    /// that contains it (the deepest on a tie: `[[must]]` spans both the array and its first
    /// element). An empty span designates the document.
    fn entry_at(&self, span: &Range<usize>) -> Option<&Entry> {
        if span.is_empty() {
            return None;
        }
        if let Some(entry) = self.entries.iter().find(|e| e.key.as_ref() == Some(span)) {
            return Some(entry);
        }
        self.entries
            .iter()
            .filter(|entry| entry.value.start <= span.start && span.end <= entry.value.end)
            .min_by_key(|entry| (entry.value.len(), usize::MAX - entry.path.len()))
    }

    /// The first entry (in file order) under `path` whose key or scalar value is `word`.
    fn descendant_matching(&self, path: &[Part], word: &str) -> Option<(&Entry, Anchor)> {
        let mut matches: Vec<(&Entry, Anchor, usize)> = Vec::new();
        for entry in &self.entries {
            if entry.path.len() <= path.len() || !entry.path.starts_with(path) {
                continue;
            }
            if let (Some(Part::Key(key)), Some(span)) = (entry.path.last(), &entry.key)
                && key == word
            {
                matches.push((entry, Anchor::Key, span.start));
            }
            if entry.scalar.as_deref() == Some(word) {
                matches.push((entry, Anchor::Value, entry.value.start));
            }
        }
        matches
            .into_iter()
            .min_by_key(|(_, _, start)| *start)
            .map(|(entry, anchor, _)| (entry, anchor))
    }

    /// The path as the file spells it, if every segment is written in the file.
    fn resolve(&self, path: &FieldPath) -> Option<Vec<Part>> {
        let mut parts = Vec::new();
        for (depth, segment) in path.0.iter().enumerate() {
            let entry = self.entries.iter().find(|entry| {
                entry.path.len() == depth + 1
                    && entry.path[..depth] == parts[..]
                    && segment_matches(segment, &entry.path[depth])
            })?;
            parts.push(entry.path[depth].clone());
        }
        Some(parts)
    }
}

fn segment_matches(segment: &Segment, part: &Part) -> bool {
    match (segment, part) {
        (Segment::Key(want), Part::Key(key)) => want == key,
        (Segment::Index(want), Part::Index(index)) => want == index,
        (Segment::Signal(want), Part::Key(key)) => key.parse::<SignalNumber>().ok() == Some(*want),
        _ => false,
    }
}

fn flatten_table(text: &str, table: &DeTable<'_>, path: &mut Vec<Part>, out: &mut Vec<Entry>) {
    for (key, value) in table.iter() {
        path.push(Part::Key(key.get_ref().to_string()));
        flatten_value(text, Some(key.span()), value, path, out);
        path.pop();
    }
}

fn flatten_value(
    text: &str,
    key: Option<Range<usize>>,
    value: &Spanned<DeValue<'_>>,
    path: &mut Vec<Part>,
    out: &mut Vec<Entry>,
) {
    let span = value.span();
    let scalar = match value.get_ref() {
        DeValue::String(s) => Some(s.to_string()),
        DeValue::Integer(i) => Some(i.as_str().to_owned()),
        DeValue::Float(f) => Some(f.as_str().to_owned()),
        DeValue::Boolean(b) => Some(b.to_string()),
        DeValue::Datetime(d) => Some(d.to_string()),
        DeValue::Array(_) | DeValue::Table(_) => None,
    };
    let header = matches!(value.get_ref(), DeValue::Table(_))
        && text.get(span.clone()).is_some_and(|s| s.starts_with('['));
    out.push(Entry {
        path: path.clone(),
        key,
        value: span,
        scalar,
        header,
    });
    match value.get_ref() {
        DeValue::Table(table) => flatten_table(text, table, path, out),
        DeValue::Array(array) => {
            for (index, element) in array.iter().enumerate() {
                path.push(Part::Index(index));
                flatten_value(text, None, element, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

/// `missing field `x``: the field is `x` inside `path`.
fn missing_field(message: &str, path: &[Part]) -> Vec<Part> {
    let mut path = path.to_vec();
    if let Some(rest) = message.strip_prefix("missing field `")
        && let Some((name, _)) = rest.split_once('`')
    {
        path.push(Part::Key(name.to_owned()));
    }
    path
}

/// The first word of a message between backticks or double quotes.
fn first_quoted(message: &str) -> Option<&str> {
    let start = message.find(['`', '"'])?;
    let quote = message[start..].chars().next()?;
    let rest = &message[start + 1..];
    let end = rest.find(quote)?;
    Some(&rest[..end])
}

fn is_bare_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn render_field(parts: &[Part]) -> String {
    if parts.is_empty() {
        "(top level)".to_owned()
    } else {
        render(parts)
    }
}

/// `workload.children[0].on."RTMIN+3"`: keys quoted only where TOML would need it.
fn render(parts: &[Part]) -> String {
    let mut out = String::new();
    for part in parts {
        match part {
            Part::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                if is_bare_key(key) {
                    out.push_str(key);
                } else {
                    out.push_str(&format!("{key:?}"));
                }
            }
            Part::Index(index) => out.push_str(&format!("[{index}]")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_counts_characters_from_one() {
        let doc = Doc::parse("a = 1\nbé = \"x\"\n");
        assert_eq!(doc.line_column(0), (1, 1));
        assert_eq!(doc.line_column(6), (2, 1));
        // Line 2 is `bé = "x"`: its `=` is byte 10 but character 4, since `é` takes two bytes.
        assert_eq!(doc.line_column(10), (2, 4));
        // Past the end: the empty line after the last newline.
        assert_eq!(doc.line_column(1000), (3, 1));
    }

    #[test]
    fn locate_finds_signal_keys_by_any_spelling() {
        let text = "[workload]\nrole = \"app\"\non.SIGTERM = { action = \"exit\" }\n";
        let doc = Doc::parse(text);
        let path = FieldPath::root()
            .key("workload")
            .key("on")
            .signal(SignalNumber::TERM);
        let spot = doc.locate(&path, Anchor::Key);
        assert_eq!(spot.field, "workload.on.SIGTERM");
        assert_eq!(doc.line_column(spot.offset), (3, 4));
    }

    #[test]
    fn locate_names_a_default_field_and_points_at_its_parent() {
        let doc = Doc::parse("[[must]]\nkind = \"escalated\"\n");
        let spot = doc.locate(
            &FieldPath::root().key("must").index(0).key("role"),
            Anchor::Value,
        );
        assert_eq!(spot.field, "must[0].role");
        assert_eq!(doc.line_column(spot.offset), (1, 1));
    }

    #[test]
    fn render_quotes_keys_that_are_not_bare() {
        let parts = [Part::Key("on".to_owned()), Part::Key("RTMIN+3".to_owned())];
        assert_eq!(render(&parts), "on.\"RTMIN+3\"");
        assert_eq!(render_field(&[]), "(top level)");
    }

    #[test]
    fn first_quoted_takes_the_offending_word_not_the_expected_ones() {
        assert_eq!(
            first_quoted("unknown field `rol`, expected one of `role`, `signal`"),
            Some("rol")
        );
        assert_eq!(
            first_quoted("invalid type: string \"x\", expected i32"),
            Some("x")
        );
        assert_eq!(first_quoted("no quotes"), None);
    }
}
