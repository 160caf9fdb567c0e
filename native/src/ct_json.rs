//! A CloudTrail record's JSON to a `serde_json::Value`, as `serde_json::from_str` reads it (objects keep their
//! first key's place and their last value, as orjson's dicts do) but cheaper: each object is built at its final
//! size from members gathered on one shared stack (serde_json grows every map's hash index as keys arrive, which
//! cost more than the rest of the parse), and the first float ends the parse, since the writer refuses
//! records with floats (orjson and Java render them their own ways; an integer beyond 64 bits reads as one).

use serde::de::{DeserializeSeed, Deserializer, Error, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// The record's value, or Err: not JSON, a float, nested deeper than serde_json's limit (128).
pub fn parse(text: &str, stack: &mut Vec<(String, Value)>) -> Result<Value, ()> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = Build { stack }.deserialize(&mut deserializer).map_err(|_| ())?;
    deserializer.end().map_err(|_| ())?;
    Ok(value)
}

struct Build<'s> {
    stack: &'s mut Vec<(String, Value)>,
}

impl<'de> DeserializeSeed<'de> for Build<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Build<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("JSON without floats")
    }

    fn visit_bool<E: Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: Error>(self, _: f64) -> Result<Value, E> {
        Err(E::custom("a float"))
    }

    fn visit_str<E: Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E: Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Build { stack: &mut *self.stack })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let start = self.stack.len();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(Build { stack: &mut *self.stack })?;
            self.stack.push((key, value));
        }
        // IndexMap's FromIterator sizes the map once; a repeated key keeps its first place, takes its last value.
        let members: Map<String, Value> = self.stack.drain(start..).collect();
        Ok(Value::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_as_serde_json_does_but_refuses_floats() {
        let mut stack = Vec::new();
        for text in [r#"{"a":1,"b":[true,null,"x\"y"],"a":{"c":-5,"d":18446744073709551615},"e":{}}"#, "[]", "\"s\""] {
            assert_eq!(parse(text, &mut stack), Ok(serde_json::from_str::<Value>(text).unwrap()));
            let value = parse(text, &mut stack).unwrap();
            assert_eq!(
                serde_json::to_string(&value).unwrap(),
                serde_json::from_str::<Value>(text).unwrap().to_string()
            );
        }
        for text in ["1.5", r#"{"a":1e3}"#, "123456789012345678901234567890", "{", "{} x", "NaN"] {
            assert_eq!(parse(text, &mut stack), Err(()));
        }
        assert!(stack.is_empty());
    }
}
