//! Loading and saving Hugging Face model directories of every supported family, and
//! device selection.
//!
//! A model directory is what `XForCausalLM.save_pretrained` writes:
//! `config.json`, weights in `model.safetensors` or shards listed by
//! `model.safetensors.index.json`, and optionally `tokenizer.json`.
//! Every problem is an [`LlmError`] naming the file and the tensor; nothing panics.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use safetensors::tensor::{Dtype, SafeTensors, View};
use tch::{nn, Device, Kind, Tensor};

use crate::model::error::{LlmError, Result};
use crate::model::family::{Model, ModelConfig};
use crate::model::tokenizer::Tokenizer;

/// Weight file of an unsharded model directory.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// Index file of a sharded model directory.
pub const INDEX_FILE: &str = "model.safetensors.index.json";
/// Config file of a model directory.
pub const CONFIG_FILE: &str = "config.json";
/// Tokenizer file of a model directory.
pub const TOKENIZER_FILE: &str = "tokenizer.json";

/// Floating-point precision of the model's parameters and activations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DType {
    /// float32 (default; what the parity tests check).
    #[default]
    F32,
    /// bfloat16 parameters and activations (meant for CUDA; logits and losses are
    /// still returned in float32).
    Bf16,
}

impl DType {
    /// The libtorch kind.
    pub fn kind(self) -> Kind {
        match self {
            DType::F32 => Kind::Float,
            DType::Bf16 => Kind::BFloat16,
        }
    }

    /// `"f32"` or `"bf16"`.
    pub fn as_str(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::Bf16 => "bf16",
        }
    }
}

impl FromStr for DType {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "f32" | "float32" | "fp32" => Ok(DType::F32),
            "bf16" | "bfloat16" => Ok(DType::Bf16),
            other => Err(format!("unknown dtype {other:?} (f32 or bf16)")),
        }
    }
}

/// A model with its variables, config and (if the directory had one) tokenizer.
#[derive(Debug)]
pub struct LoadedModel {
    /// Owns the parameters (trainable; hand `vs` to an optimizer).
    pub vs: nn::VarStore,
    pub model: Model,
    pub config: ModelConfig,
    pub tokenizer: Option<Tokenizer>,
}

impl LoadedModel {
    /// The device the parameters live on.
    pub fn device(&self) -> Device {
        self.vs.device()
    }

    /// Converts every parameter to `dtype` (in place; the model keeps working).
    pub fn set_dtype(&mut self, dtype: DType) {
        match dtype {
            DType::F32 => self.vs.float(),
            DType::Bf16 => self.vs.bfloat16(),
        }
    }

    /// The current parameter dtype.
    pub fn dtype(&self) -> DType {
        match self.model.named_parameters().first().map(|(_, t)| t.kind()) {
            Some(Kind::BFloat16) => DType::Bf16,
            _ => DType::F32,
        }
    }

    /// Number of scalar parameters (a tied embedding counted once).
    pub fn num_parameters(&self) -> i64 {
        self.model
            .named_parameters()
            .iter()
            .map(|(_, t)| t.numel() as i64)
            .sum()
    }
}

