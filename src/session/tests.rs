//! The session fed by hand: inputs in, effects asserted, time by ticks.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use super::*;
use crate::agent::AgentDefinition;
use crate::fleet::Fleet;
use crate::llm::Scorer;
use crate::llm::fake::FakeScorer;
use crate::types::Status;

const FLEET: &str = r#"
devices:
  - {id: desk_lamp, name: Desk lamp, room: study, kind: light, state_topic: s/desk, command_topic: c/desk,
     capabilities: [{name: power, type: enum, values: ["on", "off"]}, {name: brightness, type: number, min: 0, max: 100, unit: "%"}]}
  - {id: bedside_lamp, name: Bedside lamp, room: bedroom, kind: light, state_topic: s/bed, command_topic: c/bed,
     capabilities: [{name: power, type: enum, values: ["on", "off"]}]}
  - {id: front_door, name: Front door lock, room: hallway, kind: lock, safety: confirm, state_topic: s/door, command_topic: c/door,
     capabilities: [{name: lock, type: enum, values: ["locked", "unlocked"]}]}
"#;

fn session_with(definition: AgentDefinition) -> Session {
    let registry = crate::registry::parse_str(FLEET, Path::new("t.yaml")).unwrap();
    Session::new(
        Fleet::new(registry, 4),
        definition,
        SessionConfig {
            confirm_timeout: Duration::from_secs(3),
            ask_timeout: Duration::from_secs(60),
            ..SessionConfig::default()
        },
    )
}

fn session() -> Session {
    session_with(AgentDefinition::builtin())
}

fn origin() -> Origin {
    Origin::new("test", "operator (test)", "say yes")
}

/// The driver's answer: every action of the goal was handed to the client.
fn published_ok(s: &mut Session, goal: GoalId, now: Instant) -> Vec<Effect> {
    s.handle(
        Input::Published {
            goal,
            published: 1,
            error: None,
        },
        now,
    )
}

fn goal(id: GoalId, text: &str) -> Input {
    Input::Goal(GoalRequest::words(id, text, origin()))
}

fn state(topic: &str, payload: serde_json::Value) -> Input {
    Input::Link(crate::mqtt::LinkEvent::Message {
        topic: topic.into(),
        payload: payload.to_string().into(),
        retain: true,
    })
}

fn reports(effects: &[Effect]) -> Vec<&Outcome> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Report { outcome, .. } => Some(outcome),
            _ => None,
        })
        .collect()
}

