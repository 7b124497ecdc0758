//! Raw scenario types: the TOML as typed, with the span of every value.
//!
//! Invariant: these types only check shapes (table, string, number). Meaning (durations, units,
//! names, references) is checked by `validate`, which promotes them into `model` types. Nearly
//! every field is optional here so that a missing field is reported by `validate` with a
//! precise message, never as a serde "missing field" that stops the whole parse.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use toml::Spanned;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawScenario {
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) target: Option<Spanned<RawTarget>>,
    pub(crate) load: Option<Spanned<RawLoad>>,
    #[serde(default)]
    pub(crate) feeder: Vec<Spanned<RawFeeder>>,
    #[serde(default)]
    pub(crate) transaction: Vec<Spanned<RawTransaction>>,
    #[serde(default)]
    pub(crate) sla: Vec<Spanned<RawSla>>,
    pub(crate) compare: Option<Spanned<RawCompare>>,
}

/// `[target]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTarget {
    pub(crate) base_url: Option<Spanned<String>>,
    pub(crate) timeout: Option<Spanned<Text>>,
    pub(crate) headers: Option<Spanned<Entries<String>>>,
    pub(crate) metrics_url: Option<Spanned<String>>,
    pub(crate) reference: Option<Spanned<bool>>,
}

/// `[load]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLoad {
    pub(crate) model: Option<Spanned<String>>,
    pub(crate) users: Option<Spanned<i64>>,
    pub(crate) rate: Option<Spanned<f64>>,
    pub(crate) ramp_up: Option<Spanned<Text>>,
    pub(crate) duration: Option<Spanned<Text>>,
    pub(crate) iterations: Option<Spanned<i64>>,
    pub(crate) think_time: Option<Spanned<Text>>,
    pub(crate) unit: Option<Spanned<String>>,
    pub(crate) max_in_flight: Option<Spanned<i64>>,
    #[serde(default)]
    pub(crate) stage: Vec<Spanned<RawStage>>,
}

/// `[[load.stage]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStage {
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) users: Option<Spanned<i64>>,
    pub(crate) rate: Option<Spanned<f64>>,
    pub(crate) ramp: Option<Spanned<Text>>,
    pub(crate) hold: Option<Spanned<Text>>,
}

/// `[[feeder]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFeeder {
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) path: Option<Spanned<String>>,
    pub(crate) mode: Option<Spanned<String>>,
    pub(crate) on_end: Option<Spanned<String>>,
}

/// `[[transaction]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTransaction {
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) weight: Option<Spanned<i64>>,
    pub(crate) think_time: Option<Spanned<Text>>,
    #[serde(default)]
    pub(crate) request: Vec<Spanned<RawRequest>>,
}

/// `[[transaction.request]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRequest {
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) method: Option<Spanned<String>>,
    pub(crate) path: Option<Spanned<String>>,
    pub(crate) url: Option<Spanned<String>>,
    pub(crate) headers: Option<Spanned<Entries<String>>>,
    pub(crate) json: Option<Spanned<RawValue>>,
    pub(crate) form: Option<Spanned<Entries<String>>>,
    pub(crate) body: Option<Spanned<String>>,
    pub(crate) think_time: Option<Spanned<Text>>,
    pub(crate) check: Option<Spanned<RawCheck>>,
    pub(crate) capture: Option<Spanned<Entries<RawCapture>>>,
}

/// `check = { ... }` of a request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCheck {
    pub(crate) status: Option<Spanned<OneOrMany<NumOrStr>>>,
    pub(crate) body_contains: Option<Spanned<OneOrMany<String>>>,
    pub(crate) json: Option<Spanned<Entries<RawValue>>>,
    pub(crate) json_exists: Option<Spanned<OneOrMany<String>>>,
}

/// One capture: exactly one source key.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCapture {
    pub(crate) json: Option<Spanned<String>>,
    pub(crate) header: Option<Spanned<String>>,
    pub(crate) regex: Option<Spanned<String>>,
}

/// `[[sla]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSla {
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) scope: Option<Spanned<String>>,
    pub(crate) metric: Option<Spanned<String>>,
    pub(crate) threshold: Option<Spanned<NumOrStr>>,
    pub(crate) comparison: Option<Spanned<String>>,
    pub(crate) abort: Option<Spanned<bool>>,
}

/// `[compare]`: settings of `kneepoint compare` when this scenario's runs are compared.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCompare {
    /// A fraction for every metric, or a table of metric → fraction (`default` for the rest).
    pub(crate) noise_floor: Option<Spanned<RawValue>>,
    /// A duration string (`"1ms"`), or the number 0 for none.
    pub(crate) min_latency_change: Option<Spanned<NumOrStr>>,
    pub(crate) confidence: Option<Spanned<NumOrStr>>,
    pub(crate) budget: Option<Spanned<Entries<NumOrStr>>>,
    pub(crate) gate: Option<Spanned<OneOrMany<String>>>,
    pub(crate) gate_requests: Option<Spanned<bool>>,
    pub(crate) intended: Option<Spanned<bool>>,
    pub(crate) resamples: Option<Spanned<i64>>,
    pub(crate) seed: Option<Spanned<i64>>,
}

