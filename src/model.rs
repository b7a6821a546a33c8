//! Wire types shared by every part of `af`.
//!
//! [`ResultRecord`] is one evaluation result exactly as the network stores it in R2 (a JSON
//! object inside a window shard). `extra` and any field this version does not know are kept
//! as JSON values so a record read and written again loses nothing.
//!
//! [`CompactRecord`] is the few fields the scorer needs, read leniently straight from shard
//! bytes: a record whose fields have the wrong JSON types is reported as [`RecordShape::Invalid`]
//! instead of failing the whole shard, and everything else (prompts, conversations) is skipped
//! without being materialised.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The miner a result was produced for, as recorded by the sampling validator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Miner {
    /// Miner uid on the subnet when the sample was taken.
    pub uid: i64,
    /// Miner hotkey (SS58).
    pub hotkey: String,
    /// Hugging Face repository of the committed model.
    #[serde(default)]
    pub model: Option<String>,
    /// Committed revision of the model.
    #[serde(default)]
    pub revision: Option<String>,
    /// Block of the miner's commitment.
    #[serde(default)]
    pub block: Option<i64>,
    /// Chute description as returned by the Chutes API.
    #[serde(default)]
    pub chute: Option<Value>,
    /// Chute slug.
    #[serde(default)]
    pub slug: Option<String>,
    /// SHA-256 digests of the model's weight files.
    #[serde(default)]
    pub weights_shas: Option<Vec<String>>,
    /// Fields unknown to this version, kept verbatim.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// One signed evaluation result as stored in an R2 window shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRecord {
    /// Producer version string.
    #[serde(default)]
    pub version: String,
    /// Hex sr25519 signature by the validator hotkey.
    #[serde(default)]
    pub signature: String,
    /// Validator hotkey (SS58) that signed the record.
    #[serde(default)]
    pub hotkey: String,
    /// The evaluated miner.
    #[serde(default)]
    pub miner: Option<Miner>,
    /// Environment id, e.g. `affine:sat`.
    pub env: String,
    /// Raw score in the environment's range.
    pub score: f64,
    /// Wall time of the evaluation.
    #[serde(default)]
    pub latency_seconds: f64,
    /// Whether the evaluation completed.
    #[serde(default)]
    pub success: bool,
    /// Error text of a failed evaluation.
    #[serde(default)]
    pub error: Option<String>,
    /// Task id; older records carry it only in `extra.request.task_id`.
    #[serde(default)]
    pub task_id: Option<i64>,
    /// Arbitrary environment output, including `request` and `image`.
    #[serde(default)]
    pub extra: Value,
    /// Unix time of the evaluation.
    #[serde(default)]
    pub timestamp: f64,
    /// Fields unknown to this version, kept verbatim.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl ResultRecord {
    /// The task id, falling back to `extra.request.task_id` for records that predate the
    /// top-level field.
    #[must_use]
    pub fn effective_task_id(&self) -> Option<i64> {
        self.task_id.or_else(|| self.extra.get("request").and_then(|r| r.get("task_id")).and_then(Value::as_i64))
    }
}

/// How a shard element looked when read for scoring.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordShape<'a> {
    /// A usable record.
    Valid(CompactRecord<'a>),
    /// Not an object, or a field the scorer needs has the wrong type.
    Invalid,
}

/// The fields of a result the scorer reads, borrowed from the shard bytes where possible.
#[derive(Debug, Clone, PartialEq)]
pub struct CompactRecord<'a> {
    /// `miner.hotkey` (empty when absent).
    pub hotkey: Cow<'a, str>,
    /// `miner.model`.
    pub model: Option<Cow<'a, str>>,
    /// `miner.revision`.
    pub revision: Option<Cow<'a, str>>,
    /// `miner.block`, truncated to an integer; `None` when absent or not a number.
    pub block: Option<i64>,
    /// `env`.
    pub env: Cow<'a, str>,
    /// `score` (0.0 when absent).
    pub score: f64,
    /// The task id when it is an integer (top level, else `extra.request.task_id`).
    pub task_id: Option<i64>,
    /// `timestamp` (0.0 when absent or null).
    pub timestamp: f64,
}

/// A JSON value reduced to what the lenient reader needs.
#[derive(Debug, Clone, PartialEq)]
enum Loose<'a> {
    Str(Cow<'a, str>),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
    /// Arrays, objects, and integers that do not fit `i64`.
    Other,
}

