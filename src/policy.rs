//! The policy: what may be published, decided outside the model.
//!
//! Every planned action is checked again against the registry (device known
//! and not denied, capability writable, value in range, command topic present
//! and allowed), whatever produced it. Actions on `safety: confirm` devices,
//! or on kinds the agent lists as needing confirmation, wait for a person's
//! explicit yes. A plan is all or nothing.

use crate::registry::{Device, Registry, Safety};
use crate::types::{Action, PolicyOverrides};

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Publish these (rebuilt from the registry).
    Allow(Vec<Action>),
    /// Nothing may be published until a person says yes.
    NeedsConfirmation {
        actions: Vec<Action>,
        devices: Vec<String>,
    },
    /// Nothing may be published, for this reason.
    Refuse(String),
}

/// Checks a plan. `confirmed` is the person's yes (`--yes`, the TUI dialog,
/// a confirmation token on the bridge).
pub fn check(
    registry: &Registry,
    overrides: &PolicyOverrides,
    actions: &[Action],
    confirmed: bool,
) -> Verdict {
    let mut allowed = Vec::with_capacity(actions.len());
    let mut confirm = Vec::new();
    for a in actions {
        if let Some(market) = crate::types::market_of(&a.device) {
            match market_action(registry, market, a) {
                Ok(rebuilt) if !topic_allowed(overrides, &rebuilt.topic) => {
                    return Verdict::Refuse(format!(
                        "{} is not among the topics this agent may publish to",
                        rebuilt.topic
                    ));
                }
                Ok(rebuilt) => {
                    // Publishing a menu moves money: always a person's call.
                    if !confirm.contains(&a.device) {
                        confirm.push(a.device.clone());
                    }
                    allowed.push(rebuilt);
                    continue;
                }
                Err(e) => return Verdict::Refuse(crate::error_chain(&e)),
            }
        }
        let Some(device) = registry.get(&a.device) else {
            return Verdict::Refuse(format!("unknown device `{}`", a.device));
        };
        if overrides.deny_devices.iter().any(|d| d == &device.id) {
            return Verdict::Refuse(format!("{} is not to be acted on by this agent", device.id));
        }
        let Some(cap) = device.capability(&a.capability) else {
            return Verdict::Refuse(format!(
                "{} has no capability `{}`",
                device.id, a.capability
            ));
        };
        if let Err(e) = cap.check_write(&a.value) {
            return Verdict::Refuse(format!("{}: {e}", device.id));
        }
        let Some(topic) = device.command_topic_for(cap) else {
            return Verdict::Refuse(format!("{} takes no commands", device.id));
        };
        if !topic_allowed(overrides, topic) {
            return Verdict::Refuse(format!(
                "{topic} is not among the topics this agent may publish to"
            ));
        }
        let action = device.action(&cap.name, a.value.clone());
        // A command template that cannot write this value: nothing is sent
        // rather than a payload the device would misread.
        if cap.command.is_some() && device.encode(cap, &action.value).is_none() {
            return Verdict::Refuse(format!(
                "{}: the {} command template cannot write {}",
                device.id, cap.name, action.value
            ));
        }
        if needs_confirmation(device, overrides) && !confirm.contains(&device.id) {
            confirm.push(device.id.clone());
        }
        allowed.push(action);
    }
    if allowed.is_empty() {
        return Verdict::Refuse("nothing to do".into());
    }
    if !confirm.is_empty() && !confirmed {
        return Verdict::NeedsConfirmation {
            actions: allowed,
            devices: confirm,
        };
    }
    Verdict::Allow(allowed)
}

fn topic_allowed(overrides: &PolicyOverrides, topic: &str) -> bool {
    overrides.allow_topics.is_empty()
        || overrides
            .allow_topics
            .iter()
            .any(|f| crate::mqtt::topic_matches(f, topic))
}

