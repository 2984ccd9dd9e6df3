//! Parsing of the `a{sv}` dictionaries callers send. Unknown keys, wrongly typed values,
//! values out of range and oversized strings or lists are refused with
//! `org.freedesktop.DBus.Error.InvalidArgs` naming the key; nothing is changed.

use super::error::BusError;
use crate::config::LimitsConfig;
use crate::core::mode::ToolNeeds;
use crate::core::{
    Abstraction, BoundaryMode, CheckKind, ContractKind, ContractState, MemoryClass, Name,
    RetentionKind, SpecPatch, Timestamp,
};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use zbus::{OwnedVariant, Signature, Type};

/// A dictionary the daemon sends (contracts, memories, templates).
pub type Dict = HashMap<String, OwnedVariant>;

pub use crate::config::{ENTRIES_CEILING, STRING_BYTES_CEILING};

/// One value of a request dictionary as read off the wire. Only the types some key has are
/// kept; anything else is skipped unread and remembered by its signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arg {
    /// `s`
    Str(String),
    /// `as`
    Strs(Vec<String>),
    /// `y`
    Byte(u8),
    /// `u`
    Uint(u32),
    /// `x`
    Int(i64),
    /// `b`
    Bool(bool),
    /// A string longer than [`STRING_BYTES_CEILING`] (its length), or a list of strings with
    /// more entries than [`ENTRIES_CEILING`] (its length) or a string that long in it.
    TooLarge {
        /// `s` or `as`.
        signature: &'static str,
        /// How large it was.
        size: Size,
    },
    /// A value of another type, by its signature.
    Other(String),
}

/// How large an oversized value was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size {
    /// A string of this many bytes.
    Bytes(usize),
    /// A list of this many entries.
    Entries(usize),
}

impl Arg {
    /// The D-Bus signature of the value as sent.
    pub fn signature(&self) -> &str {
        match self {
            Arg::Str(_) => "s",
            Arg::Strs(_) => "as",
            Arg::Byte(_) => "y",
            Arg::Uint(_) => "u",
            Arg::Int(_) => "x",
            Arg::Bool(_) => "b",
            Arg::TooLarge { signature, .. } => signature,
            Arg::Other(signature) => signature,
        }
    }
}

/// A request, spec, filter or options dictionary (`a{sv}`) as it arrives. It is read with
/// bounds, so a hostile message costs the daemon at most [`ENTRIES_CEILING`] entries of at most
/// [`STRING_BYTES_CEILING`] bytes, however large the message: a million keys or a million list
/// entries are counted while they are skipped, never held. The entries are kept in the order
/// they came (a few, as a rule: a lookup walks them, cheaper than hashing for dictionaries this
/// small; [`Fields::new`] refuses a dictionary with more than `max_entries` before any lookup,
/// and a key given twice).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    entries: Vec<(Key, Arg)>,
    /// How many entries the dictionary had, kept or not.
    total: usize,
}

/// A key as kept: one the interface knows is not copied.
type Key = Cow<'static, str>;

/// Every key some dictionary of the interface takes, so reading one costs no copy.
const KNOWN_KEYS: &[&str] = &[
    "domain",
    "context",
    "classification",
    "memory_id",
    "contract_id",
    "tool",
    "owner",
    "abstraction",
    "derived_from",
    "domains",
    "contexts",
    "tools",
    "retention",
    "retention_until",
    "classification_cap",
    "required_mode",
    "max_abstraction",
    "transferable",
    "recall_requires_owner",
    "description",
    "system",
    "state",
    "kind",
    "network",
    "filesystem",
    "usb",
    "force",
];

fn key_of(text: &str) -> Key {
    match KNOWN_KEYS.iter().find(|known| **known == text) {
        Some(known) => Cow::Borrowed(known),
        None => Cow::Owned(text.to_string()),
    }
}

impl Request {
    /// How many entries the dictionary had.
    pub fn len(&self) -> usize {
        self.total
    }

    /// Whether it had none.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The entries kept (all of them when there were at most [`ENTRIES_CEILING`]), in the
    /// order they came.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Arg)> {
        self.entries
            .iter()
            .map(|(key, value)| (key.as_ref(), value))
    }

    /// The value under `key` (the last one, should the key come twice).
    pub fn get(&self, key: &str) -> Option<&Arg> {
        self.entries
            .iter()
            .rev()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value)
    }
}

