//! The CPU backend's worker threads, kept alive for the life of a context.
//!
//! Without OpenMP (this crate's default build), ggml starts and joins its
//! worker threads for *every* graph computation unless a thread pool is
//! attached to the context. With experts in host memory, one generated token
//! is 2 × n_layer graph splits that alternate between the GPU and the CPU,
//! so that is hundreds of thread creations per token. llama.cpp's own tools
//! attach a pool to every context; [`LlamaContext`](crate::LlamaContext)
//! does the same by default ([`CpuThreadPool::PerContext`]).
//!
//! Measured on the H200 machine's 16-core host (docs/BENCHMARKS.md): with
//! OpenMP off, GPT-OSS-20B with its experts in host memory decoded at
//! 32.2 ± 0.9 t/s with a pool per context and 32.5 ± 0.3 t/s with ggml's
//! pool per graph. Thread creation is cheap there; the default follows
//! llama.cpp's tools rather than a measured speed-up.

use crate::error::{LlamaError, Result};
use crate::sys;
use std::ptr::NonNull;

/// How the CPU backend runs its worker threads
/// ([`LlamaContextParams::with_cpu_thread_pool`](crate::LlamaContextParams::with_cpu_thread_pool)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CpuThreadPool {
    /// One pool per context, created with it and freed after it: between
    /// graph computations the workers poll briefly, then sleep (llama.cpp's
    /// default polling level, 50). What llama.cpp's own tools do.
    #[default]
    PerContext,
    /// ggml's fallback: a pool per graph computation, started and joined
    /// each time (with OpenMP, OpenMP's own pool is reused instead).
    PerGraph,
}

/// How the threads of a [`CpuThreadPool::PerContext`] pool wait, where they
/// run and at what priority: ggml's `ggml_threadpool_params`, the settings
/// llama.cpp's tools take as `--poll`, `--cpu-strict`, `--cpu-mask` and
/// `--prio`. The default is ggml's: poll level 50, normal priority, no CPU
/// mask.
///
/// With experts in host memory every decoded token alternates between GPU
/// and CPU work once per layer, so how fast the workers wake for the next
/// CPU part matters; whether a setting helps is measured per machine
/// (docs/BENCHMARKS.md, "Host decode").
///
/// ```
/// use llama_cpp_moe::{ThreadPoolSettings, ThreadPriority};
/// // Spin between graph computations, keep CPU 0 for the GPU driver's threads.
/// let settings = ThreadPoolSettings::default()
///     .with_poll(100)
///     .with_cpus((1..16).collect(), true)
///     .with_priority(ThreadPriority::High);
/// assert_eq!(settings.poll(), 100);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadPoolSettings {
    poll: u32,
    priority: ThreadPriority,
    cpus: Option<Vec<usize>>,
    strict_cpu: bool,
}

/// Scheduling priority of the pool's threads (ggml's `ggml_sched_priority`).
/// Above `Normal` usually needs privileges (`CAP_SYS_NICE` on Linux); where it
/// is refused ggml logs a warning and the threads keep their priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ThreadPriority {
    /// Below normal.
    Low,
    /// The operating system's default.
    #[default]
    Normal,
    /// Above normal.
    Medium,
    /// High.
    High,
    /// Real-time scheduling.
    Realtime,
}

impl ThreadPriority {
    fn raw(self) -> sys::ggml_sched_priority {
        match self {
            Self::Low => -1,
            Self::Normal => 0,
            Self::Medium => 1,
            Self::High => 2,
            Self::Realtime => 3,
        }
    }
}

impl Default for ThreadPoolSettings {
    fn default() -> Self {
        Self {
            poll: 50,
            priority: ThreadPriority::Normal,
            cpus: None,
            strict_cpu: false,
        }
    }
}

impl ThreadPoolSettings {
    /// How long an idle worker spins before it sleeps, 0 (sleep at once) to
    /// 100 (spin longest); ggml's default is 50.
    pub fn with_poll(mut self, poll: u32) -> Self {
        self.poll = poll;
        self
    }

    /// The priority of the workers and of the thread that creates the pool.
    pub fn with_priority(mut self, priority: ThreadPriority) -> Self {
        self.priority = priority;
        self
    }

    /// The CPUs (0-based indices) the workers may run on. With `strict`,
    /// each worker is pinned to one of them in turn; without, every worker
    /// may run on any of them.
    ///
    /// Unlike llama.cpp's tools, the thread that creates the context keeps
    /// its own affinity and priority on Linux: ggml pins its caller as worker
    /// 0 and never undoes it, so every thread it started later inherited the
    /// mask, including the workers of a later pool without one (measured: a
    /// 16-thread pool made after a 15-CPU mask took over 8 minutes for a
    /// benchmark row that takes 20 s). The workers ggml starts keep the mask.
    pub fn with_cpus(mut self, cpus: Vec<usize>, strict: bool) -> Self {
        self.cpus = Some(cpus);
        self.strict_cpu = strict;
        self
    }

    /// The polling level.
    pub fn poll(&self) -> u32 {
        self.poll
    }

    /// The priority.
    pub fn priority(&self) -> ThreadPriority {
        self.priority
    }

    /// The CPUs, if restricted, and whether each worker is pinned to one.
    pub fn cpus(&self) -> Option<(&[usize], bool)> {
        self.cpus.as_deref().map(|c| (c, self.strict_cpu))
    }

