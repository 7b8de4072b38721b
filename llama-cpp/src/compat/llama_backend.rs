//! llama-cpp-2's path for [`LlamaBackend`] (`llama_cpp_2::llama_backend`).
//!
//! Unlike llama-cpp-2's, a second `LlamaBackend::init()` is not an error: initialisation runs
//! once per process and every call returns a handle. NUMA strategies (`init_numa`) are not
//! provided.

pub use crate::LlamaBackend;

impl LlamaBackend {
    /// Whether this platform can lock the weights in RAM.
    pub fn supports_mlock(&self) -> bool {
        crate::mlock_supported()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn init_twice_gives_two_handles() {
        let first = super::LlamaBackend::init().expect("first init");
        let second = super::LlamaBackend::init().expect("init is once per process, not an error");
        assert_eq!(first.supports_mlock(), second.supports_mlock());
    }
}
