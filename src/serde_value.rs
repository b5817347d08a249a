//! The `serde` feature: any `Serialize` type to a script [`Value`] and any
//! `Deserialize` type from one, so a host passes its own structs to scripts
//! without writing conversions.
//!
//! The mapping is the one JSON uses, in script types: structs and maps become
//! maps (keys in field order), sequences and tuples lists, `Option::None` and
//! `()` nil, unit enum variants their name as a str, other variants a
//! one-entry map `{"Variant": content}`. Integers must fit an i64. Script
//! values with no data form (functions, classes, handles) do not convert.

use crate::Error;
use crate::diagnostic::Diagnostic;
use crate::value::{Key, MapData, Value};
use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use serde::ser::{self, Serialize};
use std::fmt::Display;

/// Converts a `Serialize` value to a script value.
///
/// ```
/// #[derive(serde::Serialize)]
/// struct Job { name: String, retries: u32, tags: Vec<String> }
///
/// let job = Job { name: "backup".into(), retries: 3, tags: vec!["nightly".into()] };
/// let mut interp = proc_lang::Interpreter::new();
/// interp.set_global("job", proc_lang::to_value(&job)?);
/// let s: String = interp.eval("f\"{job[\"name\"]} x{job[\"retries\"]} {job[\"tags\"]}\"")?;
/// assert_eq!(s, "backup x3 [\"nightly\"]");
/// # Ok::<(), proc_lang::Error>(())
/// ```
///
/// A failure (an integer beyond i64, a map key that is not a str, int,
/// float, bool or bytes) is a `TypeError` naming `to_value()`.
pub fn to_value<T: Serialize + ?Sized>(x: &T) -> Result<Value, Error> {
    x.serialize(ValueSerializer)
        .map_err(|e| conversion_error("to_value", e))
}

/// Converts a script value to a `Deserialize` type.
///
/// ```
/// #[derive(serde::Deserialize, Debug, PartialEq)]
/// struct Limits { cpu: f64, memory_mb: u64, hosts: Option<Vec<String>> }
///
/// let mut interp = proc_lang::Interpreter::new();
/// let v = interp.eval_value("({\"cpu\": 1.5, \"memory_mb\": 512, \"hosts\": nil})")?;
/// let limits: Limits = proc_lang::from_value(v)?;
/// assert_eq!(limits, Limits { cpu: 1.5, memory_mb: 512, hosts: None });
///
/// let v = interp.eval_value("({\"cpu\": \"fast\"})")?;
/// let e = proc_lang::from_value::<Limits>(v).unwrap_err();
/// assert_eq!(e.kind(), "TypeError");
/// assert!(e.message().starts_with("from_value(): "), "{}", e.message());
/// # Ok::<(), proc_lang::Error>(())
/// ```
pub fn from_value<T: DeserializeOwned>(v: Value) -> Result<T, Error> {
    T::deserialize(ValueDeserializer(v)).map_err(|e| conversion_error("from_value", e))
}

fn conversion_error(fname: &str, e: ConvError) -> Error {
    Error::Runtime(Box::new(Diagnostic {
        kind: "TypeError".into(),
        message: format!("{fname}(): {}", e.0),
        file: String::new(),
        line: None,
        column: None,
        source_line: None,
        traceback: Vec::new(),
    }))
}

/// The error serde's traits need inside the conversion; it becomes a
/// `TypeError` at the boundary.
#[derive(Debug)]
struct ConvError(String);

impl Display for ConvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConvError {}

impl ser::Error for ConvError {
    fn custom<T: Display>(msg: T) -> Self {
        ConvError(msg.to_string())
    }
}

impl de::Error for ConvError {
    fn custom<T: Display>(msg: T) -> Self {
        ConvError(msg.to_string())
    }
}

type R<T> = Result<T, ConvError>;

fn key_of(v: Value) -> R<Key> {
    Key::new(v).map_err(|e| ConvError(e.error().message.clone()))
}

fn one_entry(name: &str, content: Value) -> Value {
    let mut m = MapData::default();
    m.insert(Key::str(name), content);
    Value::map(m)
}

// ---------------------------------------------------------------- Rust → Value

struct ValueSerializer;

/// Collects a sequence, tuple or tuple variant.
struct SeqBuilder {
    items: Vec<Value>,
    variant: Option<&'static str>,
}

/// Collects a map, struct or struct variant.
struct MapBuilder {
    map: MapData,
    next_key: Option<Key>,
    variant: Option<&'static str>,
}

impl SeqBuilder {
    fn push<T: Serialize + ?Sized>(&mut self, x: &T) -> R<()> {
        self.items.push(x.serialize(ValueSerializer)?);
        Ok(())
    }
    fn finish(self) -> R<Value> {
        let list = Value::list(self.items);
        Ok(match self.variant {
            Some(name) => one_entry(name, list),
            None => list,
        })
    }
}

