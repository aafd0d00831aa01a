//! Image GPT's tokenizer: every pixel becomes the id of its nearest colour cluster, in
//! raster order, as Hugging Face `ImageGPTImageProcessor` does (`do_color_quantize`).
//!
//! The clusters come from the model directory's `preprocessor_config.json` (`clusters`:
//! `[n, 3]` colours in [−1, 1]). A pixel's channels are rescaled as the processor does
//! (`p · (1/255)` in float64, stored as float32, then `(x − 0.5)/0.5` in float32) and the
//! nearest cluster in squared Euclidean distance, computed term by term as the processor
//! does, wins, the first on a tie, as `np.argmin`. Images must already have the processor's size (CIFAR-10
//! and the Image GPT checkpoints: 32×32); no start-of-sequence id is added (paper A.3 and
//! the authors' `train_interleave_igpt.py`: an image is its 1024 pixel ids).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::model::error::{LlmError, Result};

/// File of a model directory that holds the clusters.
pub const PREPROCESSOR_FILE: &str = "preprocessor_config.json";

/// The colour clusters of an Image GPT model, with the processor's config kept verbatim
/// (written back when the model is saved).
#[derive(Debug, Clone, PartialEq)]
pub struct ColourClusters {
    clusters: Vec<[f64; 3]>,
    /// `size` of the processor (`{height, width}`), when it names one.
    size: Option<(usize, usize)>,
    /// The whole `preprocessor_config.json`.
    pub config: Value,
}

impl ColourClusters {
    /// Reads `preprocessor_config.json`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = crate::model::load::read_text(path, 64 << 20)?;
        let bad = |reason: String| LlmError::InvalidConfig {
            path: path.to_path_buf(),
            reason,
        };
        let config: Value =
            serde_json::from_str(&text).map_err(|source| LlmError::ConfigParse {
                path: path.to_path_buf(),
                source,
            })?;
        let rows = config
            .get("clusters")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                bad("no \"clusters\" list (an Image GPT processor config has one)".into())
            })?;
        let mut clusters = Vec::with_capacity(rows.len());
        for (k, row) in rows.iter().enumerate() {
            let c: Option<Vec<f64>> = row
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_f64).collect());
            match c.as_deref() {
                Some([r, g, b]) if [r, g, b].iter().all(|v| v.is_finite()) => {
                    clusters.push([*r, *g, *b])
                }
                _ => return Err(bad(format!("clusters[{k}] is not three finite numbers"))),
            }
        }
        if clusters.is_empty() {
            return Err(bad("\"clusters\" is empty".into()));
        }
        // `size` is `{height, width}`, or one number for a square in older configs.
        let size = match config.get("size") {
            Some(Value::Number(n)) => n.as_u64().map(|n| (n as usize, n as usize)),
            Some(s) => {
                let dim = |k: &str| s.get(k).and_then(Value::as_u64).map(|v| v as usize);
                dim("height").zip(dim("width"))
            }
            None => None,
        };
        Ok(ColourClusters {
            clusters,
            size,
            config,
        })
    }

    /// Number of clusters (the ids are 0..n).
    pub fn len(&self) -> usize {
        self.clusters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clusters.is_empty()
    }

    /// The processor's image size `(height, width)`, when its config names one.
    pub fn size(&self) -> Option<(usize, usize)> {
        self.size
    }

    /// Cluster ids of an `h × w × 3` uint8 image (row-major, channels last), raster order.
    pub fn quantize(&self, image: &[u8]) -> Vec<i64> {
        let norms: Vec<f64> = self
            .clusters
            .iter()
            .map(|c| c.iter().map(|v| v * v).sum())
            .collect();
        image
            .chunks_exact(3)
            .map(|px| {
                let x = [px[0], px[1], px[2]]
                    .map(|p| f64::from((f64::from(p) * (1.0 / 255.0)) as f32 - 0.5) / 0.5);
                let mut best = (0usize, f64::INFINITY);
                for (k, (c, n)) in self.clusters.iter().zip(&norms).enumerate() {
                    let d = n - 2.0 * (x[0] * c[0] + x[1] * c[1] + x[2] * c[2]);
                    if d < best.1 {
                        best = (k, d);
                    }
                }
                best.0 as i64
            })
            .collect()
    }

    /// Where the clusters came from, for messages.
    pub fn describe(&self) -> String {
        format!("colour clusters ({} ids, {PREPROCESSOR_FILE})", self.len())
    }
}

/// The `preprocessor_config.json` of `dir`, if it has one.
pub fn preprocessor_path(dir: &Path) -> Option<PathBuf> {
    let p = dir.join(PREPROCESSOR_FILE);
    p.is_file().then_some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_cluster_in_raster_order() {
        let c = ColourClusters {
            clusters: vec![[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0], [1.0, -1.0, -1.0]],
            size: None,
            config: Value::Null,
        };
        // black, white, red, dark grey (nearer black), a tie-free light red.
        let img = [0, 0, 0, 255, 255, 255, 255, 0, 0, 60, 60, 60, 250, 30, 20];
        assert_eq!(c.quantize(&img), vec![0, 1, 2, 0, 2]);
    }

    #[test]
    fn size_is_a_dict_or_one_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(PREPROCESSOR_FILE);
        for (size, want) in [
            (
                serde_json::json!({"height": 32, "width": 24}),
                Some((32, 24)),
            ),
            (serde_json::json!(32), Some((32, 32))),
        ] {
            let cfg = serde_json::json!({"clusters": [[0.0, 0.0, 0.0]], "size": size});
            std::fs::write(&path, cfg.to_string()).unwrap();
            assert_eq!(ColourClusters::from_file(&path).unwrap().size(), want);
        }
        std::fs::write(&path, r#"{"clusters": [[0.0, 0.0]]}"#).unwrap();
        let e = ColourClusters::from_file(&path).unwrap_err().to_string();
        assert!(e.contains("clusters[0]"), "{e}");
    }
}