impl Type for Request {
    const SIGNATURE: &'static Signature = <HashMap<String, OwnedVariant> as Type>::SIGNATURE;
}

impl<'de> serde::Deserialize<'de> for Request {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(RequestVisitor)
    }
}

struct RequestVisitor;

impl<'de> Visitor<'de> for RequestVisitor {
    type Value = Request;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a dictionary of strings to variants (a{sv})")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Request, A::Error> {
        let mut request = Request::default();
        loop {
            if request.total < ENTRIES_CEILING {
                let Some(key) = map.next_key::<BoundedKey>()? else {
                    break;
                };
                // A key that long matches no key; it is kept cut short for the message.
                let key = match key {
                    BoundedKey::Kept(key) => key,
                    BoundedKey::TooLong(len) => Cow::Owned(format!("(a key of {len} bytes)")),
                };
                // Whatever cannot be read (nested too deep, say) is named by its key.
                let value = map
                    .next_value_seed(ArgSeed)
                    .map_err(|err| de::Error::custom(format!("{}: {err}", short(&key))))?;
                request.entries.push((key, value));
            } else {
                if map.next_key::<IgnoredAny>()?.is_none() {
                    break;
                }
                map.next_value::<IgnoredAny>()?;
            }
            request.total += 1;
        }
        Ok(request)
    }
}

/// The most requests one `Enforcement1.CheckBatch` call may carry.
pub const BATCH_MAX: usize = 1000;

/// The requests of one `Enforcement1.CheckBatch` call (`aa{sv}`), read with bounds: at most
/// [`BATCH_MAX`] are kept, each as a [`Request`]; any more are counted while they are skipped,
/// never held.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    requests: Vec<Request>,
    /// How many requests the list had, kept or not.
    total: usize,
}

impl Batch {
    /// How many requests the list had.
    pub fn len(&self) -> usize {
        self.total
    }

    /// Whether it had none.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The requests kept (all of them when there were at most [`BATCH_MAX`]).
    pub fn requests(&self) -> &[Request] {
        &self.requests
    }
}

impl Type for Batch {
    const SIGNATURE: &'static Signature = <Vec<HashMap<String, OwnedVariant>> as Type>::SIGNATURE;
}

impl<'de> serde::Deserialize<'de> for Batch {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BatchVisitor;
        impl<'de> Visitor<'de> for BatchVisitor {
            type Value = Batch;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of dictionaries of strings to variants (aa{sv})")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Batch, A::Error> {
                let mut batch = Batch {
                    requests: Vec::with_capacity(seq.size_hint().unwrap_or(0).min(BATCH_MAX)),
                    total: 0,
                };
                loop {
                    if batch.total < BATCH_MAX {
                        let index = batch.total;
                        let request = seq.next_element::<Request>().map_err(|err| {
                            de::Error::custom(format!("requests[{index}]: {err}"))
                        })?;
                        match request {
                            Some(request) => batch.requests.push(request),
                            None => break,
                        }
                    } else if seq.next_element::<IgnoredAny>()?.is_none() {
                        break;
                    }
                    batch.total += 1;
                }
                Ok(batch)
            }
        }
        deserializer.deserialize_seq(BatchVisitor)
    }
}

/// A key kept only up to [`STRING_BYTES_CEILING`] bytes, a known one without a copy.
enum BoundedKey {
    Kept(Key),
    TooLong(usize),
}

impl<'de> serde::Deserialize<'de> for BoundedKey {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = BoundedKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<BoundedKey, E> {
                Ok(if text.len() > STRING_BYTES_CEILING {
                    BoundedKey::TooLong(text.len())
                } else {
                    BoundedKey::Kept(key_of(text))
                })
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// A variant's signature, read without a copy when it is one a key may have.
enum VariantSignature {
    Known(&'static str),
    Other(String),
}

impl<'de> serde::Deserialize<'de> for VariantSignature {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SignatureVisitor;
        impl Visitor<'_> for SignatureVisitor {
            type Value = VariantSignature;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a signature")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<VariantSignature, E> {
                Ok(
                    match ["s", "as", "y", "u", "x", "b"]
                        .into_iter()
                        .find(|known| *known == text)
                    {
                        Some(known) => VariantSignature::Known(known),
                        None => VariantSignature::Other(text.to_string()),
                    },
                )
            }
        }
        deserializer.deserialize_str(SignatureVisitor)
    }
}