/// Checks a proposed menu for market `id` and rebuilds its action from the
/// registry's market: a menu must have one well-formed item per type. Its
/// audit (IR/IC violations, utility against the optimum) is for the person
/// who confirms it, not a reason to refuse.
fn market_action(registry: &Registry, id: &str, a: &Action) -> Result<Action, MenuRefusal> {
    let config = registry
        .market
        .as_ref()
        .filter(|m| m.id == id)
        .ok_or_else(|| MenuRefusal::NoMarket(id.to_owned()))?;
    if a.capability != "menu" {
        return Err(MenuRefusal::NotTheMenu {
            id: id.to_owned(),
            setting: a.capability.clone(),
        });
    }
    let menu: crate::planner::model::Menu =
        serde_json::from_value(a.value.clone()).map_err(|source| MenuRefusal::NotAMenu {
            id: id.to_owned(),
            source,
        })?;
    crate::market::audit(&config.state, &menu).map_err(|source| MenuRefusal::Unfit {
        id: id.to_owned(),
        source,
    })?;
    Ok(crate::market::menu_action(id, &menu))
}

/// Why a proposed market action is refused; its chain is the refusal's text.
#[derive(Debug, thiserror::Error)]
enum MenuRefusal {
    #[error("there is no market `{0}`")]
    NoMarket(String),
    #[error("the {id} market has no setting `{setting}`: only its menu can be proposed")]
    NotTheMenu { id: String, setting: String },
    /// Not the JSON of a menu.
    #[error("not a menu for the {id} market")]
    NotAMenu {
        id: String,
        source: serde_json::Error,
    },
    /// A menu, but not one for this market (an item per type, finite,
    /// non-negative).
    #[error("not a menu for the {id} market")]
    Unfit {
        id: String,
        source: crate::planner::model::MarketError,
    },
}

