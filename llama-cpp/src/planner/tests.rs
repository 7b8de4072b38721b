//! The search, the patterns and the speed model on fake devices: a layout
//! with GPT-OSS-20B's tensor sizes and a probe that accounts memory the way
//! llama.cpp does (padding, KV per layer, a compute buffer per ubatch and a
//! staging buffer once experts live on the host), so the planner's
//! predictions are wrong in the same ways as against the real dry run.

use super::layout::{layer_slots, Slot};
use super::patterns::host_patterns;
use super::search::{Candidate, DeviceBytes, Measured, MemoryProbe, Problem};
use super::setup::Setup;
use super::*;
use crate::offload::numbers_alternation;
use crate::offload::TensorRegex;

const MXFP4_BLOCK: (u64, u64) = (32, 17);

/// GPT-OSS-20B's tensors (names, elements, bytes), `n_layer` layers.
pub(super) fn gpt_oss(n_layer: u32) -> ModelLayout {
    let (e, f, x, vocab) = (2880u64, 2880u64, 32u64, 201_088u64);
    let bf16 = |n: u64| (n, 2 * n);
    let f32 = |n: u64| (n, 4 * n);
    let mxfp4 = |n: u64| (n, n / MXFP4_BLOCK.0 * MXFP4_BLOCK.1);
    let mut t: Vec<(String, (u64, u64))> = vec![
        ("token_embd.weight".into(), bf16(e * vocab)),
        ("output_norm.weight".into(), f32(e)),
        ("output.weight".into(), bf16(e * vocab)),
    ];
    for il in 0..n_layer {
        let b = |s: &str| format!("blk.{il}.{s}");
        t.push((b("attn_norm.weight"), f32(e)));
        t.push((b("attn_q.weight"), bf16(e * 4096)));
        t.push((b("attn_k.weight"), bf16(e * 512)));
        t.push((b("attn_v.weight"), bf16(e * 512)));
        t.push((b("attn_output.weight"), bf16(4096 * e)));
        t.push((b("attn_sinks.weight"), f32(64)));
        t.push((b("post_attention_norm.weight"), f32(e)));
        t.push((b("ffn_gate_inp.weight"), f32(e * x)));
        t.push((b("ffn_gate_exps.weight"), mxfp4(e * f * x)));
        t.push((b("ffn_gate_exps.bias"), f32(f * x)));
        t.push((b("ffn_down_exps.weight"), mxfp4(f * e * x)));
        t.push((b("ffn_down_exps.bias"), f32(e * x)));
        t.push((b("ffn_up_exps.weight"), mxfp4(e * f * x)));
        t.push((b("ffn_up_exps.bias"), f32(f * x)));
    }
    ModelLayout::from_parts(
        [n_layer, 32, 4],
        131_072,
        t.iter()
            .map(|(name, (n, bytes))| (name.as_str(), *n, *bytes)),
    )
}

/// Accounts a candidate like llama.cpp: GPU weights padded by 0.1% (the
/// CUDA backend pads quantized rows), 48 KiB of KV per token spread over
/// the layers on each device, compute 0.2 MiB per ubatch token plus, once
/// any expert is on the host, a staging buffer of one layer's experts.
pub(super) struct FakeProbe<'a> {
    pub layout: &'a ModelLayout,
    pub setup: &'a Setup,
    pub calls: usize,
}

