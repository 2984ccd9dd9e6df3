//! Rendering: dictionaries as JSON for scripts, tables and sentences for people; colours only
//! on a terminal and never with NO_COLOR.

use learning_contracts_client::zbus::Variant;
use std::io::IsTerminal;

/// A dictionary as the daemon sends it.
pub use learning_contracts_client::Dict;

/// A variant as JSON.
pub fn to_json(value: &Variant<'_>) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Variant::U8(v) => Value::from(*v),
        Variant::Bool(v) => Value::from(*v),
        Variant::I16(v) => Value::from(*v),
        Variant::U16(v) => Value::from(*v),
        Variant::I32(v) => Value::from(*v),
        Variant::U32(v) => Value::from(*v),
        Variant::I64(v) => Value::from(*v),
        Variant::U64(v) => Value::from(*v),
        Variant::F64(v) => Value::from(*v),
        Variant::Str(v) => Value::from(v.as_str()),
        Variant::Variant(inner) => to_json(inner),
        Variant::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        Variant::Dict(dict) => {
            let mut map = serde_json::Map::new();
            for (key, value) in dict.iter() {
                let key = match key {
                    Variant::Str(s) => s.as_str().to_string(),
                    other => to_json(other).to_string(),
                };
                map.insert(key, to_json(value));
            }
            Value::Object(map)
        }
        Variant::Structure(fields) => Value::Array(fields.fields().iter().map(to_json).collect()),
        other => Value::from(format!("{other:?}")),
    }
}

/// A dictionary as a JSON object with sorted keys.
pub fn dict_json(dict: &Dict) -> serde_json::Value {
    let mut keys: Vec<&String> = dict.keys().collect();
    keys.sort();
    let map = keys
        .into_iter()
        .map(|k| (k.clone(), to_json(&dict[k])))
        .collect();
    serde_json::Value::Object(map)
}

/// A text field of a dictionary ("" when absent).
pub fn text(dict: &Dict, key: &str) -> String {
    dict.get(key)
        .and_then(|v| String::try_from(v.try_clone().ok()?).ok())
        .unwrap_or_default()
}

/// A list-of-text field of a dictionary.
pub fn texts(dict: &Dict, key: &str) -> Vec<String> {
    dict.get(key)
        .and_then(|v| Vec::<String>::try_from(v.try_clone().ok()?).ok())
        .unwrap_or_default()
}

/// Whether to colour output: a terminal, and NO_COLOR unset or empty.
pub fn colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Text in bold when colouring.
pub fn bold(text: &str) -> String {
    if colour() {
        format!("\x1b[1m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// Rows as an aligned table with a header.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<width$}", width = widths[i]))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = vec![bold(&line(header.iter().map(|h| h.to_string()).collect()))];
    out.extend(rows.iter().map(|row| line(row.clone())));
    out.join("\n")
}
