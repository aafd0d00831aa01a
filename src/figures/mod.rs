//! SVG figures from run records (skeleton).