/// A string kept only up to [`STRING_BYTES_CEILING`] bytes.
enum BoundedStr {
    Kept(String),
    TooLong(usize),
}

impl<'de> serde::Deserialize<'de> for BoundedStr {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrVisitor;
        impl Visitor<'_> for StrVisitor {
            type Value = BoundedStr;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<BoundedStr, E> {
                Ok(if text.len() > STRING_BYTES_CEILING {
                    BoundedStr::TooLong(text.len())
                } else {
                    BoundedStr::Kept(text.to_string())
                })
            }
        }
        deserializer.deserialize_str(StrVisitor)
    }
}

/// A list of strings kept only up to [`ENTRIES_CEILING`] entries.
struct BoundedStrs(Arg);

impl<'de> serde::Deserialize<'de> for BoundedStrs {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListVisitor;
        impl<'de> Visitor<'de> for ListVisitor {
            type Value = BoundedStrs;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of strings")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<BoundedStrs, A::Error> {
                let mut list = Vec::new();
                let mut too_long = None;
                let mut count = 0;
                loop {
                    if count < ENTRIES_CEILING {
                        match seq.next_element::<BoundedStr>()? {
                            None => break,
                            Some(BoundedStr::Kept(text)) => list.push(text),
                            Some(BoundedStr::TooLong(len)) => {
                                too_long.get_or_insert(len);
                            }
                        }
                    } else if seq.next_element::<IgnoredAny>()?.is_none() {
                        break;
                    }
                    count += 1;
                }
                let size = if count > ENTRIES_CEILING {
                    Some(Size::Entries(count))
                } else {
                    too_long.map(Size::Bytes)
                };
                Ok(BoundedStrs(match size {
                    Some(size) => Arg::TooLarge {
                        signature: "as",
                        size,
                    },
                    None => Arg::Strs(list),
                }))
            }
        }
        deserializer.deserialize_seq(ListVisitor)
    }
}

/// Reads one variant value into an [`Arg`].
struct ArgSeed;

impl<'de> DeserializeSeed<'de> for ArgSeed {
    type Value = Arg;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Arg, D::Error> {
        deserializer.deserialize_any(ArgVisitor)
    }
}

struct ArgVisitor;

impl<'de> Visitor<'de> for ArgVisitor {
    type Value = Arg;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a variant")
    }

    // A variant arrives as its signature, then its value.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Arg, A::Error> {
        let signature: VariantSignature = seq
            .next_element()?
            .ok_or_else(|| de::Error::custom("a variant without a signature"))?;
        let missing = || de::Error::custom("a variant without a value");
        let signature = match signature {
            VariantSignature::Known(known) => known,
            VariantSignature::Other(other) => {
                seq.next_element::<IgnoredAny>()?.ok_or_else(missing)?;
                return Ok(Arg::Other(other));
            }
        };
        Ok(match signature {
            "s" => match seq.next_element::<BoundedStr>()?.ok_or_else(missing)? {
                BoundedStr::Kept(text) => Arg::Str(text),
                BoundedStr::TooLong(len) => Arg::TooLarge {
                    signature: "s",
                    size: Size::Bytes(len),
                },
            },
            "as" => seq.next_element::<BoundedStrs>()?.ok_or_else(missing)?.0,
            "y" => Arg::Byte(seq.next_element()?.ok_or_else(missing)?),
            "u" => Arg::Uint(seq.next_element()?.ok_or_else(missing)?),
            "x" => Arg::Int(seq.next_element()?.ok_or_else(missing)?),
            "b" => Arg::Bool(seq.next_element()?.ok_or_else(missing)?),
            _ => unreachable!("the known signatures are all listed"),
        })
    }
}