/// `auto` (CUDA when a GPU driver is present and libtorch has CUDA, else CPU), `cpu`,
/// `cuda` or `cuda:N`. The CUDA backend is loaded here, only when it is asked for
/// ([`load_cuda_backend`]): a CPU run never maps the CUDA libraries.
pub fn select_device(spec: &str) -> Result<Device> {
    let err = |reason: String| LlmError::Device {
        spec: spec.to_string(),
        reason,
    };
    match spec {
        "auto" => {
            if !gpu_driver_present() {
                return Ok(Device::Cpu);
            }
            match load_cuda_backend() {
                Ok(()) => Ok(Device::cuda_if_available()),
                Err(why) => {
                    tracing::warn!("an NVIDIA driver is installed but {why}: running on the CPU");
                    Ok(Device::Cpu)
                }
            }
        }
        "cpu" => Ok(Device::Cpu),
        s if s == "cuda" || s.starts_with("cuda:") => {
            let idx: usize = match s.strip_prefix("cuda:") {
                None => 0,
                Some(n) => n
                    .parse()
                    .map_err(|_| err(format!("{n:?} is not a GPU index")))?,
            };
            load_cuda_backend()
                .map_err(|reason| err(format!("{reason}; use --device cpu or auto")))?;
            if !tch::Cuda::is_available() {
                return Err(err(
                    "CUDA is not available (no GPU or no NVIDIA driver found); use --device cpu or auto"
                        .to_string(),
                ));
            }
            let count = tch::Cuda::device_count() as usize;
            if idx >= count {
                return Err(err(format!("only {count} CUDA device(s) present")));
            }
            Ok(Device::Cuda(idx))
        }
        other => Err(err(format!(
            "unknown device {other:?} (auto, cpu, cuda, cuda:N)"
        ))),
    }
}

/// Whether an NVIDIA driver is installed (its `libcuda.so.1` can be opened). Cheap, and
/// loads none of libtorch's CUDA libraries.
fn gpu_driver_present() -> bool {
    // SAFETY: dlopen with a constant NUL-terminated name; the handle is kept (the driver
    // library is loaded again by CUDA anyway).
    unsafe { !libc::dlopen(c"libcuda.so.1".as_ptr(), libc::RTLD_LAZY | libc::RTLD_LOCAL).is_null() }
}

/// The directory of the libtorch this process runs on (where `libtorch_cpu.so` was
/// loaded from, read from `/proc/self/maps`).
pub fn libtorch_lib_dir() -> Option<PathBuf> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| p.ends_with("/libtorch_cpu.so"))
        .and_then(|p| Path::new(p).parent().map(Path::to_path_buf))
}

/// Loads libtorch's CUDA backend (`libtorch_cuda.so` next to the `libtorch_cpu.so` in
/// use) once per process; its load registers the CUDA kernels and hooks with libtorch.
/// `reawaken-llm` is not linked against it, so that runs on the CPU do not load the
/// CUDA libraries it pulls in (cuBLAS, cuDNN, NCCL, …: 2.7 GB on disk with the PyPI
/// wheel). The error says why CUDA cannot be had.
pub fn load_cuda_backend() -> std::result::Result<(), String> {
    static LOADED: std::sync::OnceLock<std::result::Result<(), String>> =
        std::sync::OnceLock::new();
    LOADED
        .get_or_init(|| {
            let dir = libtorch_lib_dir()
                .ok_or_else(|| "cannot tell where libtorch was loaded from".to_string())?;
            let lib = dir.join("libtorch_cuda.so");
            if !lib.is_file() {
                return Err(format!(
                    "this libtorch has no CUDA backend ({} does not exist)",
                    lib.display()
                ));
            }
            let name = std::ffi::CString::new(lib.as_os_str().as_encoded_bytes())
                .map_err(|_| format!("{} is not a valid path", lib.display()))?;
            // SAFETY: dlopen of a path string we own; RTLD_GLOBAL so the backend's symbols
            // resolve for libtorch; the library stays loaded for the process's life.
            let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
            if handle.is_null() {
                // SAFETY: dlerror returns a thread-local C string or null.
                let why = unsafe {
                    let e = libc::dlerror();
                    if e.is_null() {
                        "unknown error".to_string()
                    } else {
                        std::ffi::CStr::from_ptr(e).to_string_lossy().into_owned()
                    }
                };
                return Err(format!("cannot load {}: {why}", lib.display()));
            }
            Ok(())
        })
        .clone()
}

/// Loads a Hugging Face model directory in float32 onto `device`.
pub fn load_hf_dir(dir: &Path, device: Device) -> Result<LoadedModel> {
    load_hf_dir_with(dir, device, DType::F32)
}

