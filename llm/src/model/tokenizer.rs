//! Tokenizers: a model directory's `tokenizer.json` (Hugging Face `tokenizers` crate),
//! plain bytes for models trained from scratch without one, or an Image GPT model's
//! colour clusters (its documents are images, see [`crate::model::pixels`]).
//!
//! Padding uses the end-of-text token, as Pythia does (`pad = eos`).

use std::path::Path;

use crate::model::error::{LlmError, Result};
use crate::model::pixels::ColourClusters;

/// Special-token spellings tried, in order, to find the end-of-text id of a `tokenizer.json`.
const EOS_SPELLINGS: [&str; 5] = ["<|endoftext|>", "</s>", "<eos>", "<|end_of_text|>", "[SEP]"];

/// A text → token-id mapping.
#[derive(Debug, Clone)]
pub enum Tokenizer {
    /// One token per UTF-8 byte (ids 0..=255); id 256 is end-of-text/pad. Vocabulary 257.
    Bytes,
    /// A Hugging Face `tokenizer.json` (Pythia: GPT-NeoX BPE; eos = pad = `<|endoftext|>` = 0).
    Hf(Box<tokenizers::Tokenizer>),
    /// Image GPT's pixels → nearest colour cluster; reads images, not text. Pad id 0.
    Pixels(Box<ColourClusters>),
}

impl Tokenizer {
    /// Id of the byte tokenizer's end-of-text token.
    pub const BYTES_EOS: i64 = 256;

