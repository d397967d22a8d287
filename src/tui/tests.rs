//! Screens and interactions of the TUI, driven by injected events and drawn
//! on ratatui's TestBackend; screens are compared with insta snapshots.

use std::time::Duration;

use bytes::Bytes;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::json;

use super::app::{App, AppEvent, Effect, ModelStatus, View};
use super::keymap::Focus;
use super::ui;
use crate::agent::AgentDefinition;
use crate::fleet::Fleet;
use crate::mqtt::LinkEvent;
use crate::registry::Registry;
use crate::session::{self, GoalRequest, Intent, Origin, Session, SessionConfig};
use crate::types::Action;

const FLEET: &str = r#"
devices:
  - {id: hall_light, name: Hall light, room: hallway, kind: light, state_topic: home/hall/state, command_topic: home/hall/set,
     capabilities: [{name: power, type: enum, values: ["on", "off"]}, {name: brightness, type: number, min: 0, max: 100, unit: "%"}]}
  - {id: front_door, name: Front door, room: hallway, kind: lock, safety: confirm, state_topic: home/door/state, command_topic: home/door/set,
     capabilities: [{name: lock, type: enum, values: [locked, unlocked]}]}
  - {id: cellar_sensor, name: Cellar sensor, room: cellar, kind: sensor, state_topic: home/cellar/state,
     capabilities: [{name: humidity, type: number, min: 0, max: 100, unit: "%", readonly: true}]}
"#;

/// An app over `registry` whose session plans without a model and gives
/// devices no time to echo (ticks decide at once).
fn app_over(registry: Registry) -> App {
    let session = Session::new(
        Fleet::new(registry, 16),
        AgentDefinition::builtin(),
        SessionConfig {
            confirm_timeout: Duration::ZERO,
            ..SessionConfig::default()
        },
    );
    App::new(session, "mqtt://127.0.0.1:1883".into())
}

fn app() -> App {
    let registry = crate::registry::parse_str(FLEET, std::path::Path::new("t.yaml")).unwrap();
    let mut app = app_over(registry);
    app.handle(AppEvent::Model(ModelStatus::Ready {
        name: "SmolLM2".into(),
        load_ms: 1,
    }));
    app.conversation.clear();
    app.handle(AppEvent::Mqtt(LinkEvent::Connected));
    message(
        &mut app,
        "home/hall/state",
        json!({"power": "on", "brightness": 40}),
    );
    message(&mut app, "home/door/state", json!({"lock": "locked"}));
    for h in [61, 62, 64, 63, 66, 70] {
        message(&mut app, "home/cellar/state", json!({"humidity": h}));
    }
    // Markers of "just changed" depend on the clock: start without them.
    app.changed.clear();
    app
}

fn message(app: &mut App, topic: &str, payload: serde_json::Value) {
    app.handle(AppEvent::Mqtt(LinkEvent::Message {
        topic: topic.into(),
        payload: Bytes::from(payload.to_string()),
        retain: true,
    }));
}

fn key(app: &mut App, code: KeyCode) -> Vec<Effect> {
    app.handle(AppEvent::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        key(app, KeyCode::Char(c));
    }
}

fn screen(app: &mut App) -> String {
    let mut terminal = Terminal::new(TestBackend::new(110, 28)).unwrap();
    terminal.draw(|f| ui::draw(f, app)).unwrap();
    // Ages are relative to now: scrub them.
    let text = terminal.backend().to_string().replace('\u{0}', " ");
    text.lines()
        .map(scrub_age)
        .map(|l| scrub_latency(&l))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The last goal's latency is measured: scrub it (keeping the width).
fn scrub_latency(line: &str) -> String {
    let Some(start) = line.find("last goal ") else {
        return line.to_string();
    };
    let rest = &line[start + 10..];
    let Some(end) = rest.find(" ms") else {
        return line.to_string();
    };
    format!(
        "{}last goal N{}{}",
        &line[..start],
        &rest[end..],
        " ".repeat(end.saturating_sub(1))
    )
}

fn scrub_age(line: &str) -> String {
    match line.find("s ago") {
        Some(end) => {
            let start = line[..end].rfind(' ').map_or(0, |i| i + 1);
            format!("{}Ns ago{}", &line[..start], &line[end + 5..])
        }
        None => line.to_string(),
    }
}

/// Hands the session actions chosen by hand (as the set form does), with
/// the operator there to be asked.
fn propose(app: &mut App, id: u64, action: Action) -> Vec<Effect> {
    let mut request = GoalRequest::words(id, "by hand", Origin::new("test", "operator", "say y"));
    request.intent = Intent::Actions(vec![action]);
    request.ask = true;
    app.handle(AppEvent::Session(session::Input::Goal(request)))
}

fn unlock(app: &mut App, id: u64) -> Vec<Effect> {
    let door = app.fleet().registry().get("front_door").unwrap().clone();
    propose(app, id, door.action("lock", json!("unlocked")))
}

/// The runtime's answers to a publish and a ledger record.
fn published_and_recorded(app: &mut App, goal: u64) {
    app.handle(AppEvent::Session(session::Input::Published {
        goal,
        published: 1,
        error: None,
    }));
    app.handle(AppEvent::Session(session::Input::Recorded {
        goal,
        error: None,
    }));
}

#[test]
fn the_tree_shows_rooms_devices_and_live_values() {
    let mut app = app();
    screen(&mut app);
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Right);
    insta::assert_snapshot!(screen(&mut app));
}

