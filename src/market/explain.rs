//! Why participation changed: read from the supervisor's retained status
//! (the last rounds' history, the menu in force and the one before it) and
//! the contract model, never guessed.
//!
//! A drop has three possible causes, and each is checked against evidence:
//! contributors that sent no choice at all (offline, or not receiving the
//! menu), a new menu that leaves some type below its reservation utility
//! (computed from the model: that type's best item is worth less to it than
//! opting out), and contributors that answered but opted out for another
//! reason.

use super::contract;
use super::protocol::{HistoryEntry, Status};
use crate::planner::model::{MarketState, Menu};
use crate::planner::score;

fn pct(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

/// The types a menu leaves opting out, with the best utility each can get.
fn priced_out(state: &MarketState, menu: &Menu) -> Vec<(usize, f64)> {
    (0..state.n())
        .filter(|&t| contract::choose(state, menu, t).is_none())
        .map(|t| {
            let best = menu
                .items
                .iter()
                .map(|it| state.vehicle_utility(t, *it))
                .fold(f64::NEG_INFINITY, f64::max);
            (t, best)
        })
        .collect()
}

/// Answers "why did participation drop?" for market `id`.
pub fn participation(id: &str, state: &MarketState, status: &Status) -> String {
    let history = &status.history;
    let Some(last) = history.last() else {
        return format!("the {id} market has not settled a round yet: nothing to compare");
    };
    let share = |h: &HistoryEntry| h.participation;
    // The most recent round whose participation is below the round before.
    let drop = (1..history.len())
        .rev()
        .find(|&k| share(&history[k]) < share(&history[k - 1]) - 1e-9);
    let Some(k) = drop else {
        let low = history.iter().map(share).fold(1.0, f64::min);
        return format!(
            "participation in the {id} market has not dropped over the last {} round(s): it is {} in round {} (lowest {})",
            history.len(),
            pct(last.participation),
            last.round,
            pct(low)
        );
    };
    let (before, at) = (&history[k - 1], &history[k]);
    let mut causes = Vec::new();
    let newly_silent: Vec<&String> = (at.silent.iter())
        .filter(|v| !before.silent.contains(v))
        .collect();
    if !newly_silent.is_empty() {
        causes.push(format!(
            "{} sent no choice at all (offline, or not receiving the menu)",
            join(&newly_silent)
        ));
    }
    let newly_opted: Vec<&String> = (at.opted_out.iter())
        .filter(|v| !before.opted_out.contains(v))
        .collect();
    let mut explained = false;
    if at.menu_changed
        && let Some(menu) = &status.menu
    {
        let now = priced_out(state, menu);
        let then = (status.previous_menu.as_ref())
            .map(|p| priced_out(state, p))
            .unwrap_or_default();
        let lost: Vec<String> = now
            .iter()
            .filter(|(t, _)| !then.iter().any(|(u, _)| u == t))
            .map(|&(t, u)| {
                format!(
                    "type {} (θ = {}) can get at best {u:.2}, below the 0 of opting out",
                    t + 1,
                    state.theta[t]
                )
            })
            .collect();
        if !lost.is_empty() {
            explained = true;
            causes.push(format!(
                "the menu adopted for round {} is not individually rational for every type: {}; so {} opted out",
                at.round,
                lost.join("; "),
                if newly_opted.is_empty() {
                    "its vehicles".to_string()
                } else {
                    join(&newly_opted)
                }
            ));
        }
    }
    if !explained && !newly_opted.is_empty() {
        causes.push(format!(
            "{} answered but opted out{}",
            join(&newly_opted),
            if at.menu_changed {
                " after the menu changed"
            } else {
                " with the menu unchanged"
            }
        ));
    }
    if causes.is_empty() {
        causes.push("the vehicles that left gave no sign why".into());
    }
    format!(
        "participation in the {id} market fell from {} in round {} to {} in round {}: {}. It is {} in round {}.",
        pct(before.participation),
        before.round,
        pct(at.participation),
        at.round,
        causes.join("; and "),
        pct(last.participation),
        last.round
    )
}

fn join(v: &[&String]) -> String {
    v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

/// A menu as operators read it: `type 1: (q 3.25, R 3.25), type 2: ...`.
pub fn menu_text(menu: &Menu) -> String {
    let items: Vec<String> = (menu.items.iter().enumerate())
        .map(|(i, it)| format!("type {}: (q {:.2}, R {:.2})", i + 1, it.q, it.r))
        .collect();
    items.join(", ")
}

/// An audit as operators read it: utility against the optimum and the
/// constraints the menu breaks.
pub fn audit_text(a: &score::Score) -> String {
    let mut text = format!(
        "expected utility {:.2} = {:.1}% of the optimum",
        a.u_real,
        a.ratio.unwrap_or(0.0) * 100.0
    );
    if a.ir_violations.is_empty() && a.ic_violations.is_empty() {
        text.push_str("; no IR/IC violations");
    } else {
        let ir: Vec<String> = a
            .ir_violations
            .iter()
            .map(|t| format!("type {}", t + 1))
            .collect();
        let ic: Vec<String> = a
            .ic_violations
            .iter()
            .map(|(i, j)| format!("type {} prefers item {}", i + 1, j + 1))
            .collect();
        if !ir.is_empty() {
            text.push_str(&format!("; IR violated for {}", ir.join(", ")));
        }
        if !ic.is_empty() {
            text.push_str(&format!("; IC violated: {}", ic.join(", ")));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::exact;

    fn state() -> MarketState {
        MarketState {
            theta: vec![1.0, 2.0, 3.0],
            rho: vec![1.0 / 3.0; 3],
            c: 1.0,
            omega: 10.0,
            m: 6.0,
            budget: None,
        }
    }

    fn round(r: u64, p: f64, silent: &[&str], opted: &[&str], changed: bool) -> HistoryEntry {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        HistoryEntry {
            round: r,
            participation: p,
            silent: names(silent),
            opted_out: names(opted),
            menu_changed: changed,
            ..HistoryEntry::default()
        }
    }

    fn history(h: Vec<HistoryEntry>) -> Status {
        Status {
            history: h,
            ..Status::default()
        }
    }

    #[test]
    fn a_menu_that_prices_a_type_out_is_named_as_the_cause() {
        let s = state();
        let good = exact::optimal(&s).unwrap().menu;
        // Nothing pays except the top item, at exactly type 2's cost: type 1
        // can only lose by joining.
        let mut out = good.clone();
        for it in &mut out.items {
            it.r = 0.0;
        }
        out.items[2].r = s.kappa(1) * out.items[2].q; // type 2 and 3 still join
        let status = Status {
            menu: Some(out),
            previous_menu: Some(good),
            ..history(vec![
                round(3, 1.0, &[], &[], false),
                round(4, 0.6667, &[], &["taxi_02", "bus_01"], true),
            ])
        };
        let text = participation("traffic", &s, &status);
        assert!(
            text.contains("fell from 100% in round 3 to 67% in round 4")
                && text.contains("type 1 (θ = 1)")
                && text.contains("not individually rational")
                && text.contains("taxi_02, bus_01"),
            "{text}"
        );
        assert!(!text.contains("no choice"), "{text}");
    }

    #[test]
    fn silent_contributors_are_named_and_steady_participation_is_said_so() {
        let s = state();
        let status = history(vec![
            round(7, 1.0, &[], &[], false),
            round(8, 0.5, &["car_01", "car_02", "van_01"], &[], false),
            round(9, 0.5, &["car_01", "car_02", "van_01"], &[], false),
        ]);
        let text = participation("traffic", &s, &status);
        assert!(
            text.contains("round 7 to 50% in round 8")
                && text.contains("car_01, car_02, van_01 sent no choice")
                && text.contains("It is 50% in round 9"),
            "{text}"
        );
        let steady = history(vec![
            round(1, 1.0, &[], &[], false),
            round(2, 1.0, &[], &[], false),
        ]);
        let text = participation("traffic", &s, &steady);
        assert!(text.contains("has not dropped"), "{text}");
        assert!(participation("traffic", &s, &Status::default()).contains("not settled a round"));
    }
}