/// The model a Hugging Face directory describes, read and checked without allocating
/// it: `config.json` is validated, and the parameters it asks for must be present in the
/// weight files' safetensors headers (so a `config.json` with an enormous vocabulary or
/// depth is refused before memory is asked for it).
pub fn planned_config(dir: &Path) -> Result<ModelConfig> {
    planned(dir).map(|(config, _, _)| config)
}

fn planned(dir: &Path) -> Result<(ModelConfig, Vec<PathBuf>, PathBuf)> {
    if !dir.is_dir() {
        return Err(LlmError::NotADirectory {
            path: dir.to_path_buf(),
        });
    }
    let config_path = dir.join(CONFIG_FILE);
    if !config_path.is_file() {
        return Err(LlmError::MissingConfig {
            dir: dir.to_path_buf(),
        });
    }
    let config = ModelConfig::from_file(&config_path)?;
    let (files, listed_in) = weight_files(dir)?;
    let mut stored: u128 = 0;
    for f in &files {
        stored = stored.saturating_add(header_elements(f)?);
    }
    // Small differences are reported tensor by tensor while loading (a missing tensor, a
    // wrong shape); a config asking for far more than the files hold is refused here,
    // before its model is allocated.
    let need = config.num_parameters();
    if need < 0 || need as u128 > stored.saturating_mul(2).saturating_add(1 << 20) {
        let need = if need < 0 {
            "more than 2^63".to_string()
        } else {
            need.to_string()
        };
        return Err(LlmError::InvalidConfig {
            path: config_path,
            reason: format!(
                "it describes a model of {need} parameters but the weight files hold {stored} values (its vocabulary, width, depth or MLP width do not match the weights)"
            ),
        });
    }
    Ok((config, files, listed_in))
}

/// A UTF-8 text file of at most `limit` bytes (regular files only: no FIFO or device).
pub(crate) fn read_text(path: &Path, limit: u64) -> Result<String> {
    let bytes =
        reawaken_analysis::record::bounded_read(path, limit).map_err(|e| LlmError::io(path, e))?;
    String::from_utf8(bytes).map_err(|e| {
        LlmError::io(
            path,
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "not UTF-8 text (invalid byte at offset {})",
                    e.utf8_error().valid_up_to()
                ),
            ),
        )
    })
}

/// Largest safetensors header read (the format's own limit is 100 MB).
const MAX_HEADER: u64 = 100_000_000;

/// Number of values a safetensors file holds, from its header alone.
fn header_elements(path: &Path) -> Result<u128> {
    use std::io::Read;
    let corrupt = |reason: String| LlmError::CorruptFile {
        path: path.to_path_buf(),
        reason,
    };
    let mut f = std::fs::File::open(path).map_err(|e| LlmError::io(path, e))?;
    let len = f.metadata().map_err(|e| LlmError::io(path, e))?.len();
    let mut n = [0u8; 8];
    f.read_exact(&mut n)
        .map_err(|_| corrupt("shorter than a safetensors header".into()))?;
    let n = u64::from_le_bytes(n);
    if n > MAX_HEADER || n.saturating_add(8) > len {
        return Err(corrupt(format!(
            "header length {n} does not fit the file ({len} bytes)"
        )));
    }
    let mut header = vec![0u8; n as usize];
    f.read_exact(&mut header)
        .map_err(|e| corrupt(format!("cannot read the header: {e}")))?;
    let v: serde_json::Value =
        serde_json::from_slice(&header).map_err(|e| corrupt(format!("header is not JSON: {e}")))?;
    let map = v
        .as_object()
        .ok_or_else(|| corrupt("header is not a JSON object".into()))?;
    let mut total: u128 = 0;
    for (name, t) in map.iter().filter(|(k, _)| *k != "__metadata__") {
        let shape = t
            .get("shape")
            .and_then(|s| s.as_array())
            .ok_or_else(|| corrupt(format!("tensor {name:?} has no shape")))?;
        let mut count: u128 = 1;
        for d in shape {
            let d = d
                .as_u64()
                .ok_or_else(|| corrupt(format!("tensor {name:?} has a bad shape")))?;
            count = count.saturating_mul(u128::from(d));
        }
        total = total.saturating_add(count);
    }
    Ok(total)
}

