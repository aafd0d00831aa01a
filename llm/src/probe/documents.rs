//! Documents for the probe: reading `--docs` (a directory of `.txt`, a `.jsonl`, a
//! blank-line-separated `.txt`, or for Image GPT a `.npy` of images), sampling T of them,
//! tokenizing and truncating.
use std::path::Path;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::model::pixels::ColourClusters;
use crate::probe::corpus::{BUILTIN_CORPUS, BUILTIN_NAME};
use crate::probe::error::{ProbeError, Result};

/// One source document and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The text (for an image: a description, e.g. `image 7 (32×32)`).
    pub text: String,
    /// Token ids known without the tokenizer: an image's colour-cluster ids.
    pub tokens: Option<Vec<i64>>,
    /// Human-readable origin: `dir/file.txt`, `file.jsonl line 12`, `file.txt document 3 (line 40)`.
    pub source: String,
}

reawaken_analysis::choice! {
    /// How T documents are chosen among those available.
    pub enum Sample("sample mode") {
        /// T documents drawn without replacement with the seed (the paper).
        Random = "random",
        /// The first T in file order.
        First = "first",
    }
}

fn split_blank_lines(text: &str, name: &str) -> Vec<Document> {
    let mut docs = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    let mut start_line = 1;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                docs.push((start_line, current.join("\n")));
                current.clear();
            }
        } else {
            if current.is_empty() {
                start_line = i + 1;
            }
            current.push(line);
        }
    }
    if !current.is_empty() {
        docs.push((start_line, current.join("\n")));
    }
    docs.into_iter()
        .enumerate()
        .map(|(k, (line, text))| Document {
            tokens: None,
            text,
            source: format!("{name} document {} (line {line})", k + 1),
        })
        .collect()
}

/// Largest document file read (CNN/DailyMail's training split as JSONL is about 1.3 GB).
const MAX_DOCS_FILE: u64 = 16 << 30;

/// A UTF-8 text file, bounded in size and refusing FIFOs and devices; a leading byte-order
/// mark is dropped.
fn read_utf8(path: &Path) -> Result<String> {
    let bytes = reawaken_analysis::record::bounded_read(path, MAX_DOCS_FILE)
        .map_err(|e| ProbeError::io(path, e))?;
    let mut text = String::from_utf8(bytes).map_err(|e| {
        ProbeError::Input(format!(
            "{}: not UTF-8 text (invalid byte at offset {})",
            path.display(),
            e.utf8_error().valid_up_to()
        ))
    })?;
    if text.starts_with('\u{feff}') {
        text.drain(..'\u{feff}'.len_utf8());
    }
    Ok(text)
}

/// Whether `path` ends in `.ext`, in any case (`.TXT`, `.JSONL`).
fn has_ext(path: &Path, ext: &str) -> bool {
    path.extension()
        .and_then(|x| x.to_str())
        .is_some_and(|x| x.eq_ignore_ascii_case(ext))
}

/// Whether `--docs` names a `.npy` array of images (Image GPT's documents).
pub fn is_image_array(path: &Path) -> bool {
    has_ext(path, "npy")
}

/// The images of a `.npy` array (N×H×W×3 uint8, as CIFAR-10 is kept in numpy), each
/// tokenised to its colour-cluster ids in raster order.
pub fn load_images(path: &Path, clusters: &ColourClusters) -> Result<Vec<Document>> {
    let bad = |why: String| ProbeError::Input(format!("{}: {why}", path.display()));
    let images: ndarray::Array4<u8> = ndarray_npy::read_npy(path).map_err(|e| {
        bad(format!(
            "not an N×H×W×3 uint8 .npy array of images ({e}); see docs/model-families.md for converting CIFAR-10"
        ))
    })?;
    let (n, h, w, c) = images.dim();
    if c != 3 || n == 0 || h * w < 2 {
        return Err(bad(format!(
            "images of shape {n}×{h}×{w}×{c}; expected N×H×W×3 with N ≥ 1 (RGB, channels last)"
        )));
    }
    if let Some((ph, pw)) = clusters.size() {
        if (ph, pw) != (h, w) {
            return Err(bad(format!(
                "{h}×{w} images, but the model's processor takes {ph}×{pw}: resize them first"
            )));
        }
    }
    Ok(images
        .outer_iter()
        .enumerate()
        .map(|(k, img)| {
            let pixels: Vec<u8> = img.iter().copied().collect();
            Document {
                text: format!("image {k} ({h}×{w})"),
                tokens: Some(clusters.quantize(&pixels)),
                source: format!("{} image {k}", path.display()),
            }
        })
        .collect())
}