impl MapBuilder {
    fn field<T: Serialize + ?Sized>(&mut self, key: &str, x: &T) -> R<()> {
        self.map
            .insert(Key::str(key), x.serialize(ValueSerializer)?);
        Ok(())
    }
    fn finish(self) -> R<Value> {
        let map = Value::map(self.map);
        Ok(match self.variant {
            Some(name) => one_entry(name, map),
            None => map,
        })
    }
}

impl ser::Serializer for ValueSerializer {
    type Ok = Value;
    type Error = ConvError;
    type SerializeSeq = SeqBuilder;
    type SerializeTuple = SeqBuilder;
    type SerializeTupleStruct = SeqBuilder;
    type SerializeTupleVariant = SeqBuilder;
    type SerializeMap = MapBuilder;
    type SerializeStruct = MapBuilder;
    type SerializeStructVariant = MapBuilder;

    fn serialize_bool(self, v: bool) -> R<Value> {
        Ok(Value::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> R<Value> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_i16(self, v: i16) -> R<Value> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_i32(self, v: i32) -> R<Value> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_i64(self, v: i64) -> R<Value> {
        Ok(Value::Int(v))
    }
    fn serialize_i128(self, v: i128) -> R<Value> {
        i64::try_from(v)
            .map(Value::Int)
            .map_err(|_| ConvError(format!("{v} does not fit a script int (64 bits)")))
    }
    fn serialize_u8(self, v: u8) -> R<Value> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_u16(self, v: u16) -> R<Value> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_u32(self, v: u32) -> R<Value> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_u64(self, v: u64) -> R<Value> {
        self.serialize_i128(v.into())
    }
    fn serialize_u128(self, v: u128) -> R<Value> {
        i64::try_from(v)
            .map(Value::Int)
            .map_err(|_| ConvError(format!("{v} does not fit a script int (64 bits)")))
    }
    fn serialize_f32(self, v: f32) -> R<Value> {
        Ok(Value::Float(v.into()))
    }
    fn serialize_f64(self, v: f64) -> R<Value> {
        Ok(Value::Float(v))
    }
    fn serialize_char(self, v: char) -> R<Value> {
        Ok(Value::string(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> R<Value> {
        Ok(Value::str(v))
    }
    fn serialize_bytes(self, v: &[u8]) -> R<Value> {
        Ok(Value::bytes(v.to_vec()))
    }
    fn serialize_none(self) -> R<Value> {
        Ok(Value::Nil)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> R<Value> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> R<Value> {
        Ok(Value::Nil)
    }
    fn serialize_unit_struct(self, _: &'static str) -> R<Value> {
        Ok(Value::Nil)
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> R<Value> {
        Ok(Value::str(variant))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> R<Value> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> R<Value> {
        Ok(one_entry(variant, v.serialize(self)?))
    }
    fn serialize_seq(self, len: Option<usize>) -> R<SeqBuilder> {
        Ok(SeqBuilder {
            items: Vec::with_capacity(len.unwrap_or(0)),
            variant: None,
        })
    }
    fn serialize_tuple(self, len: usize) -> R<SeqBuilder> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> R<SeqBuilder> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> R<SeqBuilder> {
        Ok(SeqBuilder {
            items: Vec::with_capacity(len),
            variant: Some(variant),
        })
    }
    fn serialize_map(self, _: Option<usize>) -> R<MapBuilder> {
        Ok(MapBuilder {
            map: MapData::default(),
            next_key: None,
            variant: None,
        })
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> R<MapBuilder> {
        self.serialize_map(None)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> R<MapBuilder> {
        Ok(MapBuilder {
            map: MapData::default(),
            next_key: None,
            variant: Some(variant),
        })
    }
}

impl ser::SerializeSeq for SeqBuilder {
    type Ok = Value;
    type Error = ConvError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, x: &T) -> R<()> {
        self.push(x)
    }
    fn end(self) -> R<Value> {
        self.finish()
    }
}

impl ser::SerializeTuple for SeqBuilder {
    type Ok = Value;
    type Error = ConvError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, x: &T) -> R<()> {
        self.push(x)
    }
    fn end(self) -> R<Value> {
        self.finish()
    }
}

impl ser::SerializeTupleStruct for SeqBuilder {
    type Ok = Value;
    type Error = ConvError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, x: &T) -> R<()> {
        self.push(x)
    }
    fn end(self) -> R<Value> {
        self.finish()
    }
}

impl ser::SerializeTupleVariant for SeqBuilder {
    type Ok = Value;
    type Error = ConvError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, x: &T) -> R<()> {
        self.push(x)
    }
    fn end(self) -> R<Value> {
        self.finish()
    }
}

impl ser::SerializeMap for MapBuilder {
    type Ok = Value;
    type Error = ConvError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> R<()> {
        self.next_key = Some(key_of(k.serialize(ValueSerializer)?)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> R<()> {
        let key = self
            .next_key
            .take()
            .ok_or_else(|| ConvError("a map value came before its key".into()))?;
        self.map.insert(key, v.serialize(ValueSerializer)?);
        Ok(())
    }
    fn end(self) -> R<Value> {
        self.finish()
    }
}

impl ser::SerializeStruct for MapBuilder {
    type Ok = Value;
    type Error = ConvError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, x: &T) -> R<()> {
        self.field(key, x)
    }
    fn end(self) -> R<Value> {
        self.finish()
    }
}

impl ser::SerializeStructVariant for MapBuilder {
    type Ok = Value;
    type Error = ConvError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, x: &T) -> R<()> {
        self.field(key, x)
    }
    fn end(self) -> R<Value> {
        self.finish()
    }
}

// ---------------------------------------------------------------- Value → Rust

struct ValueDeserializer(Value);

impl<'de> IntoDeserializer<'de, ConvError> for ValueDeserializer {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> de::Deserializer<'de> for ValueDeserializer {
    type Error = ConvError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> R<V::Value> {
        match self.0 {
            Value::Nil => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(b),
            Value::Int(i) => visitor.visit_i64(i),
            Value::Float(f) => visitor.visit_f64(f),
            Value::Str(s) => visitor.visit_str(s.as_str()),
            Value::Bytes(b) => visitor.visit_bytes(&b),
            Value::List(l) => {
                let items = l.borrow().clone();
                visitor.visit_seq(de::value::SeqDeserializer::new(
                    items.into_iter().map(ValueDeserializer),
                ))
            }
            Value::Range(r) => {
                let items: Vec<i64> = (0..r.len()).map(|i| r.nth(i)).collect();
                visitor.visit_seq(de::value::SeqDeserializer::new(items.into_iter()))
            }
            Value::Map(m) => {
                let entries: Vec<(Value, Value)> = m
                    .borrow()
                    .iter()
                    .map(|(k, v)| (k.value().clone(), v.clone()))
                    .collect();
                visitor.visit_map(de::value::MapDeserializer::new(
                    entries
                        .into_iter()
                        .map(|(k, v)| (ValueDeserializer(k), ValueDeserializer(v))),
                ))
            }
            other => Err(ConvError(format!(
                "a {} has no data form to convert",
                other.type_name()
            ))),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> R<V::Value> {
        match self.0 {
            Value::Nil => visitor.visit_none(),
            other => visitor.visit_some(ValueDeserializer(other)),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> R<V::Value> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> R<V::Value> {
        match self.0 {
            Value::Str(s) => visitor.visit_enum(s.as_str().into_deserializer()),
            Value::Map(m) => {
                let m = m.borrow();
                let mut entries = m.iter();
                match (entries.next(), entries.next()) {
                    (Some((k, v)), None) => visitor.visit_enum(Variant {
                        name: k.value().clone(),
                        content: v.clone(),
                    }),
                    _ => Err(ConvError(
                        "an enum variant with data must be a map of one entry".into(),
                    )),
                }
            }
            other => Err(ConvError(format!(
                "expected an enum variant (a str or a one-entry map), not {}",
                other.type_name()
            ))),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct
        identifier ignored_any
    }
}

/// An enum written as `{"Variant": content}`.
struct Variant {
    name: Value,
    content: Value,
}

impl<'de> de::EnumAccess<'de> for Variant {
    type Error = ConvError;
    type Variant = VariantContent;
    fn variant_seed<S: de::DeserializeSeed<'de>>(self, seed: S) -> R<(S::Value, VariantContent)> {
        let name = seed.deserialize(ValueDeserializer(self.name))?;
        Ok((name, VariantContent(self.content)))
    }
}

struct VariantContent(Value);

impl<'de> de::VariantAccess<'de> for VariantContent {
    type Error = ConvError;
    fn unit_variant(self) -> R<()> {
        match self.0 {
            Value::Nil => Ok(()),
            other => Err(ConvError(format!(
                "a unit variant has no content, got {}",
                other.type_name()
            ))),
        }
    }
    fn newtype_variant_seed<S: de::DeserializeSeed<'de>>(self, seed: S) -> R<S::Value> {
        seed.deserialize(ValueDeserializer(self.0))
    }
    fn tuple_variant<V: Visitor<'de>>(self, _: usize, visitor: V) -> R<V::Value> {
        de::Deserializer::deserialize_seq(ValueDeserializer(self.0), visitor)
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        _: &'static [&'static str],
        visitor: V,
    ) -> R<V::Value> {
        de::Deserializer::deserialize_map(ValueDeserializer(self.0), visitor)
    }
}
