//! Reading a JSON object key by key, with serde's visitor written by hand.
//!
//! The producer reads two objects, the delivery envelope and the booking payload. serde's derived
//! code for them can build serde's typed-error messages ("invalid type: floating point `1.5`,
//! expected …"), and that links Rust's float formatting, about 10 KB of wasm, into a worker
//! whose budget is 100 KB gzip. Here every JSON kind other than an object is refused with one
//! fixed message, so those messages are never built, and each object is read in a single pass.

use serde::de::{Deserializer, Error, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::fmt;

/// What reads one object: gets each key with the map positioned at its value, which it must
/// consume (e.g. `map.next_value::<Value>()`).
pub(crate) trait ObjectReader<'de> {
    type Output;
    fn entry<A: MapAccess<'de>>(&mut self, key: String, map: &mut A) -> Result<(), A::Error>;
    fn finish<E: Error>(self) -> Result<Self::Output, E>;
}

/// The message of the error for a JSON value that is not an object.
pub(crate) const NOT_AN_OBJECT: &str = "expected a JSON object";

/// Reads an object with `reader`; any other JSON value is an error.
pub(crate) fn read_object<'de, D, R>(deserializer: D, reader: R) -> Result<R::Output, D::Error>
where
    D: Deserializer<'de>,
    R: ObjectReader<'de>,
{
    deserializer.deserialize_any(ObjectVisitor(reader))
}

/// Consumes a value nobody asked for.
pub(crate) fn skip_value<'de, A: MapAccess<'de>>(map: &mut A) -> Result<(), A::Error> {
    map.next_value::<IgnoredAny>().map(|_| ())
}

/// Sets a field the first time and refuses a second one: which of two would be meant?
pub(crate) fn set_once<T, E: Error>(slot: &mut Option<T>, value: T, key: &str) -> Result<(), E> {
    if slot.is_some() {
        return Err(E::custom(format_args!("duplicate field `{key}`")));
    }
    *slot = Some(value);
    Ok(())
}

struct ObjectVisitor<R>(R);

fn not_an_object<V, E: Error>() -> Result<V, E> {
    Err(E::custom(NOT_AN_OBJECT))
}

// Every `visit_*` that serde_json's `deserialize_any` may call is written out: the defaults are
// the typed errors this module exists to avoid.
impl<'de, R: ObjectReader<'de>> Visitor<'de> for ObjectVisitor<R> {
    type Value = R::Output;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Self::Value, A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            self.0.entry(key, &mut map)?;
        }
        self.0.finish()
    }

    fn visit_bool<E: Error>(self, _: bool) -> Result<Self::Value, E> {
        not_an_object()
    }
    fn visit_i64<E: Error>(self, _: i64) -> Result<Self::Value, E> {
        not_an_object()
    }
    fn visit_u64<E: Error>(self, _: u64) -> Result<Self::Value, E> {
        not_an_object()
    }
    fn visit_f64<E: Error>(self, _: f64) -> Result<Self::Value, E> {
        not_an_object()
    }
    fn visit_str<E: Error>(self, _: &str) -> Result<Self::Value, E> {
        not_an_object()
    }
    fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
        not_an_object()
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        not_an_object()
    }
}

/// Any JSON value, plus, when it is an object, its entries in the order they were written
/// (`serde_json::Map` sorts by key). A repeated key appears in `entries` each time; `value`
/// keeps the last, as serde_json does.
#[derive(Debug, Default)]
pub(crate) struct InOrder {
    pub value: Value,
    pub entries: Vec<(String, Value)>,
}

impl<'de> serde::Deserialize<'de> for InOrder {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(InOrderVisitor)
    }
}

struct InOrderVisitor;

impl InOrderVisitor {
    fn plain(value: Value) -> InOrder {
        InOrder {
            value,
            entries: Vec::new(),
        }
    }
}

