//! libtorch's CUDA backend, loaded on demand (`reawaken-llm` is not linked against
//! libtorch_cuda, so a CPU run maps none of the CUDA libraries). In a process of its own:
//! libtorch remembers the first answer to "is there a CUDA backend?", so the backend must
//! be loaded before anything asks — as `select_device` does, first thing in a run.

use tch::Device;

#[test]
fn the_cuda_backend_loads_on_demand_when_libtorch_has_it() {
    use reawaken_llm::model::load::{libtorch_lib_dir, load_cuda_backend};
    let dir = libtorch_lib_dir().expect("libtorch_cpu.so is mapped");
    assert!(dir.join("libtorch_cpu.so").is_file(), "{}", dir.display());
    let has_cuda = dir.join("libtorch_cuda.so").is_file();
    let loaded = load_cuda_backend();
    assert_eq!(loaded.is_ok(), has_cuda, "{loaded:?}");
    if !has_cuda {
        let why = loaded.unwrap_err();
        assert!(why.contains("no CUDA backend"), "{why}");
        return;
    }
    // Registered: a CUDA tensor is made on a GPU machine; without one it is refused for
    // want of a driver or device, not of the backend.
    match tch::Tensor::f_zeros([1], (tch::Kind::Float, Device::Cuda(0))) {
        Ok(t) => assert_eq!(t.device(), Device::Cuda(0)),
        Err(e) => {
            let msg = e.to_string();
            eprintln!("without a GPU: {}", msg.lines().next().unwrap_or(""));
            assert!(
                !msg.contains("without ATen_cuda") && !msg.contains("from the 'CUDA' backend"),
                "the CUDA backend was not registered: {msg}"
            );
        }
    }
}
