//! LAPACK, loaded when it is first needed instead of when the program starts.
//!
//! `ndarray-linalg` is built without a backend feature, which leaves its LAPACK routines
//! to the program. This module defines the one it calls (`dsyev_`, the symmetric
//! eigensolver behind [`crate::pca`]) as a forwarder to the system OpenBLAS, which it
//! opens with `dlopen` on the first call: Debian's single-threaded build first
//! (`/usr/lib/<arch>-linux-gnu/openblas-serial`, no thread pool), then whatever
//! `libopenblas.so.0` / `liblapack.so.3` the loader finds. Loading OpenBLAS costs a
//! process about 2 ms (a 35 MB library, 12 000 relocations), which every command used to
//! pay at start, `--help` included (docs/architecture.md, "LAPACK on demand").
//! [`preload`] opens it on a background thread, for a command that will need it at its
//! end.
//!
//! The numbers are those of the same library linked the usual way. If another routine
//! of `ndarray-linalg` is ever used, the link fails with its symbol undefined: add its
//! forwarder here.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::OnceLock;

/// LAPACK's `dsyev` (Fortran calling convention; the character lengths are not passed,
/// as `lapack-sys` declares it).
type Dsyev = unsafe extern "C" fn(
    *const c_char,
    *const c_char,
    *const c_int,
    *mut f64,
    *const c_int,
    *mut f64,
    *mut f64,
    *const c_int,
    *mut c_int,
);

/// The routines, once looked up (`Err`: why none could be).
static LAPACK: OnceLock<Result<Dsyev, String>> = OnceLock::new();

/// The libraries tried, in order.
fn candidates() -> Vec<String> {
    vec![
        format!(
            "/usr/lib/{}-linux-gnu/openblas-serial/libopenblas.so.0",
            std::env::consts::ARCH
        ),
        "libopenblas.so.0".into(),
        "libopenblas.so".into(),
        "liblapack.so.3".into(),
    ]
}

fn open() -> Result<Dsyev, String> {
    let symbol = c"dsyev_";
    let mut tried = Vec::new();
    for name in candidates() {
        let Ok(c_name) = CString::new(name.clone()) else {
            continue;
        };
        // SAFETY: a NUL-terminated name; dlopen has no other precondition.
        let handle = unsafe { libc::dlopen(c_name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if handle.is_null() {
            tried.push(format!("{name}: {}", dl_error()));
            continue;
        }
        // SAFETY: a live handle and a NUL-terminated symbol name.
        let f: *mut c_void = unsafe { libc::dlsym(handle, symbol.as_ptr()) };
        if f.is_null() {
            tried.push(format!("{name}: no dsyev_"));
            continue;
        }
        // SAFETY: `dsyev_` of a LAPACK library has this signature. The handle is never
        // closed, so the function stays valid for the life of the process.
        return Ok(unsafe { std::mem::transmute::<*mut c_void, Dsyev>(f) });
    }
    Err(format!(
        "no LAPACK library could be loaded (install OpenBLAS: apt-get install libopenblas0-serial); tried {}",
        tried.join("; ")
    ))
}

fn dl_error() -> String {
    // SAFETY: dlerror returns null or a NUL-terminated message owned by libc.
    let e = unsafe { libc::dlerror() };
    if e.is_null() {
        "not found".into()
    } else {
        // SAFETY: non-null, NUL-terminated (above).
        unsafe { CStr::from_ptr(e) }.to_string_lossy().into_owned()
    }
}

fn lapack() -> &'static Result<Dsyev, String> {
    LAPACK.get_or_init(open)
}

/// Whether LAPACK is there; the reason when it is not.
pub fn available() -> Result<(), String> {
    lapack().as_ref().map(|_| ()).map_err(Clone::clone)
}

/// Opens LAPACK on a background thread, so that a command that needs it later (the
/// toy's PCA metric, a figure with a PCA) does not wait for it then.
pub fn preload() {
    if LAPACK.get().is_none() {
        let _ = std::thread::Builder::new()
            .name("lapack-preload".into())
            .spawn(|| {
                lapack();
            });
    }
}

/// The `dsyev_` that `ndarray-linalg` calls: forwards to the loaded library. Without
/// one, `info` is set to -1000 (the callers check [`available`] first).
///
/// # Safety
/// LAPACK's contract for `dsyev`: valid pointers to arrays of the sizes it documents.
#[no_mangle]
pub unsafe extern "C" fn dsyev_(
    jobz: *const c_char,
    uplo: *const c_char,
    n: *const c_int,
    a: *mut f64,
    lda: *const c_int,
    w: *mut f64,
    work: *mut f64,
    lwork: *const c_int,
    info: *mut c_int,
) {
    match lapack() {
        // SAFETY: the caller's pointers go on unchanged to the routine they were meant for.
        Ok(f) => unsafe { f(jobz, uplo, n, a, lda, w, work, lwork, info) },
        Err(_) => {
            if !info.is_null() {
                // SAFETY: non-null, and LAPACK's contract makes it a valid c_int.
                unsafe { *info = -1000 };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eigensolver_is_found_and_solves_a_small_problem() {
        available().unwrap();
        // [[2, 1], [1, 2]]: eigenvalues 1 and 3.
        let mut a = [2.0f64, 1.0, 1.0, 2.0];
        let mut w = [0.0f64; 2];
        let mut work = [0.0f64; 64];
        let (n, lwork, mut info) = (2, 64, 0);
        // SAFETY: arrays of the sizes dsyev documents for n = 2, lwork = 64.
        unsafe {
            dsyev_(
                c"V".as_ptr(),
                c"L".as_ptr(),
                &n,
                a.as_mut_ptr(),
                &n,
                w.as_mut_ptr(),
                work.as_mut_ptr(),
                &lwork,
                &mut info,
            )
        };
        assert_eq!(info, 0);
        assert!(
            (w[0] - 1.0).abs() < 1e-12 && (w[1] - 3.0).abs() < 1e-12,
            "{w:?}"
        );
    }
}