/// The documents of the built-in corpus, in file order.
pub fn builtin_documents() -> Vec<Document> {
    split_blank_lines(BUILTIN_CORPUS, BUILTIN_NAME)
}

/// Reads documents from `path` (see module docs); `None` = the built-in corpus.
pub fn load_documents(path: Option<&Path>, text_field: &str) -> Result<Vec<Document>> {
    let Some(path) = path else {
        return Ok(builtin_documents());
    };
    let meta = std::fs::metadata(path).map_err(|e| ProbeError::io(path, e))?;
    let mut docs = if meta.is_dir() {
        let mut files: Vec<_> = std::fs::read_dir(path)
            .map_err(|e| ProbeError::io(path, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && has_ext(p, "txt"))
            .collect();
        files.sort();
        let mut docs = Vec::with_capacity(files.len());
        for f in files {
            let text = read_utf8(&f)?;
            docs.push(Document {
                tokens: None,
                text: text.trim().to_string(),
                source: f.display().to_string(),
            });
        }
        if docs.is_empty() {
            return Err(ProbeError::Input(format!(
                "{}: the directory holds no .txt documents",
                path.display()
            )));
        }
        docs
    } else if has_ext(path, "jsonl") || has_ext(path, "json") {
        let text = read_utf8(path)?;
        if text.trim_start().starts_with('[') {
            return Err(ProbeError::Input(format!(
                "{}: a JSON array; give JSON Lines instead (one object per line, the text in --text-field)",
                path.display()
            )));
        }
        let mut docs = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let value: serde_json::Value = serde_json::from_str(line).map_err(|e| {
                ProbeError::Input(format!(
                    "{} line {}: not valid JSON: {e}",
                    path.display(),
                    i + 1
                ))
            })?;
            let field = value
                .get(text_field)
                .and_then(|v| v.as_str())
                .ok_or_else(|| {
                    ProbeError::Input(format!(
                        "{} line {}: no string field `{text_field}` (set --text-field)",
                        path.display(),
                        i + 1
                    ))
                })?;
            docs.push(Document {
                tokens: None,
                text: field.to_string(),
                source: format!("{} line {}", path.display(), i + 1),
            });
        }
        docs
    } else {
        let text = read_utf8(path)?;
        split_blank_lines(&text, &path.display().to_string())
    };
    let total = docs.len();
    let first_blank = docs
        .iter()
        .find(|d| d.text.trim().is_empty())
        .map(|d| d.source.clone());
    docs.retain(|d| !d.text.trim().is_empty());
    if let Some(first) = first_blank {
        tracing::warn!(
            "{}: skipped {} empty or whitespace-only document(s) (the first: {first})",
            path.display(),
            total - docs.len()
        );
    }
    if docs.is_empty() {
        return Err(ProbeError::Input(format!(
            "{}: no documents found (none with text)",
            path.display()
        )));
    }
    Ok(docs)
}

/// Chooses `tasks` document indices; the rest (in a seeded order) are the pool of one-off
/// documents for `--insert-random`.
pub fn sample_indices(
    n_docs: usize,
    tasks: usize,
    mode: Sample,
    seed: u64,
) -> Result<(Vec<usize>, Vec<usize>)> {
    if tasks == 0 {
        return Err(ProbeError::Input("--tasks must be at least 1".into()));
    }
    if tasks > n_docs {
        return Err(ProbeError::Input(format!(
            "--tasks {tasks} is more than the {n_docs} documents available"
        )));
    }
    let mut idx: Vec<usize> = (0..n_docs).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5A3D_0C5D_0000_0001);
    match mode {
        Sample::Random => idx.shuffle(&mut rng),
        Sample::First => idx[tasks..].shuffle(&mut rng),
    }
    let rest = idx.split_off(tasks);
    Ok((idx, rest))
}

/// One tokenized document ready for training.
#[derive(Debug, Clone, Serialize)]
pub struct TaskDoc {
    /// Index of the document among those read.
    pub doc_index: usize,
    pub source: String,
    pub excerpt: String,
    /// Token count of the whole document before truncation.
    pub tokens_total: usize,
    /// Tokens kept (≤ C, or ≤ 2C for the random window).
    #[serde(skip)]
    pub tokens: Vec<i64>,
    /// Where the evaluation window starts (0, or C/2 for the random window).
    pub eval_start: usize,
    /// Tokens used for evaluation (≤ C).
    pub eval_tokens: usize,
}