impl MemoryProbe for FakeProbe<'_> {
    fn measure(&mut self, problem: &Problem, c: &Candidate) -> Result<Measured, PlanError> {
        self.calls += 1;
        // The placement at the problem's n_gpu_layers: the layers it sends
        // to the CPU keep their weights and KV cache in host memory.
        let lowered;
        let setup = match problem.n_gpu_layers {
            Some(n) => {
                lowered = self.setup.with_n_gpu_layers(self.layout, n);
                &lowered
            }
            None => self.setup,
        };
        let mut host_tensor = vec![false; self.layout.tensors.len()];
        for unit in problem.host_units(c) {
            for &i in &unit.tensors {
                host_tensor[i] = true;
            }
        }
        let n_gpus = setup.n_gpus;
        let mut m = Measured {
            gpus: vec![DeviceBytes::default(); n_gpus],
            host: Default::default(),
        };
        let mut layers_on = vec![0u64; n_gpus];
        let mut staging = vec![0u64; self.layout.n_layer as usize];
        for (i, t) in self.layout.tensors.iter().enumerate() {
            match (host_tensor[i], setup.slots[i]) {
                (false, Slot::Gpu(g)) => {
                    m.gpus[g].weights += t.n_bytes + t.n_bytes / 1000;
                    if t.name.ends_with("attn_q.weight") {
                        layers_on[g] += 1;
                    }
                }
                (host, slot) => {
                    m.host.weights += t.n_bytes;
                    if let (Some(il), Some(_)) = (t.layer, t.expert) {
                        if host || slot == Slot::Host {
                            staging[il as usize] += t.n_bytes;
                        }
                    }
                }
            }
        }
        let staging = staging.into_iter().max().unwrap_or(0);
        for (g, d) in m.gpus.iter_mut().enumerate() {
            d.kv = u64::from(c.n_ctx) * 48 * 1024 * layers_on[g] / u64::from(self.layout.n_layer);
            d.compute = u64::from(c.n_ubatch) * 200 * 1024 + staging;
        }
        Ok(m)
    }
}

pub(super) fn one_gpu(layout: &ModelLayout) -> Setup {
    Setup::from_rules(layout, -1, &[140 * GIB], |_| None)
}

pub(super) fn plan_with(
    planner: &Planner,
    layout: &ModelLayout,
    setup: &Setup,
    budgets: &[u64],
    ctx: &LlamaContextParams,
) -> (Result<Plan, PlanError>, usize) {
    let names: Vec<String> = (0..budgets.len()).map(|i| format!("GPU{i}")).collect();
    let mut probe = FakeProbe {
        layout,
        setup,
        calls: 0,
    };
    let plan = planner.plan_layout(layout, setup, &names, budgets, ctx, Vec::new(), &mut probe);
    (plan, probe.calls)
}

/// A planner without reserve that moves the last layers' experts first.
pub(super) fn last_layers_first() -> Planner {
    Planner::new("m")
        .reserve(0)
        .expert_order(ExpertOrder::LastLayers)
}

pub(super) fn ctx_4096() -> LlamaContextParams {
    LlamaContextParams::default().with_n_ctx(NonZeroU32::new(4096))
}

#[test]
fn every_budget_is_respected_and_more_budget_is_never_slower() {
    let layout = gpt_oss(24);
    let setup = one_gpu(&layout);
    let planner = Planner::new("gpt-oss.gguf").reserve(0);
    let mut last: Option<Plan> = None;
    for quarter_gib in 14..=56 {
        let budget = quarter_gib * GIB / 4;
        let (plan, calls) = plan_with(&planner, &layout, &setup, &[budget], &ctx_4096());
        let plan = plan.unwrap_or_else(|e| panic!("{budget}: {e}"));
        // The default order plans a second time when the workload's decode
        // outweighs its prompt.
        assert!(calls <= 2 * 4 * 4, "{calls} dry runs for 4 ubatch choices");
        let device = &plan.devices[0];
        assert!(
            device.bytes.total() <= budget,
            "{} > {budget}",
            device.bytes.total()
        );
        if let Some(previous) = &last {
            assert!(plan.speed.workload_seconds <= previous.speed.workload_seconds + 1e-9);
            if plan.shape == previous.shape {
                assert!(plan.host_expert_bytes <= previous.host_expert_bytes);
            }
        }
        last = Some(plan);
    }
    let all_on_gpu = last.unwrap();
    assert!(all_on_gpu.overrides.is_empty() && all_on_gpu.host_experts.is_empty());
}

