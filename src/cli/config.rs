//! `--config FILE.toml`: the shared configuration mechanism of `toy simulate` and
//! `llm probe`.
//!
//! Rules (SPEC §2): the keys of the TOML file are the long flag names in kebab-case
//! (`input-dim = 100`, `lr = 0.01`); a flag given on the command line overrides the file;
//! anything not given takes its default. The resolved configuration is stored in
//! `run.json` under `"config"`. An unknown key, a value of the wrong type or malformed
//! TOML stops the program with **one** plain message naming the file, the line and the
//! key (no backtrace).
//!
//! # How to use it for a subcommand
//!
//! 1. A config struct with every setting, its defaults in `Default`, and serde attributes
//!    `#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]`.
//! 2. The clap args struct has `config: Option<PathBuf>` and one `Option<T>` field per
//!    setting, with the **same field names** (so `--input-dim` ↔ `input_dim` ↔ `input-dim`).
//!    Write the default in the doc comment (`[default: 25]`): clap cannot show it for an
//!    `Option`.
//! 3. Resolve:
//!    ```ignore
//!    let mut cfg: MyConfig = reawaken::cli::config::load_or_default(args.config.as_deref())?;
//!    reawaken::override_from_flags!(cfg, args; tasks, input_dim, lr, seed);
//!    let json = reawaken::cli::config::to_json(&cfg)?; // → RunInfo::new(kind, json, seed)
//!    ```
//!    Fields that are themselves `Option<T>` in the config (e.g. an optional path) use
//!    `override_from_flags!(cfg, args; opt some_field)`, which sets `Some(v)`.
//! 4. Validate the resolved values (ranges) after resolving, naming the flag in messages.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

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
    /// The resolved configuration could not be turned into JSON (should not happen).
    #[error("cannot record the configuration: {0}")]
    Serialize(String),
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

/// Reads and parses a TOML config file into `C`.
pub fn load_toml<C: DeserializeOwned>(path: &Path) -> Result<C, ConfigError> {
    let bytes = std::fs::read(path).map_err(|err| ConfigError::Read {
        path: path.to_path_buf(),
        err,
    })?;
    let text = String::from_utf8(bytes).map_err(|_| ConfigError::NotUtf8 {
        path: path.to_path_buf(),
    })?;
    parse_toml(&text, path)
}

/// `C::default()`, or the file's values on top of the defaults when a path is given.
pub fn load_or_default<C: DeserializeOwned + Default>(
    path: Option<&Path>,
) -> Result<C, ConfigError> {
    match path {
        Some(p) => load_toml(p),
        None => Ok(C::default()),
    }
}

/// The resolved config as a JSON value (keys as serialised: kebab-case flag names).
pub fn to_json<C: Serialize>(cfg: &C) -> Result<serde_json::Value, ConfigError> {
    serde_json::to_value(cfg).map_err(|e| ConfigError::Serialize(e.to_string()))
}

/// Copies every flag that was given (`Some`) over the config:
/// `override_from_flags!(cfg, args; tasks, lr)` does `if let Some(v) = args.tasks { cfg.tasks = v }`
/// for each listed field; `opt name` sets `cfg.name = Some(v)` for optional settings.
#[macro_export]
macro_rules! override_from_flags {
    ($cfg:expr, $args:expr; ) => {};
    ($cfg:expr, $args:expr; opt $field:ident $(, $($rest:tt)*)?) => {
        if let Some(v) = $args.$field.clone() {
            $cfg.$field = Some(v);
        }
        $( $crate::override_from_flags!($cfg, $args; $($rest)*); )?
    };
    ($cfg:expr, $args:expr; $field:ident $(, $($rest:tt)*)?) => {
        if let Some(v) = $args.$field.clone() {
            $cfg.$field = v;
        }
        $( $crate::override_from_flags!($cfg, $args; $($rest)*); )?
    };
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
    struct Args {
        tasks: Option<usize>,
        input_dim: Option<usize>,
        lr: Option<f64>,
        out: Option<PathBuf>,
    }

    #[test]
    fn defaults_file_flags() {
        let p = Path::new("c.toml");
        let mut cfg: Cfg = parse_toml("input-dim = 20\nlr = 0.05\n", p).unwrap();
        assert_eq!(cfg.tasks, 25);
        assert_eq!(cfg.input_dim, 20);
        let args = Args {
            tasks: None,
            input_dim: None,
            lr: Some(0.1),
            out: Some("x".into()),
        };
        crate::override_from_flags!(cfg, args; tasks, input_dim, lr, opt out);
        assert_eq!(
            cfg,
            Cfg {
                tasks: 25,
                input_dim: 20,
                lr: 0.1,
                out: Some("x".into())
            }
        );
        let j = to_json(&cfg).unwrap();
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
}
