//! Axis ranges and ticks that stay bounded for any data.
//!
//! Every chart coordinate is an [`Axis`]: a range checked by [`Axis::new`] (finite ends,
//! a finite span no wider than [`MAX_AXIS_SPAN`], ends within ±[`MAX_AXIS_END`], a span
//! that the f64 ticks can resolve) whose tick positions come from [`ticks`], plotters'
//! own tick search with hard bounds on its loops. Plotters' search never ends when the
//! span of an axis overflows to inf (e.g. values from −1e308 to 1e308: its tick count
//! becomes NaN, which it reads as 0 and refines forever), so such ranges are refused (a
//! note, not a figure); a span of a few ulps of its ends (e.g. 1e20 to 1e20 + 16384) gives
//! repeated ticks, so such flat data are widened. [`padded`] gives the padded range of
//! the data, [`robust_mean_sd`] a mean and sd that do not overflow for finite values near
//! ±f64::MAX.

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;

use super::Span;
use crate::FigureError;

/// The widest axis span drawn (≈ 1.44e308). With it and [`MAX_AXIS_END`], every offset the
/// figures and plotters compute from an axis (ends ± a step, labels placed a fifth of
/// the span beyond an end) stays finite.
pub const MAX_AXIS_SPAN: f64 = f64::MAX / 1.25;
/// The largest magnitude of an axis end (≈ 1.44e308).
pub const MAX_AXIS_END: f64 = f64::MAX / 1.25;
/// Spans below this fraction of the ends' magnitude are flat for drawing purposes: the
/// pixels and ticks cannot resolve them (plotters gives the same tick several times).
pub const MIN_RELATIVE_SPAN: f64 = 1e-12;
/// Spans below this are flat whatever their ends (as before: constant data get ±10 % of
/// their magnitude, ±1 around 0).
const MIN_ABSOLUTE_SPAN: f64 = 1e-12;
/// Iterations of the tick search's refining loop: the scale starts at most at 1e308 and
/// is divided by 10 each time; f64 has no positive value below 5e-324.
const MAX_REFINE_STEPS: usize = 700;

/// Whether the span of `lo..hi` (either order) is 0 or too small, relative to the ends'
/// magnitude, for the ticks and pixels to resolve it ([`MIN_RELATIVE_SPAN`]).
pub fn too_narrow(lo: f64, hi: f64) -> bool {
    let span = (hi - lo).abs();
    span.is_nan() || span == 0.0 || span < MIN_RELATIVE_SPAN * lo.abs().max(hi.abs())
}

/// The data range `lo..hi` padded by `frac` of its span on both sides. Flat data get
/// ±10 % of their magnitude (±1 around 0): a span below 1e-12 as before, and a span that
/// is [`too_narrow`] for its magnitude (e.g. 1e20 to 1e20 + 16384). The result is not
/// checked: it may be infinite (huge data), which [`Axis::new`] refuses.
pub fn padded(lo: f64, hi: f64, frac: f64) -> Span {
    if (hi - lo).abs() < MIN_ABSOLUTE_SPAN {
        let d = if lo.abs() > 1e-12 {
            lo.abs() * 0.1
        } else {
            1.0
        };
        (lo - d, hi + d)
    } else if too_narrow(lo, hi) {
        let d = lo.abs().max(hi.abs()) * 0.1;
        (lo - d, hi + d)
    } else {
        let d = (hi - lo) * frac;
        (lo - d, hi + d)
    }
}

/// Why a range cannot be an axis, or None when it can.
pub fn axis_problem((a, b): Span) -> Option<&'static str> {
    let (lo, hi) = (a.min(b), a.max(b));
    if !lo.is_finite() || !hi.is_finite() || !(hi - lo).is_finite() {
        Some("an axis over them would span more than f64 can hold")
    } else if hi - lo > MAX_AXIS_SPAN || lo.abs() > MAX_AXIS_END || hi.abs() > MAX_AXIS_END {
        Some("an axis over them would reach beyond ±1.438e308, more than can be drawn")
    } else if too_narrow(lo, hi) {
        Some("their span is too narrow for their magnitude to be drawn")
    } else {
        None
    }
}

/// A checked f64 axis: plotters' linear mapping, ticks from [`ticks`].
#[derive(Clone, Debug)]
pub struct Axis {
    lo: f64,
    hi: f64,
}

impl Axis {
    /// An axis over `range` (it may be reversed, e.g. a heatmap's rows from top to
    /// bottom). `what` names the axis for the error (e.g. `y axis of "…"`): a range that
    /// is not finite, too wide or too narrow to draw gives [`FigureError::Unplottable`].
    pub fn new(range: Span, what: impl FnOnce() -> String) -> Result<Self, FigureError> {
        Self::checked(range, range, what)
    }

    /// The axis over the finite data `lo..hi`, [`padded`] by `frac`; the error names the
    /// data range.
    pub fn over(
        (lo, hi): Span,
        frac: f64,
        what: impl FnOnce() -> String,
    ) -> Result<Self, FigureError> {
        Self::checked(padded(lo, hi, frac), (lo, hi), what)
    }

