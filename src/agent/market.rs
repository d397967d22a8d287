//! The agent's market tools. `market_status` answers from the supervisor's
//! summary of the last round (retained on `giot/market/<id>/status`, read
//! through the state lookup as `market:<id>`); `draft_menu` asks the exact
//! solver for a menu, cheaper under a budget when asked, and audits it.
//! Nothing here publishes: a drafted menu is a proposal.

use serde_json::Value;

use super::{Decision, StateLookup};
use crate::planner::model::MarketState;
use crate::planner::{exact, score};
use crate::registry::Registry;

/// The state-lookup key of a market's status.
pub fn status_key(market: &str) -> String {
    format!("market:{market}")
}

fn is_market_goal(words: &[String]) -> bool {
    let has = |w: &str| words.iter().any(|x| x == w);
    has("market")
        || has("participation")
        || has("contributors")
        || (has("menu") && (has("draft") || has("cheaper") || has("propose")))
}

/// A decision for a goal about the market, or `None` when the goal is not
/// about it (or the registry has no market).
pub fn decide(registry: &Registry, words: &[String], state: StateLookup<'_>) -> Option<Decision> {
    let config = registry.market.as_ref()?;
    if !is_market_goal(words) {
        return None;
    }
    let has = |w: &str| words.iter().any(|x| x == w);
    if has("draft") || has("propose") || has("suggest") || has("cheaper") {
        return Some(draft(&config.id, &config.state, has("cheaper")));
    }
    Some(Decision::Answer(match state(&status_key(&config.id)) {
        None => format!(
            "no round of the {} market has been seen yet (is `giot market run` running?)",
            config.id
        ),
        Some(s) => status_text(&config.id, &Value::Object(s)),
    }))
}

fn status_text(id: &str, s: &Value) -> String {
    let flagged: Vec<&str> = s["flagged"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    format!(
        "{id} market after round {}: participation {:.0}%, server utility {:.2}, payments {:.2}; flagged for short delivery: {}",
        s["round"],
        s["participation"].as_f64().unwrap_or(0.0) * 100.0,
        s["server_utility"].as_f64().unwrap_or(0.0),
        s["payments"].as_f64().unwrap_or(0.0),
        if flagged.is_empty() {
            "none".to_string()
        } else {
            flagged.join(", ")
        }
    )
}

/// The optimal menu, or with `cheaper` the optimal menu under a budget 20%
/// below the optimum's spending, with its audit against the optimum.
fn draft(id: &str, state: &MarketState, cheaper: bool) -> Decision {
    let Ok(optimum) = exact::optimal(state) else {
        return Decision::Refuse(format!("the {id} market's configuration has no optimum"));
    };
    let spend = |menu: &crate::planner::model::Menu| {
        state.m
            * state
                .rho
                .iter()
                .zip(&menu.items)
                .map(|(p, it)| p * it.r)
                .sum::<f64>()
    };
    let mut drafted = state.clone();
    if cheaper {
        drafted.budget = Some(0.8 * spend(&optimum.menu));
    }
    let Ok(solution) = exact::optimal(&drafted) else {
        return Decision::Refuse(format!(
            "no menu fits a budget 20% below the {id} market's current spending"
        ));
    };
    let Ok(audit) = score::score(state, &solution.menu, optimum.utility) else {
        return Decision::Refuse("the drafted menu could not be audited".into());
    };
    let items: Vec<String> = solution
        .menu
        .items
        .iter()
        .map(|it| format!("(q {:.2}, R {:.2})", it.q, it.r))
        .collect();
    Decision::Answer(format!(
        "draft menu for the {id} market{}: {}; spends {:.2} per round (optimum {:.2}); utility {:.2} = {:.1}% of the unconstrained optimum; IR/IC violations: {}. Not published: publishing a menu needs an operator's confirmation.",
        if cheaper {
            " (budget 20% below today's spending)"
        } else {
            ""
        },
        items.join(" "),
        spend(&solution.menu),
        spend(&optimum.menu),
        audit.u_real,
        audit.ratio.unwrap_or(0.0) * 100.0,
        audit.ir_violations.len() + audit.ic_violations.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn registry() -> Registry {
        let yaml = "devices:\n  - {id: car_1, kind: vehicle, state_topic: v/1, capabilities: [{name: speed, type: number, min: 0, max: 200, readonly: true}]}\nmarket:\n  id: traffic\n  theta: [1, 2, 3]\n  rho: [0.3333333333, 0.3333333333, 0.3333333334]\n  c: 1\n  omega: 10\n";
        crate::registry::parse_str(yaml, std::path::Path::new("t.yaml")).unwrap()
    }

    fn words(goal: &str) -> Vec<String> {
        goal.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn the_market_status_is_answered_from_the_supervisors_summary() {
        let status = |key: &str| {
            (key == "market:traffic").then(|| {
                json!({"round": 7, "participation": 0.5, "server_utility": 12.5, "payments": 30.0, "flagged": ["taxi_01"]})
                    .as_object()
                    .unwrap()
                    .clone()
            })
        };
        match decide(
            &registry(),
            &words("how is the traffic market doing"),
            &status,
        ) {
            Some(Decision::Answer(text)) => assert!(
                text.contains("round 7") && text.contains("50%") && text.contains("taxi_01"),
                "{text}"
            ),
            other => panic!("{other:?}"),
        }
        let nothing = |_: &str| None;
        assert!(
            matches!(decide(&registry(), &words("how is the market doing"), &nothing), Some(Decision::Answer(t)) if t.contains("no round"))
        );
        assert!(decide(&registry(), &words("turn on the light"), &nothing).is_none());
    }

    #[test]
    fn a_cheaper_draft_spends_less_and_stays_feasible() {
        let nothing = |_: &str| None;
        match decide(
            &registry(),
            &words("draft a cheaper menu for the market"),
            &nothing,
        ) {
            Some(Decision::Answer(text)) => {
                assert!(
                    text.contains("budget 20% below")
                        && text.contains("violations: 0")
                        && text.contains("Not published"),
                    "{text}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