#[test]
fn an_impossible_budget_names_the_smallest_that_works() {
    let layout = gpt_oss(24);
    // n_gpu_layers set by the caller: the plan moves experts only
    // (tests_ngl.rs has the fallback to fewer GPU layers).
    let setup = Setup::from_rules(&layout, 999, &[140 * GIB], |_| None);
    let planner = Planner::new("m").reserve(0);
    let err = plan_with(&planner, &layout, &setup, &[GIB], &ctx_4096())
        .0
        .unwrap_err();
    let PlanError::BudgetTooSmall {
        n_ubatch,
        n_gpu_layers: None,
        ref shortfalls,
        ..
    } = err
    else {
        panic!("{err}");
    };
    assert_eq!(n_ubatch, 512, "the smallest ubatch needs the least");
    assert!(
        err.to_string().contains("leave n_gpu_layers unset"),
        "{err}"
    );
    assert_eq!(shortfalls.len(), 1);
    let minimum = shortfalls[0].minimum;
    assert!(
        err.to_string().contains(&format!("{minimum} bytes")),
        "{err}"
    );
    assert!(err.to_string().contains("GPU0"), "{err}");
    // Exactly that budget works, with every expert on the host.
    let plan = plan_with(&planner, &layout, &setup, &[minimum], &ctx_4096())
        .0
        .unwrap();
    assert_eq!(plan.host_experts.len(), 24 * 3);
    assert_eq!(plan.devices[0].bytes.total(), minimum);
    assert!(
        plan_with(&planner, &layout, &setup, &[minimum - 1], &ctx_4096())
            .0
            .is_err()
    );
}

#[test]
fn caller_overrides_are_kept_and_planned_around() {
    let layout = gpt_oss(24);
    // The caller keeps layers 0-3's experts on the host (as --n-cpu-moe 4).
    let caller = TensorRegex::new(&crate::offload::n_cpu_moe_pattern(4).unwrap()).unwrap();
    let setup = Setup::from_rules(&layout, -1, &[140 * GIB], |n| {
        caller.is_match(n).then_some(Slot::Host)
    });
    let units = setup.units(&layout, false, ExpertOrder::LastLayers);
    assert_eq!(
        units[0].len(),
        20 * 3,
        "the caller's layers are not the planner's to move"
    );
    let ctx = ctx_4096().with_n_ubatch(2048);
    let plan = plan_with(
        &Planner::new("m").reserve(0),
        &layout,
        &setup,
        &[6 * GIB],
        &ctx,
    )
    .0
    .unwrap();
    assert!(plan.host_experts.iter().all(|h| h.0 >= 4));
    assert!(plan.devices[0].bytes.total() <= 6 * GIB);
    // The caller's host experts count in the speed prediction.
    let moved: u64 = plan.host_experts.len() as u64 * 141_004_800;
    assert!(plan.host_expert_bytes >= moved + 4 * 3 * 141_004_800);

    // With the real params: the same overrides, kept first by with_plan.
    let params = LlamaModelParams::default().with_n_cpu_moe(4);
    let real = Setup::new(&layout, &params, &["GPU0".into()], &[140 * GIB]).unwrap();
    assert_eq!(real, setup);
    let mut plan = plan;
    plan.caller_overrides = vec![params.tensor_overrides()[0].pattern().to_owned()];
    let applied = params.clone().with_plan(&plan).unwrap();
    let patterns: Vec<&str> = applied
        .tensor_overrides()
        .iter()
        .map(|o| o.pattern())
        .collect();
    assert_eq!(patterns[0], params.tensor_overrides()[0].pattern());
    assert_eq!(
        patterns[1..],
        plan.overrides
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );
    // Params with other overrides than the plan's: refused, not dropped.
    let other = LlamaModelParams::default().with_cpu_moe_all();
    let err = other.with_plan(&plan).unwrap_err();
    assert!(
        err.to_string()
            .contains("the plan was made for the overrides"),
        "{err}"
    );
}

#[test]
fn the_ubatch_follows_the_workload_within_the_budget() {
    let layout = gpt_oss(24);
    let setup = one_gpu(&layout);
    let budget = [7 * GIB];
    let ctx = LlamaContextParams::default().with_n_ctx(NonZeroU32::new(16384));
    let long_prompts = Planner::new("m").reserve(0).workload(Workload {
        prompt_tokens: 16384,
        generated_tokens: 16,
    });
    let chat = Planner::new("m").reserve(0).workload(Workload {
        prompt_tokens: 64,
        generated_tokens: 1024,
    });
    let long = plan_with(&long_prompts, &layout, &setup, &budget, &ctx)
        .0
        .unwrap();
    let short = plan_with(&chat, &layout, &setup, &budget, &ctx).0.unwrap();
    assert!(
        long.n_ubatch.unwrap() > short.n_ubatch.unwrap(),
        "{long}\n{short}"
    );
    assert_eq!(
        short.n_ubatch,
        Some(512),
        "a short prompt takes the smallest compute buffer"
    );
    assert!(short.host_expert_bytes < long.host_expert_bytes);
    assert!(long.n_batch.unwrap() >= long.n_ubatch.unwrap());
    // A caller's ubatch is kept.
    let fixed = ctx.clone().with_n_ubatch(1024).with_n_batch(1024);
    let plan = plan_with(&long_prompts, &layout, &setup, &budget, &fixed)
        .0
        .unwrap();
    assert_eq!(
        (plan.n_ubatch, plan.n_batch, plan.shape.2),
        (None, None, 1024)
    );
    assert_eq!(fixed.clone().with_plan(&plan).n_ubatch(), 1024);
}