/// Loads a Hugging Face model directory onto `device` in `dtype`.
pub fn load_hf_dir_with(dir: &Path, device: Device, dtype: DType) -> Result<LoadedModel> {
    let (config, files, listed_in) = planned(dir)?;
    let config_path = dir.join(CONFIG_FILE);

    let vs = nn::VarStore::new(device);
    let model = Model::build(&vs.root(), &config).map_err(|e| match e {
        LlmError::InvalidShape(reason) => LlmError::InvalidConfig {
            path: config_path.clone(),
            reason,
        },
        e => e,
    })?;
    let params: HashMap<String, Tensor> = model.named_parameters().into_iter().collect();
    let mut loaded: HashSet<String> = HashSet::new();
    for file in &files {
        load_file(file, &config, &params, &mut loaded)?;
    }
    // Report the first missing tensor in model order.
    if let Some((name, _)) = model
        .named_parameters()
        .into_iter()
        .find(|(n, _)| !loaded.contains(n))
    {
        return Err(LlmError::MissingTensor {
            path: listed_in,
            name,
        });
    }

    let tok_path = dir.join(TOKENIZER_FILE);
    let clusters =
        crate::model::pixels::preprocessor_path(dir).filter(|_| config.model_type() == "imagegpt");
    let tokenizer = if let Some(path) = clusters {
        let c = crate::model::pixels::ColourClusters::from_file(&path)?;
        let tok = Tokenizer::Pixels(Box::new(c));
        tok.check_fits(config.output_rows(), &path)?;
        Some(tok)
    } else if tok_path.is_file() {
        let tok = Tokenizer::from_file(&tok_path)?;
        tok.check_fits(config.output_rows(), &tok_path)?;
        Some(tok)
    } else {
        None
    };
    let mut out = LoadedModel {
        vs,
        model,
        config,
        tokenizer,
    };
    if dtype != DType::F32 {
        out.set_dtype(dtype);
    }
    tracing::info!(
        dir = %dir.display(),
        params = out.num_parameters(),
        device = ?device,
        dtype = dtype.as_str(),
        model_type = out.config.model_type(),
        "loaded model"
    );
    Ok(out)
}

/// The weight files of a directory, and the file to name when a tensor is missing.
fn weight_files(dir: &Path) -> Result<(Vec<PathBuf>, PathBuf)> {
    let single = dir.join(WEIGHTS_FILE);
    if single.is_file() {
        return Ok((vec![single.clone()], single));
    }
    let index = dir.join(INDEX_FILE);
    if !index.is_file() {
        return Err(LlmError::MissingWeights {
            dir: dir.to_path_buf(),
        });
    }
    let bad = |reason: String| LlmError::BadIndex {
        path: index.clone(),
        reason,
    };
    let text = read_text(&index, 64 << 20)?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let map = v
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| bad("no \"weight_map\" object".to_string()))?;
    let mut shards = BTreeSet::new();
    for (name, file) in map {
        let file = file
            .as_str()
            .ok_or_else(|| bad(format!("weight_map[{name:?}] is not a file name")))?;
        if file.contains('/') || file.contains('\\') || file == ".." {
            return Err(bad(format!(
                "shard name {file:?} must be a plain file name"
            )));
        }
        shards.insert(file.to_string());
    }
    let mut files = Vec::new();
    for s in shards {
        let p = dir.join(&s);
        if !p.is_file() {
            return Err(bad(format!(
                "shard {s} does not exist in {}",
                dir.display()
            )));
        }
        files.push(p);
    }
    Ok((files, index))
}