/// The spec keys and their types.
pub const SPEC_KEYS: &[(&str, &str)] = &[
    ("domains", "as"),
    ("contexts", "as"),
    ("tools", "as"),
    ("retention", "s"),
    ("retention_until", "x"),
    ("classification_cap", "y"),
    ("required_mode", "s"),
    ("max_abstraction", "s"),
    ("transferable", "b"),
    ("recall_requires_owner", "b"),
    ("description", "s"),
    ("system", "b"),
];

/// The longest id (contract, memory, session) accepted, in bytes.
pub const ID_MAX_BYTES: usize = 128;

/// Typed access to a dictionary whose keys were checked.
pub struct Fields<'a> {
    dict: &'a Request,
    limits: &'a LimitsConfig,
}

impl<'a> Fields<'a> {
    /// Checks that every key is one of `allowed` with its type, and the sizes.
    pub fn new(
        dict: &'a Request,
        allowed: &[(&str, &str)],
        limits: &'a LimitsConfig,
    ) -> Result<Self, BusError> {
        if dict.len() > limits.max_entries {
            return Err(BusError::invalid_args(
                "dictionary",
                format!("has {} entries; at most {}", dict.len(), limits.max_entries),
            ));
        }
        let mut entries: Vec<(&str, &Arg)> = dict.iter().collect();
        entries.sort_by_key(|(key, _)| *key);
        if let Some(pair) = entries.windows(2).find(|pair| pair[0].0 == pair[1].0) {
            return Err(BusError::invalid_args(
                &short(pair[0].0),
                "is given more than once",
            ));
        }
        for (key, value) in entries {
            let Some((_, expected)) = allowed.iter().find(|(name, _)| *name == key) else {
                let names: Vec<&str> = allowed.iter().map(|(name, _)| *name).collect();
                return Err(BusError::invalid_args(
                    &short(key),
                    format!("unknown key; the keys here are {}", names.join(", ")),
                ));
            };
            let actual = value.signature();
            if actual != *expected {
                return Err(BusError::invalid_args(
                    key,
                    format!("must be of type '{expected}', not '{}'", short(actual)),
                ));
            }
        }
        Ok(Self { dict, limits })
    }

    /// A string value, bounded.
    pub fn string(&self, key: &str) -> Result<Option<String>, BusError> {
        Ok(self.str(key)?.map(str::to_string))
    }

    /// A string value, bounded, as it is held.
    pub fn str(&self, key: &str) -> Result<Option<&'a str>, BusError> {
        match self.dict.get(key) {
            None => Ok(None),
            Some(Arg::Str(text)) => {
                check_string(key, text.len(), self.limits)?;
                Ok(Some(text))
            }
            Some(Arg::TooLarge {
                size: Size::Bytes(len),
                ..
            }) => Err(too_long(key, *len, self.limits)),
            Some(_) => Err(wrong_type(key)),
        }
    }

    /// A list of strings, bounded.
    pub fn strings(&self, key: &str) -> Result<Option<Vec<String>>, BusError> {
        let too_many = |count: usize| {
            BusError::invalid_args(
                key,
                format!("has {count} entries; at most {}", self.limits.max_entries),
            )
        };
        match self.dict.get(key) {
            None => Ok(None),
            Some(Arg::Strs(list)) => {
                if list.len() > self.limits.max_entries {
                    return Err(too_many(list.len()));
                }
                for text in list {
                    check_string(key, text.len(), self.limits)?;
                }
                Ok(Some(list.clone()))
            }
            Some(Arg::TooLarge {
                size: Size::Entries(count),
                ..
            }) => Err(too_many(*count)),
            Some(Arg::TooLarge {
                size: Size::Bytes(len),
                ..
            }) => Err(too_long(key, *len, self.limits)),
            Some(_) => Err(wrong_type(key)),
        }
    }

    /// A byte.
    pub fn byte(&self, key: &str) -> Result<Option<u8>, BusError> {
        match self.dict.get(key) {
            None => Ok(None),
            Some(Arg::Byte(value)) => Ok(Some(*value)),
            Some(_) => Err(wrong_type(key)),
        }
    }

    /// A uint32.
    pub fn uint(&self, key: &str) -> Result<Option<u32>, BusError> {
        match self.dict.get(key) {
            None => Ok(None),
            Some(Arg::Uint(value)) => Ok(Some(*value)),
            Some(_) => Err(wrong_type(key)),
        }
    }

    /// An int64.
    pub fn int(&self, key: &str) -> Result<Option<i64>, BusError> {
        match self.dict.get(key) {
            None => Ok(None),
            Some(Arg::Int(value)) => Ok(Some(*value)),
            Some(_) => Err(wrong_type(key)),
        }
    }

    /// A boolean.
    pub fn boolean(&self, key: &str) -> Result<Option<bool>, BusError> {
        match self.dict.get(key) {
            None => Ok(None),
            Some(Arg::Bool(value)) => Ok(Some(*value)),
            Some(_) => Err(wrong_type(key)),
        }
    }

    /// A scope name, normalized.
    pub fn name(&self, key: &str) -> Result<Option<Name>, BusError> {
        self.str(key)?.map(|text| parse_name(key, text)).transpose()
    }

    /// A list of scope names, normalized.
    pub fn names(&self, key: &str) -> Result<Option<Vec<Name>>, BusError> {
        self.strings(key)?
            .map(|list| list.iter().map(|text| parse_name(key, text)).collect())
            .transpose()
    }

    /// A required value.
    pub fn required<T>(key: &str, value: Option<T>) -> Result<T, BusError> {
        value.ok_or_else(|| BusError::invalid_args(key, "is required"))
    }
}

