//! The agent's market tools, each a tool the agent definition must list:
//!
//! - `market_status` answers from the supervisor's retained summary of the
//!   last rounds (`giot/market/<id>/status`, read through the state lookup as
//!   `market:<id>`), including why participation dropped
//!   ([`crate::market::explain`]);
//! - `draft_menu` asks the diffusion planner (or, asked for the optimum, the
//!   exact solver) for a menu, cheaper under a budget when asked, and audits
//!   it against the exact optimum;
//! - `publish_menu` turns the same draft into an action on the market's
//!   proposal topic. The policy makes it wait for a person's yes, always, and
//!   the supervisor adopts it from its next round.

use std::sync::OnceLock;

use serde_json::Value;

use super::StateLookup;
use crate::market::protocol::Status;
use crate::market::{self, explain};
use crate::planner::model::{MarketError, Menu};
use crate::planner::planners::{DraftError, Method, Planners};
use crate::planner::{exact, score};
use crate::registry::{MarketConfig, Registry};
use crate::types::{Decision, market_device};

/// The market tools an agent definition may list.
pub const TOOLS: [&str; 3] = ["market_status", "draft_menu", "publish_menu"];

fn is_market_goal(words: &[String]) -> bool {
    let has = |w: &str| words.iter().any(|x| x == w);
    has("market")
        || has("participation")
        || has("contributors")
        || (has("menu")
            && [
                "draft", "cheaper", "propose", "publish", "adopt", "apply", "suggest",
            ]
            .iter()
            .any(|w| has(w)))
}

/// How a menu was drafted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Diffusion,
    Exact,
}

/// A drafted menu with its audit.
struct Draft {
    menu: Menu,
    source: Source,
    cheaper: bool,
    spend: f64,
    optimum_spend: f64,
    audit: score::Score,
}

/// A decision for a goal about the market, or `None` when the goal is not
/// about it (or the registry has no market). `tools` are the agent's.
pub fn decide(
    registry: &Registry,
    tools: &[String],
    words: &[String],
    state: StateLookup<'_>,
) -> Option<Decision> {
    let config = registry.market.as_ref()?;
    if !is_market_goal(words) {
        return None;
    }
    let has = |w: &str| words.iter().any(|x| x == w);
    let tool = if has("publish") || has("adopt") || has("apply") {
        "publish_menu"
    } else if has("draft") || has("propose") || has("suggest") || has("cheaper") {
        "draft_menu"
    } else {
        "market_status"
    };
    if !tools.iter().any(|t| t == tool) {
        return Some(Decision::Refuse(format!(
            "this agent has no `{tool}` tool (add it to the agent's tools to allow it)"
        )));
    }
    let source = if has("optimal") || has("optimum") || has("exact") {
        Source::Exact
    } else {
        Source::Diffusion
    };
    let status = state(&market_device(&config.id))
        .map(|s| serde_json::from_value::<Status>(Value::Object(s)));
    match tool {
        "publish_menu" => Some(match draft(config, source, has("cheaper")) {
            Ok(d) => Decision::Act(vec![market::menu_action(&config.id, &d.menu)]),
            Err(e) => Decision::Refuse(crate::error_chain(&e)),
        }),
        "draft_menu" => Some(match draft(config, source, has("cheaper")) {
            Ok(d) => Decision::Answer(draft_text(&config.id, &d)),
            Err(e) => Decision::Refuse(crate::error_chain(&e)),
        }),
        _ => Some(Decision::Answer(match status {
            None => format!(
                "no round of the {} market has been seen yet (is `giot market run` running?)",
                config.id
            ),
            Some(Err(e)) => format!(
                "the {} market's retained status is not one its supervisor writes ({e})",
                config.id
            ),
            Some(Ok(s)) if has("why") => explain::participation(&config.id, &config.state, &s),
            Some(Ok(s)) => status_text(&config.id, &s),
        })),
    }
}

