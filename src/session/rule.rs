//! Standing rules: goals kept to run when a reading crosses a threshold or
//! a device reaches a state ("if the cellar humidity goes above 70%, switch
//! on the dehumidifier, and off again below 60%"). The agent reads the
//! words into a [`RuleInfo`]; a person's yes arms it; the session
//! evaluates it on every state the fleet reports and fires it on the edge;
//! the face keeps it on disk ([`super::Effect::SaveRules`],
//! [`super::schedule_file`]) so that it survives a restart, where it was.
//!
//! Semantics follow Home Assistant's numeric-state and state triggers: a
//! rule acts when its condition *starts* to hold, not on every reading
//! while it holds, and not when it already held as it was armed.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::types::RuleInfo;

/// Where a rule is between its two halves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// No reading seen since it was armed: the first one sets the phase
    /// without acting (a value that already held is no edge).
    Unknown,
    /// Waiting for the condition to start to hold.
    Waiting,
    /// The condition held (the rule acted, or it held when armed):
    /// waiting for the reverse condition, or for the condition to end.
    Active,
}

/// Which half of a rule fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Half {
    Then,
    Otherwise,
}

/// A standing rule as a face keeps it: what was armed and where it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    #[serde(flatten)]
    pub info: RuleInfo,
    pub phase: Phase,
    /// When it last acted, for its least interval between firings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_fired: Option<Timestamp>,
    pub created: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
}

impl Rule {
    /// The phase a rule starts in, given the reading when it is armed.
    pub fn baseline(info: &RuleInfo, reading: Option<&Value>) -> Phase {
        match reading.and_then(|r| info.condition.holds(r)) {
            None => Phase::Unknown,
            Some(true) => Phase::Active,
            Some(false) => Phase::Waiting,
        }
    }

    /// Takes `reading` (the condition's device and capability, as last
    /// reported) at `now`: which half fires, if one does. A half that
    /// would fire within `min_interval_s` of the last firing waits (its
    /// phase unchanged, so it fires on a later reading or clock tick if
    /// its condition still holds then).
    pub fn step(&mut self, reading: Option<&Value>, now: Timestamp) -> Option<Half> {
        if !self.info.enabled {
            return None;
        }
        let reading = reading?;
        let holds = self.info.condition.holds(reading)?;
        let rested = self.last_fired.is_none_or(|last| {
            now.duration_since(last).as_secs() >= self.info.min_interval_s as i64
        });
        let (next, half) = match self.phase {
            Phase::Unknown => (if holds { Phase::Active } else { Phase::Waiting }, None),
            Phase::Waiting if holds => (Phase::Active, Some(Half::Then)),
            Phase::Waiting => (Phase::Waiting, None),
            Phase::Active => match &self.info.otherwise {
                Some(o) if o.condition.holds(reading) == Some(true) => {
                    (Phase::Waiting, Some(Half::Otherwise))
                }
                Some(_) => (Phase::Active, None),
                None if holds => (Phase::Active, None),
                None => (Phase::Waiting, None),
            },
        };
        if half.is_some() && !rested {
            return None;
        }
        self.phase = next;
        if half.is_some() {
            self.last_fired = Some(now);
        }
        half
    }