fn check_string(key: &str, len: usize, limits: &LimitsConfig) -> Result<(), BusError> {
    if len > limits.max_string_bytes {
        return Err(too_long(key, len, limits));
    }
    Ok(())
}

fn too_long(key: &str, len: usize, limits: &LimitsConfig) -> BusError {
    BusError::invalid_args(
        key,
        format!("is {len} bytes long; at most {}", limits.max_string_bytes),
    )
}

// Fields::new has checked every type; this is for a key read with another type than listed.
fn wrong_type(key: &str) -> BusError {
    BusError::invalid_args(key, "has the wrong type")
}

/// Keys echoed in messages are cut short, so a hostile key cannot flood a log or a reply.
pub(crate) fn short(text: &str) -> String {
    if text.len() <= 64 {
        return text.to_string();
    }
    let mut end = 64;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

fn parse_name(key: &str, text: &str) -> Result<Name, BusError> {
    Name::parse(text).map_err(|err| BusError::invalid_args(key, format!("'{}' {err}", short(text))))
}

/// An id (contract, memory, session): 1–128 bytes of printable characters without spaces.
pub fn parse_id(key: &str, text: &str) -> Result<String, BusError> {
    if text.is_empty() || text.len() > ID_MAX_BYTES {
        return Err(BusError::invalid_args(
            key,
            format!("must be 1 to {ID_MAX_BYTES} bytes long"),
        ));
    }
    if text.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(BusError::invalid_args(
            key,
            "must be printable, without spaces",
        ));
    }
    Ok(text.to_string())
}

/// A mode name as callers send it (case-insensitive).
pub fn parse_mode(key: &str, text: &str) -> Result<BoundaryMode, BusError> {
    BoundaryMode::parse(text).ok_or_else(|| {
        BusError::invalid_args(
            key,
            format!(
                "'{}' is not a mode; use OPEN, RESTRICTED, TRUSTED, AIRGAP or COLDROOM",
                short(text)
            ),
        )
    })
}

