//! Settings that take one of a few named values (`--order cyclic|shuffled`, …): one
//! macro defines the enum, its `FromStr` (the flag and TOML spelling), `Display`, and
//! serde as that same string, so a choice is spelt the same way on the command line, in
//! a config file and in `run.json`.

/// The error of parsing a choice: names the setting, what was given and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{got}` (expected {expected})")]
pub struct ParseChoiceError {
    /// The setting, e.g. "order".
    pub what: &'static str,
    /// The value given.
    pub got: String,
    /// The allowed values, `|`-separated.
    pub expected: String,
}

/// Serde for a type that is written as its `Display` string and read back with its
/// `FromStr` (the same spelling as on the command line): `serde_via_str!(Recorders);`.
#[macro_export]
macro_rules! serde_via_str {
    ($t:ty) => {
        impl ::serde::Serialize for $t {
            fn serialize<S: ::serde::Serializer>(
                &self,
                s: S,
            ) -> ::std::result::Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_string())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $t {
            fn deserialize<D: ::serde::Deserializer<'de>>(
                d: D,
            ) -> ::std::result::Result<Self, D::Error> {
                let s = <::std::string::String as ::serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(::serde::de::Error::custom)
            }
        }
    };
}

/// Defines a choice enum:
///
/// ```
/// reawaken_analysis::choice! {
///     /// Task order.
///     pub enum Order("order") {
///         /// The same order every epoch.
///         Cyclic = "cyclic",
///         /// A new permutation every epoch.
///         Shuffled = "shuffled",
///     }
/// }
/// assert_eq!("shuffled".parse::<Order>().unwrap(), Order::Shuffled);
/// assert_eq!(Order::Cyclic.to_string(), "cyclic");
/// assert!("x".parse::<Order>().unwrap_err().to_string().contains("cyclic|shuffled"));
/// ```
#[macro_export]
macro_rules! choice {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident ($what:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The spelling on the command line, in config files and in `run.json`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text ),+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::choice::ParseChoiceError;
            fn from_str(s: &str) -> ::std::result::Result<Self, Self::Err> {
                let t = s.trim().to_ascii_lowercase();
                $( if t == $text { return Ok($name::$variant); } )+
                Err($crate::choice::ParseChoiceError {
                    what: $what,
                    got: s.to_string(),
                    expected: [$($text),+].join("|"),
                })
            }
        }

        $crate::serde_via_str!($name);
    };
}

crate::choice! {
    /// The order in which the T tasks are trained within each epoch (toy and LLM alike).
    pub enum Order("order") {
        /// Tasks 0..T−1 in the same order every epoch.
        Cyclic = "cyclic",
        /// A new seeded random permutation of the tasks every epoch.
        Shuffled = "shuffled",
        /// Like `shuffled`, but task 0 is always first (paper §3.5, the prequential
        /// comparison).
        PrequentialShuffled = "prequential-shuffled",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spelling_round_trips_everywhere() {
        for &o in Order::ALL {
            assert_eq!(o.as_str().parse::<Order>().unwrap(), o);
            let j = serde_json::to_value(o).unwrap();
            assert_eq!(j, serde_json::json!(o.as_str()));
            assert_eq!(serde_json::from_value::<Order>(j).unwrap(), o);
        }
        let e = "zigzag".parse::<Order>().unwrap_err().to_string();
        assert_eq!(
            e,
            "unknown order `zigzag` (expected cyclic|shuffled|prequential-shuffled)"
        );
    }
}
