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
use std::collections::{BTreeMap, HashMap};
use zbus::OwnedVariant;

/// A request or spec dictionary as it arrives.
pub type Dict = HashMap<String, OwnedVariant>;

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
    dict: &'a Dict,
    limits: &'a LimitsConfig,
}

impl<'a> Fields<'a> {
    /// Checks that every key is one of `allowed` with its type, and the sizes.
    pub fn new(
        dict: &'a Dict,
        allowed: &[(&str, &str)],
        limits: &'a LimitsConfig,
    ) -> Result<Self, BusError> {
        if dict.len() > limits.max_entries {
            return Err(BusError::invalid_args(
                "dictionary",
                format!("has {} entries; at most {}", dict.len(), limits.max_entries),
            ));
        }
        let mut keys: Vec<&String> = dict.keys().collect();
        keys.sort();
        for key in keys {
            let value = &dict[key];
            let Some((_, expected)) = allowed.iter().find(|(name, _)| name == key) else {
                let names: Vec<&str> = allowed.iter().map(|(name, _)| *name).collect();
                return Err(BusError::invalid_args(
                    &short(key),
                    format!("unknown key; the keys here are {}", names.join(", ")),
                ));
            };
            let actual = value.value_signature().to_string();
            if actual != *expected {
                return Err(BusError::invalid_args(
                    key,
                    format!("must be of type '{expected}', not '{}'", short(&actual)),
                ));
            }
        }
        Ok(Self { dict, limits })
    }

    fn get<T>(&self, key: &str) -> Result<Option<T>, BusError>
    where
        T: TryFrom<OwnedVariant>,
    {
        match self.dict.get(key) {
            None => Ok(None),
            Some(value) => {
                let owned = value
                    .try_clone()
                    .map_err(|err| BusError::invalid_args(key, err))?;
                T::try_from(owned)
                    .map(Some)
                    .map_err(|_| BusError::invalid_args(key, "has the wrong type"))
            }
        }
    }

    /// A string value, bounded.
    pub fn string(&self, key: &str) -> Result<Option<String>, BusError> {
        let value: Option<String> = self.get(key)?;
        if let Some(text) = &value {
            check_string(key, text, self.limits)?;
        }
        Ok(value)
    }

    /// A list of strings, bounded.
    pub fn strings(&self, key: &str) -> Result<Option<Vec<String>>, BusError> {
        let value: Option<Vec<String>> = self.get(key)?;
        if let Some(list) = &value {
            if list.len() > self.limits.max_entries {
                return Err(BusError::invalid_args(
                    key,
                    format!(
                        "has {} entries; at most {}",
                        list.len(),
                        self.limits.max_entries
                    ),
                ));
            }
            for text in list {
                check_string(key, text, self.limits)?;
            }
        }
        Ok(value)
    }

    /// A byte.
    pub fn byte(&self, key: &str) -> Result<Option<u8>, BusError> {
        self.get(key)
    }

    /// A uint32.
    pub fn uint(&self, key: &str) -> Result<Option<u32>, BusError> {
        self.get(key)
    }

    /// An int64.
    pub fn int(&self, key: &str) -> Result<Option<i64>, BusError> {
        self.get(key)
    }

    /// A boolean.
    pub fn boolean(&self, key: &str) -> Result<Option<bool>, BusError> {
        self.get(key)
    }

    /// A scope name, normalized.
    pub fn name(&self, key: &str) -> Result<Option<Name>, BusError> {
        self.string(key)?
            .map(|text| parse_name(key, &text))
            .transpose()
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

fn check_string(key: &str, text: &str, limits: &LimitsConfig) -> Result<(), BusError> {
    if text.len() > limits.max_string_bytes {
        return Err(BusError::invalid_args(
            key,
            format!(
                "is {} bytes long; at most {}",
                text.len(),
                limits.max_string_bytes
            ),
        ));
    }
    Ok(())
}

/// Keys echoed in messages are cut short, so a hostile key cannot flood a log or a reply.
fn short(text: &str) -> String {
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
pub fn spec_patch(dict: &Dict, limits: &LimitsConfig) -> Result<SpecPatch, BusError> {
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
    dict: &Dict,
    kind: RequestKind,
    limits: &LimitsConfig,
) -> Result<RequestFields, BusError> {
    let mut allowed: Vec<(&str, &str)> = vec![
        ("domain", "s"),
        ("context", "s"),
        ("tool", "s"),
        ("classification", "y"),
        ("contract_id", "s"),
        ("owner", "u"),
    ];
    match kind {
        RequestKind::Check(CheckKind::MemoryCreation) => {}
        RequestKind::Check(CheckKind::Abstraction) => allowed.push(("abstraction", "s")),
        RequestKind::Check(CheckKind::Recall | CheckKind::Export) => {
            allowed.push(("memory_id", "s"))
        }
        RequestKind::Register => {
            allowed.extend([
                ("abstraction", "s"),
                ("memory_id", "s"),
                ("derived_from", "as"),
            ]);
        }
    }
    let fields = Fields::new(dict, &allowed, limits)?;
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
    let abstraction = match fields.string("abstraction")? {
        Some(text) => Abstraction::parse(&text).ok_or_else(|| {
            BusError::invalid_args("abstraction", "must be raw, pattern, heuristic or strategy")
        })?,
        None if kind == RequestKind::Check(CheckKind::Abstraction) => {
            return Err(BusError::invalid_args("abstraction", "is required"));
        }
        None => Abstraction::Raw,
    };
    let id = |key: &str| -> Result<Option<String>, BusError> {
        fields
            .string(key)?
            .map(|text| parse_id(key, &text))
            .transpose()
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
pub fn list_filter(dict: &Dict, limits: &LimitsConfig) -> Result<ListFilter, BusError> {
    let fields = Fields::new(
        dict,
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
    dict: &Dict,
    limits: &LimitsConfig,
) -> Result<BTreeMap<String, String>, BusError> {
    if dict.len() > limits.max_entries {
        return Err(BusError::invalid_args(
            "params",
            format!("has {} entries; at most {}", dict.len(), limits.max_entries),
        ));
    }
    let mut values = BTreeMap::new();
    for (key, value) in dict {
        let text = value.downcast_ref::<&str>().map_err(|_| {
            BusError::invalid_args(&short(key), "template parameters are strings (type 's')")
        })?;
        if text.len() > limits.max_string_bytes || key.len() > limits.max_string_bytes {
            return Err(BusError::invalid_args(&short(key), "is too long"));
        }
        values.insert(key.clone(), text.to_string());
    }
    Ok(values)
}

/// Parses `Enforcement1.ToolGate`'s needs (keys: network b, filesystem b, usb b; unset is
/// false).
pub fn tool_needs(dict: &Dict, limits: &LimitsConfig) -> Result<ToolNeeds, BusError> {
    let fields = Fields::new(
        dict,
        &[("network", "b"), ("filesystem", "b"), ("usb", "b")],
        limits,
    )?;
    Ok(ToolNeeds {
        network: fields.boolean("network")?.unwrap_or(false),
        filesystem: fields.boolean("filesystem")?.unwrap_or(false),
        usb: fields.boolean("usb")?.unwrap_or(false),
    })
}

/// Parses `Sessions1.Open`'s options (key: owner u): the owner named, if any.
pub fn session_options(dict: &Dict, limits: &LimitsConfig) -> Result<Option<u32>, BusError> {
    Fields::new(dict, &[("owner", "u")], limits)?.uint("owner")
}