/// Names in checkpoints that are buffers, not parameters (old Pythia and GPT-2 uploads
/// carry the causal masks, Llama ones the rotary frequencies).
fn is_ignored_buffer(name: &str, config: &ModelConfig) -> bool {
    match config {
        ModelConfig::GptNeoX(_) => {
            name.ends_with(".attention.bias")
                || name.ends_with(".attention.masked_bias")
                || name.ends_with("rotary_emb.inv_freq")
        }
        ModelConfig::Gpt2(_) => name.ends_with(".attn.bias") || name.ends_with(".attn.masked_bias"),
        ModelConfig::Llama(_) => name.ends_with("rotary_emb.inv_freq"),
    }
}

/// A checkpoint name in the model's own naming: GPT-NeoX calls its `lm_head` `embed_out`;
/// GPT-2 uploads saved from `GPT2Model` lack the `transformer.` prefix.
fn canonical_name(name: &str, config: &ModelConfig) -> String {
    match config {
        ModelConfig::GptNeoX(_) if name == "lm_head.weight" => "embed_out.weight".to_string(),
        ModelConfig::Gpt2(_) if !name.starts_with("transformer.") && name != "lm_head.weight" => {
            format!("transformer.{name}")
        }
        _ => name.to_string(),
    }
}

/// Why a checkpoint tensor has no place in the model built from `config`.
fn unexpected_reason(name: &str, config: &ModelConfig) -> String {
    let layout = config.layout();
    let depth = config.shape().depth;
    if let Some(rest) = name.strip_prefix(layout.block_prefix) {
        if let Some(i) = rest.split('.').next().and_then(|i| i.parse::<i64>().ok()) {
            if i >= depth {
                return format!(
                    "layer {i} does not exist: config.json has {} = {depth}",
                    config.depth_key()
                );
            }
        }
        if let ModelConfig::GptNeoX(c) = config {
            if !c.attention_bias && name.ends_with(".bias") && name.contains(".attention.") {
                return "config.json has attention_bias = false".to_string();
            }
        }
        if name.ends_with(".bias") {
            return format!(
                "config.json of this {} has no such bias",
                config.model_type()
            );
        }
    }
    format!("not a parameter of {}", layout.architecture)
}

fn dtype_kind(dtype: Dtype) -> Option<Kind> {
    match dtype {
        Dtype::F32 => Some(Kind::Float),
        Dtype::F16 => Some(Kind::Half),
        Dtype::BF16 => Some(Kind::BFloat16),
        Dtype::F64 => Some(Kind::Double),
        _ => None,
    }
}

/// Copies every tensor of one safetensors file into the matching parameter.
fn load_file(
    path: &Path,
    config: &ModelConfig,
    params: &HashMap<String, Tensor>,
    loaded: &mut HashSet<String>,
) -> Result<()> {
    let bytes = reawaken_analysis::record::bounded_read(path, u64::MAX)
        .map_err(|e| LlmError::io(path, e))?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| LlmError::CorruptFile {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let mut tensors = st.tensors();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, view) in tensors {
        if is_ignored_buffer(&name, config) {
            continue;
        }
        let canonical = canonical_name(&name, config);
        if config.tie_word_embeddings() && canonical == config.layout().output {
            // Tied: the output matrix is the input embedding; a stored copy is redundant.
            continue;
        }
        let Some(param) = params.get(&canonical) else {
            return Err(LlmError::UnexpectedTensor {
                path: path.to_path_buf(),
                reason: unexpected_reason(&canonical, config),
                name,
            });
        };
        let Some(kind) = dtype_kind(view.dtype()) else {
            return Err(LlmError::DtypeMismatch {
                path: path.to_path_buf(),
                name,
                found: format!("{:?}", view.dtype()),
            });
        };
        let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
        let expected = param.size();
        if shape != expected {
            return Err(LlmError::ShapeMismatch {
                path: path.to_path_buf(),
                name,
                expected,
                found: shape,
            });
        }
        let src = Tensor::f_from_data_size(view.data(), &shape, kind)
            .map_err(|e| LlmError::torch(format!("reading {name} from {}", path.display()), e))?;
        let finite = src
            .f_isfinite()
            .and_then(|f| f.f_all())
            .and_then(|a| bool::try_from(&a))
            .map_err(|e| LlmError::torch(format!("checking {name} from {}", path.display()), e))?;
        if !finite {
            return Err(LlmError::CorruptFile {
                path: path.to_path_buf(),
                reason: format!("tensor {name} holds NaN or infinite values"),
            });
        }
        let mut dst = param.shallow_clone();
        tch::no_grad(|| dst.f_copy_(&src))
            .map_err(|e| LlmError::torch(format!("copying {name} from {}", path.display()), e))?;
        loaded.insert(canonical);
    }
    Ok(())
}