/// A string holding a duration or a think time; its own type so that a number gets a message
/// saying what the string should look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Text(pub(crate) String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string such as \"30s\", \"500ms\" or \"1m30s\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_owned()))
            }
        }
        d.deserialize_str(V)
    }
}

/// A number or a string (thresholds, status codes).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NumOrStr {
    Int(i64),
    Float(f64),
    Str(String),
}

impl NumOrStr {
    /// The value as written (a string trimmed).
    pub(crate) fn text(&self) -> String {
        match self {
            Self::Int(i) => i.to_string(),
            Self::Float(f) => f.to_string(),
            Self::Str(s) => s.trim().to_owned(),
        }
    }
}

impl<'de> Deserialize<'de> for NumOrStr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = NumOrStr;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number or a string")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<NumOrStr, E> {
                Ok(NumOrStr::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<NumOrStr, E> {
                i64::try_from(v)
                    .map(NumOrStr::Int)
                    .map_err(|_| E::custom("number too large"))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<NumOrStr, E> {
                Ok(NumOrStr::Float(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<NumOrStr, E> {
                Ok(NumOrStr::Str(v.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

/// One value or a list of them (`status = 200` or `status = [200, "3xx"]`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum OneOrMany<T> {
    One(T),
    Many(Vec<Spanned<T>>),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = OneOrMany<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a value or a list of values")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                T::deserialize(de::value::I64Deserializer::new(v)).map(OneOrMany::One)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                T::deserialize(de::value::U64Deserializer::new(v)).map(OneOrMany::One)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                T::deserialize(de::value::F64Deserializer::new(v)).map(OneOrMany::One)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                T::deserialize(de::value::BoolDeserializer::new(v)).map(OneOrMany::One)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                T::deserialize(de::value::StrDeserializer::new(v)).map(OneOrMany::One)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(OneOrMany::Many(items))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

impl<T: Clone> OneOrMany<T> {
    /// The values, each with a span (a single value gets `outer`).
    pub(crate) fn items(&self, outer: std::ops::Range<usize>) -> Vec<Spanned<T>> {
        match self {
            Self::One(v) => vec![Spanned::new(outer, v.clone())],
            Self::Many(v) => v.clone(),
        }
    }
}

/// A table with keys chosen by the user (headers, form fields, captures), in file order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entries<V>(pub(crate) Vec<(Spanned<String>, Spanned<V>)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Entries<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Vis<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for Vis<V> {
            type Value = Entries<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table such as `{ name = \"value\" }`")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = map.next_key::<Spanned<String>>()? {
                    let v = map.next_value::<Spanned<V>>()?;
                    out.push((k, v));
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(Vis(PhantomData))
    }
}

/// The key toml uses to pass a datetime through serde.
const DATETIME_KEY: &str = "$__toml_private_datetime";

/// Any TOML value, spans kept all the way down (JSON bodies, JSON check values).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RawValue {
    String(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
    Datetime(String),
    Array(Vec<Spanned<RawValue>>),
    Table(Vec<(Spanned<String>, Spanned<RawValue>)>),
}

impl<'de> Deserialize<'de> for RawValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any TOML value")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawValue, E> {
                Ok(RawValue::Integer(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawValue, E> {
                i64::try_from(v)
                    .map(RawValue::Integer)
                    .map_err(|_| E::custom("number too large"))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawValue, E> {
                Ok(RawValue::Float(v))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawValue, E> {
                Ok(RawValue::Bool(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawValue, E> {
                Ok(RawValue::String(v.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawValue, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(RawValue::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawValue, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = map.next_key::<Spanned<String>>()? {
                    if k.get_ref() == DATETIME_KEY {
                        return Ok(RawValue::Datetime(map.next_value::<String>()?));
                    }
                    out.push((k, map.next_value::<Spanned<RawValue>>()?));
                }
                Ok(RawValue::Table(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl RawValue {
    /// The value as `serde_json`, for checks that compare values.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Self::String(s) | Self::Datetime(s) => J::String(s.clone()),
            Self::Integer(i) => J::from(*i),
            Self::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Self::Bool(b) => J::Bool(*b),
            Self::Array(items) => J::Array(items.iter().map(|i| i.get_ref().to_json()).collect()),
            Self::Table(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.get_ref().clone(), v.get_ref().to_json()))
                    .collect(),
            ),
        }
    }
}
