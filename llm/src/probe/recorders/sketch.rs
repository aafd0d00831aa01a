//! Vectors recorded by the probe's recorders: weight and activation trajectories, exact
//! or sketched, and the cosine matrix of gradients.
//!
//! ## The sketch
//! A vector x ∈ R^D larger than the budget is stored as its CountSketch
//! y = S x ∈ R^k (a sparse Johnson–Lindenstrauss projection): coordinate j goes to bucket
//! h(j) with sign s(j), y[h(j)] += s(j)·x[j]. h and s are hash functions of j seeded by the
//! run seed (multiply–mod-prime, 2-universal), computed on the device in chunks of 2^22
//! coordinates, so no k×D matrix ever exists and a 1B-parameter layer costs O(D) per
//! record. S is linear, so residuals, differences and PCA of sketches are sketches of
//! residuals. Inner products are unbiased, E⟨Sx,Sy⟩ = ⟨x,y⟩, with variance
//! ≤ 2‖x‖²‖y‖²/k; for k = 4096 norms and cosines are typically within ~2% (tested in
//! `tests::sketch_preserves_geometry`, numbers in docs/llm-probe.md).
use tch::{Device, Kind, Tensor};

use crate::probe::error::{ProbeError, Result};

const PRIME: i64 = 2_147_483_647; // 2^31 − 1
const CHUNK: i64 = 1 << 22;

/// x mod (2^31 − 1) for x < 2^62, without a division (a Mersenne prime: 2^31 ≡ 1).
#[inline]
fn mod_prime(x: u64) -> u64 {
    let p = PRIME as u64;
    let r = (x & p) + (x >> 31);
    let r = (r & p) + (r >> 31);
    if r >= p {
        r - p
    } else {
        r
    }
}

/// A seeded CountSketch of fixed output dimension.
#[derive(Debug, Clone, Copy)]
pub struct Sketch {
    pub dim: usize,
    a1: i64,
    b1: i64,
    a2: i64,
    b2: i64,
}

impl Sketch {
    pub fn new(dim: usize, seed: u64) -> Self {
        let h =
            |k: u64| (crate::probe::trainer::sub_seed(seed, 77, k) % (PRIME as u64 - 1)) as i64 + 1;
        Sketch {
            dim: dim.max(1),
            a1: h(1),
            b1: h(2) - 1,
            a2: h(3),
            b2: h(4) - 1,
        }
    }

    /// Adds the sketch of `x` (flat, any float kind), whose first coordinate has global index
    /// `offset`, into `acc` (`[dim]`, float32, same device).
    pub fn accumulate(&self, acc: &mut Tensor, x: &Tensor, offset: i64) -> Result<()> {
        let _guard = tch::no_grad_guard();
        let x = x.flatten(0, -1).to_kind(Kind::Float).contiguous();
        let acc_on_host = acc.device() == Device::Cpu
            && acc.is_contiguous()
            && acc.kind() == Kind::Float
            && acc.numel() == self.dim;
        if let (true, Some(xs)) = (acc_on_host, host_slices(std::slice::from_ref(&x))) {
            // SAFETY: `acc` is a contiguous float32 CPU tensor of `dim` > 0 elements
            // (`Sketch::new` keeps dim ≥ 1), alive for this call and not aliased by `x`
            // (the callers sketch a different tensor into it).
            let ys =
                unsafe { std::slice::from_raw_parts_mut(acc.data_ptr() as *mut f32, self.dim) };
            self.add_into(ys, xs[0], offset as u64);
            return Ok(());
        }
        self.accumulate_with_tensors(acc, &x, offset)
    }

    /// The sketch on the CPU in one pass: per coordinate the same hash and the same
    /// additions, in the same order, as [`Sketch::accumulate_with_tensors`] (libtorch's
    /// CPU `index_add_` adds serially in index order), so the numbers are identical — but
    /// without materialising five int64 tensors per chunk, which made the `weights`
    /// recorder cost more than training at 1B parameters.
    fn add_into(&self, acc: &mut [f32], x: &[f32], offset: u64) {
        let mut codes = [0u32; BLOCK];
        for (b, block) in x.chunks(BLOCK).enumerate() {
            let codes = &mut codes[..block.len()];
            self.hash_block(codes, offset + (b * BLOCK) as u64);
            add_coded(acc, block, codes);
        }
    }