impl<'de> Visitor<'de> for InOrderVisitor {
    type Value = InOrder;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<InOrder, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry::<String, Value>()? {
            entries.push(entry);
        }
        let value = Value::Object(entries.iter().cloned().collect::<Map<String, Value>>());
        Ok(InOrder { value, entries })
    }

    fn visit_bool<E: Error>(self, v: bool) -> Result<InOrder, E> {
        Ok(Self::plain(Value::Bool(v)))
    }
    fn visit_i64<E: Error>(self, v: i64) -> Result<InOrder, E> {
        Ok(Self::plain(Value::from(v)))
    }
    fn visit_u64<E: Error>(self, v: u64) -> Result<InOrder, E> {
        Ok(Self::plain(Value::from(v)))
    }
    fn visit_f64<E: Error>(self, v: f64) -> Result<InOrder, E> {
        Ok(Self::plain(
            Number::from_f64(v).map_or(Value::Null, Value::Number),
        ))
    }
    fn visit_str<E: Error>(self, v: &str) -> Result<InOrder, E> {
        Ok(Self::plain(Value::String(v.to_owned())))
    }
    fn visit_unit<E: Error>(self) -> Result<InOrder, E> {
        Ok(Self::plain(Value::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<InOrder, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Value>()? {
            items.push(item);
        }
        Ok(Self::plain(Value::Array(items)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Keys(Vec<String>);

    impl<'de> ObjectReader<'de> for Keys {
        type Output = Vec<String>;
        fn entry<A: MapAccess<'de>>(&mut self, key: String, map: &mut A) -> Result<(), A::Error> {
            skip_value(map)?;
            self.0.push(key);
            Ok(())
        }
        fn finish<E: Error>(self) -> Result<Vec<String>, E> {
            Ok(self.0)
        }
    }

    fn keys(text: &str) -> Result<Vec<String>, String> {
        let mut de = serde_json::Deserializer::from_str(text);
        let keys = read_object(&mut de, Keys(Vec::new())).map_err(|e| e.to_string())?;
        de.end().map_err(|e| e.to_string())?;
        Ok(keys)
    }

    #[test]
    fn an_object_is_read_in_written_order() {
        assert_eq!(
            keys(r#"{"b":1,"a":[{}],"c":{"x":null}}"#).unwrap(),
            ["b", "a", "c"]
        );
    }

    #[test]
    fn every_other_json_kind_is_refused_with_one_message() {
        for text in ["1", "-1", "1.5", "true", "null", "\"s\"", "[1,2]", "[]"] {
            let error = keys(text).unwrap_err();
            assert!(error.starts_with(NOT_AN_OBJECT), "{text}: {error}");
        }
    }

    #[test]
    fn in_order_keeps_written_order_and_serde_json_value() {
        let text = r#"{"z":1,"a":{"k":2},"m":[1.5,"x"],"a":3}"#;
        let read: InOrder = serde_json::from_str(text).unwrap();
        let keys: Vec<&str> = read.entries.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["z", "a", "m", "a"]);
        assert_eq!(read.value, serde_json::from_str::<Value>(text).unwrap());
        for text in [
            "1",
            "-7",
            "2.5",
            "true",
            "null",
            "\"s\"",
            "[1,{\"b\":2,\"a\":1}]",
        ] {
            let read: InOrder = serde_json::from_str(text).unwrap();
            assert_eq!(
                read.value,
                serde_json::from_str::<Value>(text).unwrap(),
                "{text}"
            );
            assert!(read.entries.is_empty(), "{text}");
        }
    }

    #[test]
    fn set_once_refuses_a_second_value() {
        let mut slot = None;
        set_once::<_, serde_json::Error>(&mut slot, 1, "uid").unwrap();
        let error = set_once::<_, serde_json::Error>(&mut slot, 2, "uid").unwrap_err();
        assert_eq!(error.to_string(), "duplicate field `uid`");
        assert_eq!(slot, Some(1));
    }
}
