//! Evaluation files and scoring: JSON lines of goals with the expected status
//! and set of actions (DESIGN §3). A goal passes when both match.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::types::Outcome;

#[derive(Debug, Clone, Deserialize)]
pub struct Case {
    pub goal: String,
    #[serde(default = "uncategorised")]
    pub category: String,
    pub status: String,
    #[serde(default)]
    pub actions: Vec<(String, String, Value)>,
    /// The room the goal is said in, if any.
    #[serde(default)]
    pub room: Option<String>,
    /// The language the goal is in (for reports; giot detects it).
    #[serde(default)]
    pub language: Option<String>,
    /// Values set on the fleet before the goal (`[device, capability,
    /// value]`), for goals that change the current value ("a bit brighter").
    #[serde(default)]
    pub given: Vec<(String, String, Value)>,
    /// The conversation the goal is said in: goals of one conversation
    /// follow each other ("turn it off again").
    #[serde(default)]
    pub conversation: Option<String>,
    /// With status `rule`: the condition the rule must watch, `[device,
    /// capability, test, value]` (`test` as [`crate::types::Comparison`]
    /// serializes: `above`, `at_least`, `below`, `at_most`, `is`).
    #[serde(default)]
    pub condition: Option<(String, String, String, Value)>,
    /// With status `rule`: its reverse condition's `[test, value]`; a case
    /// without one expects a rule without a reverse.
    #[serde(default)]
    pub otherwise: Option<(String, Value)>,
}

fn uncategorised() -> String {
    "all".into()
}

/// Why an evaluation file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum CasesError {
    #[error("reading {}", path.display())]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}: not an evaluation case", path.display())]
    Case {
        path: std::path::PathBuf,
        line: usize,
        source: serde_json::Error,
    },
}

/// Reads an evaluation file; errors name the line.
pub fn load(path: &Path) -> Result<Vec<Case>, CasesError> {
    let text = std::fs::read_to_string(path).map_err(|source| CasesError::Io {
        path: path.into(),
        source,
    })?;
    let mut cases = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let case: Case = serde_json::from_str(line).map_err(|source| CasesError::Case {
            path: path.into(),
            line: i + 1,
            source,
        })?;
        cases.push(case);
    }
    Ok(cases)
}

/// Actions as a sorted set of (device, capability, value) strings.
fn action_set<'a>(actions: impl Iterator<Item = (&'a str, &'a str, &'a Value)>) -> Vec<String> {
    let mut set: Vec<String> = actions
        .map(|(d, c, v)| {
            let v = v.as_f64().map_or_else(|| v.to_string(), |n| format!("{n}"));
            format!("{d}.{c}={v}")
        })
        .collect();
    set.sort();
    set.dedup();
    set
}

/// Whether a test and value as the case writes them are `c`'s.
fn same_condition(test: &str, value: &Value, c: &crate::types::Condition) -> bool {
    let said = serde_json::to_value(c.test).ok();
    let same_value = match (value.as_f64(), c.value.as_f64()) {
        (Some(a), Some(b)) => (a - b).abs() < 1e-9,
        _ => *value == c.value,
    };
    said.as_ref().and_then(Value::as_str) == Some(test) && same_value
}

/// Whether an outcome matches the case: status and the set of actions; for
/// a rule (status `rule`), the rule shown for a yes (or armed) with this
/// condition, these actions and this reverse.
pub fn passes(case: &Case, outcome: &Outcome) -> bool {
    if case.status == "rule" {
        use crate::types::Status;
        let Some(rule) = &outcome.rule else {
            return false;
        };
        let condition = case.condition.as_ref().is_none_or(|(d, c, t, v)| {
            rule.condition.device == *d
                && rule.condition.capability == *c
                && same_condition(t, v, &rule.condition)
        });
        let otherwise = match (&case.otherwise, &rule.otherwise) {
            (None, None) => true,
            (Some((t, v)), Some(o)) => same_condition(t, v, &o.condition),
            _ => false,
        };
        let want = action_set(
            case.actions
                .iter()
                .map(|(d, c, v)| (d.as_str(), c.as_str(), v)),
        );
        let got = action_set(
            rule.actions
                .iter()
                .map(|a| (a.device.as_str(), a.capability.as_str(), &a.value)),
        );
        return matches!(outcome.status, Status::NeedsConfirmation | Status::Rule)
            && condition
            && otherwise
            && want == got;
    }
    let want = action_set(
        case.actions
            .iter()
            .map(|(d, c, v)| (d.as_str(), c.as_str(), v)),
    );
    let got = action_set(
        outcome
            .actions
            .iter()
            .map(|a| (a.device.as_str(), a.capability.as_str(), &a.value)),
    );
    outcome.status.as_str() == case.status && want == got
}

/// Pass counts per category.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Tally {
    pub total: usize,
    pub passed: usize,
}

impl Tally {
    pub fn accuracy(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.passed as f64 / self.total as f64
        }
    }
}

pub fn tally(cases: &[Case], passed: &[bool]) -> (Tally, BTreeMap<String, Tally>) {
    let mut all = Tally::default();
    let mut by: BTreeMap<String, Tally> = BTreeMap::new();
    for (case, &ok) in cases.iter().zip(passed) {
        for t in [&mut all, by.entry(case.category.clone()).or_default()] {
            t.total += 1;
            t.passed += usize::from(ok);
        }
    }
    (all, by)
}

/// The p-th percentile (0..=100) of a set of numbers, nearest rank.
pub fn percentile(values: &[u64], p: f64) -> u64 {
    if values.is_empty() {
        return 0;
    }
    let mut v = values.to_vec();
    v.sort_unstable();
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    v[rank.min(v.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 95.0), 95);
        assert_eq!(percentile(&[7], 95.0), 7);
    }
}
