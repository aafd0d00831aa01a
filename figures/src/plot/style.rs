//! Palettes and sizes shared by every figure.
//!
//! Lines use the Okabe–Ito palette (colour-blind safe); heatmaps, rings and
//! anything coloured by a continuous value use viridis.

use plotters::style::RGBColor;

/// Okabe–Ito colours in the order series get them (blue, vermillion, bluish green,
/// orange, reddish purple, sky blue, yellow, black).
pub const OKABE_ITO: [RGBColor; 8] = [
    RGBColor(0x00, 0x72, 0xB2),
    RGBColor(0xD5, 0x5E, 0x00),
    RGBColor(0x00, 0x9E, 0x73),
    RGBColor(0xE6, 0x9F, 0x00),
    RGBColor(0xCC, 0x79, 0xA7),
    RGBColor(0x56, 0xB4, 0xE9),
    RGBColor(0xF0, 0xE4, 0x42),
    RGBColor(0x00, 0x00, 0x00),
];

/// Colour of the `i`-th line series.
pub fn series_colour(i: usize) -> RGBColor {
    OKABE_ITO[i % OKABE_ITO.len()]
}

/// Viridis sampled at 11 evenly spaced stops (matplotlib's values).
const VIRIDIS: [(u8, u8, u8); 11] = [
    (68, 1, 84),
    (72, 36, 117),
    (65, 68, 135),
    (53, 95, 141),
    (42, 120, 142),
    (33, 145, 140),
    (34, 168, 132),
    (68, 191, 112),
    (122, 209, 81),
    (189, 223, 38),
    (253, 231, 37),
];

/// Viridis colour at `t` in [0, 1] (clamped; NaN maps to grey).
pub fn viridis(t: f64) -> RGBColor {
    if !t.is_finite() {
        return RGBColor(0xBB, 0xBB, 0xBB);
    }
    let t = t.clamp(0.0, 1.0) * (VIRIDIS.len() - 1) as f64;
    let i = (t.floor() as usize).min(VIRIDIS.len() - 2);
    let f = t - i as f64;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    let lerp = |x: u8, y: u8| (x as f64 + (y as f64 - x as f64) * f).round() as u8;
    RGBColor(lerp(a.0, b.0), lerp(a.1, b.1), lerp(a.2, b.2))
}

/// Canvas size of a single-panel figure (px). Fonts are sized so that the figure
/// stays readable when scaled to a paper column (~3.3 in).
pub const SINGLE: (u32, u32) = (640, 440);
pub const FONT: &str = "sans-serif";
pub const TITLE_PX: u32 = 22;
pub const LABEL_PX: u32 = 18;
pub const TICK_PX: u32 = 15;
pub const LEGEND_PX: u32 = 15;