    /// Bucket and sign of coordinates `first..first + n`, as codes `bucket | flip << 31`
    /// (flip set where the sign is −1).
    pub fn codes(&self, first: usize, n: usize) -> Vec<u32> {
        let mut out = vec![0u32; n];
        for (b, block) in out.chunks_mut(BLOCK).enumerate() {
            self.hash_block(block, (first + b * BLOCK) as u64);
        }
        out
    }

    /// The codes of the coordinates `first..first + codes.len()` (a loop the compiler
    /// vectorises).
    fn hash_block(&self, codes: &mut [u32], first: u64) {
        let (a1, b1, a2, b2) = (
            self.a1 as u64,
            self.b1 as u64,
            self.a2 as u64,
            self.b2 as u64,
        );
        let dim = self.dim as u32;
        for (k, code) in codes.iter_mut().enumerate() {
            let idx = mod_prime(first + k as u64);
            let bucket = mod_prime(idx * a1 + b1) as u32;
            let bucket = if dim.is_power_of_two() {
                bucket & (dim - 1)
            } else {
                bucket % dim
            };
            // sign = (h2 mod 2)·2 − 1: h2 even flips the sign bit (v·(−1) = −v exactly).
            let flip = (((mod_prime(idx * a2 + b2) & 1) ^ 1) as u32) << 31;
            *code = bucket | flip;
        }
    }

    /// The sketch with libtorch operations (any device), in chunks of 2^22 coordinates.
    fn accumulate_with_tensors(&self, acc: &mut Tensor, x: &Tensor, offset: i64) -> Result<()> {
        let n = x.numel() as i64;
        let dev = x.device();
        let mut start = 0i64;
        while start < n {
            let len = CHUNK.min(n - start);
            let idx =
                Tensor::arange_start(offset + start, offset + start + len, (Kind::Int64, dev))
                    .remainder(PRIME);
            let bucket = (&idx * self.a1 + self.b1)
                .remainder(PRIME)
                .remainder(self.dim as i64);
            let sign = (&idx * self.a2 + self.b2).remainder(PRIME).remainder(2) * 2 - 1;
            let src = x.narrow(0, start, len) * sign.to_kind(Kind::Float);
            let _ = acc.f_index_add_(0, &bucket, &src)?;
            start += len;
        }
        Ok(())
    }

    /// Sketch of one flat vector.
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        let mut acc = Tensor::zeros([self.dim as i64], (Kind::Float, x.device()));
        self.accumulate(&mut acc, x, 0)?;
        Ok(acc)
    }
}

/// At most this many coordinates get a precomputed hash table (4 bytes each, 32 MiB):
/// with it the CPU pass reads one code per coordinate instead of hashing it again after
/// every episode. Larger vectors are hashed on the fly.
pub const HASH_TABLE_MAX: usize = 1 << 23;

/// Records a flat vector per episode: exactly if its size ≤ `budget`, else its sketch.
/// Also keeps the previous exact vector to give the exact norm of consecutive changes.
///
/// On the CPU, with float32 parts (the usual case), one pass over the parameters' own
/// memory does everything — the change's norm (accumulated in float64), the copy kept
/// as the previous vector, the sketch — without concatenating the parts first; elsewhere
/// the same is done with libtorch operations on the parts' device.
pub struct TrajectoryRecorder {
    pub numel: usize,
    pub sketch: Option<Sketch>,
    prev: Previous,
    /// Bucket and sign of every coordinate (`bucket | flip << 31`), once, when the
    /// vector is sketched on the CPU and has at most [`HASH_TABLE_MAX`] coordinates.
    codes: Option<Vec<u32>>,
    /// The largest vector given a hash table ([`HASH_TABLE_MAX`]; tests lower it).
    table_max: usize,
}

/// The previous exact vector: in host memory for the CPU pass, a tensor otherwise.
enum Previous {
    None,
    Host(Vec<f32>),
    Device(Tensor),
}

