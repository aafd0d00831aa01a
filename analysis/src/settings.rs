//! Settings of a command: one typed config struct per command, resolved as
//! defaults ← `--config FILE.toml` ← values given explicitly (command-line flags).
//!
//! The keys of a TOML file are the long flag names in kebab-case (`input-dim = 100`,
//! `lr = 0.01`). A config struct derives `Serialize`/`Deserialize` with
//! `#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]`, so an unknown key,
//! a value of the wrong type or malformed TOML is one plain [`ConfigError`] naming the
//! file, the line and the key. [`resolve`] is the one mechanism every command uses: it
//! reads the file on top of the defaults and then copies over it the keys that were given
//! explicitly; validation of the resolved values is the command's own (in its library).
//!
//! This module also holds the one list of keys that do not define an experimental
//! condition ([`NON_CONDITION_KEYS`]) and of keys a resumed run may change
//! ([`RESUME_MAY_DIFFER`]), and [`config_diff`], which compares two resolved configs.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Config files larger than this are refused (a settings file is a few hundred bytes;
/// this bounds reads of e.g. `--config /dev/zero`).
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Config keys that do not define the experimental condition: runs that differ only in
/// these are replicates of one condition (figures average them; sweeps group by the rest).
/// `seed` is the replicate axis; the others change where or how a run is recorded, not
/// what it trains.
pub const NON_CONDITION_KEYS: &[&str] = &["seed", "device", "record", "checkpoint-every"];

/// Config keys that may differ between an interrupted run and its `--resume`: they do
/// not change any number in the record.
pub const RESUME_MAY_DIFFER: &[&str] = &["checkpoint-every"];

/// A configuration file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file `{path}`: {err}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why (not a `source`: the message already says it, once).
        err: std::io::Error,
    },
    /// The file is larger than [`MAX_CONFIG_BYTES`].
    #[error(
        "config file `{path}` is larger than {} bytes; is it really a TOML settings file?",
        MAX_CONFIG_BYTES
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// The file is not UTF-8 text.
    #[error("config file `{path}` is not UTF-8 text")]
    NotUtf8 {
        /// The file.
        path: PathBuf,
    },
    /// Malformed TOML, an unknown key or a value of the wrong type.
    #[error("config file `{path}`{}: {message}", location(*.line, .key.as_deref()))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem, when known.
        line: Option<usize>,
        /// The key on that line, when there is one.
        key: Option<String>,
        /// The parser's description, on one line.
        message: String,
    },
    /// The configuration could not be turned into JSON or back (a value that given
    /// explicitly does not fit the setting).
    #[error("configuration: {0}")]
    Value(String),
}

fn location(line: Option<usize>, key: Option<&str>) -> String {
    match (line, key) {
        (Some(l), Some(k)) => format!(", line {l}, key `{k}`"),
        (Some(l), None) => format!(", line {l}"),
        (None, Some(k)) => format!(", key `{k}`"),
        (None, None) => String::new(),
    }
}

/// Parses TOML `text` (read from `path`, used in messages) into `C`.
pub fn parse_toml<C: DeserializeOwned>(text: &str, path: &Path) -> Result<C, ConfigError> {
    toml::from_str::<C>(text).map_err(|e| {
        let (line, key) = match e.span() {
            Some(span) => {
                let start = span.start.min(text.len());
                let line_no = text[..start].matches('\n').count() + 1;
                let line_text = text.lines().nth(line_no - 1).unwrap_or("");
                let key = line_text
                    .split_once('=')
                    .map(|(k, _)| k.trim().trim_matches(['"', '\'']).to_string())
                    .filter(|k| !k.is_empty() && !k.starts_with('['));
                (Some(line_no), key)
            }
            None => (None, None),
        };
        let message = e.message().split_whitespace().collect::<Vec<_>>().join(" ");
        ConfigError::Invalid {
            path: path.to_path_buf(),
            line,
            key,
            message,
        }
    })
}

/// Reads a settings file (at most [`MAX_CONFIG_BYTES`]) as UTF-8 text.
pub fn read_config_text(path: &Path) -> Result<String, ConfigError> {
    let read_err = |err| ConfigError::Read {
        path: path.to_path_buf(),
        err,
    };
    // stat before open: a FIFO would block the open, a device read without end.
    let meta = std::fs::metadata(path).map_err(read_err)?;
    if !meta.is_file() {
        return Err(read_err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        )));
    }
    let file = std::fs::File::open(path).map_err(read_err)?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(ConfigError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    String::from_utf8(bytes).map_err(|_| ConfigError::NotUtf8 {
        path: path.to_path_buf(),
    })
}

/// Reads and parses a TOML config file into `C` (missing keys take their defaults).
pub fn load_toml<C: DeserializeOwned>(path: &Path) -> Result<C, ConfigError> {
    parse_toml(&read_config_text(path)?, path)
}