#[test]
fn the_detail_pane_of_a_numeric_capability_shows_its_history() {
    let mut app = app();
    app.tree.select(vec![
        "room:cellar".into(),
        "dev:cellar_sensor".into(),
        "cap:cellar_sensor/humidity".into(),
    ]);
    app.tree
        .open(vec!["room:cellar".into(), "dev:cellar_sensor".into()]);
    let s = screen(&mut app);
    assert!(s.contains("humidity history (6 values)"), "{s}");
    insta::assert_snapshot!(s);
}

#[test]
fn the_confirmation_dialog_shows_topics_and_payloads() {
    let mut app = app();
    unlock(&mut app, 1);
    assert_eq!(app.focus, Focus::Dialog);
    insta::assert_snapshot!(screen(&mut app));
}

#[test]
fn the_help_overlay_lists_the_keymap() {
    let mut app = app();
    key(&mut app, KeyCode::Char('?'));
    let s = screen(&mut app);
    for binding in super::keymap::BINDINGS
        .iter()
        .filter(|b| !b.help.is_empty())
    {
        assert!(s.contains(binding.help), "help lacks {}", binding.help);
    }
    insta::assert_snapshot!(s);
}

#[test]
fn the_status_bar_shows_a_dead_broker() {
    let mut app = app();
    app.handle(AppEvent::Mqtt(LinkEvent::Disconnected {
        error: std::sync::Arc::new(rumqttc::ConnectionError::Io(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused (os error 111)",
        ))),
        retry_in: Duration::from_millis(800),
    }));
    let s = screen(&mut app);
    assert!(s.contains("down: I/O: Connection refused"), "{s}");
    insta::assert_snapshot!(s);
}

#[test]
fn keys_move_the_selection_and_the_filter_narrows_the_tree() {
    let mut app = app();
    // The tree widget moves over what was last drawn.
    screen(&mut app);
    key(&mut app, KeyCode::Char('j'));
    let first = app.tree.selected().to_vec();
    key(&mut app, KeyCode::Char('j'));
    assert_ne!(app.tree.selected(), first.as_slice());
    assert!(!first.is_empty());
    key(&mut app, KeyCode::Char('k'));
    assert_eq!(app.tree.selected(), first.as_slice());

    key(&mut app, KeyCode::Char('/'));
    assert_eq!(app.focus, Focus::Filter);
    type_text(&mut app, "cellar");
    key(&mut app, KeyCode::Enter);
    let s = screen(&mut app);
    assert!(
        s.contains("Cellar sensor") && !s.contains("Hall light"),
        "{s}"
    );
}