/// Raw little-endian bytes of one tensor, for the safetensors writer.
struct Raw {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl View for &Raw {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

/// Writes `dir/config.json`, `dir/model.safetensors` (float32, Hugging Face names) and,
/// when the model has a `tokenizer.json` tokenizer, `dir/tokenizer.json`. Each file is
/// written to a temporary name and renamed, so no half-written file is left behind.
/// `AutoModelForCausalLM.from_pretrained(dir)` loads the result unchanged.
pub fn save_hf_dir(model: &LoadedModel, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| LlmError::io(dir, e))?;
    let mut raws: Vec<(String, Raw)> = Vec::new();
    for (name, t) in model.model.named_parameters() {
        let t = t
            .detach()
            .to_device(Device::Cpu)
            .to_kind(Kind::Float)
            .contiguous();
        let numel = t.numel();
        let mut data = vec![0u8; numel * 4];
        t.f_copy_data_u8(&mut data, numel)
            .map_err(|e| LlmError::torch(format!("reading parameter {name}"), e))?;
        let shape = t.size().iter().map(|&d| d as usize).collect();
        raws.push((
            name,
            Raw {
                dtype: Dtype::F32,
                shape,
                data,
            },
        ));
    }
    let weights = dir.join(WEIGHTS_FILE);
    let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    let bytes =
        safetensors::tensor::serialize(raws.iter().map(|(n, r)| (n.as_str(), r)), Some(metadata))
            .map_err(|e| LlmError::CorruptFile {
            path: weights.clone(),
            reason: format!("cannot serialize: {e}"),
        })?;
    write_atomic(&weights, &bytes)?;

    let config_path = dir.join(CONFIG_FILE);
    let cfg = model.config.to_json();
    let text = serde_json::to_string_pretty(&cfg).map_err(|source| LlmError::ConfigParse {
        path: config_path.clone(),
        source,
    })?;
    write_atomic(&config_path, text.as_bytes())?;

    match &model.tokenizer {
        Some(tok @ Tokenizer::Hf(_)) => {
            let final_path = dir.join(TOKENIZER_FILE);
            let tmp = dir.join(format!(".{TOKENIZER_FILE}.tmp"));
            tok.save(&tmp)?;
            std::fs::rename(&tmp, &final_path).map_err(|e| LlmError::io(&final_path, e))?;
        }
        Some(Tokenizer::Pixels(c)) => {
            let path = dir.join(crate::model::pixels::PREPROCESSOR_FILE);
            let text = serde_json::to_string_pretty(&c.config).map_err(|source| {
                LlmError::ConfigParse {
                    path: path.clone(),
                    source,
                }
            })?;
            write_atomic(&path, text.as_bytes())?;
        }
        _ => {}
    }
    Ok(())
}

/// Writes `bytes` to a temporary file next to `path`, fsyncs, renames.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".to_string());
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    let res = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(LlmError::io(path, e));
    }
    Ok(())
}