impl Loose<'_> {
    /// Python's `isinstance(x, int)` view: booleans count as integers.
    fn as_python_int(&self) -> Option<i64> {
        match self {
            Loose::Int(value) => Some(*value),
            Loose::Bool(flag) => Some(i64::from(*flag)),
            _ => None,
        }
    }

    /// Python's `float(x)` for the JSON types it accepts without parsing text.
    fn as_python_float(&self) -> Option<f64> {
        match self {
            #[expect(clippy::cast_precision_loss, reason = "Python float() of an int rounds the same way")]
            Loose::Int(value) => Some(*value as f64),
            Loose::Float(value) => Some(*value),
            Loose::Bool(flag) => Some(f64::from(u8::from(*flag))),
            _ => None,
        }
    }
}

struct LooseVisitor;

impl<'de> Visitor<'de> for LooseVisitor {
    type Value = Loose<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Loose::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Loose::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(i64::try_from(v).map_or(Loose::Other, Loose::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Loose::Float(v))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Loose::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Loose::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Loose::Str(Cow::Owned(v)))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Loose::Null)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Loose::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Loose::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Loose::Other)
    }
}

impl<'de> Deserialize<'de> for Loose<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LooseVisitor)
    }
}

/// Map keys, borrowed when the text has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Loose::deserialize(deserializer)? {
            Loose::Str(text) => Ok(Key(text)),
            _ => Err(de::Error::custom("object key is not a string")),
        }
    }
}

/// The `miner` object: `None` when it is not an object.
#[derive(Default)]
struct MinerFields<'a> {
    hotkey: Option<Loose<'a>>,
    model: Option<Loose<'a>>,
    revision: Option<Loose<'a>>,
    block: Option<Loose<'a>>,
}

/// Reads an object into `T` field by field, or skips any other JSON value as `None`.
struct ObjectOrSkip<T>(Option<T>);

trait FieldSink<'de>: Default {
    fn accept<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error>;
}

impl<'de> FieldSink<'de> for MinerFields<'de> {
    fn accept<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        let slot = match key {
            "hotkey" => &mut self.hotkey,
            "model" => &mut self.model,
            "revision" => &mut self.revision,
            "block" => &mut self.block,
            _ => {
                map.next_value::<IgnoredAny>()?;
                return Ok(());
            }
        };
        *slot = Some(map.next_value()?);
        Ok(())
    }
}

/// `extra.request.task_id`, reached through two nested objects.
#[derive(Default)]
struct ExtraFields<'a> {
    request_task_id: Option<Loose<'a>>,
}

#[derive(Default)]
struct RequestFields<'a> {
    task_id: Option<Loose<'a>>,
}

impl<'de> FieldSink<'de> for ExtraFields<'de> {
    fn accept<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        if key == "request" {
            let request: ObjectOrSkip<RequestFields<'de>> = map.next_value()?;
            self.request_task_id = request.0.and_then(|r| r.task_id);
        } else {
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
}

impl<'de> FieldSink<'de> for RequestFields<'de> {
    fn accept<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        if key == "task_id" {
            self.task_id = Some(map.next_value()?);
        } else {
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
}

/// Every top-level field the scorer reads.
#[derive(Default)]
struct RecordFields<'a> {
    miner: Option<ObjectOrSkip<MinerFields<'a>>>,
    env: Option<Loose<'a>>,
    score: Option<Loose<'a>>,
    task_id: Option<Loose<'a>>,
    extra: Option<ObjectOrSkip<ExtraFields<'a>>>,
    timestamp: Option<Loose<'a>>,
}

impl<'de> FieldSink<'de> for RecordFields<'de> {
    fn accept<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "miner" => self.miner = Some(map.next_value()?),
            "env" => self.env = Some(map.next_value()?),
            "score" => self.score = Some(map.next_value()?),
            "task_id" => self.task_id = Some(map.next_value()?),
            "extra" => self.extra = Some(map.next_value()?),
            "timestamp" => self.timestamp = Some(map.next_value()?),
            _ => {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

struct ObjectOrSkipVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: FieldSink<'de>> Visitor<'de> for ObjectOrSkipVisitor<T> {
    type Value = ObjectOrSkip<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = T::default();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            fields.accept(&key, &mut map)?;
        }
        Ok(ObjectOrSkip(Some(fields)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(ObjectOrSkip(None))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(ObjectOrSkip(None))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(ObjectOrSkip(None))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(ObjectOrSkip(None))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(ObjectOrSkip(None))
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(ObjectOrSkip(None))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(ObjectOrSkip(None))
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(ObjectOrSkip(None))
    }
}

impl<'de, T: FieldSink<'de>> Deserialize<'de> for ObjectOrSkip<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ObjectOrSkipVisitor(std::marker::PhantomData))
    }
}

