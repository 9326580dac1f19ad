//! Deserialising internally tagged enums (`kind = "walk"` beside the variant's fields) without
//! serde's buffering, so that a format's errors keep their line and field.
//!
//! `#[serde(tag = "kind")]` reads the whole table into serde's private buffer before it looks
//! at the tag, and the fields are then deserialised from that buffer: a wrong type comes out as
//! `invalid type: string "many", expected u64`, with no field and no line. Here the table is
//! read entry by entry: the entries before the tag are kept (as `serde_json::Value`s, their errors
//! naming the key), the tag chooses the variant, and the variant's fields are deserialised from
//! the rest of the table as it streams, so that the format (the `toml` crate) reports each
//! error at its key, with its line.
//!
//! Public (though hidden from the docs) so that the other crates' tagged enums (e.g. the
//! training crate's learning-rate schedule) use the same reader through
//! `scalinglab_data::deserialize_tagged!`.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};

/// An internally tagged enum: the tag's key, what to expect, and how a variant is read from
/// the table's other entries.
pub trait Tagged {
    /// The enum.
    type Output;
    /// The tag's values: an enum of unit variants, named as in the files.
    type Kind: DeserializeOwned;
    /// The key of the tag, e.g. `kind`.
    const TAG: &'static str;
    /// What a table of this enum looks like, for `invalid type` messages.
    const EXPECTING: &'static str;
    /// Reads the variant `kind` from `rest`, the table without its tag.
    fn variant<'de, D: de::Deserializer<'de>>(
        kind: Self::Kind,
        rest: D,
    ) -> Result<Self::Output, D::Error>;
}

/// Deserialises the tagged enum `T` from `deserializer`.
pub fn deserialize<'de, T: Tagged, D: de::Deserializer<'de>>(
    deserializer: D,
) -> Result<T::Output, D::Error> {
    deserializer.deserialize_map(TaggedVisitor::<T>(PhantomData))
}

struct TaggedVisitor<T>(PhantomData<T>);

impl<'de, T: Tagged> Visitor<'de> for TaggedVisitor<T> {
    type Value = T::Output;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T::Output, A::Error> {
        let mut before = Vec::new();
        loop {
            let Some(key) = map.next_key::<String>()? else {
                return Err(de::Error::missing_field(T::TAG));
            };
            if key == T::TAG {
                let kind = map.next_value::<T::Kind>()?;
                let rest = Rest { before: before.into_iter(), pending: None, map };
                return T::variant(kind, MapAccessDeserializer::new(rest));
            }
            let value = map.next_value::<serde_json::Value>()?;
            before.push((key, value));
        }
    }
}

/// A table without its tag: the entries read before the tag, then the rest as it streams.
struct Rest<A> {
    before: std::vec::IntoIter<(String, serde_json::Value)>,
    pending: Option<(String, serde_json::Value)>,
    map: A,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Rest<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        if let Some((key, value)) = self.before.next() {
            let k =
                seed.deserialize(IntoDeserializer::<A::Error>::into_deserializer(key.clone()))?;
            self.pending = Some((key, value));
            return Ok(Some(k));
        }
        self.map.next_key_seed(seed)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        match self.pending.take() {
            Some((key, value)) => {
                seed.deserialize(value).map_err(|e| de::Error::custom(format_args!("`{key}`: {e}")))
            }
            None => self.map.next_value_seed(seed),
        }
    }
}