fn status_text(id: &str, s: &Status) -> String {
    let flagged = s.flagged.as_deref().unwrap_or_default();
    let choices: Vec<String> = (s.choices.iter().flatten().enumerate())
        .map(|(i, n)| format!("item {}: {n}", i + 1))
        .collect();
    let mut text = format!(
        "{id} market after round {}: participation {:.0}%, server utility {:.2}, payments {:.2}; flagged for short delivery: {}",
        s.round,
        s.participation.unwrap_or(0.0) * 100.0,
        s.server_utility.unwrap_or(0.0),
        s.payments.unwrap_or(0.0),
        if flagged.is_empty() {
            "none".to_string()
        } else {
            flagged.join(", ")
        }
    );
    if !choices.is_empty() {
        text.push_str(&format!("; choices: {}", choices.join(", ")));
    }
    if let Some(p) = &s.proposal {
        text.push_str(&format!(
            "; last proposal {}{}",
            p.decision(),
            p.reason().map(|r| format!(" ({r})")).unwrap_or_default()
        ));
    }
    text
}

/// The shipped diffusion planner, loaded once.
fn planners() -> Result<&'static Planners, DraftFailure> {
    static PLANNERS: OnceLock<candle_core::Result<Planners>> = OnceLock::new();
    PLANNERS
        .get_or_init(Planners::shipped)
        .as_ref()
        .map_err(DraftFailure::NoPlanner)
}

