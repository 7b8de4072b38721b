//! The decode fit on GPT-OSS-20B's tensor sizes and the prompt fit on
//! Qwen3-30B-A3B's: constants recovered from speeds they generated, bounds
//! kept, bad input refused, and the H200 rows.

use super::super::search::{Candidate, Problem};
use super::super::speed::copied_share;
use super::super::tests::{gpt_oss, one_gpu};
use super::super::traffic;
use super::super::ExpertOrder;
use super::*;
use crate::routing::RoutingStats;

/// Every expert matrix of `layers`, and `boundary`'s down matrix: a plan.
fn plan_host(layers: std::ops::Range<u32>, boundary: Option<u32>) -> HostExperts {
    let mut m: Vec<(u32, ExpertPart)> = layers
        .flat_map(|l| [ExpertPart::Down, ExpertPart::Gate, ExpertPart::Up].map(|p| (l, p)))
        .collect();
    m.extend(boundary.map(|l| (l, ExpertPart::Down)));
    HostExperts::Matrices(m)
}

/// Decode speed `model` predicts for `host` on `layout`.
fn tps(model: &SpeedModel, layout: &ModelLayout, host: &HostExperts) -> f64 {
    1.0 / model.decode_seconds(layout, &point_traffic(layout, host))
}

fn machine() -> SpeedModel {
    SpeedModel {
        host_decode_bandwidth: 38e9,
        host_decode_layer_overhead: 0.35e-3,
        ..SpeedModel::h200_reference()
    }
}

fn close(a: f64, b: f64) -> bool {
    (a / b - 1.0).abs() < 1e-9
}

#[test]
fn a_point_has_the_traffic_the_planner_gives_its_placement() {
    let layout = gpt_oss(24);
    let setup = one_gpu(&layout);
    // Units leave last layer first, down / gate / up: 12 layers and a down.
    // Biases on the GPU: a round trip per host matrix (12 * 3 + 1); with
    // their matrices one per layer, the split one included.
    for (follow, trips) in [(false, 37), (true, 13)] {
        let problem = Problem {
            units: setup.units(&layout, follow, ExpertOrder::LastLayers),
            budgets: vec![u64::MAX],
            n_gpu_layers: None,
        };
        let c = Candidate {
            host_units: vec![12 * 3 + 1],
            n_ctx: 4096,
            n_batch: 2048,
            n_ubatch: 2048,
        };
        let planned = traffic(&layout, &setup, &problem, &c);
        let HostExperts::Matrices(m) = plan_host(12..24, Some(11)) else {
            unreachable!()
        };
        let point = if follow {
            HostExperts::MatricesWithBiases(m)
        } else {
            HostExperts::Matrices(m)
        };
        assert_eq!(planned, point_traffic(&layout, &point));
        assert_eq!(planned.host_round_trips, trips);
        // Each round trip costs the overhead once, whatever its bytes.
        let model = SpeedModel {
            host_decode_layer_overhead: 1e-3,
            ..SpeedModel::h200_reference()
        };
        let extra = model.decode_seconds(&layout, &planned)
            - SpeedModel::h200_reference().decode_seconds(&layout, &planned);
        assert!((extra - f64::from(trips) * 1e-3).abs() < 1e-12, "{extra}");
    }
}

#[test]
fn two_kinds_of_point_recover_both_constants() {
    let layout = gpt_oss(24);
    let truth = machine();
    let hosts = [
        HostExperts::FirstLayers(u32::MAX),
        HostExperts::FirstLayers(12),
        plan_host(12..24, Some(11)),
        plan_host(20..24, Some(19)),
    ];
    let points: Vec<DecodePoint> = hosts
        .iter()
        .map(|h| DecodePoint {
            host: h.clone(),
            decode_tps: tps(&truth, &layout, h),
        })
        .collect();
    let fitted = SpeedModel::h200_reference()
        .calibrate_decode(&layout, &points)
        .unwrap();
    assert!(
        close(fitted.host_decode_bandwidth, truth.host_decode_bandwidth),
        "{fitted:?}"
    );
    assert!(
        close(
            fitted.host_decode_layer_overhead,
            truth.host_decode_layer_overhead
        ),
        "{fitted:?}"
    );
    assert_eq!(fitted.gpu_decode_bandwidth, truth.gpu_decode_bandwidth);
}