fn optional_text(value: Option<Loose<'_>>) -> Result<Option<Cow<'_, str>>, ()> {
    match value {
        None | Some(Loose::Null) => Ok(None),
        Some(Loose::Str(text)) => Ok(Some(text)),
        Some(_) => Err(()),
    }
}

impl<'a> RecordFields<'a> {
    /// Applies the reference reader's defaults and type rules.
    fn into_shape(self) -> RecordShape<'a> {
        self.compact().map_or(RecordShape::Invalid, RecordShape::Valid)
    }

    fn compact(self) -> Option<CompactRecord<'a>> {
        // `data.get('miner', {})`: a missing miner reads as an empty one; a non-object fails.
        let miner = match self.miner {
            None => MinerFields::default(),
            Some(ObjectOrSkip(Some(miner))) => miner,
            Some(ObjectOrSkip(None)) => return None,
        };
        let hotkey = match miner.hotkey {
            None => Cow::Borrowed(""),
            Some(Loose::Str(text)) => text,
            Some(_) => return None,
        };
        let model = optional_text(miner.model).ok()?;
        let revision = optional_text(miner.revision).ok()?;
        #[expect(clippy::cast_possible_truncation, reason = "Python int() truncates toward zero too")]
        let block = match miner.block {
            Some(Loose::Int(value)) => Some(value),
            Some(Loose::Float(value)) if value.is_finite() => Some(value.trunc() as i64),
            _ => None,
        };
        let Some(Loose::Str(env)) = self.env else { return None };
        let score = match self.score {
            None => 0.0,
            Some(value) => value.as_python_float()?,
        };
        let task_id = match self.task_id {
            None | Some(Loose::Null) => {
                self.extra.and_then(|extra| extra.0).and_then(|extra| extra.request_task_id).and_then(|id| id.as_python_int())
            }
            Some(value) => value.as_python_int(),
        };
        let timestamp = match self.timestamp {
            None | Some(Loose::Null) => 0.0,
            Some(value) => value.as_python_float()?,
        };
        Some(CompactRecord { hotkey, model, revision, block, env, score, task_id, timestamp })
    }
}

struct RecordVisitor;

impl<'de> Visitor<'de> for RecordVisitor {
    type Value = RecordShape<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a result record")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let fields = ObjectOrSkipVisitor::<RecordFields<'de>>(std::marker::PhantomData).visit_map(map)?;
        Ok(fields.0.map_or(RecordShape::Invalid, RecordFields::into_shape))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(RecordShape::Invalid)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(RecordShape::Invalid)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(RecordShape::Invalid)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(RecordShape::Invalid)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(RecordShape::Invalid)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(RecordShape::Invalid)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(RecordShape::Invalid)
    }
}

impl<'de> Deserialize<'de> for RecordShape<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RecordVisitor)
    }
}

/// Streams the elements of a shard's JSON array into `sink` without building the array.
struct ShardSeed<F>(F);

impl<'de, F: FnMut(RecordShape<'de>)> DeserializeSeed<'de> for ShardSeed<F> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(RecordShape<'de>)> Visitor<'de> for ShardSeed<F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of result records")
    }
    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        while let Some(shape) = seq.next_element::<RecordShape<'de>>()? {
            (self.0)(shape);
        }
        Ok(())
    }
}