#[test]
fn a_plan_re_predicted_with_its_own_constants_is_its_prediction() {
    let layout = gpt_oss(24);
    let setup = one_gpu(&layout);
    let ctx = ctx_4096().with_n_ubatch(2048);
    for biases in [ExpertBiases::FollowMatrices, ExpertBiases::Gpu] {
        let planner = Planner::new("m").reserve(0).expert_biases(biases);
        let plan = plan_with(&planner, &layout, &setup, &[6 * GIB], &ctx)
            .0
            .unwrap();
        assert!(!plan.host_experts.is_empty(), "{plan}");
        let again = plan.speed_model.predict_placement(
            &layout,
            &HostExperts::of_plan(&plan),
            plan.shape.2,
            plan.workload,
        );
        let close = |a: f64, b: f64| (a / b - 1.0).abs() < 1e-9;
        assert!(
            close(again.decode_tps, plan.speed.decode_tps),
            "{again:?} {plan}"
        );
        assert!(
            close(again.prompt_tps, plan.speed.prompt_tps),
            "{again:?} {plan}"
        );
    }
}

#[test]
fn the_default_reserve_grows_with_the_ubatch_it_plans() {
    let layout = gpt_oss(24);
    let setup = one_gpu(&layout);
    let ctx = LlamaContextParams::default().with_n_ctx(NonZeroU32::new(16384));
    let workload = Workload {
        prompt_tokens: 16384,
        generated_tokens: 16,
    };
    let planner = Planner::new("m").workload(workload);
    let plan = plan_with(&planner, &layout, &setup, &[7 * GIB], &ctx)
        .0
        .unwrap();
    let n_ubatch = plan.n_ubatch.unwrap();
    assert!(
        n_ubatch > RESERVE_UBATCH,
        "long prompts take a large ubatch: {plan}"
    );
    let device = &plan.devices[0];
    let grown = DEFAULT_RESERVE + u64::from(n_ubatch - RESERVE_UBATCH) * RESERVE_PER_UBATCH_TOKEN;
    assert_eq!(device.reserve, grown);
    assert!(device.bytes.total() + grown <= 7 * GIB, "{plan}");
    // A fixed reserve is the caller's figure at every ubatch.
    let fixed = planner.reserve(DEFAULT_RESERVE);
    let plan = plan_with(&fixed, &layout, &setup, &[7 * GIB], &ctx)
        .0
        .unwrap();
    assert_eq!(plan.devices[0].reserve, DEFAULT_RESERVE);
}

#[test]
fn an_unset_context_length_is_chosen_and_a_set_one_kept() {
    let layout = gpt_oss(4);
    let setup = one_gpu(&layout);
    let planner = Planner::new("m").reserve(0);
    let unset = LlamaContextParams::default().with_n_ctx(None);
    let plan = plan_with(&planner, &layout, &setup, &[20 * GIB], &unset)
        .0
        .unwrap();
    assert_eq!(plan.n_ctx, NonZeroU32::new(DEFAULT_N_CTX));
    assert_eq!(
        unset.with_plan(&plan).n_ctx(),
        NonZeroU32::new(DEFAULT_N_CTX)
    );
    let set = plan_with(&planner, &layout, &setup, &[20 * GIB], &ctx_4096())
        .0
        .unwrap();
    assert_eq!((set.n_ctx, set.shape.0), (None, 4096));
}