/// Implements `Deserialize` for an internally tagged enum of struct variants through
/// [`Tagged`]: `$tag` is the tag's key; each variant is listed with its serde attributes (those
/// of the tag's value, e.g. `rename`, `alias`) and its fields with theirs (e.g. `default`).
/// The list must match the enum's definition, whose derived `Serialize` writes the same
/// format. Exported (as `scalinglab_data::deserialize_tagged!`) for the other crates; the
/// invoking crate needs `serde` as a dependency.
#[macro_export]
#[doc(hidden)]
macro_rules! deserialize_tagged {
    (
        $ty:ident, tag = $tag:literal, expecting = $expecting:literal,
        $( $(#[$vattr:meta])* $variant:ident { $( $(#[$fattr:meta])* $field:ident : $fty:ty ),* $(,)? } ),* $(,)?
    ) => {
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                #[derive(serde::Deserialize)]
                #[serde(rename_all = "snake_case")]
                enum Kind { $( $(#[$vattr])* $variant ),* }

                $(
                    #[derive(serde::Deserialize)]
                    #[serde(deny_unknown_fields)]
                    struct $variant { $( $(#[$fattr])* $field: $fty ),* }
                )*

                struct Variants;

                impl $crate::tagged::Tagged for Variants {
                    type Output = $ty;
                    type Kind = Kind;
                    const TAG: &'static str = $tag;
                    const EXPECTING: &'static str = $expecting;

                    #[allow(unused_variables)]
                    fn variant<'a, R: serde::Deserializer<'a>>(
                        kind: Kind,
                        rest: R,
                    ) -> Result<$ty, R::Error> {
                        match kind {
                            $( Kind::$variant => {
                                let v = <$variant as serde::Deserialize>::deserialize(rest)?;
                                Ok($ty::$variant { $( $field: v.$field ),* })
                            } )*
                        }
                    }
                }

                $crate::tagged::deserialize::<Variants, D>(deserializer)
            }
        }
    };
}

#[allow(unused_imports)]
pub(crate) use deserialize_tagged;

#[cfg(test)]
mod tests {
    use serde::Serialize;

    #[derive(Debug, PartialEq, Serialize)]
    #[serde(tag = "kind", rename_all = "snake_case")]
    enum Shape {
        Square {
            side: u64,
        },
        Box {
            width: u64,
            height: u64,
            #[serde(default)]
            depth: u64,
        },
    }

    deserialize_tagged! {
        Shape, tag = "kind", expecting = "a shape",
        Square { side: u64 },
        Box { width: u64, height: u64, #[serde(default)] depth: u64 },
    }

    #[test]
    fn reads_variants_whatever_the_order_of_their_keys() {
        let s: Shape = toml::from_str("kind = \"square\"\nside = 3\n").unwrap();
        assert_eq!(s, Shape::Square { side: 3 });
        let s: Shape = toml::from_str("width = 2\nkind = \"box\"\nheight = 5\n").unwrap();
        assert_eq!(s, Shape::Box { width: 2, height: 5, depth: 0 });
        let back: Shape = toml::from_str(&toml::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
        let json: Shape = serde_json::from_str(r#"{"kind": "square", "side": 4}"#).unwrap();
        assert_eq!(json, Shape::Square { side: 4 });
    }

    #[test]
    fn errors_name_the_field_and_the_line() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Doc {
            shape: Shape,
        }
        // A key after the tag streams: the toml crate gives its line.
        let text = "[shape]\nkind = \"square\"\nside = \"many\"\n";
        let e = toml::from_str::<Doc>(text).unwrap_err().to_string();
        assert!(e.contains("line 3") && e.contains("side = \"many\""), "{e}");
        assert!(e.contains("invalid type: string \"many\""), "{e}");
        // A key before the tag (in the order the toml crate lists them) is named.
        let text = "[shape]\nkind = \"box\"\nheight = \"tall\"\nwidth = 1\n";
        let e = toml::from_str::<Doc>(text).unwrap_err().to_string();
        assert!(e.contains("height") && e.contains("\"tall\""), "{e}");
        let e = toml::from_str::<Doc>("[shape]\nkind = \"circle\"\n").unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("circle") && e.contains("square"), "{e}");
        let e = toml::from_str::<Doc>("[shape]\nside = 1\n").unwrap_err().to_string();
        assert!(e.contains("missing field `kind`"), "{e}");
        let e = toml::from_str::<Doc>("[shape]\nkind = \"square\"\nsides = 1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `sides`"), "{e}");
    }
}