    /// An axis over `range`; the error names the values `shown` (the data it pads).
    pub(crate) fn checked(
        range: Span,
        shown: Span,
        what: impl FnOnce() -> String,
    ) -> Result<Self, FigureError> {
        match axis_problem(range) {
            None => Ok(Self {
                lo: range.0,
                hi: range.1,
            }),
            Some(reason) => Err(FigureError::Unplottable {
                what: what(),
                lo: shown.0,
                hi: shown.1,
                reason,
            }),
        }
    }

    /// The ends, as given.
    pub fn span(&self) -> Span {
        (self.lo, self.hi)
    }

    fn inner(&self) -> RangedCoordf64 {
        (self.lo..self.hi).into()
    }
}

impl Ranged for Axis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        self.inner().map(v, limit)
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        ticks(self.lo, self.hi, hint.max_num_points())
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

/// `a` modulo `b` with the sign of `b`, as plotters computes it (0 when within an
/// epsilon of `b`).
fn rem_euclid(a: f64, b: f64) -> f64 {
    let ret = if b > 0.0 {
        a - (a / b).floor() * b
    } else {
        a - (a / b).ceil() * b
    };
    if (ret - b).abs() < f64::EPSILON {
        0.0
    } else {
        ret
    }
}

/// Tick positions for the range `a..b` (either order), at most about `max_points` of
/// them (never more than 2·`max_points` + 2), all finite; at least one for a finite
/// range when `max_points` > 0.
///
/// For the ranges [`Axis::new`] accepts this is exactly plotters' own search (the same
/// operations in the same order, so figures of ordinary data are unchanged): the
/// coarsest power of ten below the span, refined by 2, 5 and 10 while the count stays
/// within `max_points`. Unlike plotters it cannot loop forever: the refining loop stops
/// after [`MAX_REFINE_STEPS`] steps or when the count is not a number (an overflowed span,
/// a scale that reached 0), the listing loop after 2·`max_points` + 2 ticks; a span that
/// overflows (or a search that found nothing) gives the two ends, and a range with a NaN
/// or infinite end gives no ticks instead of a panic.
pub fn ticks(a: f64, b: f64, max_points: usize) -> Vec<f64> {
    if max_points == 0 {
        return vec![];
    }
    let range = (a.min(b), b.max(a));
    if !range.0.is_finite() || !range.1.is_finite() {
        return vec![];
    }
    if (range.0 - range.1).abs() < f64::EPSILON {
        return vec![range.0];
    }
    let span = range.1 - range.0;
    if !span.is_finite() {
        let mut ends = vec![range.0, range.1];
        ends.truncate(max_points);
        return ends;
    }
    let mut scale = (10f64).powf(span.log(10.0).floor());
    let mut value_granularity = scale / 10.0;
    // The scale must yield no more points than requested.
    if 1 + (span / scale).floor() as usize > max_points {
        scale *= 10.0;
        value_granularity *= 10.0;
    }
    let mut steps = 0;
    'outer: loop {
        steps += 1;
        if steps > MAX_REFINE_STEPS || !(scale.is_finite() && scale > 0.0) {
            break;
        }
        let old_scale = scale;
        for nxt in [2.0, 5.0, 10.0].iter() {
            let mut new_left = range.0 - rem_euclid(range.0, old_scale / nxt);
            if new_left < range.0 {
                new_left += old_scale / nxt;
            }
            let new_right = range.1 - rem_euclid(range.1, old_scale / nxt);
            let npoints = 1.0 + ((new_right - new_left) / old_scale * nxt);
            // Plotters reads a NaN count as 0 points and refines forever.
            if !npoints.is_finite() || npoints.round() as usize > max_points {
                break 'outer;
            }
            scale = old_scale / nxt;
        }
        scale = old_scale / 10.0;
        value_granularity /= 10.0;
    }
    if !(scale.is_finite() && scale > 0.0 && value_granularity > 0.0) {
        let mut ends = vec![range.0, range.1];
        ends.truncate(max_points);
        return ends;
    }
    let cap = max_points.saturating_mul(2).saturating_add(2);
    let mut ret = vec![];
    // Two variables for the current tick, as plotters: (left + scale) − left can be 0
    // for a left far from 0.
    let left = {
        let mut value = range.0 - rem_euclid(range.0, scale);
        if value < range.0 {
            value += scale;
        }
        value
    };
    let left_base = (left / value_granularity).floor() * value_granularity;
    let mut left_relative = left - left_base;
    let right = range.1 - rem_euclid(range.1, scale);
    while (right - left_relative - left_base) >= -f64::EPSILON {
        let new_left_relative = (left_relative / value_granularity).round() * value_granularity;
        if new_left_relative < 0.0 {
            left_relative += value_granularity;
        }
        ret.push(left_relative + left_base);
        left_relative += scale;
        if ret.len() >= cap {
            break;
        }
    }
    ret.retain(|v| v.is_finite());
    if ret.is_empty() {
        // Plotters finds none when a step overflows near ±f64::MAX (e.g. −1.05e308 to
        // 5e306 with 2 points): the ends, then.
        ret = vec![range.0, range.1];
        ret.truncate(max_points);
    }
    ret
}