fn published(effects: &[Effect]) -> Vec<(GoalId, Vec<(String, String)>)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Publish { goal, actions, .. } => Some((
                *goal,
                actions
                    .iter()
                    .map(|a| (a.topic.clone(), a.payload.clone()))
                    .collect(),
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn a_plain_goal_publishes_records_and_reports_when_the_device_echoes() {
    let mut s = session();
    let t0 = Instant::now();
    let fx = s.handle(goal(1, "turn on the desk lamp"), t0);
    assert_eq!(
        published(&fx),
        [(1, vec![("c/desk".into(), r#"{"power":"on"}"#.into())])]
    );
    assert!(
        reports(&fx).is_empty(),
        "nothing reported before the publish"
    );
    let fx = published_ok(&mut s, 1, t0 + Duration::from_millis(2));
    assert!(
        matches!(&fx[..], [Effect::Record { actions, confirmed_by, .. }] if actions.len() == 1 && confirmed_by == "policy (test)"),
        "{fx:?}"
    );
    let fx = s.handle(
        Input::Recorded {
            goal: 1,
            error: None,
        },
        t0,
    );
    assert!(reports(&fx).is_empty(), "waits for the echo");
    let fx = s.handle(state("s/desk", json!({"power": "on"})), t0);
    let out = reports(&fx);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].status, Status::Executed);
    assert_eq!(out[0].actions[0].confirmed, Some(true));
    assert_eq!(out[0].timing_ms.total, 2.0);
    assert_eq!(s.in_flight(), 0);
}

#[test]
fn an_action_without_echo_is_reported_unconfirmed_when_a_tick_passes_the_deadline() {
    let mut s = session();
    let t0 = Instant::now();
    s.handle(goal(7, "switch off the bedside lamp"), t0);
    published_ok(&mut s, 7, t0);
    s.handle(
        Input::Recorded {
            goal: 7,
            error: None,
        },
        t0,
    );
    assert_eq!(s.next_deadline(), Some(t0 + Duration::from_secs(3)));
    assert!(reports(&s.handle(Input::Tick, t0 + Duration::from_secs(2))).is_empty());
    let fx = s.handle(Input::Tick, t0 + Duration::from_secs(3));
    let out = reports(&fx);
    assert_eq!(out[0].status, Status::Executed);
    assert_eq!(out[0].actions[0].confirmed, Some(false));
}

#[test]
fn a_failed_publish_is_a_failure_and_nothing_is_recorded() {
    let mut s = session();
    let t0 = Instant::now();
    s.handle(goal(1, "turn on the desk lamp"), t0);
    let fx = s.handle(
        Input::Published {
            goal: 1,
            published: 0,
            error: Some("the client is gone".into()),
        },
        t0,
    );
    assert!(!fx.iter().any(|e| matches!(e, Effect::Record { .. })));
    let out = reports(&fx);
    assert_eq!(out[0].status, Status::Failed);
    assert!(out[0].actions.is_empty());
    assert!(
        out[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("the client is gone")
    );
}

#[test]
fn a_confirm_device_waits_for_a_yes_where_a_person_can_be_asked() {
    let mut s = session();
    let t0 = Instant::now();
    // Nobody to ask: reported, nothing published.
    let fx = s.handle(goal(1, "unlock the front door"), t0);
    assert!(published(&fx).is_empty());
    let out = reports(&fx);
    assert_eq!(out[0].status, Status::NeedsConfirmation);
    assert!(out[0].reason.as_deref().unwrap().ends_with("say yes"));
    // A person to ask: the question, then the yes publishes.
    let mut request = GoalRequest::words(2, "unlock the front door", origin());
    request.ask = true;
    let fx = s.handle(Input::Goal(request.clone()), t0);
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::AskConfirmation { goal: 2, .. })),
        "{fx:?}"
    );
    assert!(published(&fx).is_empty() && reports(&fx).is_empty());
    let fx = s.handle(Input::Confirm { goal: 2, yes: true }, t0);
    assert_eq!(
        published(&fx),
        [(2, vec![("c/door".into(), r#"{"lock":"unlocked"}"#.into())])]
    );
    let fx = published_ok(&mut s, 2, t0);
    assert!(
        matches!(&fx[..], [Effect::Record { confirmed_by, .. }] if confirmed_by == "operator (test)")
    );
    // A no publishes nothing; silence expires.
    request.id = 3;
    s.handle(Input::Goal(request.clone()), t0);
    let fx = s.handle(
        Input::Confirm {
            goal: 3,
            yes: false,
        },
        t0,
    );
    assert!(published(&fx).is_empty());
    assert_eq!(reports(&fx)[0].status, Status::Refused);
    request.id = 4;
    s.handle(Input::Goal(request), t0);
    let fx = s.handle(Input::Tick, t0 + Duration::from_secs(61));
    assert_eq!(reports(&fx)[0].status, Status::NeedsConfirmation);
}

#[test]
fn goals_on_the_same_device_stay_in_order_and_others_do_not_wait() {
    let mut s = session();
    let t0 = Instant::now();
    let fx = s.handle(goal(1, "turn on the desk lamp"), t0);
    assert_eq!(published(&fx).len(), 1);
    let fx = s.handle(goal(2, "turn off the desk lamp"), t0);
    assert!(published(&fx).is_empty(), "waits for goal 1: {fx:?}");
    let fx = s.handle(goal(3, "turn on the bedside lamp"), t0);
    assert_eq!(published(&fx).len(), 1, "another device does not wait");
    published_ok(&mut s, 1, t0);
    s.handle(
        Input::Recorded {
            goal: 1,
            error: None,
        },
        t0,
    );
    let fx = s.handle(state("s/desk", json!({"power": "on"})), t0);
    assert_eq!(reports(&fx).len(), 1);
    assert_eq!(
        published(&fx),
        [(2, vec![("c/desk".into(), r#"{"power":"off"}"#.into())])]
    );
}

#[test]
fn questions_dry_runs_and_refusals_publish_nothing() {
    let mut s = session();
    let t0 = Instant::now();
    s.handle(
        state("s/desk", json!({"power": "on", "brightness": 40})),
        t0,
    );
    let fx = s.handle(goal(1, "is the desk lamp on?"), t0);
    assert_eq!(reports(&fx)[0].status, Status::Answered);
    assert!(published(&fx).is_empty());
    let mut dry = GoalRequest::words(2, "dim the desk lamp to 10%", origin());
    dry.dry_run = true;
    let fx = s.handle(Input::Goal(dry), t0);
    assert_eq!(reports(&fx)[0].status, Status::Planned);
    assert!(published(&fx).is_empty());
    let fx = s.handle(goal(3, "turn on the sauna"), t0);
    assert_eq!(reports(&fx)[0].status, Status::Refused);
    assert!(published(&fx).is_empty());
}

#[test]
fn an_agent_without_the_tool_cannot_publish_or_answer() {
    let mut definition = AgentDefinition::builtin();
    definition.tools = vec!["state_query".into()];
    let mut s = session_with(definition.clone());
    let fx = s.handle(goal(1, "turn on the desk lamp"), Instant::now());
    assert!(published(&fx).is_empty());
    let out = reports(&fx);
    assert_eq!(out[0].status, Status::Refused);
    assert!(out[0].reason.as_deref().unwrap().contains("device_action"));
    definition.tools = vec!["device_action".into()];
    let mut s = session_with(definition);
    let fx = s.handle(goal(1, "is the desk lamp on?"), Instant::now());
    assert!(
        reports(&fx)[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("state_query")
    );
}

#[test]
fn a_tie_asks_the_model_through_effects_and_acts_on_its_answer() {
    let mut s = session();
    let mut model = FakeScorer::default().prefer("sleep", " bedside lamp");
    let t0 = Instant::now();
    s.handle(Input::Model(Some(ModelInfo::of(&model))), t0);
    let mut fx = s.handle(goal(1, "turn on the lamp where i sleep"), t0);
    let mut asked = 0;
    // Answer every score request the way a driver would.
    while let Some((request, prompt, options)) = fx.iter().find_map(|e| match e {
        Effect::Score {
            request,
            prompt,
            options,
            ..
        } => Some((*request, prompt.clone(), options.clone())),
        _ => None,
    }) {
        asked += 1;
        assert!(asked < 5, "the session keeps asking");
        fx = s.handle(
            Input::Scored {
                request,
                result: model.score(&prompt, &options),
                took: Duration::from_millis(10),
            },
            t0,
        );
    }
    assert!(asked >= 1);
    assert_eq!(
        published(&fx),
        [(1, vec![("c/bed".into(), r#"{"power":"on"}"#.into())])]
    );
}

#[test]
fn goals_wait_while_the_model_loads() {
    let mut s = session();
    s.expect_model();
    let t0 = Instant::now();
    assert!(s.handle(goal(1, "turn on the desk lamp"), t0).is_empty());
    let fx = s.handle(Input::Model(None), t0);
    assert_eq!(published(&fx).len(), 1);
}

#[test]
fn unconfirmed_actions_go_out_again_after_a_reconnection_and_verified_ones_never() {
    let mut s = session();
    let t0 = Instant::now();
    s.handle(goal(1, "turn on the desk lamp"), t0);
    published_ok(&mut s, 1, t0);
    let mut verify = GoalRequest::words(2, "turn on the bedside lamp", origin());
    verify.intent = Intent::Verify(vec![crate::types::ActionResult {
        device: "bedside_lamp".into(),
        capability: "power".into(),
        value: json!("on"),
        topic: "c/bed".into(),
        payload: r#"{"power":"on"}"#.into(),
        confirmed: None,
    }]);
    s.handle(Input::Goal(verify), t0);
    let later = t0 + Duration::from_secs(2);
    let fx = s.handle(Input::Link(crate::mqtt::LinkEvent::Connected), later);
    assert_eq!(
        published(&fx),
        [(1, vec![("c/desk".into(), r#"{"power":"on"}"#.into())])]
    );
    assert!(matches!(
        &fx[..],
        [Effect::Publish {
            retransmit: true,
            ..
        }]
    ));
    assert_eq!(s.next_deadline(), Some(t0 + Duration::from_secs(3)));
    // The lamp reports (its old state) after the broker came back: once more.
    let fx = s.handle(state("s/desk", json!({"power": "off"})), later);
    assert_eq!(published(&fx).len(), 1, "{fx:?}");
    let fx = s.handle(state("s/desk", json!({"power": "off"})), later);
    assert!(published(&fx).is_empty(), "{fx:?}");
}

fn said_in(id: GoalId, text: &str, conversation: &str) -> Input {
    Input::Goal(GoalRequest {
        conversation: Some(conversation.into()),
        dry_run: true,
        ..GoalRequest::words(id, text, origin())
    })
}

fn acts(effects: &[Effect]) -> Vec<(String, String, serde_json::Value)> {
    reports(effects)
        .iter()
        .flat_map(|o| {
            o.actions
                .iter()
                .map(|a| (a.device.clone(), a.capability.clone(), a.value.clone()))
        })
        .collect()
}

#[test]
fn a_pointer_refers_to_the_last_goals_devices_in_the_same_conversation_only() {
    let mut s = session();
    let now = Instant::now();
    s.handle(said_in(1, "turn on the desk lamp", "a"), now);
    let again = s.handle(said_in(2, "turn it off again", "a"), now);
    assert_eq!(
        acts(&again),
        vec![("desk_lamp".into(), "power".into(), json!("off"))]
    );
    // Another conversation has no "it".
    let other = s.handle(said_in(3, "turn it off again", "b"), now);
    assert_eq!(reports(&other)[0].status, Status::Refused);
    // "set it to 30%": a value on the same device.
    let set = s.handle(said_in(4, "set it to 30%", "a"), now);
    assert_eq!(
        acts(&set),
        vec![("desk_lamp".into(), "brightness".into(), json!(30))]
    );
}

#[test]
fn an_answer_to_a_clarification_completes_the_pending_goal() {
    let mut s = session();
    let now = Instant::now();
    let asked = s.handle(said_in(1, "turn on the lamp", "a"), now);
    assert_eq!(reports(&asked)[0].status, Status::NeedsClarification);
    let answered = s.handle(said_in(2, "the bedside one", "a"), now);
    assert_eq!(
        acts(&answered),
        vec![("bedside_lamp".into(), "power".into(), json!("on"))]
    );
    // An answer that names none of them keeps the question open.
    s.handle(said_in(3, "turn on the lamp", "a"), now);
    let none = s.handle(said_in(4, "the kitchen one", "a"), now);
    assert_eq!(reports(&none)[0].status, Status::NeedsClarification);
    let both = s.handle(said_in(5, "both", "a"), now);
    assert_eq!(acts(&both).len(), 2);
}

#[test]
fn the_same_for_a_room_repeats_the_last_change_on_its_devices_of_that_kind() {
    let mut s = session();
    let now = Instant::now();
    s.handle(said_in(1, "turn off the desk lamp", "a"), now);
    let same = s.handle(said_in(2, "the same for the bedroom", "a"), now);
    assert_eq!(
        acts(&same),
        vec![("bedside_lamp".into(), "power".into(), json!("off"))]
    );
}

#[test]
fn a_relative_goal_moves_the_value_the_fleet_last_reported() {
    let mut s = session();
    let now = Instant::now();
    s.handle(
        state("s/desk", json!({"power": "on", "brightness": 40})),
        now,
    );
    let brighter = s.handle(said_in(1, "make the desk lamp a bit brighter", "a"), now);
    assert_eq!(
        acts(&brighter),
        vec![("desk_lamp".into(), "brightness".into(), json!(45))]
    );
    let unknown = s.handle(said_in(2, "dim the bedside lamp by 10%", "a"), now);
    assert_eq!(reports(&unknown)[0].status, Status::Refused);
}

fn keeping_schedules() -> Session {
    let registry = crate::registry::parse_str(FLEET, Path::new("t.yaml")).unwrap();
    Session::new(
        Fleet::new(registry, 4),
        AgentDefinition::builtin(),
        SessionConfig {
            time_zone: jiff::tz::TimeZone::get("Europe/Berlin").unwrap(),
            keeps_schedules: true,
            ..SessionConfig::default()
        },
    )
}

/// Monday 30 November 2026 at 20:00 in Berlin, plus `secs`.
fn wall(secs: i64) -> Input {
    let t: jiff::Timestamp = "2026-11-30T19:00:00Z".parse().unwrap();
    Input::Clock(
        t.checked_add(jiff::SignedDuration::from_secs(secs))
            .unwrap(),
    )
}

fn saved(effects: &[Effect]) -> Option<usize> {
    effects.iter().rev().find_map(|e| match e {
        Effect::SaveSchedules(s) => Some(s.len()),
        _ => None,
    })
}

#[test]
fn a_delayed_goal_is_kept_then_run_once_when_the_clock_reaches_it() {
    let mut s = keeping_schedules();
    let t0 = Instant::now();
    s.handle(wall(0), t0);
    let fx = s.handle(goal(1, "turn on the desk lamp in 10 minutes"), t0);
    let o = reports(&fx)[0];
    assert_eq!(o.status, Status::Scheduled);
    let info = o.schedule.clone().unwrap();
    assert_eq!(info.next.as_deref(), Some("2026-11-30T20:10:00+01:00"));
    assert_eq!(info.goal, "turn on the desk lamp");
    assert!(published(&fx).is_empty());
    assert_eq!(saved(&fx), Some(1));
    // Time is what the clock says, not what passes between inputs.
    let fx = s.handle(wall(9 * 60), t0);
    assert!(published(&fx).is_empty());
    let fx = s.handle(wall(10 * 60), t0);
    assert_eq!(saved(&fx), Some(0), "removed before it runs");
    let runs = published(&fx);
    assert_eq!(runs.len(), 1);
    assert_eq!(
        runs[0].1,
        vec![("c/desk".into(), r#"{"power":"on"}"#.into())]
    );
    assert!(runs[0].0 >= super::state::FIRED);
    assert!(published(&s.handle(wall(11 * 60), t0)).is_empty(), "once");
}

#[test]
fn a_session_that_only_keeps_schedules_takes_them_but_runs_none_until_it_fires() {
    let mut s = keeping_schedules();
    s.set_fires(false);
    let t0 = Instant::now();
    s.handle(wall(0), t0);
    let fx = s.handle(goal(1, "turn on the desk lamp in 10 minutes"), t0);
    assert_eq!(reports(&fx)[0].status, Status::Scheduled);
    assert_eq!(saved(&fx), Some(1));
    let fx = s.handle(wall(11 * 60), t0);
    assert!(published(&fx).is_empty(), "another instance runs it");
    assert_eq!(s.schedules().len(), 1, "kept, not run");
    // Made the keeper, it runs what is due (late, once).
    s.set_fires(true);
    let fx = s.handle(wall(11 * 60 + 1), t0);
    assert_eq!(published(&fx).len(), 1);
    assert!(published(&s.handle(wall(12 * 60), t0)).is_empty(), "once");
}

#[test]
fn a_recurring_goal_moves_to_its_next_day_and_a_confirm_device_asks_then() {
    let mut s = keeping_schedules();
    let t0 = Instant::now();
    s.handle(wall(0), t0);
    let fx = s.handle(goal(1, "every day at 7:00 lock the front door"), t0);
    let o = reports(&fx)[0];
    assert_eq!(o.status, Status::Scheduled, "{:?}", o.reason);
    assert_eq!(
        o.schedule.as_ref().unwrap().next.as_deref(),
        Some("2026-12-01T07:00:00+01:00")
    );
    // 07:00 the next morning: the lock needs a yes, nobody can give one
    // on this face, so nothing is published; the schedule stays.
    let fx = s.handle(wall(11 * 3600), t0);
    assert_eq!(saved(&fx), Some(1));
    let o = reports(&fx)[0];
    assert_eq!(o.status, Status::NeedsConfirmation);
    assert!(published(&fx).is_empty());
    let next = s.schedules()[0].next_local();
    assert_eq!(next.strftime("%a %H:%M").to_string(), "Wed 07:00");
}

#[test]
fn a_face_without_schedules_refuses_a_goal_for_later_and_never_acts_now() {
    let mut s = session();
    let t0 = Instant::now();
    s.handle(wall(0), t0);
    let fx = s.handle(goal(1, "turn on the desk lamp in 10 minutes"), t0);
    assert_eq!(reports(&fx)[0].status, Status::Refused);
    assert!(published(&fx).is_empty());
    // Without any clock either.
    let mut s = session();
    let fx = s.handle(goal(2, "every day at 7 turn on the desk lamp"), t0);
    assert_eq!(reports(&fx)[0].status, Status::Refused);
}

const RULE_FLEET: &str = r#"
devices:
  - {id: cellar_sensor, name: Cellar sensor, room: cellar, kind: sensor, state_topic: s/cellar,
     capabilities: [{name: humidity, type: number, min: 0, max: 100, unit: "%", readonly: true}]}
  - {id: dehumidifier, name: Dehumidifier, room: cellar, kind: switch, state_topic: s/dehum, command_topic: c/dehum,
     capabilities: [{name: power, type: enum, values: ["on", "off"]}]}
  - {id: front_door, name: Front door lock, room: hallway, kind: lock, safety: confirm, state_topic: s/door, command_topic: c/door,
     capabilities: [{name: lock, type: enum, values: ["locked", "unlocked"]}]}
"#;

fn keeping_rules(keeps: bool) -> Session {
    let registry = crate::registry::parse_str(RULE_FLEET, Path::new("t.yaml")).unwrap();
    Session::new(
        Fleet::new(registry, 4),
        AgentDefinition::builtin(),
        SessionConfig {
            keeps_schedules: keeps,
            schedules_ask: true,
            ..SessionConfig::default()
        },
    )
}

fn asked(effects: &[Effect]) -> Option<(GoalId, &Outcome)> {
    effects.iter().find_map(|e| match e {
        Effect::AskConfirmation { goal, outcome } => Some((*goal, outcome)),
        _ => None,
    })
}

fn saved_rules(effects: &[Effect]) -> Option<&Vec<super::rule::Rule>> {
    effects.iter().rev().find_map(|e| match e {
        Effect::SaveRules(r) => Some(r),
        _ => None,
    })
}

fn asking(id: GoalId, text: &str) -> Input {
    let mut request = GoalRequest::words(id, text, origin());
    request.ask = true;
    Input::Goal(request)
}

#[test]
fn a_rule_is_shown_for_a_yes_then_armed_and_acts_on_the_edge_only() {
    let mut s = keeping_rules(true);
    let t0 = Instant::now();
    s.handle(wall(0), t0);
    s.handle(state("s/cellar", json!({"humidity": 50})), t0);
    let fx = s.handle(
        asking(
            1,
            "if the cellar humidity goes above 70%, switch on the dehumidifier",
        ),
        t0,
    );
    // Nothing is armed or published before the yes.
    assert!(published(&fx).is_empty() && saved_rules(&fx).is_none());
    let (g, o) = asked(&fx).expect("asks for a yes");
    assert_eq!(o.status, Status::NeedsConfirmation);
    let rule = o.rule.clone().unwrap();
    assert_eq!(
        (rule.condition.device.as_str(), rule.condition.value.clone()),
        ("cellar_sensor", json!(70))
    );
    let fx = s.handle(Input::Confirm { goal: g, yes: true }, t0);
    let o = reports(&fx)[0];
    assert_eq!(o.status, Status::Rule, "{:?}", o.reason);
    assert!(o.rule.as_ref().unwrap().id.starts_with('r'));
    assert_eq!(saved_rules(&fx).unwrap().len(), 1);
    assert!(published(&fx).is_empty(), "armed, not acted");

    // 50 → 72 crosses: the dehumidifier is switched on, through the policy.
    let fx = s.handle(state("s/cellar", json!({"humidity": 72})), t0);
    let p = published(&fx);
    assert_eq!(p.len(), 1, "{fx:?}");
    assert!(p[0].0 >= state::FIRED);
    assert_eq!(
        p[0].1,
        vec![("c/dehum".to_string(), r#"{"power":"on"}"#.to_string())]
    );
    let fx = published_ok(&mut s, p[0].0, t0);
    let recorded = fx.iter().find_map(|e| match e {
        Effect::Record { text, .. } => Some(text.clone()),
        _ => None,
    });
    assert!(recorded.unwrap().contains("(read 72%)"));
    s.handle(state("s/dehum", json!({"power": "on"})), t0);
    // Still above: no edge, nothing more.
    for v in [75, 80, 71] {
        let fx = s.handle(state("s/cellar", json!({"humidity": v})), t0);
        assert!(published(&fx).is_empty(), "{v}");
    }
}

#[test]
fn a_rule_on_a_confirm_device_asks_again_when_it_fires() {
    let mut s = keeping_rules(true);
    let t0 = Instant::now();
    s.handle(wall(0), t0);
    s.handle(state("s/cellar", json!({"humidity": 50})), t0);
    let mut request = GoalRequest::words(
        1,
        "when the cellar humidity goes above 90%, unlock the front door",
        origin(),
    );
    request.yes = true;
    let fx = s.handle(Input::Goal(request), t0);
    assert_eq!(reports(&fx)[0].status, Status::Rule);
    let fx = s.handle(state("s/cellar", json!({"humidity": 95})), t0);
    assert!(published(&fx).is_empty());
    let (_, o) = asked(&fx).expect("the person is asked when it fires");
    assert_eq!(o.actions[0].device, "front_door");
}

#[test]
fn a_rule_where_none_are_kept_is_refused_showing_what_was_understood() {
    let mut s = keeping_rules(false);
    let t0 = Instant::now();
    let fx = s.handle(
        goal(
            1,
            "if the cellar humidity goes above 70%, switch on the dehumidifier",
        ),
        t0,
    );
    let o = reports(&fx)[0];
    assert_eq!(o.status, Status::Refused);
    assert!(o.reason.as_ref().unwrap().contains("keeps no rules"));
    assert_eq!(o.rule.as_ref().unwrap().condition.device, "cellar_sensor");
    assert!(published(&fx).is_empty());
}

#[test]
fn a_redeemed_rule_is_armed_after_the_registry_and_policy_check_it_again() {
    let mut s = keeping_rules(true);
    let t0 = Instant::now();
    s.handle(wall(0), t0);
    let fx = s.handle(
        goal(
            1,
            "if the cellar humidity goes above 70%, switch on the dehumidifier",
        ),
        t0,
    );
    let mut rule = reports(&fx)[0].rule.clone().unwrap();
    let mut request = GoalRequest::words(2, "confirming", origin());
    request.intent = Intent::Arm(Box::new(rule.clone()));
    let fx = s.handle(Input::Goal(request), t0);
    let o = reports(&fx)[0];
    assert_eq!(o.status, Status::Rule, "{:?}", o.reason);
    assert!(o.reason.as_ref().unwrap().contains("no humidity yet"));
    // A rule whose action the policy refuses is not armed.
    rule.actions[0].value = json!("sideways");
    let mut request = GoalRequest::words(3, "confirming", origin());
    request.intent = Intent::Arm(Box::new(rule));
    let fx = s.handle(Input::Goal(request), t0);
    assert_eq!(reports(&fx)[0].status, Status::Refused);
    assert!(saved_rules(&fx).is_none());
    assert_eq!(s.rules().len(), 1);
}

#[test]
fn a_rule_said_in_a_conversation_is_a_rule_not_a_follow_up() {
    let mut s = keeping_rules(true);
    let t0 = Instant::now();
    s.handle(wall(0), t0);
    let fx = s.handle(said_in(1, "turn on the dehumidifier", "c"), t0);
    assert_eq!(acts(&fx).len(), 1);
    let fx = s.handle(
        said_in(
            2,
            "if the cellar humidity goes above 70% switch on the dehumidifier and off again below 60%",
            "c",
        ),
        t0,
    );
    // Not "turn it off again" on the dehumidifier (a dry run: not armed).
    let o = reports(&fx)[0];
    assert_eq!(o.status, Status::Planned, "{:?}", o.reason);
    assert_eq!(o.actions[0].value, json!("on"));
    assert!(o.rule.as_ref().unwrap().otherwise.is_some());
}

#[test]
fn kind12_a_goal_waiting_for_the_model_holds_up_no_unrelated_goal() {
    let mut s = session();
    let model = FakeScorer::default().prefer("sleep", " bedside lamp");
    let t0 = Instant::now();
    s.handle(Input::Model(Some(ModelInfo::of(&model))), t0);
    let fx = s.handle(goal(1, "turn on the lamp where i sleep"), t0);
    assert!(
        fx.iter().any(|e| matches!(e, Effect::Score { .. })),
        "goal 1 waits for the model"
    );
    // Goal 2 needs no model: it is published while goal 1 still waits.
    let fx = s.handle(goal(2, "switch off the desk lamp"), t0);
    assert_eq!(
        published(&fx),
        [(2, vec![("c/desk".into(), r#"{"power":"off"}"#.into())])]
    );
    assert_eq!(s.in_flight(), 2);
}

#[test]
fn as_soon_as_possible_is_manners_not_a_time() {
    let mut s = keeping_schedules();
    let t0 = Instant::now();
    s.handle(wall(0), t0);
    let fx = s.handle(goal(1, "switch on the desk lamp, as soon as possible"), t0);
    assert_eq!(
        published(&fx),
        [(1, vec![("c/desk".into(), r#"{"power":"on"}"#.into())])]
    );
}

#[test]
fn a_rule_enabled_again_starts_from_its_next_reading() {
    let mut s = keeping_rules(true);
    let t0 = Instant::now();
    s.handle(wall(0), t0);
    s.handle(state("s/cellar", json!({"humidity": 50})), t0);
    let mut request = GoalRequest::words(
        1,
        "if the cellar humidity goes above 70%, switch on the dehumidifier",
        origin(),
    );
    request.yes = true;
    let fx = s.handle(Input::Goal(request), t0);
    let id = reports(&fx)[0].rule.as_ref().unwrap().id.clone();
    s.enable_rule(&id, false).unwrap();
    // Crossed while disabled: nothing, and nothing when enabled again
    // while it still holds.
    let fx = s.handle(state("s/cellar", json!({"humidity": 80})), t0);
    assert!(published(&fx).is_empty());
    s.enable_rule(&id, true).unwrap();
    let fx = s.handle(state("s/cellar", json!({"humidity": 81})), t0);
    assert!(published(&fx).is_empty(), "{fx:?}");
    // The next crossing acts.
    s.handle(state("s/cellar", json!({"humidity": 60})), t0);
    let fx = s.handle(state("s/cellar", json!({"humidity": 75})), t0);
    assert_eq!(published(&fx).len(), 1);
}

#[test]
fn a_time_word_inside_a_name_is_no_time() {
    const HOME: &str = r#"
devices:
  - {id: bedtime, name: La hora de dormir, room: bedroom, kind: scene, state_topic: s/bt, command_topic: c/bt,
     capabilities: [{name: power, type: enum, values: ["on"]}]}
"#;
    let registry = crate::registry::parse_str(HOME, Path::new("t.yaml")).unwrap();
    let wall = jiff::Timestamp::UNIX_EPOCH.to_zoned_datetime(jiff::tz::TimeZone::UTC);
    assert!(state::time_only_in_names(
        "activa la hora de dormir",
        &registry,
        &wall
    ));
    // Said outside the name, the word still asks for a time giot cannot read.
    assert!(!state::time_only_in_names(
        "activa la hora de dormir en una hora",
        &registry,
        &wall
    ));
    assert!(!state::time_only_in_names(
        "enciende la luz en una hora",
        &registry,
        &wall
    ));
}