#[test]
fn whole_layers_alone_fit_the_bandwidth_and_keep_the_layer_cost() {
    // --cpu-moe and --n-cpu-moe N hold whole layers of one size: they cannot
    // separate the two constants, so the starting cost per layer is kept.
    let layout = gpt_oss(24);
    let truth = machine();
    let points: Vec<DecodePoint> = [u32::MAX, 12, 7]
        .map(|n| {
            let host = HostExperts::FirstLayers(n);
            DecodePoint::n_cpu_moe(n, tps(&truth, &layout, &host))
        })
        .to_vec();
    let start = SpeedModel {
        host_decode_layer_overhead: truth.host_decode_layer_overhead,
        ..SpeedModel::h200_reference()
    };
    let fitted = start.calibrate_decode(&layout, &points).unwrap();
    assert!(close(
        fitted.host_decode_bandwidth,
        truth.host_decode_bandwidth
    ));
    assert_eq!(
        fitted.host_decode_layer_overhead,
        truth.host_decode_layer_overhead
    );
}

#[test]
fn one_point_fits_the_bandwidth_only_and_reproduces_itself() {
    let layout = gpt_oss(24);
    let point = DecodePoint::cpu_moe(33.1);
    for overhead in [0.0, 0.2e-3] {
        let start = SpeedModel {
            host_decode_layer_overhead: overhead,
            ..SpeedModel::h200_reference()
        };
        let fitted = start
            .calibrate_decode(&layout, std::slice::from_ref(&point))
            .unwrap();
        assert_eq!(fitted.host_decode_layer_overhead, overhead);
        assert!(
            close(tps(&fitted, &layout, &point.host), 33.1),
            "{fitted:?}"
        );
    }
    // Slower than the reference's 35.9 t/s: a lower bandwidth.
    let fitted = SpeedModel::h200_reference()
        .calibrate_decode(&layout, &[point])
        .unwrap();
    assert!(fitted.host_decode_bandwidth < SpeedModel::h200_reference().host_decode_bandwidth);
}

#[test]
fn a_negative_layer_cost_is_clamped_to_zero() {
    // Speeds that only a negative cost per layer would fit exactly.
    let layout = gpt_oss(24);
    let truth = SpeedModel {
        host_decode_layer_overhead: -0.3e-3,
        ..machine()
    };
    let points: Vec<DecodePoint> = [plan_host(0..24, None), plan_host(20..24, Some(19))]
        .into_iter()
        .map(|host| DecodePoint {
            decode_tps: tps(&truth, &layout, &host),
            host,
        })
        .collect();
    let fitted = SpeedModel::h200_reference()
        .calibrate_decode(&layout, &points)
        .unwrap();
    assert_eq!(fitted.host_decode_layer_overhead, 0.0);
    assert!(fitted.host_decode_bandwidth.is_finite() && fitted.host_decode_bandwidth > 0.0);
}

