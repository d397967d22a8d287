//! Goal latency against the number of devices that fit a goal (issue 15,
//! kind 12): fleets of 50, 200 and 800 lamps (in ten rooms), with the
//! default model loaded and warm, for a goal that fits every lamp ("turn on
//! the lamp"), one that fits a room's lamps (5, 20, 80: the model ranks at
//! most 8, more are asked about), and one a name settles ("turn on lamp
//! 17"); with the time warming the model's priors of every name takes. Before the bound on the candidates the
//! model sees, the first took 5 s, 19 s and 80 s. Run by `scripts/bench`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use giot::agent::{Agent, AgentDefinition, MODEL_CANDIDATES};
use giot::llm::Scorer;
use giot::llm::llama::{self, LlamaConfig};
use giot::registry::Registry;
use giot::types::Decision;

const ROOMS: &[&str] = &[
    "bedroom", "kitchen", "hallway", "study", "cellar", "garage", "attic", "porch", "office",
    "lounge",
];

fn fleet(lamps: usize) -> Registry {
    let mut yaml = String::from("devices:\n");
    for i in 0..lamps {
        yaml.push_str(&format!(
            "  - {{id: lamp_{i}, name: Lamp {i}, room: {}, kind: light, state_topic: s/{i}, command_topic: c/{i}, capabilities: [{{name: power, type: enum, values: [\"on\", \"off\"]}}]}}\n",
            ROOMS[i % ROOMS.len()]
        ));
    }
    giot::registry::parse_str(&yaml, std::path::Path::new("bench.yaml")).expect("fleet")
}

fn main() {
    let model = PathBuf::from("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    let (llm, _) = llama::spawn(LlamaConfig::new(model)).expect("scripts/fetch-model first");
    let mut scorer: Option<Box<dyn Scorer>> = Some(Box::new(llm));
    println!(
        "{:>6}  {:<34} {:>10} {:>12} {:>8}  decision",
        "lamps", "goal", "goal_ms", "model_calls", "tokens"
    );
    for lamps in [50, 200, 800] {
        let mut agent = Agent::new(fleet(lamps), AgentDefinition::builtin(), scorer.take());
        let warm = agent.warm();
        println!(
            "{lamps:>6}  (warming every name's prior: {:.1} s)",
            warm.as_secs_f64()
        );
        for goal in [
            "turn on the lamp",
            "turn on the lamp in the bedroom",
            "turn on lamp 17",
        ] {
            let started = Instant::now();
            let plan = agent.plan(goal, &|_| None);
            let took: Duration = started.elapsed();
            let decision = match &plan.decision {
                Decision::Act(a) => format!("act on {}", a.len()),
                Decision::Clarify { candidates, .. } => format!("ask among {}", candidates.len()),
                Decision::Refuse(r) => {
                    format!("refuse: {}", r.chars().take(40).collect::<String>())
                }
                Decision::Answer(_) => "answer".into(),
            };
            println!(
                "{lamps:>6}  {goal:<34} {:>10.1} {:>12} {:>8}  {decision}",
                took.as_secs_f64() * 1000.0,
                if plan.used_model { "yes" } else { "no" },
                plan.tokens_evaluated,
            );
        }
        scorer = agent.set_scorer(None);
    }
    println!(
        "(at most {MODEL_CANDIDATES} devices are ranked by the model; more that fit equally are asked about)"
    );
}