    /// One line for lists: its id, state and what it does.
    pub fn line(&self) -> String {
        format!(
            "{} [{}] {}",
            self.info.id,
            if self.info.enabled {
                "armed"
            } else {
                "disabled"
            },
            self.info.describe()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Comparison, Condition, Otherwise, RuleAction};
    use serde_json::json;

    fn humidity(test: Comparison, value: i64) -> Condition {
        Condition {
            device: "cellar_sensor".into(),
            capability: "humidity".into(),
            test,
            value: json!(value),
            unit: Some("%".into()),
            says: format!("humidity {} {value}", test.words()),
        }
    }

    fn rule(otherwise: bool) -> Rule {
        let on = RuleAction {
            device: "dehumidifier_plug".into(),
            capability: "power".into(),
            value: json!("on"),
        };
        let info = RuleInfo {
            id: "r1".into(),
            said: "if the cellar humidity goes above 70%, switch on the dehumidifier".into(),
            condition: humidity(Comparison::Above, 70),
            actions: vec![on.clone()],
            otherwise: otherwise.then(|| Otherwise {
                condition: humidity(Comparison::Below, 60),
                actions: vec![RuleAction {
                    value: json!("off"),
                    ..on
                }],
            }),
            enabled: true,
            min_interval_s: 60,
        };
        Rule {
            phase: Rule::baseline(&info, None),
            info,
            last_fired: None,
            created: Timestamp::UNIX_EPOCH,
            conversation: None,
            room: None,
        }
    }

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    #[test]
    fn fires_on_the_edge_not_on_every_reading_while_it_holds() {
        let mut r = rule(false);
        // The first reading is the baseline.
        assert_eq!(r.step(Some(&json!(50)), at(0)), None);
        assert_eq!(r.step(Some(&json!(71)), at(100)), Some(Half::Then));
        assert_eq!(r.step(Some(&json!(75)), at(200)), None);
        assert_eq!(r.step(Some(&json!(80)), at(300)), None);
        // Below again re-arms it silently; the next crossing fires.
        assert_eq!(r.step(Some(&json!(69)), at(400)), None);
        assert_eq!(r.step(Some(&json!(72)), at(500)), Some(Half::Then));
        // A value that held when armed is no edge.
        let mut r = rule(false);
        r.phase = Rule::baseline(&r.info, Some(&json!(75)));
        assert_eq!(r.step(Some(&json!(76)), at(0)), None);
        // Readings that are not numbers are skipped.
        assert_eq!(r.step(Some(&json!("unavailable")), at(10)), None);
        assert_eq!(r.phase, Phase::Active);
    }

    #[test]
    fn the_reverse_fires_past_its_own_threshold_only() {
        let mut r = rule(true);
        r.phase = Phase::Waiting;
        assert_eq!(r.step(Some(&json!(71)), at(0)), Some(Half::Then));
        // Between the thresholds: nothing (hysteresis).
        assert_eq!(r.step(Some(&json!(65)), at(100)), None);
        assert_eq!(r.step(Some(&json!(71)), at(200)), None);
        assert_eq!(r.step(Some(&json!(59)), at(300)), Some(Half::Otherwise));
        assert_eq!(r.step(Some(&json!(55)), at(400)), None);
        assert_eq!(r.step(Some(&json!(71)), at(500)), Some(Half::Then));
    }

    #[test]
    fn a_flapping_reading_fires_at_most_once_a_minute_and_catches_up() {
        let mut r = rule(false);
        r.phase = Phase::Waiting;
        assert_eq!(r.step(Some(&json!(71)), at(0)), Some(Half::Then));
        assert_eq!(r.step(Some(&json!(69)), at(5)), None);
        // Crossed again within the minute: it waits, still wanted.
        assert_eq!(r.step(Some(&json!(71)), at(10)), None);
        assert_eq!(r.phase, Phase::Waiting);
        assert_eq!(r.step(Some(&json!(71)), at(59)), None);
        assert_eq!(r.step(Some(&json!(71)), at(60)), Some(Half::Then));
    }

    #[test]
    fn a_disabled_rule_does_nothing() {
        let mut r = rule(false);
        r.phase = Phase::Waiting;
        r.info.enabled = false;
        assert_eq!(r.step(Some(&json!(90)), at(0)), None);
        assert_eq!(r.phase, Phase::Waiting);
    }

    #[test]
    fn kept_as_json_and_read_back() {
        let r = rule(true);
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.contains("\"phase\":\"unknown\""), "{text}");
        let back: Rule = serde_json::from_str(&text).unwrap();
        assert_eq!(back, r);
    }
}