impl TrajectoryRecorder {
    pub fn new(numel: usize, budget: usize, sketch_dim: usize, seed: u64) -> Self {
        TrajectoryRecorder {
            numel,
            sketch: (numel > budget).then(|| Sketch::new(sketch_dim, seed)),
            prev: Previous::None,
            codes: None,
            table_max: HASH_TABLE_MAX,
        }
    }

    /// Width of a recorded row.
    pub fn row_len(&self) -> usize {
        self.sketch.map_or(self.numel, |s| s.dim)
    }

    /// Sets the previous vector (after a resume) without recording.
    pub fn prime(&mut self, parts: &[Tensor]) {
        self.prev = match host_slices(parts) {
            Some(slices) => Previous::Host(slices.concat()),
            None => Previous::Device(flat_cat(parts)),
        };
    }

    /// Records the vector made of `parts` (concatenated, flattened). Returns the row and the
    /// exact norm of the change since the previous record (None for the first).
    pub fn record(&mut self, parts: &[Tensor]) -> Result<(Vec<f32>, Option<f32>)> {
        let numel: usize = parts.iter().map(Tensor::numel).sum();
        if numel != self.numel {
            return Err(ProbeError::Model(format!(
                "recorded vector has {numel} elements, expected {}",
                self.numel
            )));
        }
        match host_slices(parts) {
            Some(slices) => self.record_host(&slices),
            None => self.record_with_tensors(parts),
        }
    }

    /// The CPU pass over the parts' memory (see the type's docs).
    fn record_host(&mut self, slices: &[&[f32]]) -> Result<(Vec<f32>, Option<f32>)> {
        let (mut prev, had_prev) = match std::mem::replace(&mut self.prev, Previous::None) {
            Previous::Host(v) => (v, true),
            Previous::Device(t) => (Vec::<f32>::try_from(&t.to_device(Device::Cpu))?, true),
            Previous::None => (vec![0f32; self.numel], false),
        };
        if let (Some(s), None) = (&self.sketch, &self.codes) {
            if self.numel <= self.table_max {
                self.codes = Some(s.codes(0, self.numel));
            }
        }
        let sumsq = keep_and_measure(&mut prev, slices, had_prev);
        let row = self.row_of(slices);
        self.prev = Previous::Host(prev);
        Ok((row, had_prev.then(|| sumsq.sqrt() as f32)))
    }

    /// The recorded row of the vector made of `slices`: a copy, or its sketch.
    fn row_of(&self, slices: &[&[f32]]) -> Vec<f32> {
        let Some(s) = &self.sketch else {
            return slices.concat();
        };
        let mut row = vec![0f32; s.dim];
        let mut offset = 0usize;
        for xs in slices {
            match &self.codes {
                Some(codes) => add_coded(&mut row, xs, &codes[offset..]),
                None => s.add_into(&mut row, xs, offset as u64),
            }
            offset += xs.len();
        }
        row
    }

    /// The same with libtorch operations on the parts' device.
    fn record_with_tensors(&mut self, parts: &[Tensor]) -> Result<(Vec<f32>, Option<f32>)> {
        let _guard = tch::no_grad_guard();
        let flat = flat_cat(parts);
        let change = match &self.prev {
            // The norm in float64, as the CPU pass sums it.
            Previous::Device(p) => Some(change_norm(&flat, p)?),
            Previous::Host(p) => {
                let p = Tensor::from_slice(p).to_device(flat.device());
                Some(change_norm(&flat, &p)?)
            }
            Previous::None => None,
        };
        let row = match &self.sketch {
            Some(s) => s.apply(&flat)?,
            None => flat.shallow_clone(),
        };
        let row: Vec<f32> = Vec::<f32>::try_from(&row.to_device(Device::Cpu))?;
        self.prev = Previous::Device(flat);
        Ok((row, change))
    }
}

/// ‖now − before‖ of float32 vectors, the differences taken in float32 and the squares
/// summed in float64.
fn change_norm(now: &Tensor, before: &Tensor) -> Result<f32> {
    Ok(f64::try_from((now - before).to_kind(Kind::Double).norm())? as f32)
}

/// Coordinates hashed (or added) at a time by the CPU passes.
const BLOCK: usize = 1024;