#[test]
fn bad_input_is_an_error() {
    let layout = gpt_oss(24);
    let model = SpeedModel::h200_reference();
    assert_eq!(
        model.calibrate_decode(&layout, &[]),
        Err(CalibrationError::NoPoints)
    );
    for bad in [f64::NAN, 0.0, -30.0, f64::INFINITY] {
        let points = [DecodePoint::cpu_moe(30.0), DecodePoint::n_cpu_moe(12, bad)];
        match model.calibrate_decode(&layout, &points) {
            Err(CalibrationError::InvalidSpeed { index: 1, tps }) => {
                assert!(tps.is_nan() == bad.is_nan())
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
    for host in [
        HostExperts::FirstLayers(0),
        HostExperts::Matrices(Vec::new()),
    ] {
        let point = DecodePoint {
            host,
            decode_tps: 30.0,
        };
        assert_eq!(
            model.calibrate_decode(&layout, &[point]),
            Err(CalibrationError::NoHostExperts { index: 0 })
        );
    }
    // Faster than the GPU alone (269 t/s all on the GPU).
    assert_eq!(
        model.calibrate_decode(&layout, &[DecodePoint::cpu_moe(1000.0)]),
        Err(CalibrationError::NoBandwidth)
    );
}

/// docs/measurements/planner/plan-table.md (issue 13: GPT-OSS-20B on the
/// H200, the CUDA build's CPU backend with AMX compiled in), two runs per
/// row: the `--n-cpu-moe N` rows, then the plans (experts of layers
/// `first..24` and the boundary layer's down matrix), as (placement, t/s).
fn issue_13_rows() -> Vec<(HostExperts, f64)> {
    let ncm = [
        (22, [28.7, 30.1]),
        (17, [37.6, 34.2]),
        (12, [49.6, 47.7]),
        (7, [76.1, 77.4]),
    ];
    let plans = [
        (2, Some(1), [30.9, 28.6]),
        (7, Some(6), [40.5, 40.1]),
        (12, Some(11), [54.6, 55.6]),
        (17, None, [75.1, 79.4]),
    ];
    let ncm = ncm
        .into_iter()
        .flat_map(|(n, runs)| runs.map(|t| (HostExperts::FirstLayers(n), t)));
    let plans = plans
        .into_iter()
        .flat_map(|(first, boundary, runs)| runs.map(|t| (plan_host(first..24, boundary), t)));
    ncm.chain(plans).collect()
}

/// measured / predicted for every row, worst first.
fn ratios(model: &SpeedModel, layout: &ModelLayout, rows: &[(HostExperts, f64)]) -> Vec<f64> {
    let mut r: Vec<f64> = rows
        .iter()
        .map(|(host, measured)| measured / tps(model, layout, host))
        .collect();
    r.sort_by(|a, b| (b - 1.0).abs().total_cmp(&(a - 1.0).abs()));
    r
}

#[test]
fn calibrated_on_the_h200_rows_decode_is_predicted_within_15_percent() {
    let layout = gpt_oss(24);
    let rows = issue_13_rows();
    let points = |rows: &[(HostExperts, f64)]| -> Vec<DecodePoint> {
        rows.iter()
            .map(|(host, decode_tps)| DecodePoint {
                host: host.clone(),
                decode_tps: *decode_tps,
            })
            .collect()
    };
    let reference = SpeedModel::h200_reference();
    // Uncalibrated: over-predicted, measured/predicted 0.71 at worst.
    let worst = ratios(&reference, &layout, &rows)[0];
    assert!(worst < 0.75, "{worst}");

    // Calibrated on every row (constants measured once on the machine):
    // 39 GB/s, no cost per host layer above the noise, all within 15%.
    let all = reference.calibrate_decode(&layout, &points(&rows)).unwrap();
    let worst = ratios(&all, &layout, &rows)[0];
    assert!((worst - 1.0).abs() < 0.15, "{worst} {all:?}");
    assert_eq!(all.host_decode_layer_overhead, 0.0);

    // Calibrated on the --n-cpu-moe rows alone (measurable before any
    // plan): 37.5 GB/s. The plans decode faster than those rows with fewer
    // host bytes (12 1/3 layers: 55.1 t/s; --n-cpu-moe 12: 48.7), so one run
    // of one plan is 15.7% above its prediction.
    let ncm = reference
        .calibrate_decode(&layout, &points(&rows[..8]))
        .unwrap();
    let worst = ratios(&ncm, &layout, &rows)[0];
    assert!((worst - 1.0).abs() < 0.16, "{worst} {ncm:?}");
}

/// Qwen3-30B-A3B's shape: 48 layers, 128 experts of which 8 are used,
/// 2048 × 768 per expert matrix in 4.5 bits (340 MB of experts per layer).
fn qwen3_moe() -> ModelLayout {
    let (e, f, x, vocab) = (2048u64, 768u64, 128u64, 151_936u64);
    let q4 = |n: u64| (n, n / 32 * 18);
    let mut t: Vec<(String, (u64, u64))> = vec![
        ("token_embd.weight".into(), q4(e * vocab)),
        ("output.weight".into(), q4(e * vocab)),
    ];
    for il in 0..48 {
        let b = |s: &str| format!("blk.{il}.{s}");
        t.push((b("attn_q.weight"), q4(e * 4096)));
        t.push((b("attn_k.weight"), q4(e * 512)));
        t.push((b("attn_v.weight"), q4(e * 512)));
        t.push((b("attn_output.weight"), q4(4096 * e)));
        t.push((b("ffn_gate_inp.weight"), (e * x, 4 * e * x)));
        for part in ["gate", "up", "down"] {
            t.push((b(&format!("ffn_{part}_exps.weight")), q4(e * f * x)));
        }
    }
    ModelLayout::from_parts(
        [48, 128, 8],
        40_960,
        t.iter().map(|(n, (e, b))| (n.as_str(), *e, *b)),
    )
}

/// Prompt speed `model` predicts for `point`'s placement and prompt.
fn prompt_tps(model: &SpeedModel, layout: &ModelLayout, point: &PromptPoint) -> f64 {
    let traffic = point_traffic(layout, &point.host);
    f64::from(point.prompt_tokens)
        / model.prompt_seconds(layout, &traffic, point.prompt_tokens, point.n_ubatch)
}

/// `--cpu-moe` and `--n-cpu-moe 24` on 512 tokens, `--cpu-moe` on 3,000 in
/// ubatches of 2,048 (a full one and the rest), measured on `truth`.
fn prompt_points(truth: &SpeedModel, layout: &ModelLayout) -> Vec<PromptPoint> {
    [
        PromptPoint::cpu_moe(512, 512, 0.0),
        PromptPoint::n_cpu_moe(24, 512, 512, 0.0),
        PromptPoint::cpu_moe(3000, 2048, 0.0),
    ]
    .map(|p| PromptPoint {
        prompt_tps: prompt_tps(truth, layout, &p),
        ..p
    })
    .to_vec()
}

#[test]
fn the_copied_share_is_uniform_at_one_and_rises_with_the_spread() {
    let f = 8.0 / 128.0;
    for t in [1, 7, 512, 2048] {
        // Spread 1: the uniform formula, to the bit.
        assert_eq!(copied_share(f, 1.0, t), 1.0 - (1.0 - f).powi(t as i32));
        // Every token on the same experts: one token's share.
        assert_eq!(copied_share(f, f, t), f);
        // Below one token's share or NaN: clamped, and uniform.
        assert_eq!(copied_share(f, 0.01, t), f);
        assert_eq!(copied_share(f, f64::NAN, t), copied_share(f, 1.0, t));
        let mut last = 0.0;
        for i in 0..=100 {
            let s = f + (1.0 - f) * f64::from(i) / 100.0;
            let share = copied_share(f, s, t);
            // Up to rounding: one token uses f whatever the spread.
            assert!(share >= last - 1e-15 && share <= s, "{t} {s} {share}");
            last = share;
        }
    }
    // A 512-token ubatch spread over 9.5% of the experts copies 9.5%.
    assert!((copied_share(f, 0.095, 512) - 0.095).abs() < 1e-12);
}

#[test]
fn prompts_from_a_known_spread_fit_it_back() {
    let layout = qwen3_moe();
    let reference = SpeedModel::h200_reference();
    for spread in [0.07, 0.095, 0.1, 0.5, 0.9] {
        let truth = SpeedModel {
            routing_spread: spread,
            ..reference
        };
        let points = prompt_points(&truth, &layout);
        // Faster than uniform routing predicts: 512 tokens copy ~100% there.
        assert!(points[0].prompt_tps > prompt_tps(&reference, &layout, &points[0]));
        for start in [reference, truth] {
            let fitted = start.calibrate_prompt(&layout, &points).unwrap();
            assert!(
                (fitted.routing_spread - spread).abs() < 1e-3,
                "{spread}: {fitted:?}"
            );
            // Nothing else moves.
            assert_eq!(
                SpeedModel {
                    routing_spread: spread,
                    ..fitted
                },
                truth
            );
        }
        // One point is enough for one parameter.
        let fitted = reference.calibrate_prompt(&layout, &points[1..2]).unwrap();
        assert!((fitted.routing_spread - spread).abs() < 1e-3, "{spread}");
    }
}

#[test]
fn prompts_at_the_uniform_prediction_keep_the_spread_at_one() {
    let layout = qwen3_moe();
    let reference = SpeedModel::h200_reference();
    let points = prompt_points(&reference, &layout);
    for start in [0.3, 1.0] {
        let start = SpeedModel {
            routing_spread: start,
            ..reference
        };
        let fitted = start.calibrate_prompt(&layout, &points).unwrap();
        assert_eq!(fitted, reference);
    }
    // GPT-OSS-20B's --cpu-moe prompts on the H200 (234 ms on 512 tokens,
    // 341 on 2,048: docs/BENCHMARKS.md) are as slow as uniform routing.
    let layout = gpt_oss(24);
    let points = [
        PromptPoint::cpu_moe(512, 512, 512.0 / 0.234),
        PromptPoint::cpu_moe(2048, 2048, 2048.0 / 0.341),
    ];
    let fitted = reference.calibrate_prompt(&layout, &points).unwrap();
    assert_eq!(fitted.routing_spread, 1.0);
    let bandwidth = fitted.host_to_gpu_bandwidth;
    assert!(bandwidth > 50e9 && bandwidth < 55.5e9, "{bandwidth}");
}

#[test]
fn prompts_slower_than_uniform_routing_fit_the_copy_bandwidth() {
    let reference = SpeedModel::h200_reference();
    for layout in [gpt_oss(24), qwen3_moe()] {
        for bandwidth in [20e9, 41.7e9, 55.5e9] {
            let truth = SpeedModel {
                host_to_gpu_bandwidth: bandwidth,
                ..reference
            };
            let points = prompt_points(&truth, &layout);
            let fitted = reference.calibrate_prompt(&layout, &points).unwrap();
            assert_eq!(fitted.routing_spread, 1.0);
            assert!(
                (fitted.host_to_gpu_bandwidth / bandwidth - 1.0).abs() < 1e-6,
                "{bandwidth}: {fitted:?}"
            );
            // Nothing else moves.
            assert_eq!(
                SpeedModel {
                    host_to_gpu_bandwidth: bandwidth,
                    ..fitted
                },
                truth
            );
        }
    }
    // Faster than uniform routing predicts narrows the spread instead.
    let fast = prompt_points(
        &SpeedModel {
            routing_spread: 0.3,
            ..reference
        },
        &qwen3_moe(),
    );
    let fitted = reference.calibrate_prompt(&qwen3_moe(), &fast).unwrap();
    assert_eq!(
        fitted.host_to_gpu_bandwidth,
        reference.host_to_gpu_bandwidth
    );
}

#[test]
fn prompts_beyond_either_bound_clamp_the_spread_to_it() {
    let layout = qwen3_moe();
    let f = layout.active_fraction();
    let reference = SpeedModel::h200_reference();
    let narrowest = SpeedModel {
        routing_spread: f,
        ..reference
    };
    let scaled = |model: &SpeedModel, by: f64| -> Vec<PromptPoint> {
        prompt_points(model, &layout)
            .into_iter()
            .map(|p| PromptPoint {
                prompt_tps: p.prompt_tps * by,
                ..p
            })
            .collect()
    };
    // Slower than uniform routing over every expert predicts: the copy is
    // slower, the bandwidth lower.
    let slow = scaled(&reference, 0.8);
    let fitted = narrowest.calibrate_prompt(&layout, &slow).unwrap();
    assert_eq!(fitted.routing_spread, 1.0);
    assert!(fitted.host_to_gpu_bandwidth < 0.8 * reference.host_to_gpu_bandwidth);
    // Faster than every token on the same experts predicts.
    let fast = scaled(&narrowest, 1.25);
    let fitted = reference.calibrate_prompt(&layout, &fast).unwrap();
    assert_eq!(fitted.routing_spread, f);
    // At the narrowest prediction itself.
    let fitted = reference
        .calibrate_prompt(&layout, &scaled(&narrowest, 1.0))
        .unwrap();
    assert_eq!(fitted.routing_spread, f);
}

#[test]
fn bad_prompt_input_is_an_error() {
    let layout = qwen3_moe();
    let model = SpeedModel::h200_reference();
    assert_eq!(
        model.calibrate_prompt(&layout, &[]),
        Err(CalibrationError::NoPoints)
    );
    for bad in [f64::NAN, 0.0, -500.0, f64::INFINITY, f64::NEG_INFINITY] {
        let points = [
            PromptPoint::cpu_moe(512, 512, 6598.0),
            PromptPoint::n_cpu_moe(24, 512, 512, bad),
        ];
        match model.calibrate_prompt(&layout, &points) {
            Err(CalibrationError::InvalidSpeed { index: 1, tps }) => {
                assert!(tps.is_nan() == bad.is_nan())
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
    for (tokens, ubatch) in [(0, 512), (512, 0), (0, 0)] {
        let points = [PromptPoint::cpu_moe(tokens, ubatch, 6598.0)];
        assert_eq!(
            model.calibrate_prompt(&layout, &points),
            Err(CalibrationError::InvalidPrompt {
                index: 0,
                prompt_tokens: tokens,
                n_ubatch: ubatch
            })
        );
    }
    for host in [
        HostExperts::FirstLayers(0),
        HostExperts::Matrices(Vec::new()),
        HostExperts::MatricesWithBiases(Vec::new()),
        // A layer this model does not have.
        HostExperts::Matrices(vec![(48, ExpertPart::Down)]),
    ] {
        let points = [
            PromptPoint::cpu_moe(512, 512, 6598.0),
            PromptPoint {
                host,
                prompt_tokens: 512,
                n_ubatch: 512,
                prompt_tps: 8041.0,
            },
        ];
        assert_eq!(
            model.calibrate_prompt(&layout, &points),
            Err(CalibrationError::NoHostExperts { index: 1 })
        );
    }
}

#[test]
fn points_of_a_plan_hold_its_host_experts_and_its_biases() {
    let matrices = vec![(23, ExpertPart::Up), (22, ExpertPart::Down)];
    for (biases, host) in [
        (
            ExpertBiases::FollowMatrices,
            HostExperts::MatricesWithBiases(matrices.clone()),
        ),
        (ExpertBiases::Gpu, HostExperts::Matrices(matrices.clone())),
    ] {
        let plan = Plan {
            host_experts: matrices.clone(),
            expert_biases: biases,
            ..Plan::host_only("test", Vec::new())
        };
        assert_eq!(DecodePoint::plan(&plan, 40.0).host, host);
        let point = PromptPoint::plan(&plan, 512, 2048, 6598.0);
        assert_eq!(
            point,
            PromptPoint {
                host,
                prompt_tokens: 512,
                n_ubatch: 2048,
                prompt_tps: 6598.0
            }
        );
    }
    assert_eq!(
        PromptPoint::cpu_moe(512, 512, 1.0).host,
        HostExperts::FirstLayers(u32::MAX)
    );
}

/// A routing record of `layers` MoE layers, each ubatch of `tokens` tokens
/// routed to `distinct` experts, `per_token` experts per token.
fn routing(layers: u32, per_token: u32, ubatches: &[(u32, u32)]) -> RoutingStats {
    use crate::routing::{LayerRouting, UbatchRouting};
    let mut stats = RoutingStats::default();
    for layer in 0..layers {
        let max_distinct = ubatches.iter().map(|u| u.1).max().unwrap_or(0) as usize;
        stats.layers.insert(
            layer,
            LayerRouting {
                experts_per_token: per_token,
                tokens_per_expert: vec![1; max_distinct],
                ubatches: (ubatches.iter())
                    .map(|&(tokens, distinct)| UbatchRouting { tokens, distinct })
                    .collect(),
            },
        );
    }
    stats
}

#[test]
fn a_routing_record_fits_the_spread_that_made_it() {
    let layout = qwen3_moe();
    let f = 8.0 / 128.0;
    for truth in [0.1, 0.3, 0.75] {
        // The distinct experts that spread gives ubatches of 512 and 2,048
        // tokens, rounded to whole experts as a probe counts them.
        let distinct = |t: u32| (copied_share(f, truth, t) * 128.0).round() as u32;
        let stats = routing(48, 8, &[(512, distinct(512)), (2048, distinct(2048))]);
        let fitted = machine().calibrate_routing(&layout, &stats).unwrap();
        // Whole experts: within one expert's share of the truth.
        assert!(
            (fitted.routing_spread - truth).abs() < 1.0 / 128.0,
            "{truth} {fitted:?}"
        );
        // Nothing else changes.
        assert_eq!(
            SpeedModel {
                routing_spread: machine().routing_spread,
                ..fitted
            },
            machine()
        );
    }
}

#[test]
fn routing_records_at_the_bounds_give_the_bounds() {
    let layout = qwen3_moe();
    // Every expert of every layer in each 512-token ubatch: uniform.
    let all = routing(48, 8, &[(512, 128), (512, 128)]);
    assert_eq!(
        machine()
            .calibrate_routing(&layout, &all)
            .unwrap()
            .routing_spread,
        1.0
    );
    // The same 8 experts for every token (the random-weight Qwen3-30B-A3B
    // on the H200: docs/PLANNER-BENCHMARKS.md).
    let same = routing(48, 8, &[(512, 8)]);
    let fitted = machine().calibrate_routing(&layout, &same).unwrap();
    assert_eq!(fitted.routing_spread, 8.0 / 128.0);
    // Ubatches of fewer than two tokens (the last layer) say nothing.
    let mut with_last = same.clone();
    with_last.layers.get_mut(&47).unwrap().ubatches[0].tokens = 1;
    assert_eq!(
        machine().calibrate_routing(&layout, &with_last).unwrap(),
        fitted
    );
}

#[test]
fn a_routing_record_that_does_not_fit_the_model_is_an_error() {
    let layout = qwen3_moe();
    assert_eq!(
        machine().calibrate_routing(&layout, &RoutingStats::default()),
        Err(CalibrationError::NoRouting)
    );
    assert_eq!(
        machine().calibrate_routing(&layout, &routing(48, 8, &[(1, 8), (0, 0)])),
        Err(CalibrationError::NoRouting)
    );
    // GPT-OSS-20B's router (4 of 32) recorded, Qwen3's layout given.
    assert!(matches!(
        machine().calibrate_routing(&layout, &routing(24, 4, &[(512, 32)])),
        Err(CalibrationError::RoutingMismatch {
            layer: 0,
            per_token: 4,
            n_expert_used: 8,
            n_expert: 128,
            ..
        })
    ));
    // Ids beyond the model's experts.
    let mut beyond = routing(48, 8, &[(512, 8)]);
    beyond.layers.get_mut(&3).unwrap().tokens_per_expert = vec![1; 129];
    assert!(matches!(
        machine().calibrate_routing(&layout, &beyond),
        Err(CalibrationError::RoutingMismatch {
            layer: 3,
            max_id: 128,
            ..
        })
    ));
}

#[test]
fn a_later_ubatch_pays_for_attention_over_the_earlier_ones() {
    let layout = qwen3_moe();
    // 48 layers of 32 heads × 128: n_embd 2,048 read off the router.
    assert_eq!(layout.attention_width(), 48.0 * 4096.0);
    let model = machine();
    let traffic = point_traffic(&layout, &HostExperts::FirstLayers(0));
    let one = model.prompt_seconds(&layout, &traffic, 2048, 2048);
    let two = model.prompt_seconds(&layout, &traffic, 4096, 2048);
    // The second ubatch's tokens each see 2,048 more keys than the first's.
    let extra = 4.0 * 48.0 * 4096.0 * 2048.0 * 2048.0 / model.gpu_prompt_flops;
    assert!(close(two - 2.0 * one, extra), "{two} {one} {extra}");
    // 31 ms on the H200 constants; with each ubatch's attention within
    // itself, 63 ms of a 4,096-token Qwen3-30B-A3B prompt.
    assert!((0.030..0.033).contains(&extra), "{extra}");
    // A dense model (no router to read n_embd from) counts none.
    let dense =
        ModelLayout::from_parts([1, 0, 0], 4096, [("blk.0.attn_q.weight", 1 << 20, 1 << 20)]);
    assert_eq!(dense.attention_width(), 0.0);
}