    /// Loads a `tokenizer.json`.
    pub fn from_file(path: &Path) -> Result<Self> {
        if !path.is_file() {
            return Err(LlmError::Tokenizer {
                path: path.to_path_buf(),
                reason: if path.exists() {
                    "not a regular file".to_string()
                } else {
                    "file not found".to_string()
                },
            });
        }
        // Bounded read (the `tokenizers` crate would read without limit).
        let text = crate::model::load::read_text(path, 512 << 20)?;
        // The `tokenizers` crate panics (instead of returning an error) on some malformed
        // files, e.g. a truncated `decoder` section; turn that into an error too, without
        // printing the panic.
        let previous_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let loaded = std::panic::catch_unwind(|| {
            <tokenizers::Tokenizer as std::str::FromStr>::from_str(&text)
        });
        std::panic::set_hook(previous_hook);
        let tok = match loaded {
            Ok(result) => result.map_err(|e| LlmError::Tokenizer {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?,
            Err(_) => {
                return Err(LlmError::Tokenizer {
                    path: path.to_path_buf(),
                    reason: "malformed tokenizer.json (the tokenizers library could not parse it)"
                        .to_string(),
                })
            }
        };
        let mut tok = tok;
        // Padding would score pad tokens as targets and truncation would cut every
        // document to its max_length; the probe pads and truncates itself (to C).
        if tok.get_padding().is_some() || tok.get_truncation().is_some() {
            tracing::warn!(
                "{}: its padding/truncation settings are switched off (the probe truncates documents to --context itself and never scores padding)",
                path.display()
            );
            tok.with_padding(None);
            tok.with_truncation(None).map_err(|e| LlmError::Tokenizer {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        }
        Ok(Tokenizer::Hf(Box::new(tok)))
    }

    /// `"bytes"` → [`Tokenizer::Bytes`], anything else is a path to a `tokenizer.json`.
    pub fn from_spec(spec: &str) -> Result<Self> {
        if spec == "bytes" {
            Ok(Tokenizer::Bytes)
        } else {
            Self::from_file(Path::new(spec))
        }
    }

    /// Token ids of `text` (special tokens added as the tokenizer's post-processor
    /// says, like `tokenizer(text)` in Transformers; Pythia's adds none).
    pub fn encode(&self, text: &str) -> Result<Vec<i64>> {
        match self {
            Tokenizer::Bytes => Ok(text.bytes().map(i64::from).collect()),
            Tokenizer::Hf(t) => {
                let enc = t
                    .encode(text, true)
                    .map_err(|e| LlmError::Encode(e.to_string()))?;
                Ok(enc.get_ids().iter().map(|&i| i64::from(i)).collect())
            }
            Tokenizer::Pixels(_) => Err(LlmError::Encode(
                "an Image GPT model reads images, not text: give --docs a .npy of N×H×W×3 uint8 images".into(),
            )),
        }
    }

    /// Text of `ids` (lossy for byte sequences that are not UTF-8; special tokens skipped).
    pub fn decode(&self, ids: &[i64]) -> Result<String> {
        match self {
            Tokenizer::Bytes => {
                let bytes: Vec<u8> = ids.iter().filter_map(|&i| u8::try_from(i).ok()).collect();
                Ok(String::from_utf8_lossy(&bytes).into_owned())
            }
            Tokenizer::Hf(t) => {
                let ids: Vec<u32> = ids.iter().filter_map(|&i| u32::try_from(i).ok()).collect();
                t.decode(&ids, true)
                    .map_err(|e| LlmError::Encode(e.to_string()))
            }
            Tokenizer::Pixels(_) => Ok(format!("{} pixels", ids.len())),
        }
    }

    /// End-of-text id, also used as padding (Pythia: `<|endoftext|>` = 0). For a
    /// `tokenizer.json` without any known end-of-text token: 0.
    pub fn eos_id(&self) -> i64 {
        match self {
            Tokenizer::Bytes => Self::BYTES_EOS,
            Tokenizer::Hf(t) => EOS_SPELLINGS
                .iter()
                .find_map(|s| t.token_to_id(s))
                .map_or(0, i64::from),
            Tokenizer::Pixels(_) => 0,
        }
    }

    /// Pad id = eos id.
    pub fn pad_id(&self) -> i64 {
        self.eos_id()
    }

    /// Number of ids the tokenizer can produce (added tokens included).
    pub fn vocab_size(&self) -> i64 {
        match self {
            Tokenizer::Bytes => 257,
            Tokenizer::Hf(t) => t.get_vocab_size(true) as i64,
            Tokenizer::Pixels(c) => c.len() as i64,
        }
    }

    /// Largest id the tokenizer can produce.
    pub fn max_id(&self) -> i64 {
        match self {
            Tokenizer::Bytes => Self::BYTES_EOS,
            Tokenizer::Hf(t) => t
                .get_vocab(true)
                .values()
                .copied()
                .max()
                .map_or(-1, i64::from),
            Tokenizer::Pixels(c) => c.len() as i64 - 1,
        }
    }

    /// Errors unless every id of this tokenizer has a row in a `model_vocab`-row embedding.
    /// `path` names the tokenizer file in the message.
    pub fn check_fits(&self, model_vocab: i64, path: &Path) -> Result<()> {
        let max_id = self.max_id();
        if max_id >= model_vocab {
            return Err(LlmError::TokenizerVocab {
                path: path.to_path_buf(),
                max_id,
                model_vocab,
            });
        }
        Ok(())
    }

    /// Writes a `tokenizer.json` (only for [`Tokenizer::Hf`]; bytes need no file, the
    /// clusters' `preprocessor_config.json` is written by the model's save).
    pub fn save(&self, path: &Path) -> Result<()> {
        match self {
            Tokenizer::Bytes | Tokenizer::Pixels(_) => Ok(()),
            Tokenizer::Hf(t) => t.save(path, false).map_err(|e| LlmError::Tokenizer {
                path: path.to_path_buf(),
                reason: format!("cannot save: {e}"),
            }),
        }
    }

    /// A short description for logs and run records: `"bytes"` or `"tokenizer.json (V ids)"`.
    pub fn describe(&self) -> String {
        match self {
            Tokenizer::Bytes => "bytes".to_string(),
            Tokenizer::Hf(_) => format!("tokenizer.json ({} ids)", self.vocab_size()),
            Tokenizer::Pixels(c) => c.describe(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip() {
        let t = Tokenizer::Bytes;
        let ids = t.encode("héllo").unwrap();
        assert_eq!(ids.len(), 6);
        assert!(ids.iter().all(|&i| (0..256).contains(&i)));
        assert_eq!(t.decode(&ids).unwrap(), "héllo");
        assert_eq!(t.eos_id(), 256);
        assert!(t.check_fits(257, Path::new("x")).is_ok());
        assert!(t.check_fits(256, Path::new("x")).is_err());
    }

    #[test]
    fn missing_file_is_an_error() {
        let e = Tokenizer::from_spec("/nonexistent/tokenizer.json").unwrap_err();
        assert!(e.to_string().contains("/nonexistent/tokenizer.json"), "{e}");
    }
}
