//! The search: which expert tensors leave each GPU so that every GPU fits its
//! budget, taking as few as possible and the last layers' first.
//!
//! Memory figures come from a [`MemoryProbe`], in practice llama.cpp's own
//! accounting of a `no_alloc` dry run (nothing is allocated, no weight is
//! read). The search measures two candidates (nothing moved, everything
//! movable moved), predicts the rest from the tensor sizes of the GGUF
//! header, and measures its answer again, correcting until llama.cpp agrees
//! that it fits: the prediction alone misses the backends' padding of
//! quantized rows and the staging buffer that op offload adds.
//!
//! Splitting the boundary layer per matrix costs decode a round trip
//! between GPU and CPU, but so would moving that layer whole: with the
//! biases beside their matrices a layer with host experts makes one round
//! trip whichever of them moved, and with biases on the GPU one per host
//! matrix, so fewer matrices make fewer. The budget needs the layer's bytes
//! freed either way, so the fewest units are never slower, and the search
//! does not trade bytes against splits.

use super::layout::ExpertPart;
use super::PlanError;

/// Bytes llama.cpp accounts to one device.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceBytes {
    /// Model weights.
    pub weights: u64,
    /// Context state (KV cache).
    pub kv: u64,
    /// Compute buffers.
    pub compute: u64,
}

impl DeviceBytes {
    /// Sum of the three.
    pub fn total(&self) -> u64 {
        self.weights
            .saturating_add(self.kv)
            .saturating_add(self.compute)
    }

    pub(crate) fn add(&mut self, other: DeviceBytes) {
        self.weights += other.weights;
        self.kv += other.kv;
        self.compute += other.compute;
    }
}

/// A measurement of one candidate: each planned GPU in order, and the host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Measured {
    pub gpus: Vec<DeviceBytes>,
    pub host: DeviceBytes,
}

/// One configuration to measure: how many of each GPU's units (in that
/// GPU's order) go to host memory, and the context sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub host_units: Vec<usize>,
    pub n_ctx: u32,
    pub n_batch: u32,
    pub n_ubatch: u32,
}

/// Measures candidates. The real one is a `no_alloc` load and context.
pub(crate) trait MemoryProbe {
    fn measure(&mut self, problem: &Problem, candidate: &Candidate) -> Result<Measured, PlanError>;
}

/// Tensors that leave a GPU together: one expert matrix of one layer, with
/// its bias when biases follow their matrices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unit {
    pub layer: u32,
    pub part: ExpertPart,
    /// Indices into the layout's tensors.
    pub tensors: Vec<usize>,
    /// Bytes in the file (the GPU frees at least this much).
    pub bytes: u64,
}

/// The search's input: per GPU, its movable units in the order they leave
/// (last layer first; down, gate, up within a layer), and its budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub units: Vec<Vec<Unit>>,
    pub budgets: Vec<u64>,
    /// `n_gpu_layers` to measure with; `None`: the caller's.
    pub n_gpu_layers: Option<u32>,
}

impl Problem {
    /// The units of GPU `gpu` that the candidate sends to the host.
    pub fn host_units<'a>(&'a self, candidate: &'a Candidate) -> impl Iterator<Item = &'a Unit> {
        self.units
            .iter()
            .zip(&candidate.host_units)
            .flat_map(|(units, &k)| &units[..k])
    }
}

/// The answer for one context shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub candidate: Candidate,
    /// llama.cpp's accounting of the candidate.
    pub measured: Measured,
    /// Dry runs it took.
    pub probes: usize,
}

/// Rounds of "measure, then move more" before giving up. Each round moves at
/// least the measured excess, so one is the norm and two are rare.
const MAX_CORRECTIONS: usize = 8;

/// The fewest units per GPU (each GPU's own order) that make every GPU fit.
pub(crate) fn search(
    problem: &Problem,
    probe: &mut dyn MemoryProbe,
    shape: (u32, u32, u32),
) -> Result<Outcome, PlanError> {
    let (n_ctx, n_batch, n_ubatch) = shape;
    let n_gpus = problem.budgets.len();
    let candidate = |host_units: Vec<usize>| Candidate {
        host_units,
        n_ctx,
        n_batch,
        n_ubatch,
    };
    let mut probes = 0;
    let mut measure = |c: &Candidate| {
        probes += 1;
        let m = probe.measure(problem, c)?;
        if m.gpus.len() != n_gpus {
            return Err(PlanError::Probe(format!(
                "the dry run reported {} GPUs, the plan has {n_gpus}",
                m.gpus.len()
            )));
        }
        Ok(m)
    };
    let fits = |m: &Measured| {
        m.gpus
            .iter()
            .zip(&problem.budgets)
            .all(|(d, &b)| d.total() <= b)
    };

    let none = candidate(vec![0; n_gpus]);
    let m0 = measure(&none)?;
    if fits(&m0) {
        return Ok(Outcome {
            candidate: none,
            measured: m0,
            probes,
        });
    }
    let all = candidate(problem.units.iter().map(Vec::len).collect());
    let m1 = measure(&all)?;
    if !fits(&m1) {
        return Err(PlanError::BudgetTooSmall {
            n_ubatch,
            n_ctx,
            n_gpu_layers: problem.n_gpu_layers,
            shortfalls: shortfalls(&m1, &problem.budgets),
        });
    }

    // Moving any expert adds a staging buffer to the compute buffers (op
    // offload copies a layer's host experts into it): counted as soon as one
    // unit moves.
    let mut k: Vec<usize> = (0..n_gpus)
        .map(|d| {
            let staging = m1.gpus[d].compute.saturating_sub(m0.gpus[d].compute);
            let start = m0.gpus[d].total() + staging;
            units_to_free(
                &problem.units[d],
                0,
                start.saturating_sub(problem.budgets[d]),
            )
        })
        .collect();
    for _ in 0..MAX_CORRECTIONS {
        let c = candidate(k.clone());
        let m = measure(&c)?;
        if fits(&m) {
            return Ok(Outcome {
                candidate: c,
                measured: m,
                probes,
            });
        }
        for (d, k) in k.iter_mut().enumerate() {
            let excess = m.gpus[d].total().saturating_sub(problem.budgets[d]);
            if excess > 0 {
                let more = units_to_free(&problem.units[d], *k, excess).max(1);
                *k = (*k + more).min(problem.units[d].len());
            }
        }
    }
    // Every unit moved measured as fitting above, so this is reached only
    // if the dry runs disagree with each other.
    let c = candidate(k);
    let m = measure(&c)?;
    if fits(&m) {
        return Ok(Outcome {
            candidate: c,
            measured: m,
            probes,
        });
    }
    Err(PlanError::Probe(
        "the dry runs did not converge on a placement that fits".into(),
    ))
}

/// How many units after the first `from` must move to free `bytes`.
fn units_to_free(units: &[Unit], from: usize, bytes: u64) -> usize {
    let mut freed = 0u64;
    let mut n = 0;
    for unit in &units[from..] {
        if freed >= bytes {
            break;
        }
        freed += unit.bytes;
        n += 1;
    }
    n
}

/// Per GPU over budget: its name index, budget and the bytes it needed.
pub(crate) fn shortfalls(m: &Measured, budgets: &[u64]) -> Vec<super::Shortfall> {
    m.gpus
        .iter()
        .zip(budgets)
        .enumerate()
        .filter(|(_, (d, &b))| d.total() > b)
        .map(|(gpu, (d, &budget))| super::Shortfall {
            gpu,
            device: String::new(),
            budget,
            minimum: d.total(),
        })
        .collect()
}
