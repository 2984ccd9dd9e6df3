//! Names and scope (SEMANTICS.md section 3): which domains, contexts and tools a contract covers.

use serde::{Deserialize, Serialize};
use std::borrow::Borrow;
use std::fmt;

/// The single entry that means "any" in `contexts` and `tools`.
pub const ANY: &str = "*";

/// Longest name in bytes, after trimming and lower-casing.
pub const NAME_MAX_BYTES: usize = 128;

/// A normalized scope name: trimmed, lower-cased, 1–128 bytes, printable.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(into = "String")]
pub struct Name(String);

/// Why a string is not a valid name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Nothing left after trimming.
    #[error("is empty")]
    Empty,
    /// Longer than [`NAME_MAX_BYTES`] after normalizing.
    #[error("is {0} bytes long; names are at most 128 bytes")]
    TooLong(usize),
    /// Holds a control or otherwise unprintable character.
    #[error("contains an unprintable character")]
    Unprintable,
}

impl Name {
    /// Normalizes and validates `raw`.
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(NameError::Empty);
        }
        if trimmed
            .chars()
            .any(|c| c.is_control() || is_invisible_format(c))
        {
            return Err(NameError::Unprintable);
        }
        // Names read back from the store are already normal: plain lower-case ASCII is taken
        // as it is, without the Unicode lower-casing pass and its second copy.
        let lowered = if trimmed
            .bytes()
            .all(|b| b.is_ascii() && !b.is_ascii_uppercase())
        {
            trimmed.to_owned()
        } else {
            trimmed.to_lowercase()
        };
        if lowered.len() > NAME_MAX_BYTES {
            return Err(NameError::TooLong(lowered.len()));
        }
        Ok(Self(lowered))
    }

    /// The normalized text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for the wildcard entry `*`.
    pub fn is_any(&self) -> bool {
        self.0 == ANY
    }
}

/// Zero-width and bidirectional formatting characters and the line and paragraph separators: printable-looking names must not hide
/// text that a person reviewing the contract cannot see.
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

impl TryFrom<String> for Name {
    type Error = NameError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl<'de> Deserialize<'de> for Name {
    /// Parses from the text as the deserializer lends it, so a name read from a stored record
    /// costs one allocation, not two.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl serde::de::Visitor<'_> for NameVisitor {
            type Value = Name;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a name: 1–128 printable bytes")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Name, E> {
                Name::parse(text).map_err(|err| E::custom(format_args!("name {err}")))
            }
        }
        deserializer.deserialize_str(NameVisitor)
    }
}

impl From<Name> for String {
    fn from(name: Name) -> String {
        name.0
    }
}

impl Borrow<str> for Name {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A contract's scope: the three dimensions as stated lists. The wildcard `*` is an entry of
/// its own; an empty `tools` list means no tool-mediated learning.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// Explicit domain names, at least one once submitted; never `*`.
    pub domains: Vec<Name>,
    /// Explicit context names or the single entry `*`; at least one once submitted.
    pub contexts: Vec<Name>,
    /// Explicit tool names, the single entry `*`, or empty for no tools.
    pub tools: Vec<Name>,
}

impl Scope {
    /// Whether the domain is listed.
    pub fn covers_domain(&self, domain: &str) -> bool {
        self.domains.iter().any(|listed| listed.as_str() == domain)
    }

    /// Whether the context is listed, or contexts is `*`.
    pub fn covers_context(&self, context: &str) -> bool {
        self.contexts
            .iter()
            .any(|listed| listed.is_any() || listed.as_str() == context)
    }

    /// Whether the tool is listed, or tools is `*`. An empty list covers no tool.
    pub fn covers_tool(&self, tool: &str) -> bool {
        self.tools
            .iter()
            .any(|listed| listed.is_any() || listed.as_str() == tool)
    }

    /// Whether the scope covers a request for `domain` and `context`, and `tool` if named.
    pub fn covers(&self, domain: &str, context: &str, tool: Option<&str>) -> bool {
        self.covers_domain(domain)
            && self.covers_context(context)
            && tool.is_none_or(|tool| self.covers_tool(tool))
    }

    /// True when the context is listed by name rather than through `*` (more specific).
    pub fn names_context(&self, context: &str) -> bool {
        self.contexts
            .iter()
            .any(|listed| listed.as_str() == context)
    }

    /// Problems with the scope's shape that a person must fix, keyed by spec key.
    pub fn problems(&self, require_complete: bool) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if self.domains.iter().any(Name::is_any) {
            problems.push((
                "domains",
                "domains cannot be '*': name every domain explicitly".to_string(),
            ));
        }
        for (key, list) in [("contexts", &self.contexts), ("tools", &self.tools)] {
            if list.len() > 1 && list.iter().any(Name::is_any) {
                problems.push((
                    key,
                    format!("'*' in {key} must be the only entry, since it already means any"),
                ));
            }
        }
        for (key, list) in [
            ("domains", &self.domains),
            ("contexts", &self.contexts),
            ("tools", &self.tools),
        ] {
            let mut seen = std::collections::HashSet::new();
            if let Some(dup) = list.iter().find(|name| !seen.insert(name.as_str())) {
                problems.push((key, format!("'{dup}' is listed twice in {key}")));
            }
        }
        if require_complete {
            if self.domains.is_empty() {
                problems.push((
                    "domains",
                    "name at least one domain the contract is about".to_string(),
                ));
            }
            if self.contexts.is_empty() {
                problems.push((
                    "contexts",
                    "name at least one context, or '*' for any context".to_string(),
                ));
            }
        }
        problems
    }
}