/// The parts as float32 slices of host memory, when every part is a contiguous float32
/// CPU tensor (a parameter, a hidden state); `None` otherwise.
fn host_slices(parts: &[Tensor]) -> Option<Vec<&[f32]>> {
    parts
        .iter()
        .map(|p| {
            let host = p.device() == Device::Cpu && p.kind() == Kind::Float && p.is_contiguous();
            if host && p.numel() == 0 {
                return Some(&[][..]);
            }
            // SAFETY: a contiguous float32 CPU tensor of `numel` > 0 elements (so its data
            // pointer is not null), borrowed (and so alive and not resized) for as long as
            // the slice; only read.
            host.then(|| unsafe {
                std::slice::from_raw_parts(p.data_ptr() as *const f32, p.numel())
            })
        })
        .collect()
}

/// Σ (x − kept)² over the vector made of `slices` (when `had_prev`), then `kept` = x.
fn keep_and_measure(kept: &mut [f32], slices: &[&[f32]], had_prev: bool) -> f64 {
    let mut sumsq = [0f64; 8];
    let mut offset = 0usize;
    for xs in slices {
        let k = &mut kept[offset..offset + xs.len()];
        for (kb, xb) in k.chunks_mut(BLOCK).zip(xs.chunks(BLOCK)) {
            if had_prev {
                add_squared_changes(&mut sumsq, kb, xb);
            }
            kb.copy_from_slice(xb);
        }
        offset += xs.len();
    }
    sumsq.iter().sum()
}

/// Adds Σ (x − kept)² to eight float64 lanes (independent sums the compiler can
/// vectorise); the caller adds the lanes.
fn add_squared_changes(sumsq: &mut [f64; 8], kept: &[f32], xs: &[f32]) {
    let mut k = kept.chunks_exact(8);
    let mut x = xs.chunks_exact(8);
    for (kc, xc) in (&mut k).zip(&mut x) {
        for lane in 0..8 {
            let d = f64::from(xc[lane] - kc[lane]);
            sumsq[lane] += d * d;
        }
    }
    for (lane, (kv, xv)) in k.remainder().iter().zip(x.remainder()).enumerate() {
        let d = f64::from(xv - kv);
        sumsq[lane] += d * d;
    }
}

/// [`Sketch::add_into`] with the codes of [`Sketch::codes`]: the same additions in the
/// same order.
fn add_coded(acc: &mut [f32], xs: &[f32], codes: &[u32]) {
    for (&v, &c) in xs.iter().zip(codes) {
        acc[(c & !SIGN) as usize] += f32::from_bits(v.to_bits() ^ (c & SIGN));
    }
}

/// The sign bit of a float32 (and the flip bit of a code).
const SIGN: u32 = 1 << 31;

fn flat_cat(parts: &[Tensor]) -> Tensor {
    let _guard = tch::no_grad_guard();
    let flats: Vec<Tensor> = parts
        .iter()
        .map(|p| p.detach().flatten(0, -1).to_kind(Kind::Float))
        .collect();
    if flats.len() == 1 {
        flats[0].copy()
    } else {
        Tensor::cat(&flats, 0)
    }
}

/// Cosine-similarity matrix of flat vectors, computed on their device (float64) and
/// finished with the analysis layer's rule (`apply_cosine_rule`: a zero vector has NaN
/// similarity, the diagonal is 1).
pub fn cosine_matrix(vectors: &[Tensor]) -> Result<ndarray::Array2<f64>> {
    let _guard = tch::no_grad_guard();
    let stacked = Tensor::stack(vectors, 0).to_kind(Kind::Double);
    let norms = stacked.norm_scalaropt_dim(2, [1i64].as_slice(), true);
    let unit = &stacked / norms.clamp_min(1e-300);
    let gram = unit.matmul(&unit.tr()).to_device(Device::Cpu);
    let n = vectors.len();
    let flat: Vec<f64> = Vec::<f64>::try_from(&gram.flatten(0, -1))?;
    let norms: Vec<f64> = Vec::<f64>::try_from(&norms.flatten(0, -1).to_device(Device::Cpu))?;
    let mut c = ndarray::Array2::from_shape_vec((n, n), flat)
        .map_err(|e| ProbeError::Model(format!("cosine matrix: {e}")))?;
    let direction: Vec<bool> = norms.iter().map(|v| *v > 0.0 && v.is_finite()).collect();
    reawaken_analysis::similarity::apply_cosine_rule(&mut c, &direction);
    Ok(c)
}

