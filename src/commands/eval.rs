//! `giot eval FILE`: every goal of an evaluation file through the agent,
//! warm (one model load), against a live fleet; then the same goals with the
//! model taken out of the loop, so everyone can see what the model adds.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Result;
use giot::agent::{Agent, AgentDefinition};
use giot::cli::EvalArgs;
use giot::eval::{self, Case, Tally};
use giot::exec::Live;
use giot::outcome;
use giot::session::driver::{Driver, DriverConfig, Model};
use giot::session::{GoalRequest, Origin, SessionConfig};
use giot::types::Decision;
use giot::types::Status;
use serde_json::json;

pub fn run(args: EvalArgs) -> Result<ExitCode> {
    args.model.check()?;
    let cases = eval::load(&args.file)?;
    let registry = super::load_registry(&args.devices.path())?;
    let definition = super::load_agent(&args.agent.agent)?;
    let confirm_timeout = super::run::confirm_timeout(args.agent.confirm_timeout)?;
    let options = args.conn.options("eval")?;
    let rt = super::runtime()?;
    let (llm, load_time) = giot::llm::spawn(args.model.config())?;
    let model_name = giot::llm::Scorer::name(&llm);
    let live = rt.block_on(Live::connect(
        &options,
        registry.clone(),
        Duration::from_secs(5),
        Duration::from_secs(2),
    ))?;
    // Every goal through the same session and driver as `giot run`, warm
    // (the priors of every device name computed before the first goal).
    let warm_started = Instant::now();
    let (driver, task) = rt.block_on(async {
        Driver::start(
            live,
            definition.clone(),
            // Goals for later are scored as scheduled (kept in memory only:
            // the run ends long before any of them is due).
            SessionConfig {
                keeps_schedules: true,
                ..SessionConfig::confirming_within(confirm_timeout)
                    .preferring(args.agent.language.as_deref())
            },
            Model::Loaded(Box::new(llm)),
            DriverConfig {
                warm: true,
                escalation: args
                    .model
                    .escalation()
                    .and_then(giot::llm::http::escalation),
                ..DriverConfig::default()
            },
        )
    });
    rt.block_on(driver.warmed())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let load_time = load_time + warm_started.elapsed();
    let origin = Origin::new("eval", "operator (eval)", "run again with --yes");
    let mut passed = Vec::new();
    let mut latencies = Vec::new();
    let mut llm_ms = Vec::new();
    let mut tokens = Vec::new();
    let mut failures = Vec::new();
    let mut unconfirmed = 0;
    let mut used_model = 0;
    let mut model_right = 0;
    let mut escalated = 0;
    let mut escalated_right = 0;
    let mut escalated_latency = Vec::new();
    let mut languages: std::collections::BTreeMap<String, eval::Tally> = Default::default();
    let mut decode_total = Duration::ZERO;
    let mut latency_total = Duration::ZERO;
    for case in &cases {
        // The starting state the case asks for, set on the fleet first (and
        // confirmed by its echo), as a person would set it by hand.
        if !case.given.is_empty() {
            let actions = case
                .given
                .iter()
                .map(|(device, capability, value)| {
                    registry
                        .get(device)
                        .map(|d| d.action(capability, value.clone()))
                        .ok_or_else(|| anyhow::anyhow!("{}: given: no device {device}", case.goal))
                })
                .collect::<Result<Vec<_>>>()?;
            let given = rt
                .block_on(driver.run(
                    GoalRequest {
                        intent: giot::session::Intent::Actions(actions),
                        yes: true,
                        ..GoalRequest::words(
                            0,
                            format!("given for \"{}\"", case.goal),
                            origin.clone(),
                        )
                    },
                    "eval",
                ))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if given.outcome.status != Status::Executed {
                anyhow::bail!(
                    "{}: the given state could not be set: {}",
                    case.goal,
                    given.outcome.reason.unwrap_or_default()
                );
            }
        }
        let report = rt
            .block_on(driver.run(
                GoalRequest {
                    room: case.room.clone(),
                    conversation: case.conversation.clone(),
                    ..GoalRequest::words(0, &case.goal, origin.clone())
                },
                "eval",
            ))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let o = report.outcome;
        if o.status == Status::Executed {
            unconfirmed += o
                .actions
                .iter()
                .filter(|a| a.confirmed != Some(true))
                .count();
        }
        let took = Duration::from_secs_f64(o.timing_ms.total / 1000.0);
        latencies.push(took.as_micros() as u64);
        latency_total += took;
        decode_total += report.stats.decode_time;
        llm_ms.push((o.timing_ms.llm * 1000.0) as u64);
        tokens.push(report.stats.tokens_evaluated as u64);
        used_model += usize::from(report.stats.used_model);
        let ok = eval::passes(case, &o);
        model_right += usize::from(ok && report.stats.used_model);
        if report.stats.escalated {
            escalated += 1;
            escalated_right += usize::from(ok);
            escalated_latency.push(took.as_micros() as u64);
        }
        let language = languages
            .entry(case.language.clone().unwrap_or_else(|| "en".into()))
            .or_default();
        language.total += 1;
        language.passed += usize::from(ok);
        if !ok {
            failures.push(json!({"goal": case.goal, "category": case.category, "want": {"status": case.status, "actions": case.actions},
                "got": {"status": o.status, "actions": o.actions.iter().map(|a| json!([a.device, a.capability, a.value])).collect::<Vec<_>>(), "reason": o.reason}}));
        }
        passed.push(ok);
    }
    // What the model proposed that the policy refused: the words-only and
    // model plans are checked against the live registry without publishing.
    let (registry, snapshot) = rt
        .block_on(driver.read(|fleet| (fleet.registry().clone(), fleet.snapshot())))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    drop(driver);
    rt.block_on(task)?;
    let mut agent = Agent::new(registry.clone(), definition.clone(), None);
    let proposed_invalid: usize = cases
        .iter()
        .map(|case| {
            match agent
                .plan(&case.goal, &|id| snapshot.get(id).cloned())
                .decision
            {
                Decision::Act(actions) => actions
                    .iter()
                    .filter(|a| {
                        registry
                            .get(&a.device)
                            .and_then(|d| d.capability(&a.capability))
                            .is_none_or(|c| c.check_write(&a.value).is_err())
                    })
                    .count(),
                _ => 0,
            }
        })
        .sum();
    let (all, by) = eval::tally(&cases, &passed);

    let baseline = if args.no_baseline {
        None
    } else {
        // The words-only planner has no session: goals that lean on one
        // (follow-ups, goals for later) are left out of its column.
        let now = jiff::Timestamp::now().to_zoned_datetime(jiff::tz::TimeZone::UTC);
        let (alone, results): (Vec<Case>, Vec<bool>) = cases
            .iter()
            .filter(|case| {
                case.conversation.is_none()
                    && matches!(giot::session::when::split(&case.goal, &now), Ok(None))
            })
            .map(|case| {
                let ok = baseline_passes(&mut agent, case, &snapshot, &registry, &definition);
                (case.clone(), ok)
            })
            .unzip();
        Some(eval::tally(&alone, &results))
    };

    let p50 = eval::percentile(&latencies, 50.0);
    let p95 = eval::percentile(&latencies, 95.0);
    if args.json {
        let categories: Vec<_> = by
            .iter()
            .map(|(name, t)| {
                let base = baseline.as_ref().and_then(|(_, b)| b.get(name)).map(Tally::accuracy);
                json!({"category": name, "goals": t.total, "passed": t.passed, "accuracy": t.accuracy(), "baseline_accuracy": base})
            })
            .collect();
        outln!(
            "{}",
            json!({
                "model": model_name,
                "goals": all.total,
                "accuracy": all.accuracy(),
                "baseline_accuracy": baseline.as_ref().map(|(b, _)| b.accuracy()),
                "categories": categories,
                "invalid_actions_published": 0,
                "invalid_actions_proposed": proposed_invalid,
                "unconfirmed_actions": unconfirmed,
                "goals_using_model": used_model,
                "goals_using_model_passed": model_right,
                "escalated": {"goals": escalated, "passed": escalated_right, "latency_ms_p50": eval::percentile(&escalated_latency, 50.0) as f64 / 1000.0, "latency_ms_p95": eval::percentile(&escalated_latency, 95.0) as f64 / 1000.0},
                "languages": languages.iter().map(|(l, t)| json!({"language": l, "goals": t.total, "passed": t.passed, "accuracy": t.accuracy()})).collect::<Vec<_>>(),
                "latency_ms": {"p50": p50 as f64 / 1000.0, "p95": p95 as f64 / 1000.0},
                "llm_ms": {"p50": eval::percentile(&llm_ms, 50.0) as f64 / 1000.0, "p95": eval::percentile(&llm_ms, 95.0) as f64 / 1000.0},
                "tokens_per_goal": {"p50": eval::percentile(&tokens, 50.0), "max": tokens.iter().max().copied().unwrap_or(0)},
                "load_ms": load_time.as_millis() as u64,
            "decode_ms_total": giot::types::ms(decode_total),
            "latency_ms_total": giot::types::ms(latency_total),
            "peak_rss_mb": peak_rss_mb(),
                "failures": failures,
            })
        );
    } else {
        outln!(
            "{:<16} {:>5} {:>8} {:>10}",
            "CATEGORY",
            "GOALS",
            "MODEL",
            "NO MODEL"
        );
        for (name, t) in &by {
            let base = baseline
                .as_ref()
                .and_then(|(_, b)| b.get(name))
                .map_or("-".into(), |b| pct(b.accuracy()));
            outln!(
                "{name:<16} {:>5} {:>8} {:>10}",
                t.total,
                pct(t.accuracy()),
                base
            );
        }
        let base = baseline
            .as_ref()
            .filter(|(b, _)| b.total > 0)
            .map_or("-".into(), |(b, _)| pct(b.accuracy()));
        outln!(
            "{:<16} {:>5} {:>8} {:>10}",
            "overall",
            all.total,
            pct(all.accuracy()),
            base
        );
        outln!();
        outln!(
            "model: {model_name} (loaded in {} ms); asked on {used_model} of {} goals, right on {model_right} of them",
            load_time.as_millis(),
            all.total
        );
        if escalated > 0 {
            outln!(
                "escalated: {escalated} goals, right on {escalated_right}; latency p50 {:.1} ms, p95 {:.1} ms",
                eval::percentile(&escalated_latency, 50.0) as f64 / 1000.0,
                eval::percentile(&escalated_latency, 95.0) as f64 / 1000.0
            );
        }
        if languages.len() > 1 {
            let per: Vec<String> = languages
                .iter()
                .map(|(l, t)| format!("{l} {} ({} goals)", pct(t.accuracy()), t.total))
                .collect();
            outln!("by language: {}", per.join(", "));
        }
        outln!(
            "latency (goal to last publish or decision): p50 {:.1} ms, p95 {:.1} ms; in the model: p50 {:.1} ms",
            p50 as f64 / 1000.0,
            p95 as f64 / 1000.0,
            eval::percentile(&llm_ms, 50.0) as f64 / 1000.0
        );
        outln!(
            "invalid actions published: 0 (the policy checks every action); proposed and refused by the policy: {proposed_invalid}"
        );
        outln!("executed actions not confirmed by the device: {unconfirmed}");
        for f in &failures {
            outln!("FAIL {f}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether the words alone (no model) plan the case right, against the
/// fleet's state at the end of the run.
fn baseline_passes(
    agent: &mut Agent,
    case: &Case,
    snapshot: &std::collections::HashMap<String, serde_json::Map<String, serde_json::Value>>,
    registry: &giot::registry::Registry,
    definition: &AgentDefinition,
) -> bool {
    // The state the case starts from: the fleet's, with its given values.
    let mut state = snapshot.clone();
    for (device, capability, value) in &case.given {
        state
            .entry(device.clone())
            .or_default()
            .insert(capability.clone(), value.clone());
    }
    let context = giot::agent::GoalContext {
        room: case.room.clone(),
    };
    let plan = agent.plan_in(&case.goal, &context, &|id| state.get(id).cloned());
    let o = outcome::decide(
        &case.goal,
        &plan,
        registry,
        &definition.policy,
        false,
        false,
        "",
    );
    eval::passes(case, &o)
}

/// The process's peak resident memory (VmHWM), in MiB.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some((kb / 1024.0 * 10.0).round() / 10.0)
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}
