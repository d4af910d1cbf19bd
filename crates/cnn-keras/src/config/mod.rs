//! `config.json`: a model's architecture as Keras's `get_config()` tree, written
//! ([`write`]) and read ([`read`]).

pub(crate) mod read;
pub(crate) mod write;

use serde_json::Value;

/// `f32` as the JSON number with the fewest digits that reads back as the same `f32` (`0.99`,
/// not `0.9900000095367432`).
pub(crate) fn num(v: f32) -> Value {
    format!("{v}")
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or(Value::Null, Value::Number)
}