/// Why no menu could be drafted; its chain is the refusal's text.
#[derive(Debug, thiserror::Error)]
enum DraftFailure {
    #[error("the diffusion planner cannot be loaded")]
    NoPlanner(#[source] &'static candle_core::Error),
    #[error("the {id} market's configuration has no optimum")]
    NoOptimum {
        id: String,
        #[source]
        source: MarketError,
    },
    #[error("no menu fits a budget 20% below the {id} market's spending")]
    NoCheaperMenu {
        id: String,
        #[source]
        source: MarketError,
    },
    #[error("the diffusion planner failed")]
    Planner(#[source] DraftError),
    #[error("the drafted menu could not be audited")]
    Audit(#[source] MarketError),
}

/// A menu for the market, or with `cheaper` one under a budget 20% below
/// the optimum's spending, audited against the unconstrained optimum.
fn draft(config: &MarketConfig, source: Source, cheaper: bool) -> Result<Draft, DraftFailure> {
    let state = &config.state;
    let id = &config.id;
    let optimum = exact::optimal(state).map_err(|source| DraftFailure::NoOptimum {
        id: id.clone(),
        source,
    })?;
    let mut drafted = state.clone();
    if cheaper {
        drafted.budget = Some(0.8 * state.spend(&optimum.menu));
    }
    let menu = match source {
        Source::Exact => exact::optimal(&drafted).map(|s| s.menu).map_err(|source| {
            DraftFailure::NoCheaperMenu {
                id: id.clone(),
                source,
            }
        })?,
        Source::Diffusion => planners()?
            .draft(Method::shipped(), &drafted, 0)
            .map_err(DraftFailure::Planner)?,
    };
    let audit = score::score(state, &menu, optimum.utility).map_err(DraftFailure::Audit)?;
    Ok(Draft {
        spend: state.spend(&menu),
        optimum_spend: state.spend(&optimum.menu),
        menu,
        source,
        cheaper,
        audit,
    })
}

fn draft_text(id: &str, d: &Draft) -> String {
    format!(
        "draft menu for the {id} market by the {}{}: {}; spends {:.2} per round (optimum {:.2}); {}. Not published: say \"publish {}menu\" and confirm to adopt it.",
        match d.source {
            Source::Diffusion => "diffusion planner",
            Source::Exact => "exact solver",
        },
        if d.cheaper {
            " (budget 20% below the optimum's spending)"
        } else {
            ""
        },
        explain::menu_text(&d.menu),
        d.spend,
        d.optimum_spend,
        explain::audit_text(&d.audit),
        if d.cheaper { "the cheaper " } else { "the " }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::protocol::Proposal;
    use serde_json::json;

    fn registry() -> Registry {
        let yaml = "devices:\n  - {id: car_1, kind: vehicle, state_topic: v/1, capabilities: [{name: speed, type: number, min: 0, max: 200, readonly: true}]}\nmarket:\n  id: traffic\n  theta: [1, 2, 3]\n  rho: [0.3333333333, 0.3333333333, 0.3333333334]\n  c: 1\n  omega: 10\n";
        crate::registry::parse_str(yaml, std::path::Path::new("t.yaml")).unwrap()
    }

    fn all_tools() -> Vec<String> {
        TOOLS.iter().map(|t| t.to_string()).collect()
    }

    fn words(goal: &str) -> Vec<String> {
        goal.split_whitespace().map(String::from).collect()
    }

    fn ask(goal: &str, state: StateLookup<'_>) -> Option<Decision> {
        decide(&registry(), &all_tools(), &words(goal), state)
    }

    #[test]
    fn the_market_status_is_answered_from_the_supervisors_summary() {
        let status = |key: &str| {
            (key == "market:traffic").then(|| {
                json!({"round": 7, "participation": 0.5, "server_utility": 12.5, "payments": 30.0,
                    "flagged": ["taxi_01"], "choices": [1, 2, 0]})
                .as_object()
                .unwrap()
                .clone()
            })
        };
        match ask("how is the traffic market doing", &status) {
            Some(Decision::Answer(text)) => assert!(
                text.contains("round 7")
                    && text.contains("50%")
                    && text.contains("taxi_01")
                    && text.contains("item 2: 2"),
                "{text}"
            ),
            other => panic!("{other:?}"),
        }
        let nothing = |_: &str| None;
        assert!(
            matches!(ask("how is the market doing", &nothing), Some(Decision::Answer(t)) if t.contains("no round"))
        );
        assert!(ask("turn on the light", &nothing).is_none());
    }

    #[test]
    fn why_participation_dropped_is_answered_from_the_history() {
        let status = |_: &str| {
            json!({"round": 5, "history": [
                {"round": 4, "participation": 1.0, "silent": [], "opted_out": []},
                {"round": 5, "participation": 0.5, "silent": ["car_1"], "opted_out": []}]})
            .as_object()
            .cloned()
        };
        match ask("why did participation drop", &status) {
            Some(Decision::Answer(text)) => {
                assert!(text.contains("car_1 sent no choice"), "{text}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_retained_status_that_is_not_the_supervisors_is_said_so() {
        let status = |_: &str| {
            json!({"round": "seven", "history": "none"})
                .as_object()
                .cloned()
        };
        for goal in ["how is the market doing", "why did participation drop"] {
            match ask(goal, &status) {
                Some(Decision::Answer(text)) => {
                    assert!(text.contains("not one its supervisor writes"), "{text}")
                }
                other => panic!("{goal}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_cheaper_draft_spends_less_and_stays_feasible() {
        let nothing = |_: &str| None;
        for (goal, by) in [
            ("draft a cheaper menu for the market", "diffusion planner"),
            ("draft the cheaper optimal menu", "exact solver"),
        ] {
            match ask(goal, &nothing) {
                Some(Decision::Answer(text)) => assert!(
                    text.contains("budget 20% below")
                        && text.contains(by)
                        && text.contains("no IR/IC violations")
                        && text.contains("Not published"),
                    "{text}"
                ),
                other => panic!("{goal}: {other:?}"),
            }
        }
    }

    #[test]
    fn publishing_a_menu_is_an_action_on_the_proposal_topic() {
        let nothing = |_: &str| None;
        let Some(Decision::Act(actions)) = ask("publish the cheaper menu", &nothing) else {
            panic!("not an action");
        };
        assert_eq!(actions.len(), 1);
        let a = &actions[0];
        assert_eq!(
            (a.device.as_str(), a.topic.as_str()),
            ("market:traffic", "giot/market/traffic/proposal")
        );
        let menu: Menu = serde_json::from_value(a.value.clone()).unwrap();
        assert_eq!(menu.items.len(), 3);
        let payload: Proposal = serde_json::from_str(&a.payload).unwrap();
        assert_eq!(payload.menu, menu);
        // Without the tool the agent refuses.
        let only_status = vec!["market_status".to_string()];
        assert!(matches!(
            decide(&registry(), &only_status, &words("publish the cheaper menu"), &nothing),
            Some(Decision::Refuse(r)) if r.contains("publish_menu")
        ));
    }
}