#[test]
fn a_confirmation_is_answered_with_y_or_n() {
    let mut app = app();
    unlock(&mut app, 1);
    let effects = key(&mut app, KeyCode::Char('n'));
    assert!(effects.is_empty());
    assert_eq!(app.focus, Focus::Tree);
    assert!(app.dialog.is_none());

    unlock(&mut app, 2);
    let effects = key(&mut app, KeyCode::Char('y'));
    assert!(
        matches!(&effects[..], [Effect::Session(session::Effect::Publish { actions: a, .. })] if a[0].payload == r#"{"lock":"unlocked"}"#),
        "{effects:?}"
    );
    published_and_recorded(&mut app, 2);
    // The device's state confirms it: a tick in the conversation.
    message(&mut app, "home/door/state", json!({"lock": "unlocked"}));
    assert!(
        app.conversation
            .iter()
            .any(|s| s.text.starts_with("✓ front_door.lock")),
        "{:?}",
        app.conversation
    );
    assert_eq!(app.session.in_flight(), 0);
}

#[test]
fn a_goal_typed_on_the_goal_line_runs_and_its_plan_shows_in_the_conversation() {
    let mut app = app();
    key(&mut app, KeyCode::Char(':'));
    type_text(&mut app, "dim the hall light to 10%");
    let effects = key(&mut app, KeyCode::Enter);
    // Planned from the words (no model needed), checked, handed out to publish.
    let goal = match &effects[..] {
        [Effect::Session(session::Effect::Publish { goal, actions, .. })] => {
            assert_eq!(actions[0].payload, r#"{"brightness":10}"#);
            *goal
        }
        other => panic!("{other:?}"),
    };
    assert!(!app.agent_busy);
    let said: Vec<&str> = app.conversation.iter().map(|s| s.text.as_str()).collect();
    assert!(
        said.contains(&"plan: hall_light.brightness = 10"),
        "{said:?}"
    );
    published_and_recorded(&mut app, goal);
    // No echo before the deadline: a cross.
    app.handle(AppEvent::Tick);
    assert!(
        app.conversation
            .last()
            .unwrap()
            .text
            .starts_with("✗ hall_light.brightness"),
        "{:?}",
        app.conversation
    );
}

#[test]
fn a_room_set_on_the_goal_line_is_where_the_next_goals_are_said() {
    let mut app = app();
    key(&mut app, KeyCode::Char(':'));
    type_text(&mut app, "/room hallway");
    assert!(key(&mut app, KeyCode::Enter).is_empty());
    assert_eq!(app.room.as_deref(), Some("hallway"));
    type_text(&mut app, "turn on the lights");
    let effects = key(&mut app, KeyCode::Enter);
    assert!(
        matches!(&effects[..], [Effect::Session(session::Effect::Publish { actions, .. })] if actions[0].device == "hall_light"),
        "{effects:?} {:?}",
        app.conversation
    );
    type_text(&mut app, "/room attic");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.room, None);
}

#[test]
fn a_malformed_state_payload_is_shown_and_skipped() {
    let mut app = app();
    app.handle(AppEvent::Mqtt(LinkEvent::Message {
        topic: "home/hall/state".into(),
        payload: Bytes::from_static(b"\xff{broken"),
        retain: false,
    }));
    assert!(
        app.conversation
            .iter()
            .any(|s| s.text.contains("malformed state from hall_light"))
    );
    assert!(app.fleet().state("hall_light").is_none());
    screen(&mut app);
}

#[test]
fn the_set_form_validates_against_the_registry() {
    let mut app = app();
    app.tree
        .open(vec!["room:hallway".into(), "dev:hall_light".into()]);
    app.tree.select(vec![
        "room:hallway".into(),
        "dev:hall_light".into(),
        "cap:hall_light/brightness".into(),
    ]);
    key(&mut app, KeyCode::Char('s'));
    assert_eq!(app.focus, Focus::Form);
    for _ in 0..3 {
        key(&mut app, KeyCode::Backspace);
    }
    type_text(&mut app, "150");
    assert!(key(&mut app, KeyCode::Enter).is_empty());
    assert!(
        app.form
            .as_ref()
            .unwrap()
            .error
            .as_ref()
            .unwrap()
            .contains("between 0 and 100")
    );
    for _ in 0..3 {
        key(&mut app, KeyCode::Backspace);
    }
    type_text(&mut app, "55");
    let effects = key(&mut app, KeyCode::Enter);
    assert!(
        matches!(&effects[..], [Effect::Session(session::Effect::Publish { actions: a, .. })] if a[0].payload == r#"{"brightness":55}"#)
    );
}

#[test]
fn the_market_tab_shows_the_last_round_and_the_audit_tab_the_ledger() {
    let yaml = format!(
        "{FLEET}  - {{id: car_1, name: Car, kind: vehicle, state_topic: v/1, capabilities: [{{name: speed, type: number, min: 0, max: 200, readonly: true}}]}}\nmarket:\n  id: traffic\n  theta: [1, 2, 3]\n  rho: [0.3333333333, 0.3333333333, 0.3333333334]\n  c: 1\n  omega: 10\n"
    );
    let registry = crate::registry::parse_str(&yaml, std::path::Path::new("t.yaml")).unwrap();
    let mut app = app_over(registry);
    for (round, utility) in [(1, 70.0), (2, 82.29)] {
        message(
            &mut app,
            "giot/market/traffic/status",
            json!({"round": round, "participation": 1.0, "server_utility": utility, "payments": 45.0, "flagged": ["taxi_01"],
                   "silent": [], "choices": [2, 3, 1], "menu_from_round": 1,
                   "delivered": [{"measured": 3.91}, {"measured": 14.52}, {"measured": null}],
                   "history": [{"server_utility": 70.0}, {"server_utility": utility}],
                   "menu": {"items": [{"q": 4.0, "r": 4.0}, {"q": 14.0, "r": 9.0}, {"q": 29.0, "r": 14.0}]}}),
        );
    }
    app.changed.clear();
    key(&mut app, KeyCode::Char('t'));
    key(&mut app, KeyCode::Char('t'));
    let s = screen(&mut app);
    assert!(
        s.contains("traffic market, round 2") && s.contains("taxi_01") && s.contains("29.00"),
        "{s}"
    );
    insta::assert_snapshot!("market_tab", s);

    // A proposed menu waits for a yes, with its audit beside the current one.
    let menu = serde_json::from_value(
        json!({"items": [{"q": 4.0, "r": 4.0}, {"q": 14.0, "r": 9.0}, {"q": 29.0, "r": 0.5}]}),
    )
    .unwrap();
    key(&mut app, KeyCode::Char('t'));
    propose(&mut app, 1, crate::market::menu_action("traffic", &menu));
    assert_eq!(app.view, View::Market);
    let s = screen(&mut app);
    assert!(
        s.contains("Propose this menu to the traffic market") && s.contains("IR violated for type"),
        "{s}"
    );
    insta::assert_snapshot!("market_proposal", s);
    key(&mut app, KeyCode::Char('n'));
    assert!(app.proposal().is_none());
    key(&mut app, KeyCode::Char('t'));
    app.handle(AppEvent::Audit(super::app::Audit {
        ok: false,
        verdict: "FAILED at entry 3: bad signature".into(),
        lines: vec![
            "    3  2026-11-22T05:00:00.000Z  action  1a2b3c4d  goal=dim the hall light".into(),
        ],
    }));
    let s = screen(&mut app);
    assert!(
        s.contains("FAILED at entry 3") && s.contains("Audit"),
        "{s}"
    );
    insta::assert_snapshot!("audit_tab", s);
}

#[test]
fn a_device_discovered_while_watching_joins_the_tree_with_its_plain_state() {
    let mut app = app();
    app.handle(AppEvent::Mqtt(LinkEvent::Message {
        topic: "homeassistant/switch/pump/config".into(),
        payload: Bytes::from_static(
            br#"{"name": "Garden pump", "cmd_t": "garden/pump/set", "stat_t": "garden/pump/state"}"#,
        ),
        retain: true,
    }));
    app.handle(AppEvent::Mqtt(LinkEvent::Message {
        topic: "garden/pump/state".into(),
        payload: Bytes::from_static(b"ON"),
        retain: true,
    }));
    let text = screen(&mut app);
    assert!(
        text.contains("(no room)") && text.contains("Garden pump"),
        "{text}"
    );
    assert!(!text.contains("Garden pump (no state)"), "{text}");
    assert!(text.contains("Devices (4)"), "{text}");
    assert!(
        !app.conversation
            .iter()
            .any(|l| format!("{l:?}").contains("malformed"))
    );
    assert_eq!(app.fleet().value("ha_pump", "power"), Some(json!("on")));
}

#[test]
fn kind5_the_topic_view_shows_an_oversized_message_as_skipped_with_its_size() {
    let mut app = app();
    app.handle(AppEvent::Mqtt(LinkEvent::Skipped {
        topic: "big".into(),
        size: 9 * 1024 * 1024,
        retain: true,
    }));
    app.view = View::Topics;
    app.tree.select(vec!["topic:big".to_string()]);
    let text = screen(&mut app);
    assert!(
        text.contains("big = (skipped: 9437184 bytes, too large)"),
        "{text}"
    );
    // The detail pane says it too.
    assert!(
        text.matches("skipped: 9437184 bytes").count() >= 2,
        "{text}"
    );
}

#[test]
fn kind6_the_topic_view_keeps_siblings_that_share_a_prefix() {
    let mut app = app();
    for t in ["home", "home-x/y", "home/z"] {
        message(&mut app, t, json!(1));
    }
    app.view = View::Topics;
    app.tree.open(vec!["topic:home".to_string()]);
    let text = screen(&mut app);
    assert!(text.contains("home-x (1)"), "{text}");
    assert!(text.contains(" z = 1"), "{text}");
}

#[test]
fn a_goal_for_later_is_listed_in_the_schedules_tab_and_x_cancels_it() {
    let registry = crate::registry::parse_str(FLEET, std::path::Path::new("t.yaml")).unwrap();
    let session = Session::new(
        Fleet::new(registry, 16),
        AgentDefinition::builtin(),
        SessionConfig {
            keeps_schedules: true,
            time_zone: jiff::tz::TimeZone::UTC,
            ..SessionConfig::default()
        },
    );
    let mut app = App::new(session, "mqtt://127.0.0.1:1883".into());
    app.handle(AppEvent::Model(ModelStatus::Ready {
        name: "SmolLM2".into(),
        load_ms: 1,
    }));
    app.handle(AppEvent::Tick);
    key(&mut app, KeyCode::Tab);
    type_text(&mut app, "turn off the hall light in 10 minutes");
    let effects = key(&mut app, KeyCode::Enter);
    assert!(
        effects.iter().any(
            |e| matches!(e, Effect::Session(session::Effect::SaveSchedules(s)) if s.len() == 1)
        ),
        "{effects:?}"
    );
    assert!(
        app.conversation
            .iter()
            .any(|s| s.text.starts_with("scheduled ")),
        "{:?}",
        app.conversation
    );
    // To the schedules tab: the goal is listed without its time phrase.
    key(&mut app, KeyCode::Esc);
    for _ in 0..4 {
        key(&mut app, KeyCode::Char('t'));
    }
    assert_eq!(app.view, View::Schedules);
    let s = screen(&mut app);
    assert!(s.contains("Schedules (1)"), "{s}");
    assert!(s.contains("turn off the hall light"), "{s}");
    key(&mut app, KeyCode::Down);
    let effects = key(&mut app, KeyCode::Char('x'));
    assert!(
        effects.iter().any(
            |e| matches!(e, Effect::Session(session::Effect::SaveSchedules(s)) if s.is_empty())
        ),
        "{effects:?}"
    );
    assert!(app.schedules().is_empty());
}

#[test]
fn a_rule_is_armed_after_the_dialog_and_the_rules_tab_disables_and_removes_it() {
    let registry = crate::registry::parse_str(FLEET, std::path::Path::new("t.yaml")).unwrap();
    let session = Session::new(
        Fleet::new(registry, 16),
        AgentDefinition::builtin(),
        SessionConfig {
            keeps_schedules: true,
            schedules_ask: true,
            time_zone: jiff::tz::TimeZone::UTC,
            ..SessionConfig::default()
        },
    );
    let mut app = App::new(session, "mqtt://127.0.0.1:1883".into());
    app.handle(AppEvent::Model(ModelStatus::Ready {
        name: "SmolLM2".into(),
        load_ms: 1,
    }));
    app.handle(AppEvent::Tick);
    message(&mut app, "home/cellar/state", json!({"humidity": 50}));
    key(&mut app, KeyCode::Tab);
    type_text(
        &mut app,
        "if the cellar humidity goes above 70%, turn on the hall light",
    );
    let effects = key(&mut app, KeyCode::Enter);
    // Shown for a yes first: nothing is kept before it.
    assert!(
        !effects
            .iter()
            .any(|e| matches!(e, Effect::Session(session::Effect::SaveRules(_))))
    );
    assert_eq!(app.focus, Focus::Dialog);
    // The dialog arms a rule; it does not offer to publish now.
    let s = screen(&mut app);
    assert!(
        s.contains("Arm this standing rule? Nothing is published now."),
        "{s}"
    );
    assert!(s.contains("when Cellar sensor humidity above 70%:"), "{s}");
    assert!(!s.contains("yes, publish"), "{s}");
    let effects = key(&mut app, KeyCode::Char('y'));
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::Session(session::Effect::SaveRules(r)) if r.len() == 1)),
        "{effects:?}"
    );
    assert!(
        app.conversation.iter().any(|s| s.text.starts_with("rule ")),
        "{:?}",
        app.conversation
    );
    for _ in 0..5 {
        key(&mut app, KeyCode::Char('t'));
    }
    assert_eq!(app.view, View::Rules);
    let s = screen(&mut app);
    assert!(s.contains("Rules (1)"), "{s}");
    assert!(s.contains("[armed] when Cellar sensor"), "{s}");
    key(&mut app, KeyCode::Down);
    let s = screen(&mut app);
    assert!(s.contains("when: Cellar sensor humidity above 70%"), "{s}");
    assert!(s.contains("does: hall_light.power = on"), "{s}");
    key(&mut app, KeyCode::Char('d'));
    assert!(!app.rules()[0].info.enabled);
    assert!(screen(&mut app).contains("[disabled]"));
    let effects = key(&mut app, KeyCode::Char('x'));
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::Session(session::Effect::SaveRules(r)) if r.is_empty())),
        "{effects:?}"
    );
    assert!(app.rules().is_empty());
}