/// Whether acting on `device` waits for a person's yes: a `safety: confirm`
/// device, or a kind the agent lists in `confirm_kinds`.
pub fn needs_confirmation(device: &Device, overrides: &PolicyOverrides) -> bool {
    device.safety == Safety::Confirm || overrides.confirm_kinds.iter().any(|k| k == &device.kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::Path;

    fn registry() -> Registry {
        crate::registry::parse_str(
            r#"
devices:
  - id: hall_light
    kind: light
    state_topic: home/hall/state
    command_topic: home/hall/set
    capabilities:
      - {name: brightness, type: number, min: 0, max: 100}
      - {name: power_w, type: number, min: 0, max: 60, readonly: true}
  - id: front_door
    kind: lock
    safety: confirm
    state_topic: home/door/state
    command_topic: home/door/set
    capabilities:
      - {name: lock, type: enum, values: [locked, unlocked]}
"#,
            Path::new("t.yaml"),
        )
        .unwrap()
    }

    fn action(device: &str, cap: &str, value: serde_json::Value) -> Action {
        let reg = registry();
        reg.get(device).unwrap().action(cap, value)
    }

    #[test]
    fn values_out_of_range_are_refused() {
        let v = check(
            &registry(),
            &PolicyOverrides::default(),
            &[action("hall_light", "brightness", json!(150))],
            false,
        );
        assert!(matches!(v, Verdict::Refuse(r) if r.contains("between 0 and 100")));
    }

    #[test]
    fn readonly_capabilities_are_refused() {
        let v = check(
            &registry(),
            &PolicyOverrides::default(),
            &[action("hall_light", "power_w", json!(5))],
            false,
        );
        assert!(matches!(v, Verdict::Refuse(r) if r.contains("read-only")));
    }

    #[test]
    fn confirm_devices_wait_for_a_yes() {
        let plan = [
            action("hall_light", "brightness", json!(10)),
            action("front_door", "lock", json!("unlocked")),
        ];
        let v = check(&registry(), &PolicyOverrides::default(), &plan, false);
        assert!(
            matches!(&v, Verdict::NeedsConfirmation { devices, .. } if devices == &["front_door"])
        );
        assert!(
            matches!(check(&registry(), &PolicyOverrides::default(), &plan, true), Verdict::Allow(a) if a.len() == 2)
        );
    }

    #[test]
    fn a_plan_is_all_or_nothing() {
        let plan = [
            action("hall_light", "brightness", json!(10)),
            action("hall_light", "brightness", json!(101)),
        ];
        assert!(matches!(
            check(&registry(), &PolicyOverrides::default(), &plan, true),
            Verdict::Refuse(_)
        ));
    }

    #[test]
    fn topics_must_be_allowed_and_are_taken_from_the_registry() {
        let mut forged = action("hall_light", "brightness", json!(10));
        forged.topic = "elsewhere/set".into();
        let overrides = PolicyOverrides {
            allow_topics: vec!["home/+/set".into()],
            ..Default::default()
        };
        match check(&registry(), &overrides, &[forged], false) {
            Verdict::Allow(a) => assert_eq!(a[0].topic, "home/hall/set"),
            other => panic!("{other:?}"),
        }
        let overrides = PolicyOverrides {
            allow_topics: vec!["garden/#".into()],
            ..Default::default()
        };
        assert!(matches!(
            check(
                &registry(),
                &overrides,
                &[action("hall_light", "brightness", json!(1))],
                false
            ),
            Verdict::Refuse(_)
        ));
    }

    #[test]
    fn deny_lists_and_confirm_kinds_apply() {
        let overrides = PolicyOverrides {
            deny_devices: vec!["hall_light".into()],
            confirm_kinds: vec![],
            ..Default::default()
        };
        assert!(matches!(
            check(
                &registry(),
                &overrides,
                &[action("hall_light", "brightness", json!(1))],
                true
            ),
            Verdict::Refuse(_)
        ));
        let overrides = PolicyOverrides {
            confirm_kinds: vec!["light".into()],
            ..Default::default()
        };
        assert!(matches!(
            check(
                &registry(),
                &overrides,
                &[action("hall_light", "brightness", json!(1))],
                false
            ),
            Verdict::NeedsConfirmation { .. }
        ));
    }

    #[test]
    fn a_proposed_menu_always_waits_for_a_person_and_must_be_well_formed() {
        let reg = crate::registry::parse_str(
            "devices:\n  - {id: car_1, kind: vehicle, state_topic: v/1, capabilities: [{name: speed, type: number, min: 0, max: 200, readonly: true}]}\nmarket:\n  id: traffic\n  theta: [1, 2]\n  rho: [0.5, 0.5]\n  c: 1\n  omega: 10\n",
            Path::new("m.yaml"),
        )
        .unwrap();
        let none = PolicyOverrides::default();
        let menu = json!({"items": [{"q": 1.0, "r": 2.0}, {"q": 3.0, "r": 4.0}]});
        let action = |device: &str, cap: &str, value: serde_json::Value| Action {
            device: device.into(),
            capability: cap.into(),
            value,
            topic: String::new(),
            payload: String::new(),
        };
        let mut a = action("market:traffic", "menu", menu.clone());
        a.topic = "somewhere/else".into();
        match check(&reg, &none, std::slice::from_ref(&a), false) {
            Verdict::NeedsConfirmation { actions, devices } => {
                assert_eq!(devices, ["market:traffic"]);
                // Topic and payload come from the registry's market, not the plan.
                assert_eq!(actions[0].topic, "giot/market/traffic/proposal");
                assert_eq!(actions[0].payload, json!({"menu": menu}).to_string());
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(check(&reg, &none, &[a], true), Verdict::Allow(_)));
        for (device, cap, value, why) in [
            (
                "market:parking",
                "menu",
                menu.clone(),
                "no market `parking`",
            ),
            ("market:traffic", "budget", json!(3), "only its menu"),
            (
                "market:traffic",
                "menu",
                json!({"items": [{"q": 1.0, "r": 2.0}]}),
                "not a menu",
            ),
            (
                "market:traffic",
                "menu",
                json!({"items": [{"q": -1.0, "r": 2.0}, {"q": 1.0, "r": 1.0}]}),
                "not a menu",
            ),
        ] {
            match check(&reg, &none, &[action(device, cap, value)], true) {
                Verdict::Refuse(r) => assert!(r.contains(why), "{r}"),
                other => panic!("{device}.{cap}: {other:?}"),
            }
        }
    }
}
