//! Field types that accept what real payloads send instead of what the docs promise.
//!
//! Vendors' JSON drifts: a status code arrives as `"200"`, an id as a number, a message
//! as an object, a user agent as a string instead of a list. These wrappers take any
//! JSON value and keep it as the closest text or number, so one odd field never
//! costs the whole record.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// Text from any JSON value: strings as they are (borrowed when unescaped), numbers and
/// booleans printed, objects and arrays as compact JSON, null as `None`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Text<'a>(pub Option<Cow<'a, str>>);

impl<'a> Text<'a> {
    pub fn as_str(&self) -> Option<&str> {
        self.0.as_deref()
    }
    /// The text, or `None` when it is missing or empty.
    pub fn non_empty(&self) -> Option<&str> {
        self.as_str().filter(|s| !s.is_empty())
    }
    pub fn to_owned_string(&self) -> Option<String> {
        self.0.as_ref().map(|c| c.to_string())
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v))))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_u128<E: de::Error>(self, v: u128) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Text(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Text(None))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                Text::deserialize(d)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let v = serde_json::Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Text(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                let v = serde_json::Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(Text(Some(Cow::Owned(v.to_string()))))
            }
        }
        d.deserialize_any(V)
    }
}

/// A list of strings joined with a space (a user agent sent as `["a", "b"]`), or a
/// single value as [`Text`].
#[derive(Debug, Default, Clone, PartialEq)]
pub struct JoinedText(pub Option<String>);

impl<'de> Deserialize<'de> for JoinedText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Null => Ok(JoinedText(None)),
            serde_json::Value::String(s) => Ok(JoinedText(Some(s))),
            serde_json::Value::Array(items) => {
                let parts: Vec<String> = items
                    .into_iter()
                    .filter_map(|v| match v {
                        serde_json::Value::String(s) => Some(s),
                        serde_json::Value::Null => None,
                        other => Some(other.to_string()),
                    })
                    .collect();
                Ok(JoinedText((!parts.is_empty()).then(|| parts.join(" "))))
            }
            other => Ok(JoinedText(Some(other.to_string()))),
        }
    }
}

/// A number from a JSON number or a numeric string; anything else is `None`.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Num(pub Option<f64>);

impl Num {
    pub fn as_i64(self) -> Option<i64> {
        self.0.filter(|v| v.is_finite()).map(|v| v as i64)
    }
}

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = Text::deserialize(d)?;
        Ok(Num(text
            .as_str()
            .and_then(|s| s.trim().parse::<f64>().ok())))
    }
}

/// Interprets an epoch number as microseconds, guessing its unit from its size
/// (seconds, milliseconds, microseconds or nanoseconds).
pub fn epoch_to_micros(v: f64) -> Option<i64> {
    if !v.is_finite() || v <= 0.0 {
        return None;
    }
    let micros = if v < 1e11 {
        v * 1e6
    } else if v < 1e14 {
        v * 1e3
    } else if v < 1e17 {
        v
    } else {
        v / 1e3
    };
    Some(micros.round() as i64)
}

/// Parses an RFC 3339 / ISO 8601 time (with or without a zone, `Z` or offset; naive
/// times are taken as UTC) into UTC microseconds.
pub fn iso_to_micros(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_micros());
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc().timestamp_micros());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Probe<'a> {
        #[serde(borrow, default)]
        t: Text<'a>,
        #[serde(default)]
        n: Num,
        #[serde(default)]
        ua: JoinedText,
    }

    #[test]
    fn odd_values_become_text_and_numbers() {
        let p: Probe =
            serde_json::from_str(r#"{"t": {"a": [1]}, "n": "404", "ua": ["x", "y"]}"#).unwrap();
        assert_eq!(p.t.as_str(), Some(r#"{"a":[1]}"#));
        assert_eq!(p.n.as_i64(), Some(404));
        assert_eq!(p.ua.0.as_deref(), Some("x y"));
        // Ids beyond u64 lose digits when sent as JSON numbers; Vercel sends them as strings.
        let p: Probe =
            serde_json::from_str(r#"{"t": 1706327394004, "n": null, "ua": "z"}"#).unwrap();
        assert_eq!(p.t.as_str(), Some("1706327394004"));
        assert_eq!(p.n.0, None);
        assert_eq!(p.ua.0.as_deref(), Some("z"));
    }

    #[test]
    fn epochs_in_any_unit() {
        assert_eq!(epoch_to_micros(1706327394.004), Some(1_706_327_394_004_000));
        assert_eq!(
            epoch_to_micros(1706327394004.0),
            Some(1_706_327_394_004_000)
        );
        assert_eq!(epoch_to_micros(-1.0), None);
        assert_eq!(
            iso_to_micros("2020-04-28T13:56:05.903736Z"),
            Some(1_588_082_165_903_736)
        );
        assert_eq!(
            iso_to_micros("2020-04-28T13:56:05"),
            Some(1_588_082_165_000_000)
        );
    }
}