/// A contract spec, or the changes of an amendment.
pub fn spec_patch(dict: &Request, limits: &LimitsConfig) -> Result<SpecPatch, BusError> {
    let fields = Fields::new(dict, SPEC_KEYS, limits)?;
    let retention = fields
        .string("retention")?
        .map(|text| {
            RetentionKind::parse(&text).ok_or_else(|| {
                BusError::invalid_args("retention", "must be permanent, timebound or session")
            })
        })
        .transpose()?;
    let classification_cap = fields
        .byte("classification_cap")?
        .map(|value| {
            MemoryClass::from_wire(value)
                .ok_or_else(|| BusError::invalid_args("classification_cap", "must be 0 to 5"))
        })
        .transpose()?;
    let max_abstraction = fields
        .string("max_abstraction")?
        .map(|text| {
            Abstraction::parse(&text).ok_or_else(|| {
                BusError::invalid_args(
                    "max_abstraction",
                    "must be raw, pattern, heuristic or strategy",
                )
            })
        })
        .transpose()?;
    let required_mode = fields
        .string("required_mode")?
        .map(|text| parse_mode("required_mode", &text))
        .transpose()?;
    let retention_until = fields.int("retention_until")?.map(|secs| {
        if secs <= 0 {
            Err(BusError::invalid_args(
                "retention_until",
                "must be seconds since the Unix epoch",
            ))
        } else {
            Ok(Timestamp::from_secs(secs))
        }
    });
    Ok(SpecPatch {
        domains: fields.names("domains")?,
        contexts: fields.names("contexts")?,
        tools: fields.names("tools")?,
        retention,
        retention_until: retention_until.transpose()?,
        classification_cap,
        required_mode,
        max_abstraction,
        transferable: fields.boolean("transferable")?,
        recall_requires_owner: fields.boolean("recall_requires_owner")?,
        description: fields.string("description")?,
        system: fields.boolean("system")?,
    })
}

/// What a check or a registration request says, before the owner is resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestFields {
    /// The domain.
    pub domain: Name,
    /// The context.
    pub context: Name,
    /// The tool.
    pub tool: Option<Name>,
    /// The classification.
    pub classification: MemoryClass,
    /// The named contract.
    pub contract_id: Option<String>,
    /// The abstraction level (raw unless given).
    pub abstraction: Abstraction,
    /// The named memory.
    pub memory_id: Option<String>,
    /// The sources (registration only).
    pub derived_from: Vec<String>,
    /// The owner an agent delegated by several owners acts for.
    pub owner: Option<u32>,
}

/// Which request a dictionary is for: a check, or a memory registration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    /// One of the four checks.
    Check(CheckKind),
    /// RegisterMemory.
    Register,
}

/// Parses a check or registration request.
pub fn request(
    dict: &Request,
    kind: RequestKind,
    limits: &LimitsConfig,
) -> Result<RequestFields, BusError> {
    // The keys every request takes come first; the rest by kind.
    const KEYS: &[(&str, &str)] = &[
        ("domain", "s"),
        ("context", "s"),
        ("tool", "s"),
        ("classification", "y"),
        ("contract_id", "s"),
        ("owner", "u"),
        ("abstraction", "s"),
        ("memory_id", "s"),
        ("derived_from", "as"),
    ];
    let allowed: &[(&str, &str)] = match kind {
        RequestKind::Check(CheckKind::MemoryCreation) => &KEYS[..6],
        RequestKind::Check(CheckKind::Abstraction) => &KEYS[..7],
        RequestKind::Check(CheckKind::Recall | CheckKind::Export) => &[
            KEYS[0], KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[7],
        ],
        RequestKind::Register => KEYS,
    };
    let fields = Fields::new(dict, allowed, limits)?;
    let domain = Fields::required("domain", fields.name("domain")?)?;
    let context = Fields::required("context", fields.name("context")?)?;
    if domain.is_any() || context.is_any() {
        return Err(BusError::invalid_args(
            if domain.is_any() { "domain" } else { "context" },
            "a request names one domain and one context; '*' is not a name",
        ));
    }
    let classification = MemoryClass::from_wire(Fields::required(
        "classification",
        fields.byte("classification")?,
    )?)
    .ok_or_else(|| BusError::invalid_args("classification", "must be 0 to 5"))?;
    let abstraction = match fields.str("abstraction")? {
        Some(text) => Abstraction::parse(text).ok_or_else(|| {
            BusError::invalid_args("abstraction", "must be raw, pattern, heuristic or strategy")
        })?,
        None if kind == RequestKind::Check(CheckKind::Abstraction) => {
            return Err(BusError::invalid_args("abstraction", "is required"));
        }
        None => Abstraction::Raw,
    };
    let id = |key: &str| -> Result<Option<String>, BusError> {
        fields.str(key)?.map(|text| parse_id(key, text)).transpose()
    };
    Ok(RequestFields {
        tool: fields.name("tool")?,
        contract_id: id("contract_id")?,
        memory_id: id("memory_id")?,
        derived_from: fields
            .strings("derived_from")?
            .unwrap_or_default()
            .iter()
            .map(|text| parse_id("derived_from", text))
            .collect::<Result<_, _>>()?,
        owner: fields.uint("owner")?,
        domain,
        context,
        classification,
        abstraction,
    })
}