impl TaskDoc {
    /// The tokens the document is evaluated on.
    pub fn eval_window(&self) -> &[i64] {
        &self.tokens[self.eval_start..self.eval_start + self.eval_tokens]
    }
}

fn excerpt(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out: String = flat.chars().take(80).collect();
    if flat.chars().count() > 80 {
        out.push('…');
    }
    out
}

/// Tokenizes a document and keeps the first `keep` tokens; it is evaluated on at most
/// `context` tokens from `eval_start`. Fewer than 2 evaluation tokens is an error.
pub fn tokenize_doc<F>(
    doc: &Document,
    doc_index: usize,
    keep: usize,
    eval_start: usize,
    context: usize,
    encode: &F,
) -> Result<TaskDoc>
where
    F: Fn(&str) -> std::result::Result<Vec<i64>, String>,
{
    let mut tokens = match &doc.tokens {
        Some(t) => t.clone(),
        None => encode(&doc.text)
            .map_err(|e| ProbeError::Input(format!("{}: tokenizer failed: {e}", doc.source)))?,
    };
    let total = tokens.len();
    if total < 2 {
        return Err(ProbeError::Input(format!(
            "{}: the document tokenises to {total} token(s); at least 2 are needed for a next-token loss",
            doc.source
        )));
    }
    tokens.truncate(keep);
    let eval_tokens = tokens.len().saturating_sub(eval_start).min(context);
    if eval_tokens < 2 {
        let from = if eval_start > 0 {
            format!(" the random window's centre, from token {eval_start},")
        } else {
            String::new()
        };
        return Err(ProbeError::Input(format!(
            "{}: the document tokenises to {total} token(s); evaluating{from} needs at least {}",
            doc.source,
            eval_start + 2
        )));
    }
    Ok(TaskDoc {
        doc_index,
        source: doc.source.clone(),
        excerpt: excerpt(&doc.text),
        tokens_total: total,
        eval_start,
        eval_tokens,
        tokens,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_line_split_tracks_lines() {
        let d = split_blank_lines("a b\nc\n\n\nd e\n", "f.txt");
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].text, "a b\nc");
        assert_eq!(d[1].source, "f.txt document 2 (line 5)");
    }

    #[test]
    fn sampling_is_seeded_and_first_keeps_order() {
        let (a, ra) = sample_indices(10, 4, Sample::Random, 3).unwrap();
        let (b, _) = sample_indices(10, 4, Sample::Random, 3).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len() + ra.len(), 10);
        let (f, _) = sample_indices(10, 4, Sample::First, 3).unwrap();
        assert_eq!(f, vec![0, 1, 2, 3]);
        assert!(sample_indices(3, 4, Sample::First, 0).is_err());
        assert!(sample_indices(3, 0, Sample::First, 0).is_err());
    }

    #[test]
    fn short_documents_are_refused() {
        let enc = |s: &str| Ok(s.bytes().map(i64::from).collect::<Vec<_>>());
        let d = Document {
            tokens: None,
            text: "x".into(),
            source: "s".into(),
        };
        let err = tokenize_doc(&d, 0, 8, 0, 8, &enc).unwrap_err().to_string();
        assert!(err.contains("at least 2"), "{err}");
        let d = Document {
            tokens: None,
            text: "hello world".into(),
            source: "s".into(),
        };
        let t = tokenize_doc(&d, 0, 6, 0, 4, &enc).unwrap();
        assert_eq!(t.tokens.len(), 6);
        assert_eq!(t.eval_tokens, 4);
        assert_eq!(t.tokens_total, 11);
        assert_eq!(t.eval_window(), &enc("hell").unwrap()[..]);
        // The random window's centre: keep 2C = 8, evaluate [C/2, 3C/2) = [2, 6).
        let t = tokenize_doc(&d, 0, 8, 2, 4, &enc).unwrap();
        assert_eq!(t.eval_window(), &enc("llo ").unwrap()[..]);
        let short = Document {
            tokens: None,
            text: "abc".into(),
            source: "s".into(),
        };
        assert!(tokenize_doc(&short, 0, 8, 2, 4, &enc).is_err());
    }
}