/// Resolves a command's settings: `C::default()`, then the file's values (when a path is
/// given), then the keys in `given_keys` (kebab-case) copied from `given`, the values
/// parsed from the command line. Keys of `given` not listed keep the file's value.
///
/// The overlay goes through a lossless value tree (`serde-value`), so every value a
/// setting can hold survives it: NaN and infinities (which the validation then refuses
/// by name), and integers beyond `i64`.
pub fn resolve<C>(file: Option<&Path>, given: &C, given_keys: &[String]) -> Result<C, ConfigError>
where
    C: Serialize + DeserializeOwned + Default,
{
    let base: C = match file {
        Some(p) => load_toml(p)?,
        None => C::default(),
    };
    if given_keys.is_empty() {
        return Ok(base);
    }
    let tree = |c: &C| serde_value::to_value(c).map_err(|e| ConfigError::Value(e.to_string()));
    let (mut merged, flags) = match (tree(&base)?, tree(given)?) {
        (serde_value::Value::Map(m), serde_value::Value::Map(f)) => (m, f),
        _ => return Err(ConfigError::Value("settings are not a struct".into())),
    };
    for key in given_keys {
        let k = serde_value::Value::String(key.clone());
        if let Some(v) = flags.get(&k) {
            merged.insert(k, v.clone());
        }
    }
    serde_value::Value::Map(merged)
        .deserialize_into()
        .map_err(|e| ConfigError::Value(e.to_string()))
}

/// Top-level keys whose values differ between two JSON objects (sorted; a key present
/// in only one of them differs).
pub fn config_diff(a: &serde_json::Value, b: &serde_json::Value) -> Vec<String> {
    let empty = serde_json::Map::new();
    let ma = a.as_object().unwrap_or(&empty);
    let mb = b.as_object().unwrap_or(&empty);
    let mut keys: Vec<String> = ma
        .keys()
        .chain(mb.keys())
        .filter(|k| ma.get(*k) != mb.get(*k))
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
    struct Cfg {
        tasks: usize,
        input_dim: usize,
        lr: f64,
        out: Option<PathBuf>,
    }
    impl Default for Cfg {
        fn default() -> Self {
            Cfg {
                tasks: 25,
                input_dim: 100,
                lr: 0.01,
                out: None,
            }
        }
    }

    #[test]
    fn defaults_file_flags() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "input-dim = 20\nlr = 0.05\n").unwrap();
        let flags = Cfg {
            tasks: 3,
            input_dim: 7,
            lr: 0.1,
            out: Some("x".into()),
        };
        // Only lr and out were given on the command line: tasks keeps its default,
        // input-dim the file's value.
        let keys = vec!["lr".to_string(), "out".to_string()];
        let cfg: Cfg = resolve(Some(&p), &flags, &keys).unwrap();
        assert_eq!(
            cfg,
            Cfg {
                tasks: 25,
                input_dim: 20,
                lr: 0.1,
                out: Some("x".into())
            }
        );
        assert_eq!(resolve::<Cfg>(None, &flags, &[]).unwrap(), Cfg::default());
        // Non-finite values survive the overlay, from the file and from flags.
        std::fs::write(&p, "lr = nan\n").unwrap();
        let nan: Cfg = resolve(Some(&p), &flags, &["tasks".into()]).unwrap();
        assert!(nan.lr.is_nan() && nan.tasks == 3);
        let inf = Cfg {
            lr: f64::INFINITY,
            ..Cfg::default()
        };
        let inf: Cfg = resolve(None, &inf, &["lr".into()]).unwrap();
        assert_eq!(inf.lr, f64::INFINITY);
        let j = serde_json::to_value(&cfg).unwrap();
        assert_eq!(j["input-dim"], 20);
    }

    #[test]
    fn errors_name_file_line_key() {
        let p = Path::new("my.toml");
        let e = parse_toml::<Cfg>("tasks = 3\nbogus-key = 1\n", p)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("my.toml") && e.contains("line 2") && e.contains("bogus-key"),
            "{e}"
        );
        assert!(!e.contains('\n'), "{e}");
        let e = parse_toml::<Cfg>("tasks = \"many\"\n", p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 1") && e.contains("`tasks`"), "{e}");
        let e = parse_toml::<Cfg>("tasks = [1, 2\n", p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("my.toml"), "{e}");
        let e = parse_toml::<Cfg>("lr = \n", p).unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
        let e = load_toml::<Cfg>(Path::new("/nonexistent/dir/c.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot read config file"), "{e}");
    }

    #[test]
    fn endless_and_oversized_files_are_refused() {
        // A device is refused before it is read (it would never end).
        let e = load_toml::<Cfg>(Path::new("/dev/zero")).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.toml");
        std::fs::write(&big, vec![b'#'; MAX_CONFIG_BYTES as usize + 10]).unwrap();
        let e = load_toml::<Cfg>(&big).unwrap_err();
        assert!(matches!(e, ConfigError::TooLarge { .. }), "{e}");
    }

    #[test]
    fn config_diff_names_changed_and_missing_keys() {
        let a = serde_json::json!({"lr": 0.001, "tasks": 25});
        let b = serde_json::json!({"lr": 0.01, "tasks": 25, "x": 1});
        assert_eq!(config_diff(&a, &b), vec!["lr".to_string(), "x".to_string()]);
        assert!(config_diff(&a, &a).is_empty());
    }
}