    /// Checked by `LlamaContextParams::validate` before any pool is made.
    pub(crate) fn validate(&self) -> Result<()> {
        let invalid = |reason: String| {
            Err(LlamaError::InvalidParameter {
                name: "thread_pool",
                reason,
            })
        };
        if self.poll > 100 {
            return invalid(format!("poll is 0 to 100, got {}", self.poll));
        }
        if let Some(cpus) = &self.cpus {
            if cpus.is_empty() {
                return invalid("the CPU list is empty".into());
            }
            let max = sys::GGML_MAX_N_THREADS as usize;
            if let Some(cpu) = cpus.iter().find(|&&c| c >= max) {
                return invalid(format!("CPU {cpu} is beyond ggml's mask of {max}"));
            }
        }
        Ok(())
    }
}

/// An owned `ggml_threadpool`.
#[derive(Debug)]
pub(crate) struct ThreadPool {
    raw: NonNull<sys::ggml_threadpool>,
    /// Asleep by [`ThreadPool::pause`] until [`ThreadPool::wake`].
    paused: bool,
}

// SAFETY: the pool's workers are owned by the pool, not by the creating
// thread; ggml_threadpool_free may run on any thread. The pool is not Sync:
// it is handed to one context, which runs one graph at a time through it.
unsafe impl Send for ThreadPool {}

impl ThreadPool {
    /// `n_threads` is in 1..=GGML_MAX_N_THREADS (ggml asserts otherwise):
    /// `LlamaContextParams::validate` checks it before any pool is made.
    /// `settings` passed [`ThreadPoolSettings::validate`].
    pub(crate) fn new(n_threads: i32, settings: &ThreadPoolSettings) -> Result<Self> {
        debug_assert!((1..=sys::GGML_MAX_N_THREADS as i32).contains(&n_threads));
        // SAFETY: fills a plain struct by value; n_threads is in range (above).
        let mut params = unsafe { sys::ggml_threadpool_params_default(n_threads) };
        params.poll = settings.poll;
        params.prio = settings.priority.raw();
        if let Some(cpus) = &settings.cpus {
            // Indices are below the mask's length (validate).
            for &cpu in cpus {
                params.cpumask[cpu] = true;
            }
            params.strict_cpu = settings.strict_cpu;
        }
        #[cfg(target_os = "linux")]
        let caller = CallerScheduling::save();
        // SAFETY: params is a valid, initialised struct that outlives the
        // call (ggml copies what it needs).
        let raw = unsafe { sys::ggml_threadpool_new(&mut params) };
        #[cfg(target_os = "linux")]
        if let Some(caller) = caller {
            caller.restore();
        }
        NonNull::new(raw)
            .map(|raw| Self { raw, paused: false })
            .ok_or_else(|| {
                LlamaError::ContextCreate(format!(
                    "ggml could not create a pool of {n_threads} threads"
                ))
            })
    }

    pub(crate) fn as_ptr(&self) -> *mut sys::ggml_threadpool {
        self.raw.as_ptr()
    }

    /// Puts the workers to sleep (they stop polling for work) until
    /// [`wake`](Self::wake).
    pub(crate) fn pause(&mut self) {
        if !self.paused {
            // SAFETY: the pool is live; pausing takes its mutex, sets a flag
            // and wakes the pollers so that they sleep: it never waits for
            // work. (A no-op in OpenMP builds, whose pools have no workers.)
            unsafe { sys::ggml_threadpool_pause(self.raw.as_ptr()) };
            self.paused = true;
        }
    }

    /// Wakes the workers [`pause`](Self::pause) put to sleep. ggml would wake
    /// them itself at the next graph, but would then also give the calling
    /// thread the pool's priority and CPU mask, as at creation, where this
    /// crate keeps the caller's (see [`ThreadPoolSettings::with_cpus`]).
    pub(crate) fn wake(&mut self) {
        if self.paused {
            // SAFETY: the pool is live; resuming takes its mutex and
            // broadcasts to the sleeping workers.
            unsafe { sys::ggml_threadpool_resume(self.raw.as_ptr()) };
            self.paused = false;
        }
    }
}

/// The calling thread's CPU affinity and scheduling policy, put back after
/// `ggml_threadpool_new` has applied the pool's to it (see
/// [`ThreadPoolSettings::with_cpus`]).
#[cfg(target_os = "linux")]
struct CallerScheduling {
    cpus: libc::cpu_set_t,
    policy: libc::c_int,
    param: libc::sched_param,
}

#[cfg(target_os = "linux")]
impl CallerScheduling {
    fn save() -> Option<Self> {
        // SAFETY: all-zero bytes are valid values of these plain C structs.
        let (mut cpus, mut param): (libc::cpu_set_t, libc::sched_param) =
            unsafe { (std::mem::zeroed(), std::mem::zeroed()) };
        let mut policy = 0;
        // SAFETY: pid 0 is the calling thread; the out-pointers are valid
        // for the sizes given.
        let ok = unsafe {
            libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut cpus) == 0
                && libc::pthread_getschedparam(libc::pthread_self(), &mut policy, &mut param) == 0
        };
        ok.then_some(Self {
            cpus,
            policy,
            param,
        })
    }

    /// Best effort, as ggml's own calls: a failure leaves ggml's settings.
    fn restore(&self) {
        // SAFETY: as in save; the values were read from this thread, so
        // putting them back needs no privilege.
        unsafe {
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &self.cpus);
            libc::pthread_setschedparam(libc::pthread_self(), self.policy, &self.param);
        }
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        // SAFETY: we own the pool and free it once; the context that used it
        // was freed before (LlamaContext drops its pool after llama_free).
        unsafe { sys::ggml_threadpool_free(self.raw.as_ptr()) }
    }
}