/// Mean and sample sd (ddof 1; None for one value) of finite values, without overflow:
/// the plain sums when they are finite (the usual case, bit for bit as before), else the
/// same computed on the values divided by their largest magnitude and scaled back (the
/// mean of finite values is always finite; an sd beyond f64::MAX stays inf).
pub fn robust_mean_sd(v: &[f64]) -> Option<(f64, Option<f64>)> {
    if v.is_empty() {
        return None;
    }
    let n = v.len() as f64;
    let plain = |v: &[f64]| {
        let m = v.iter().sum::<f64>() / n;
        let sd = (v.len() > 1)
            .then(|| (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt());
        (m, sd)
    };
    let (m, sd) = plain(v);
    if m.is_finite() && sd.is_none_or(f64::is_finite) {
        return Some((m, sd));
    }
    let s = v.iter().fold(0.0f64, |a, x| a.max(x.abs()));
    if !(s.is_finite() && s > 0.0) {
        return Some((m, sd));
    }
    let scaled: Vec<f64> = v.iter().map(|x| x / s).collect();
    let (m2, sd2) = plain(&scaled);
    Some((m2 * s, sd2.map(|d| d * s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plotters_ticks(a: f64, b: f64, n: usize) -> Vec<f64> {
        RangedCoordf64::from(a..b).key_points(n)
    }

    #[test]
    fn ticks_are_plotters_ticks_for_ordinary_ranges() {
        for (a, b) in [
            (0.0, 1.0),
            (-0.06, 4.3),
            (1.0, 125.0),
            (0.9995, 1.0005),
            (-200.0, 801.0),
            (0.5, 25.5),
            (2.0e-5, 3.5e-5),
            (1e6, 7e9),
            (4.0, 4.0 + 5e-9),
        ] {
            for n in [2, 6, 8, 10, 60, 80] {
                assert_eq!(ticks(a, b, n), plotters_ticks(a, b, n), "{a}..{b} ({n})");
                assert_eq!(ticks(b, a, n), plotters_ticks(b, a, n), "{b}..{a} ({n})");
            }
        }
    }

    #[test]
    fn ticks_end_on_extreme_ranges() {
        // The first two hang plotters' own search.
        for (a, b) in [
            (-1e308, 1e308),
            (f64::MIN, f64::MAX),
            (1e20, 1e20 + 16384.0),
            (1e308, f64::MAX),
            (-f64::MAX, 0.0),
            (f64::NAN, 1.0),
            (0.0, f64::INFINITY),
            (5e-324, 1e-323),
        ] {
            let t = ticks(a, b, 6);
            assert!(t.len() <= 14, "{a}..{b}: {t:?}");
            assert!(t.iter().all(|v| v.is_finite()), "{a}..{b}: {t:?}");
        }
    }

    #[test]
    fn huge_and_narrow_ranges_are_refused_or_widened() {
        assert!(axis_problem((-1e308, 1e308)).is_some());
        assert!(axis_problem((0.0, f64::INFINITY)).is_some());
        assert!(axis_problem((1e20, 1e20 + 16384.0)).is_some());
        assert!(axis_problem((3.0, 3.0)).is_some());
        assert!(axis_problem((-6e306, 1.06e308)).is_none());
        assert!(axis_problem((1.0, 0.0)).is_none());
        let (lo, hi) = padded(1e20, 1e20 + 16384.0, 0.06);
        assert!(axis_problem((lo, hi)).is_none(), "{lo}..{hi}");
        let (lo, hi) = padded(1e-308, 1e-308, 0.06);
        assert_eq!((lo, hi), (1e-308 - 1.0, 1e-308 + 1.0));
        // Constant data: ±10 % as before.
        assert_eq!(padded(2.0, 2.0, 0.06), (1.8, 2.2));
        assert_eq!(padded(0.0, 0.0, 0.06), (-1.0, 1.0));
    }

    #[test]
    fn mean_and_sd_of_huge_values_stay_finite() {
        assert_eq!(robust_mean_sd(&[1.0, 3.0]), Some((2.0, Some(2f64.sqrt()))));
        let (m, sd) = robust_mean_sd(&[1e308, 1e308]).unwrap();
        assert_eq!((m, sd), (1e308, Some(0.0)));
        let (m, sd) = robust_mean_sd(&[-1e308, 1e308]).unwrap();
        assert_eq!(m, 0.0);
        assert!((sd.unwrap() - 2f64.sqrt() * 1e308).abs() < 1e294);
        assert_eq!(robust_mean_sd(&[1e-308]), Some((1e-308, None)));
        assert_eq!(robust_mean_sd(&[]), None);
    }
}