#[test]
fn two_gpus_each_fit_their_own_budget_from_their_own_last_layers() {
    let layout = gpt_oss(24);
    let free = [80 * GIB, 80 * GIB];
    let slots = layer_slots(24, -1, &free);
    // llama.cpp's upper_bound over [0.5, 1.0] at il / 25: layers 0-12 on the
    // first GPU, 13-23 and the output on the second.
    assert_eq!(slots[..13], [Slot::Gpu(0); 13]);
    assert_eq!(slots[13..], [Slot::Gpu(1); 12]);
    let setup = Setup::from_rules(&layout, -1, &free, |_| None);
    let budgets = [2 * GIB, 3 * GIB];
    let ctx = ctx_4096().with_n_ubatch(512);
    let plan = plan_with(&last_layers_first(), &layout, &setup, &budgets, &ctx)
        .0
        .unwrap();
    for (d, budget) in plan.devices.iter().zip(budgets) {
        assert!(d.bytes.total() <= budget, "{}: {:?}", d.name, d.bytes);
    }
    for (range, budget_bound) in [(0..13, 12), (13..24, 23)] {
        let mut layers: Vec<u32> = plan
            .host_experts
            .iter()
            .map(|h| h.0)
            .filter(|l| range.contains(l))
            .collect();
        layers.sort_unstable();
        layers.dedup();
        assert_eq!(
            layers.last(),
            Some(&budget_bound),
            "each GPU's own last layers first"
        );
    }
    let err = plan_with(
        &Planner::new("m").reserve(0),
        &layout,
        &setup,
        &[GIB / 2, 3 * GIB],
        &ctx,
    )
    .0;
    let Err(PlanError::BudgetTooSmall { shortfalls, .. }) = err else {
        panic!("{err:?}")
    };
    assert_eq!(
        shortfalls
            .iter()
            .map(|s| s.device.as_str())
            .collect::<Vec<_>>(),
        ["GPU0"]
    );
}

#[test]
fn patterns_select_exactly_the_host_matrices() {
    let layout = gpt_oss(40);
    let host: Vec<(u32, ExpertPart)> = (17..40)
        .flat_map(|l| [ExpertPart::Down, ExpertPart::Gate, ExpertPart::Up].map(|p| (l, p)))
        .chain([
            (16, ExpertPart::Down),
            (16, ExpertPart::Gate),
            (3, ExpertPart::Down),
        ])
        .collect();
    for biases_follow in [false, true] {
        let patterns = host_patterns(&host, biases_follow);
        assert_eq!(patterns.len(), 3, "{patterns:?}");
        let regexes: Vec<TensorRegex> = patterns
            .iter()
            .map(|p| TensorRegex::new(p).unwrap())
            .collect();
        for t in &layout.tensors {
            let selected = regexes.iter().any(|re| re.is_match(&t.name));
            let expected = match (t.layer, t.expert) {
                (Some(l), Some(p)) => host.contains(&(l, p)) && (biases_follow || !t.is_bias),
                _ => false,
            };
            assert_eq!(selected, expected, "{} with {patterns:?}", t.name);
        }
    }
}

#[test]
fn number_alternations_match_exactly_their_numbers() {
    let check = |numbers: &[u32]| {
        let alternation = numbers_alternation(numbers);
        let re = TensorRegex::new(&format!("^({alternation})$")).unwrap();
        for n in 0..560u32 {
            assert_eq!(
                re.is_match(&n.to_string()),
                numbers.contains(&n),
                "{n} in {alternation}"
            );
        }
        assert!(!re.is_match("01") && !re.is_match("007"));
        alternation
    };
    assert_eq!(check(&(12..24).collect::<Vec<_>>()), "1[2-9]|2[0-3]");
    assert_eq!(
        check(&(0..48).collect::<Vec<_>>()),
        "[0-9]|[1-3][0-9]|4[0-7]"
    );
    assert_eq!(check(&(100..200).collect::<Vec<_>>()), "1[0-9][0-9]");
    for (lo, hi) in [
        (0, 1),
        (5, 6),
        (9, 11),
        (0, 100),
        (10, 100),
        (95, 230),
        (99, 512),
        (7, 8),
    ] {
        check(&(lo..hi).collect::<Vec<_>>());
    }
    check(&[0, 2, 3, 4, 9, 10, 11, 19, 20, 99, 100, 101, 250, 511]);
}