/// Parameter names matching `pattern`: exact name, or a glob with `*` (any run of
/// characters), e.g. `embed_out.weight`, `gpt_neox.layers.*.attention.dense.weight`.
pub fn matches_pattern(name: &str, pattern: &str) -> bool {
    fn go(n: &[u8], p: &[u8]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some((b'*', rest)) => (0..=n.len()).any(|k| go(&n[k..], rest)),
            Some((c, rest)) => n.first() == Some(c) && go(&n[1..], rest),
        }
    }
    go(name.as_bytes(), pattern.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mod_prime_is_the_remainder() {
        let p = PRIME as u64;
        for x in [
            0,
            1,
            p - 1,
            p,
            p + 1,
            2 * p,
            (1 << 62) - 1,
            123_456_789_012_345,
        ] {
            assert_eq!(mod_prime(x), x % p, "{x}");
        }
    }

    #[test]
    fn glob_patterns() {
        assert!(matches_pattern("embed_out.weight", "embed_out.weight"));
        assert!(matches_pattern(
            "gpt_neox.layers.3.attention.dense.weight",
            "gpt_neox.layers.*.attention.*.weight"
        ));
        assert!(!matches_pattern("embed_out.weight", "embed_out"));
    }

    #[test]
    fn sketch_is_linear_and_chunk_independent() {
        let s = Sketch::new(64, 5);
        tch::manual_seed(0);
        let x = Tensor::randn([1000], (Kind::Float, Device::Cpu));
        let y = Tensor::randn([1000], (Kind::Float, Device::Cpu));
        let sx = s.apply(&x).unwrap();
        let sy = s.apply(&y).unwrap();
        let sxy = s.apply(&(&x + &y)).unwrap();
        assert!(f64::try_from((&sx + &sy - &sxy).abs().max()).unwrap() < 1e-4);
        // Two parts with offsets == the whole.
        let mut acc = Tensor::zeros([64], (Kind::Float, Device::Cpu));
        s.accumulate(&mut acc, &x.narrow(0, 0, 300), 0).unwrap();
        s.accumulate(&mut acc, &x.narrow(0, 300, 700), 300).unwrap();
        assert!(f64::try_from((&acc - &sx).abs().max()).unwrap() < 1e-4);
    }

    /// The CPU pass gives libtorch's numbers bit for bit, over several chunks, at an
    /// offset, for a power-of-two and another dimension.
    #[test]
    fn the_cpu_pass_equals_the_tensor_sketch_bit_for_bit() {
        tch::manual_seed(3);
        let n = CHUNK + 12_345;
        let x = Tensor::randn([n], (Kind::Float, Device::Cpu));
        for dim in [4096usize, 100] {
            let s = Sketch::new(dim, 21);
            let mut fast = Tensor::zeros([dim as i64], (Kind::Float, Device::Cpu));
            let t = std::time::Instant::now();
            s.accumulate(&mut fast, &x, 77).unwrap();
            eprintln!("cpu pass, dim {dim}: {n} coordinates in {:?}", t.elapsed());
            let mut slow = Tensor::zeros([dim as i64], (Kind::Float, Device::Cpu));
            s.accumulate_with_tensors(&mut slow, &x, 77).unwrap();
            assert!(fast.equal(&slow), "dim {dim}");
            assert!(f64::try_from(fast.abs().sum(Kind::Double)).unwrap() > 0.0);
        }
    }

    /// Error of the k = 4096 sketch on vectors of D = 200 000 with a range of cosines.
    #[test]
    fn sketch_preserves_geometry() {
        let d = 200_000;
        let s = Sketch::new(4096, 11);
        tch::manual_seed(1);
        let base = Tensor::randn([d], (Kind::Float, Device::Cpu));
        let mut vecs = Vec::new();
        for k in 0..12 {
            let noise = Tensor::randn([d], (Kind::Float, Device::Cpu));
            let a = k as f64 / 11.0;
            vecs.push(&base * a + noise * (1.0 - a * a).sqrt().max(0.05));
        }
        let exact = cosine_matrix(&vecs).unwrap();
        let sk: Vec<Tensor> = vecs.iter().map(|v| s.apply(v).unwrap()).collect();
        let approx = cosine_matrix(&sk).unwrap();
        let mut max_err = 0f32;
        for i in 0..12 {
            for j in 0..12 {
                max_err = max_err.max((exact[[i, j]] - approx[[i, j]]).abs() as f32);
            }
        }
        let mut max_norm_rel = 0f64;
        for (v, w) in vecs.iter().zip(&sk) {
            let nv = f64::try_from(v.norm()).unwrap();
            let nw = f64::try_from(w.norm()).unwrap();
            max_norm_rel = max_norm_rel.max((nw / nv - 1.0).abs());
        }
        eprintln!("sketch k=4096 D=200000: max |cos err| = {max_err:.4}, max rel norm err = {max_norm_rel:.4}");
        assert!(max_err < 0.08, "cosine error {max_err}");
        assert!(max_norm_rel < 0.08, "norm error {max_norm_rel}");
    }

    /// The CPU pass (with and without the hash table, exact and sketched, several parts)
    /// gives the rows of the libtorch path bit for bit and its change norms to float32
    /// rounding (the pass sums the squares in float64).
    #[test]
    fn the_host_pass_equals_the_tensor_path() {
        tch::manual_seed(4);
        // Small parts, and a larger vector.
        let small = [3000i64, 1, 2500, 1024];
        let large = [1i64 << 20, 5];
        let cases = [
            (&small[..], 100, HASH_TABLE_MAX),
            (&small[..], 100, 0),
            (&small[..], 1 << 20, 0),
            (&large[..], 100, HASH_TABLE_MAX),
        ];
        for (sizes, budget, table_max) in cases {
            let n: i64 = sizes.iter().sum();
            let mut host = TrajectoryRecorder::new(n as usize, budget, 256, 9);
            host.table_max = table_max;
            let mut tensors = TrajectoryRecorder::new(n as usize, budget, 256, 9);
            let mut before: Option<Tensor> = None;
            for step in 0..3 {
                let parts: Vec<Tensor> = sizes
                    .iter()
                    .map(|&k| Tensor::randn([k], (Kind::Float, Device::Cpu)) * (step + 1))
                    .collect();
                let (row, change) = host.record(&parts).unwrap();
                let (want_row, want_change) = tensors.record_with_tensors(&parts).unwrap();
                assert_eq!(
                    row, want_row,
                    "budget {budget}, table {table_max}, step {step}"
                );
                assert_eq!(change.is_some(), step > 0);
                assert_eq!(want_change.is_some(), step > 0);
                // The norm against float64 arithmetic on the float32 differences: float32
                // rounding of the result only (libtorch's float32 norm is looser, ~1e-5).
                let now = flat_cat(&parts);
                if let (Some(c), Some(b)) = (change, &before) {
                    let exact = f64::try_from((&now - b).to_kind(Kind::Double).norm()).unwrap();
                    assert!(
                        (f64::from(c) - exact).abs() <= 1e-7 * exact,
                        "{c} vs {exact}"
                    );
                }
                before = Some(now);
            }
            assert_eq!(host.codes.is_some(), budget < n as usize && table_max > 0);
        }
    }

    #[test]
    fn exact_recorder_reports_change_norm() {
        let mut r = TrajectoryRecorder::new(4, 10, 8, 0);
        let a = Tensor::from_slice(&[1f32, 0., 0., 0.]);
        let b = Tensor::from_slice(&[1f32, 3., 4., 0.]);
        let (row, ch) = r.record(&[a]).unwrap();
        assert_eq!(row, vec![1., 0., 0., 0.]);
        assert!(ch.is_none());
        let (_, ch) = r.record(&[b.narrow(0, 0, 2), b.narrow(0, 2, 2)]).unwrap();
        assert!((ch.unwrap() - 5.0).abs() < 1e-6);
        let r2 = TrajectoryRecorder::new(100, 10, 8, 0);
        assert_eq!(r2.row_len(), 8);
    }
}
