//! Helpers shared by the integration tests of the `reawaken` crate.

/// A hand-written `.npy` (format version 1) with any header text and data bytes, padded
/// as the format requires; for files whose header lies or is malformed on purpose.
pub fn npy_v1(header: &str, data: &[u8]) -> Vec<u8> {
    let mut h = header.to_string();
    while !(10 + h.len() + 1).is_multiple_of(64) {
        h.push(' ');
    }
    h.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(h.len() as u16).to_le_bytes());
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(data);
    out
}