/// Parses a shard (a JSON array of result records) and hands each element to `sink` in array
/// order.
///
/// # Errors
/// Fails when the bytes are not a JSON array; nothing is handed to `sink` in that case, because
/// a shard is accepted or rejected as a whole.
pub fn parse_shard<'a>(bytes: &'a [u8], sink: &mut Vec<RecordShape<'a>>) -> Result<(), serde_json::Error> {
    let start = sink.len();
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let outcome = ShardSeed(|shape| sink.push(shape)).deserialize(&mut deserializer).and_then(|()| deserializer.end());
    if outcome.is_err() {
        sink.truncate(start);
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shapes(json: &str) -> Vec<RecordShape<'_>> {
        let mut out = Vec::new();
        parse_shard(json.as_bytes(), &mut out).expect("valid shard");
        out
    }

    #[test]
    fn compact_reads_fields_and_falls_back_to_request_task_id() {
        let json = r#"[{"miner":{"uid":1,"hotkey":"hk","model":"u/Affine-x","revision":"r1","block":7.9},
            "env":"affine:sat","score":1,"task_id":null,"extra":{"request":{"task_id":12,"seed":3}},
            "timestamp":1.5,"conversation":[{"role":"user","content":"a \"quoted\" prompt"}]}]"#;
        let parsed = shapes(json);
        assert_eq!(
            parsed,
            vec![RecordShape::Valid(CompactRecord {
                hotkey: "hk".into(),
                model: Some("u/Affine-x".into()),
                revision: Some("r1".into()),
                block: Some(7),
                env: "affine:sat".into(),
                score: 1.0,
                task_id: Some(12),
                timestamp: 1.5,
            })]
        );
    }

    #[test]
    fn compact_top_level_task_id_wins_even_when_not_an_integer() {
        let parsed = shapes(r#"[{"miner":{"hotkey":"h"},"env":"e","task_id":"5","extra":{"request":{"task_id":5}}}]"#);
        let RecordShape::Valid(record) = &parsed[0] else { panic!("expected a valid record") };
        assert_eq!(record.task_id, None);
        assert!((record.score - 0.0).abs() < f64::EPSILON);
    }

    #[test]
    fn compact_wrong_types_are_invalid_not_errors() {
        let parsed = shapes(
            r#"[1, "x", null, [], {"miner":5,"env":"e"}, {"miner":{"hotkey":"h"},"env":3},
            {"miner":{"hotkey":"h"},"env":"e","score":"0.5"}, {"miner":{"hotkey":"h"},"env":"e","score":0.5}]"#,
        );
        let valid = parsed.iter().filter(|s| matches!(s, RecordShape::Valid(_))).count();
        assert_eq!(parsed.len(), 8);
        assert_eq!(valid, 1);
    }

    #[test]
    fn parse_shard_rejects_non_arrays_and_truncated_json_as_a_whole() {
        let mut out = Vec::new();
        assert!(parse_shard(br#"{"a":1}"#, &mut out).is_err());
        assert!(parse_shard(br#"[{"miner":{"hotkey":"h"},"env":"e"}, {"#, &mut out).is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn result_record_round_trips_unknown_fields_losslessly() {
        let text = r#"{"version":"0.0.0","signature":"ab","hotkey":"v","miner":{"uid":3,"hotkey":"h","model":"m","revision":"r","block":9,"chute":{"x":[1,2]},"slug":"s","weights_shas":null,"future":true},"env":"affine:sat","score":0.5,"latency_seconds":1.25,"success":true,"error":null,"task_id":null,"extra":{"request":{"task_id":4,"nested":{"z":1,"a":[1.5e-7,"é"]}},"image":"img"},"timestamp":1763112872.6111987,"new_field":{"k":"v"}}"#;
        let record: ResultRecord = serde_json::from_str(text).expect("parses");
        assert_eq!(record.effective_task_id(), Some(4));
        let again = serde_json::to_value(&record).expect("serialises");
        let original: Value = serde_json::from_str(text).expect("parses");
        assert_eq!(again, original);
    }
}

#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            any::<f64>().prop_filter("JSON has no NaN or infinity", |f| f.is_finite()).prop_map(|f| json!(f)),
            ".{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec(
                    (
                        prop_oneof![
                            "miner",
                            "env",
                            "score",
                            "task_id",
                            "extra",
                            "request",
                            "hotkey",
                            "model",
                            "revision",
                            "block",
                            "timestamp",
                            ".{0,6}"
                        ],
                        inner
                    ),
                    0..6
                )
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn parse_shard_never_panics_on_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let mut out = Vec::new();
            let _ = parse_shard(&bytes, &mut out);
        }

        #[test]
        fn parse_shard_never_panics_on_random_json(value in any_json()) {
            let text = serde_json::to_vec(&value).expect("serialisable");
            let mut out = Vec::new();
            let parsed = parse_shard(&text, &mut out);
            if let Value::Array(items) = &value {
                prop_assert!(parsed.is_ok());
                prop_assert_eq!(out.len(), items.len());
            } else {
                prop_assert!(parsed.is_err());
            }
        }

        #[test]
        fn parse_shard_reads_records_whatever_the_field_types(
            miner in any_json(), env in any_json(), score in any_json(), task in any_json(), extra in any_json()
        ) {
            let record = json!([{"miner": miner, "env": env, "score": score, "task_id": task, "extra": extra}]);
            let mut out = Vec::new();
            let bytes = serde_json::to_vec(&record).expect("serialisable");
            prop_assert!(parse_shard(&bytes, &mut out).is_ok());
            prop_assert_eq!(out.len(), 1);
            if let RecordShape::Valid(compact) = &out[0] {
                prop_assert_eq!(Some(compact.env.as_ref()), record[0]["env"].as_str());
            }
        }
    }
}