#[test]
fn the_speed_model_reproduces_the_measured_gpt_oss_rows() {
    // docs/BENCHMARKS.md, GPT-OSS-20B on the H200, mean of the ten-run rows:
    // (layers whose experts are on the host, prompt t/s at 512, decode t/s).
    let layout = gpt_oss(24);
    let speed = SpeedModel::h200_reference();
    for (host_layers, prompt, decode) in
        [(24, 2174.0, 35.9), (12, 3662.0, 63.4), (0, 11409.0, 269.3)]
    {
        let setup = one_gpu(&layout);
        let units = setup.units(&layout, true, ExpertOrder::LastLayers);
        let problem = Problem {
            units,
            budgets: vec![u64::MAX],
            n_gpu_layers: None,
        };
        let c = Candidate {
            host_units: vec![host_layers * 3],
            n_ctx: 4096,
            n_batch: 2048,
            n_ubatch: 2048,
        };
        let t = traffic(&layout, &setup, &problem, &c);
        let p = speed.predict(
            &layout,
            &t,
            2048,
            Workload {
                prompt_tokens: 512,
                generated_tokens: 1,
            },
        );
        let near = |predicted: f64, measured: f64| (predicted / measured - 1.0).abs() < 0.15;
        assert!(
            near(p.prompt_tps, prompt),
            "{host_layers}: prompt {} vs {prompt}",
            p.prompt_tps
        );
        assert!(
            near(p.decode_tps, decode),
            "{host_layers}: decode {} vs {decode}",
            p.decode_tps
        );
    }
}

#[test]
fn layouts_know_their_experts() {
    let layout = gpt_oss(2);
    assert!(layout.is_moe());
    assert_eq!(layout.expert_bytes(), 2 * 3 * (141_004_800 + 2880 * 32 * 4));
    let down = layout
        .tensors
        .iter()
        .find(|t| t.name == "blk.1.ffn_down_exps.bias")
        .unwrap();
    assert_eq!(
        (down.layer, down.expert, down.is_bias),
        (Some(1), Some(ExpertPart::Down), true)
    );
    let fused = ModelLayout::from_parts(
        [1, 8, 2],
        0,
        [
            ("blk.0.ffn_gate_up_exps.weight", 8, 8),
            ("blk.0.ffn_up_chexps.weight", 8, 8),
            ("blk.0.ffn_up_shexp.weight", 8, 8),
            ("blk.0.ffn_gate_inp.weight", 8, 8),
        ],
    );
    let parts: Vec<_> = fused.tensors.iter().map(|t| t.expert).collect();
    assert_eq!(
        parts,
        [Some(ExpertPart::GateUp), Some(ExpertPart::Up), None, None]
    );
    let dense = ModelLayout::from_parts([1, 0, 0], 0, [("blk.0.ffn_up.weight", 8, 8)]);
    assert!(!dense.is_moe());
}

#[test]
fn a_budget_list_must_match_the_gpus() {
    let gpus = [
        ("CUDA0".to_owned(), 10 * GIB),
        ("CUDA1".to_owned(), 20 * GIB),
    ];
    assert_eq!(
        Budget::default().resolve(&gpus).unwrap(),
        [9 * GIB, 19 * GIB]
    );
    let err = Budget::bytes_per_device([GIB]).resolve(&gpus).unwrap_err();
    assert!(err.to_string().contains("CUDA0, CUDA1"), "{err}");
}

#[test]
fn the_reserve_stays_free_and_counts_in_the_minimum() {
    let layout = gpt_oss(24);
    let setup = one_gpu(&layout);
    let ctx = ctx_4096().with_n_ubatch(2048);
    let planner = Planner::new("m");
    let plan = plan_with(&planner, &layout, &setup, &[8 * GIB], &ctx)
        .0
        .unwrap();
    let device = &plan.devices[0];
    assert!(device.bytes.total() <= 8 * GIB - DEFAULT_RESERVE);
    assert_eq!(
        device.budget,
        8 * GIB,
        "the plan reports the caller's budget"
    );
    assert_eq!(device.reserve, DEFAULT_RESERVE);
    assert_eq!(device.peak(), device.bytes.total() + DEFAULT_RESERVE);
    assert!(device.peak() <= device.budget, "{plan}");
    let Err(PlanError::BudgetTooSmall { shortfalls, .. }) =
        plan_with(&planner, &layout, &setup, &[GIB], &ctx).0
    else {
        panic!("1 GiB is too small")
    };
    let without = plan_with(&planner.clone().reserve(0), &layout, &setup, &[GIB], &ctx).0;
    let Err(PlanError::BudgetTooSmall {
        shortfalls: bare, ..
    }) = without
    else {
        panic!()
    };
    assert_eq!(shortfalls[0].minimum, bare[0].minimum + DEFAULT_RESERVE);
    assert_eq!(shortfalls[0].budget, GIB);
}