/// A contract kind as callers send it.
pub fn parse_kind(kind: &str) -> Result<ContractKind, BusError> {
    ContractKind::parse(kind).ok_or_else(|| {
        BusError::invalid_args(
            "kind",
            "must be observation, episodic, procedural, strategic or prohibited",
        )
    })
}

/// What `Contracts1.List` filters on; unset keys do not filter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Only contracts in this state.
    pub state: Option<ContractState>,
    /// Only contracts of this kind.
    pub kind: Option<ContractKind>,
    /// Only this owner's contracts.
    pub owner: Option<u32>,
}

/// Parses `Contracts1.List`'s filter (keys: state s, kind s, owner u).
pub fn list_filter(filter: &Request, limits: &LimitsConfig) -> Result<ListFilter, BusError> {
    let fields = Fields::new(
        filter,
        &[("state", "s"), ("kind", "s"), ("owner", "u")],
        limits,
    )?;
    let state = fields
        .string("state")?
        .map(|text| {
            ContractState::parse(&text).ok_or_else(|| {
                BusError::invalid_args(
                    "state",
                    "must be draft, review, active, expired, revoked or amended",
                )
            })
        })
        .transpose()?;
    let kind = fields
        .string("kind")?
        .map(|text| parse_kind(&text))
        .transpose()?;
    Ok(ListFilter {
        state,
        kind,
        owner: fields.uint("owner")?,
    })
}

/// Parses `Contracts1.DraftFromTemplate`'s parameters: string values only, keys and values
/// within the limits. Which names a template takes is the template's to say.
pub fn template_params(
    params: &Request,
    limits: &LimitsConfig,
) -> Result<BTreeMap<String, String>, BusError> {
    if params.len() > limits.max_entries {
        return Err(BusError::invalid_args(
            "params",
            format!(
                "has {} entries; at most {}",
                params.len(),
                limits.max_entries
            ),
        ));
    }
    let mut values = BTreeMap::new();
    for (key, value) in params.iter() {
        let text = match value {
            Arg::Str(text) => text.as_str(),
            Arg::TooLarge { signature: "s", .. } => {
                return Err(BusError::invalid_args(&short(key), "is too long"));
            }
            _ => {
                return Err(BusError::invalid_args(
                    &short(key),
                    "template parameters are strings (type 's')",
                ));
            }
        };
        if text.len() > limits.max_string_bytes || key.len() > limits.max_string_bytes {
            return Err(BusError::invalid_args(&short(key), "is too long"));
        }
        values.insert(key.to_string(), text.to_string());
    }
    Ok(values)
}

/// Parses `Enforcement1.ToolGate`'s needs (keys: network b, filesystem b, usb b; unset is
/// false).
pub fn tool_needs(needs: &Request, limits: &LimitsConfig) -> Result<ToolNeeds, BusError> {
    let fields = Fields::new(
        needs,
        &[("network", "b"), ("filesystem", "b"), ("usb", "b")],
        limits,
    )?;
    Ok(ToolNeeds {
        network: fields.boolean("network")?.unwrap_or(false),
        filesystem: fields.boolean("filesystem")?.unwrap_or(false),
        usb: fields.boolean("usb")?.unwrap_or(false),
    })
}

/// Parses `Audit1.SetupSealing`'s options (key: force b): whether to start a new era.
pub fn sealing_options(options: &Request, limits: &LimitsConfig) -> Result<bool, BusError> {
    Ok(Fields::new(options, &[("force", "b")], limits)?
        .boolean("force")?
        .unwrap_or(false))
}

/// Parses `Sessions1.Open`'s options (key: owner u): the owner named, if any.
pub fn session_options(options: &Request, limits: &LimitsConfig) -> Result<Option<u32>, BusError> {
    Fields::new(options, &[("owner", "u")], limits)?.uint("owner")
}