#[test]
fn tied_embeddings_count_once_more_on_the_output_gpu() {
    // Without output.weight the loader also places token_embd as the output
    // layer's weight: a second copy on the GPU, read every token.
    let tensors = [
        ("token_embd.weight", 1000, 2000),
        ("blk.0.ffn_up_exps.weight", 8, 8),
    ];
    let tied = ModelLayout::from_parts([1, 4, 1], 0, tensors);
    let setup = Setup::from_rules(&tied, -1, &[GIB], |_| None);
    assert_eq!(
        setup.slots[0],
        Slot::Host,
        "the input layer stays on the host"
    );
    assert_eq!(setup.tied_output_copy, Some((0, Slot::Gpu(0))));
    let problem = Problem {
        units: setup.units(&tied, false, ExpertOrder::LastLayers),
        budgets: vec![GIB],
        n_gpu_layers: None,
    };
    let c = Candidate {
        host_units: vec![0],
        n_ctx: 512,
        n_batch: 512,
        n_ubatch: 512,
    };
    let t = traffic(&tied, &setup, &problem, &c);
    assert_eq!(
        (t.gpu_dense_bytes, t.host_dense_bytes, t.gpu_expert_bytes),
        (2000, 0, 8)
    );
    // With n_gpu_layers 0 nothing is on a GPU, and there is no second copy.
    let cpu_only = Setup::from_rules(&tied, 0, &[GIB], |_| None);
    assert_eq!(cpu_only.tied_output_copy, None);
    assert!(cpu_only
        .units(&tied, false, ExpertOrder::LastLayers)
        .iter()
        .all(Vec::is_empty));
}

#[test]
fn shared_experts_and_dense_layers_never_move() {
    // DeepSeek-MoE's shape: layer 0 is dense, the others have 64 routed
    // experts (F16) and 2 shared ones, which every token uses.
    let mut t: Vec<(String, u64)> = vec![("output.weight".into(), 200 << 20)];
    for il in 0..28u32 {
        let b = |s: &str| format!("blk.{il}.{s}");
        t.push((b("attn_q.weight"), 32 << 20));
        if il == 0 {
            t.push((b("ffn_up.weight"), 88 << 20));
            continue;
        }
        for part in ["gate", "down", "up"] {
            t.push((b(&format!("ffn_{part}_exps.weight")), 352 << 20));
            t.push((b(&format!("ffn_{part}_shexp.weight")), 11 << 20));
        }
    }
    let layout = ModelLayout::from_parts(
        [28, 64, 6],
        4096,
        t.iter().map(|(n, b)| (n.as_str(), *b / 2, *b)),
    );
    let setup = one_gpu(&layout);
    let ctx = ctx_4096().with_n_ubatch(512);
    let planner = Planner::new("m").reserve(0);
    for budget in [4 * GIB, 12 * GIB, 20 * GIB] {
        let plan = plan_with(&planner, &layout, &setup, &[budget], &ctx)
            .0
            .unwrap();
        assert!(plan.devices[0].bytes.total() <= budget);
        assert!(
            plan.host_experts.iter().all(|h| h.0 >= 1),
            "layer 0 has no experts"
        );
        let regexes: Vec<TensorRegex> = plan
            .overrides
            .iter()
            .map(|p| TensorRegex::new(p).unwrap())
            .collect();
        for tensor in &layout.tensors {
            let moved = regexes.iter().any(|re| re.is_match(&tensor.name));
            assert!(
                !(moved && tensor.expert.is_none()),
                "{} moved by {:?}",
                tensor.name,
                plan.overrides
            );
        }
    }
}
