//! The TUI's state and how events change it. No I/O and no drawing: events
//! come in ([`AppEvent`]), effects go out ([`Effect`]) for the runtime to
//! carry out, so every interaction is testable with plain `#[test]`s.
//!
//! Goals go through the same goal [`Session`] as every other face: the app
//! owns it, feeds it keys' goals, broker events, the model's scores and
//! ticks, and turns its effects into lines of the conversation, the
//! confirmation dialog and [`Effect`]s for the runtime.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{KeyEvent, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Position;
use serde_json::Value;
use tui_input::Input;
use tui_tree_widget::TreeState;

use super::keymap::{self, Action, Focus};
use crate::fleet::Fleet;
use crate::mqtt::LinkEvent;
use crate::planner::model::Menu;
use crate::policy::{self, Verdict};
use crate::session::{self, GoalId, GoalRequest, Intent, Origin, Session};
use crate::types::PolicyOverrides;
use crate::types::market_of;
use crate::types::{ActionResult, Outcome, Status};

/// Everything that can happen to the TUI.
#[derive(Debug)]
pub enum AppEvent {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Mqtt(LinkEvent),
    /// An answer for the session: the model's scores, a publish, the ledger.
    Session(session::Input),
    /// A step to show in the conversation (the ledger failed, ...).
    Note(String),
    Model(ModelStatus),
    /// The ledger was checked again (audit tab).
    Audit(Audit),
    Tick,
}

/// The ledger as the audit tab shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Audit {
    pub ok: bool,
    pub verdict: String,
    /// The newest entries, readable.
    pub lines: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ModelStatus {
    Loading(String),
    Ready { name: String, load_ms: u64 },
    Failed(String),
}

/// What the runtime must do for the app.
#[derive(Debug, Clone, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "a few effects per goal, moved once; `Quit` is the rare small one"
)]
pub enum Effect {
    /// A session effect the runtime carries out without blocking the render
    /// loop ([`session::Effect::Score`], `Publish` or `Record`), answered
    /// with an [`AppEvent::Session`] input.
    Session(session::Effect),
    Quit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Devices,
    Topics,
    Market,
    Audit,
    /// Goals kept for later.
    Schedules,
    /// Standing rules.
    Rules,
}

/// A line of the conversation pane.
#[derive(Debug, Clone, PartialEq)]
pub struct Said {
    pub who: &'static str,
    pub text: String,
}

/// The small form for publishing one value directly.
#[derive(Debug, Clone)]
pub struct Form {
    pub device: String,
    pub capability: String,
    pub input: Input,
    pub error: Option<String>,
}

pub struct App {
    pub session: Session,
    pub policy: PolicyOverrides,
    pub view: View,
    pub tree: TreeState<String>,
    pub focus: Focus,
    /// Where focus returns after the goal line, a dialog or the help.
    pub back: Focus,
    pub goal: Input,
    pub filter: Input,
    pub conversation: Vec<Said>,
    /// The room goals are said in (`/room NAME` on the goal line).
    pub room: Option<String>,
    /// A plan waiting for the operator's yes, and its goal in the session.
    pub dialog: Option<Outcome>,
    dialog_goal: Option<GoalId>,
    /// A goal the operator just said no to (its refusal needs no second line).
    declined: Option<GoalId>,
    next_goal: GoalId,
    /// The menu in that plan, audited when the plan arrived (not per frame).
    proposal: Option<Proposal>,
    pub form: Option<Form>,
    pub model: ModelStatus,
    pub broker_error: Option<String>,
    pub agent_busy: bool,
    pub last_latency_ms: Option<f64>,
    /// When each topic last changed, for the "just changed" marker.
    pub changed: HashMap<String, Instant>,
    pub broker_url: String,
    /// Set when something changed since the last frame.
    pub dirty: bool,
    /// The ledger's last check, for the audit tab.
    pub audit: Option<Audit>,
}

/// A market menu waiting for the operator's yes, with its audit.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    pub menu: Menu,
    pub audit: String,
}

/// How long a value counts as just changed.
pub const CHANGED_FOR: Duration = Duration::from_secs(3);
const CONVERSATION_MAX: usize = 500;

impl App {
    pub fn new(session: Session, broker_url: String) -> Self {
        let policy = session.definition().policy.clone();
        let mut tree = TreeState::default();
        for room in session.fleet().registry().rooms() {
            tree.open(vec![format!("room:{room}")]);
        }
        // Devices without a room (most discovered ones) are shown too.
        tree.open(vec!["room:".to_string()]);
        tree.select_first();
        Self {
            session,
            policy,
            view: View::Devices,
            tree,
            focus: Focus::Tree,
            back: Focus::Tree,
            goal: Input::default(),
            filter: Input::default(),
            conversation: Vec::new(),
            room: None,
            dialog: None,
            dialog_goal: None,
            declined: None,
            next_goal: 0,
            proposal: None,
            form: None,
            model: ModelStatus::Loading("model".into()),
            broker_error: Some("connecting".into()),
            agent_busy: false,
            last_latency_ms: None,
            changed: HashMap::new(),
            broker_url,
            dirty: true,
            audit: None,
        }
    }

    /// The fleet as the session sees it: registry, discovered devices, states.
    pub fn fleet(&self) -> &Fleet {
        self.session.fleet()
    }

    pub fn say(&mut self, who: &'static str, text: impl Into<String>) {
        self.conversation.push(Said {
            who,
            text: text.into(),
        });
        if self.conversation.len() > CONVERSATION_MAX {
            self.conversation.remove(0);
        }
    }

    /// The registry device and capability under the selection, if any.
    pub fn selected_capability(&self) -> Option<(String, Option<String>)> {
        let id = self.tree.selected().last()?;
        if let Some(dev) = id.strip_prefix("dev:") {
            return Some((dev.to_string(), None));
        }
        let (dev, cap) = id.strip_prefix("cap:")?.split_once('/')?;
        Some((dev.to_string(), Some(cap.to_string())))
    }

    /// The topic under the selection in the topic view.
    pub fn selected_topic(&self) -> Option<String> {
        match self.view {
            View::Topics => self
                .tree
                .selected()
                .last()?
                .strip_prefix("topic:")
                .map(String::from),
            View::Devices => {
                let (dev, _) = self.selected_capability()?;
                self.fleet()
                    .registry()
                    .get(&dev)
                    .map(|d| d.state_topic.clone())
            }
            View::Market | View::Audit | View::Schedules | View::Rules => None,
        }
    }

    pub fn handle(&mut self, event: AppEvent) -> Vec<Effect> {
        self.dirty = true;
        match event {
            AppEvent::Key(key) => self.key(key),
            AppEvent::Mouse(mouse) => {
                self.mouse(mouse);
                Vec::new()
            }
            AppEvent::Mqtt(event) => self.mqtt(event),
            AppEvent::Session(input) => self.feed(input),
            AppEvent::Note(text) => {
                self.say("giot", text);
                Vec::new()
            }
            AppEvent::Model(status) => {
                match &status {
                    ModelStatus::Ready { name, load_ms } => {
                        self.say("giot", format!("model {name} ready ({load_ms} ms)"))
                    }
                    ModelStatus::Failed(e) => self.say("giot", format!("model unavailable: {e}")),
                    ModelStatus::Loading(_) => {}
                }
                self.model = status;
                Vec::new()
            }
            AppEvent::Audit(audit) => {
                self.audit = Some(audit);
                Vec::new()
            }
            AppEvent::Tick => self.tick(Instant::now()),
        }
    }

    fn mqtt(&mut self, event: LinkEvent) -> Vec<Effect> {
        match &event {
            LinkEvent::Connected => self.broker_error = None,
            LinkEvent::Disconnected { error, retry_in } => {
                self.broker_error = Some(format!(
                    "{error}; retrying in {:.1}s",
                    retry_in.as_secs_f32()
                ));
            }
            LinkEvent::Message { topic, payload, .. } => {
                self.changed.insert(topic.clone(), Instant::now());
                // Only devices.yaml devices report JSON objects (discovered
                // ones may report `ON`, `21.5`).
                if let Some(device) = self.fleet().base_registry().by_state_topic(topic)
                    && !payload.is_empty()
                    && !matches!(
                        serde_json::from_slice::<Value>(payload),
                        Ok(Value::Object(_))
                    )
                {
                    let shown =
                        String::from_utf8_lossy(&payload[..payload.len().min(60)]).into_owned();
                    let id = device.id.clone();
                    self.say(
                        "giot",
                        format!("ignored a malformed state from {id}: {shown}"),
                    );
                }
            }
            // The fleet's tree shows it as skipped, with its size.
            LinkEvent::Skipped { topic, .. } => {
                self.changed.insert(topic.clone(), Instant::now());
            }
        }
        self.feed(session::Input::Link(event))
    }

    fn tick(&mut self, now: Instant) -> Vec<Effect> {
        self.changed
            .retain(|_, t| now.duration_since(*t) < CHANGED_FOR);
        if self.session.config().keeps_schedules {
            // The wall clock, for schedules that are due.
            return self.feed(session::Input::Clock(jiff::Timestamp::now()));
        }
        self.feed(session::Input::Tick)
    }

    /// The schedules kept, soonest first (the schedules tab).
    pub fn schedules(&self) -> Vec<&crate::session::schedule::Schedule> {
        self.session.schedules()
    }

    /// One input to the session; its effects become conversation lines, the
    /// dialog, and effects for the runtime.
    fn feed(&mut self, input: session::Input) -> Vec<Effect> {
        let ready = matches!(input, session::Input::Model(Some(_)));
        let mut effects = self.session.handle(input, Instant::now());
        if ready {
            // Every device name's prior, before the operator's first goal.
            effects.extend(self.session.warm());
        }
        self.process(effects)
    }

    fn process(&mut self, effects: Vec<session::Effect>) -> Vec<Effect> {
        let mut out = Vec::new();
        for effect in effects {
            match effect {
                session::Effect::Score { .. } | session::Effect::Record { .. } => {
                    out.push(Effect::Session(effect));
                }
                // Kept on disk by the runtime, off the render loop.
                session::Effect::SaveSchedules(_) | session::Effect::SaveRules(_) => {
                    out.push(Effect::Session(effect))
                }
                session::Effect::Trace { step, .. } => {
                    if !step.starts_with("plan:") {
                        self.say("agent", step);
                    }
                }
                session::Effect::AskConfirmation { goal, outcome } => self.ask(goal, outcome),
                session::Effect::Publish {
                    ref actions,
                    retransmit,
                    ..
                } => {
                    self.agent_busy = false;
                    if retransmit {
                        self.say("giot", format!("resending {}", describe(actions)));
                    } else {
                        self.say("agent", format!("plan: {}", describe(actions)));
                    }
                    for a in actions {
                        let payload = if market_of(&a.device).is_some() {
                            "(the menu above)"
                        } else {
                            a.payload.as_str()
                        };
                        self.say("giot", format!("→ {} {payload}", a.topic));
                    }
                    out.push(Effect::Session(effect));
                }
                session::Effect::Subscribe(_) => {
                    // The TUI already watches `#`.
                }
                session::Effect::Report { goal, outcome, .. } => self.report(goal, outcome),
            }
        }
        out
    }

    fn ask(&mut self, goal: GoalId, outcome: Outcome) {
        self.agent_busy = false;
        self.last_latency_ms = Some(outcome.timing_ms.total);
        self.say(
            "agent",
            format!(
                "plan: {} (needs your confirmation)",
                describe(&outcome.actions)
            ),
        );
        // A menu is judged by its audit: audit it once, and show it behind
        // the dialog.
        self.proposal = self.audit_proposal(&outcome);
        if self.proposal.is_some() {
            self.view = View::Market;
        }
        self.dialog = Some(outcome);
        self.dialog_goal = Some(goal);
        self.back = Focus::Tree;
        self.focus = Focus::Dialog;
    }

    fn report(&mut self, goal: GoalId, outcome: Outcome) {
        self.agent_busy = false;
        if self.dialog_goal == Some(goal) {
            // The question expired.
            self.dialog = None;
            self.dialog_goal = None;
            if self.focus == Focus::Dialog {
                self.focus = self.back;
            }
        }
        if self.declined.take() == Some(goal) {
            return;
        }
        if outcome.status != Status::Executed {
            self.last_latency_ms = Some(outcome.timing_ms.total);
        }
        match outcome.status {
            Status::Answered => self.say("agent", outcome.answer.clone().unwrap_or_default()),
            Status::Refused | Status::NeedsConfirmation | Status::Failed | Status::Rejected => self
                .say(
                    "agent",
                    format!(
                        "{}: {}",
                        outcome.status.as_str().replace('_', " "),
                        outcome.reason.clone().unwrap_or_default()
                    ),
                ),
            Status::NeedsClarification => {
                let names: Vec<String> = outcome
                    .candidates
                    .iter()
                    .map(|c| format!("{} ({})", c.name, c.device))
                    .collect();
                self.say(
                    "agent",
                    format!(
                        "which one do you mean? {}; answer with its name",
                        names.join(", ")
                    ),
                );
            }
            Status::Planned => {
                self.say("agent", format!("plan: {}", describe(&outcome.actions)));
            }
            Status::Scheduled => {
                if let Some(s) = &outcome.schedule {
                    // "2026-12-01T07:00:00+01:00" as "2026-12-01 07:00".
                    let at = s.next.as_deref().map_or("-".to_string(), |n| {
                        n.chars().take(16).collect::<String>().replace('T', " ")
                    });
                    let when = if s.repeats == "once" {
                        format!("at {at}")
                    } else {
                        format!("{}, next at {at}", s.repeats)
                    };
                    self.say(
                        "agent",
                        format!(
                            "scheduled \"{}\" {when} ({}); id {}",
                            s.goal, s.time_zone, s.id
                        ),
                    );
                }
            }
            // The trace has said what was armed.
            Status::Rule => {
                if let Some(note) = &outcome.reason {
                    self.say("agent", note.clone());
                }
            }
            Status::Executed => {
                self.last_latency_ms = Some(outcome.timing_ms.total);
                for a in &outcome.actions {
                    if a.confirmed == Some(true) {
                        self.say("giot", format!("✓ {} confirmed", label(a)));
                    } else {
                        self.say(
                            "giot",
                            format!("✗ {}: no confirmation from the device", label(a)),
                        );
                    }
                }
            }
        }
        if let Some(e) = outcome.ledger_error {
            self.say("giot", format!("the ledger could not record this: {e}"));
        }
    }

    /// The market menu in the plan waiting for the operator's yes, if any,
    /// with its audit.
    pub fn proposal(&self) -> Option<&Proposal> {
        self.dialog.as_ref().and(self.proposal.as_ref())
    }

    fn audit_proposal(&self, outcome: &Outcome) -> Option<Proposal> {
        let a = outcome
            .actions
            .iter()
            .find(|a| market_of(&a.device).is_some())?;
        let menu: Menu = serde_json::from_value(a.value.clone()).ok()?;
        let market = self.fleet().registry().market.as_ref()?;
        let audit = match crate::market::audit(&market.state, &menu) {
            Ok(a) => crate::market::explain::audit_text(&a),
            Err(e) => format!("not a valid menu: {e}"),
        };
        Some(Proposal { menu, audit })
    }

    fn next_goal(&mut self, text: String, intent: Intent) -> GoalRequest {
        self.next_goal += 1;
        let mut request = GoalRequest::words(
            self.next_goal,
            text,
            Origin::new("tui", "operator (tui)", "answer y in the dialog"),
        );
        request.intent = intent;
        request.ask = true;
        request.room = self.room.clone();
        // The operator's session is one conversation: "turn it off again".
        request.conversation = Some("tui".into());
        request
    }

    fn key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let action = keymap::lookup(self.focus, &key);
        match (self.focus, action) {
            (_, Some(Action::Quit)) => vec![Effect::Quit],
            (Focus::Help, Some(Action::Cancel | Action::Help)) => {
                self.focus = self.back;
                Vec::new()
            }
            (Focus::Help, _) => Vec::new(),
            (Focus::Dialog, Some(Action::Confirm)) => {
                self.focus = self.back;
                self.dialog = None;
                match self.dialog_goal.take() {
                    Some(goal) => {
                        self.say("you", "yes");
                        self.feed(session::Input::Confirm { goal, yes: true })
                    }
                    None => Vec::new(),
                }
            }
            (Focus::Dialog, Some(Action::Reject | Action::Cancel)) => {
                self.focus = self.back;
                self.dialog = None;
                self.say("you", "no: nothing published");
                match self.dialog_goal.take() {
                    Some(goal) => {
                        self.declined = Some(goal);
                        self.feed(session::Input::Confirm { goal, yes: false })
                    }
                    None => Vec::new(),
                }
            }
            (Focus::Dialog, _) => Vec::new(),
            (Focus::Goal, Some(Action::Submit)) => self.submit_goal(),
            (Focus::Goal, Some(Action::Cancel | Action::FocusNext)) => {
                self.focus = Focus::Tree;
                Vec::new()
            }
            (Focus::Filter, Some(Action::Submit | Action::Cancel)) => {
                if action == Some(Action::Cancel) {
                    self.filter.reset();
                }
                self.focus = Focus::Tree;
                self.tree.select_first();
                Vec::new()
            }
            (Focus::Form, Some(Action::Submit)) => self.submit_form(),
            (Focus::Form, Some(Action::Cancel)) => {
                self.form = None;
                self.focus = Focus::Tree;
                Vec::new()
            }
            (Focus::Goal | Focus::Filter | Focus::Form, _) => {
                let event = ratatui::crossterm::event::Event::Key(key);
                if let Some(req) = tui_input::backend::crossterm::to_input_request(&event) {
                    match self.focus {
                        Focus::Goal => drop(self.goal.handle(req)),
                        Focus::Filter => {
                            self.filter.handle(req);
                            self.tree.select_first();
                        }
                        _ => {
                            if let Some(form) = &mut self.form {
                                form.input.handle(req);
                                form.error = None;
                            }
                        }
                    }
                }
                Vec::new()
            }
            (Focus::Tree, Some(Action::Delete)) if self.view == View::Rules => {
                self.change_selected_rule(false)
            }
            (Focus::Tree, Some(Action::ToggleRule)) => self.change_selected_rule(true),
            (Focus::Tree, Some(Action::Delete)) => self.cancel_selected_schedule(),
            (Focus::Tree, Some(a)) => {
                self.tree_action(a);
                Vec::new()
            }
            (Focus::Tree, None) => Vec::new(),
        }
    }

    /// Disables or enables (`toggle`) or removes the rule selected in the
    /// rules tab.
    fn change_selected_rule(&mut self, toggle: bool) -> Vec<Effect> {
        let selected = self.tree.selected().last().cloned();
        let id = match (
            self.view,
            selected.as_deref().and_then(|s| s.strip_prefix("rule:")),
        ) {
            (View::Rules, Some(id)) => id.to_string(),
            _ => {
                self.say(
                    "giot",
                    "select a rule in the rules tab to disable (d) or remove (x) it",
                );
                return Vec::new();
            }
        };
        let effect = if toggle {
            let enabled = self
                .session
                .rules()
                .iter()
                .find(|r| r.info.id == id)
                .is_some_and(|r| r.info.enabled);
            let e = self.session.enable_rule(&id, !enabled);
            if e.is_some() {
                self.say(
                    "giot",
                    format!("{} rule {id}", if enabled { "disabled" } else { "enabled" }),
                );
            }
            e
        } else {
            let e = self.session.remove_rule(&id);
            if e.is_some() {
                self.say("giot", format!("removed rule {id}"));
            }
            e
        };
        effect.map_or_else(Vec::new, |e| self.process(vec![e]))
    }

    /// The least seconds between two firings of a rule this TUI arms.
    pub fn session_rule_interval(&self) -> u64 {
        self.session.config().rule_interval.as_secs()
    }

    /// The standing rules, in the order they were armed (the rules tab).
    pub fn rules(&self) -> Vec<&crate::session::rule::Rule> {
        self.session.rules()
    }

    /// Cancels the schedule selected in the schedules tab.
    fn cancel_selected_schedule(&mut self) -> Vec<Effect> {
        let selected = self.tree.selected().last().cloned();
        let id = match (
            self.view,
            selected.as_deref().and_then(|s| s.strip_prefix("sched:")),
        ) {
            (View::Schedules, Some(id)) => id.to_string(),
            _ => {
                self.say(
                    "giot",
                    "select a schedule in the schedules tab to cancel it (x)",
                );
                return Vec::new();
            }
        };
        match self.session.cancel_schedule(&id) {
            Some(save) => {
                self.say("giot", format!("cancelled schedule {id}"));
                self.process(vec![save])
            }
            None => Vec::new(),
        }
    }

    fn tree_action(&mut self, action: Action) {
        // Nothing selected yet (a fresh view): any move selects the first row.
        if self.tree.selected().is_empty()
            && matches!(
                action,
                Action::Up | Action::Down | Action::Expand | Action::Collapse
            )
        {
            self.tree.select_first();
            return;
        }
        match action {
            Action::Up => drop(self.tree.key_up()),
            Action::Down => drop(self.tree.key_down()),
            Action::Collapse => drop(self.tree.key_left()),
            Action::Expand => drop(self.tree.key_right()),
            Action::Top => drop(self.tree.select_first()),
            Action::Bottom => drop(self.tree.select_last()),
            Action::GoalLine | Action::FocusNext => self.focus = Focus::Goal,
            Action::Filter => self.focus = Focus::Filter,
            Action::Help => {
                self.back = Focus::Tree;
                self.focus = Focus::Help;
            }
            Action::ToggleTopics => {
                self.view = match self.view {
                    View::Devices => View::Topics,
                    View::Topics => View::Market,
                    View::Market => View::Audit,
                    View::Audit => View::Schedules,
                    View::Schedules => View::Rules,
                    View::Rules => View::Devices,
                };
                self.tree = TreeState::default();
                if self.view == View::Devices {
                    for room in self.session.fleet().registry().rooms() {
                        self.tree.open(vec![format!("room:{room}")]);
                    }
                    self.tree.open(vec!["room:".to_string()]);
                }
                self.tree.select_first();
            }
            Action::SetValue => self.open_form(),
            _ => {}
        }
    }

    fn open_form(&mut self) {
        let Some((device, Some(capability))) = self.selected_capability() else {
            self.say("giot", "select a capability of a device to set it (s)");
            return;
        };
        let Some(cap) = self
            .fleet()
            .registry()
            .get(&device)
            .and_then(|d| d.capability(&capability))
        else {
            return;
        };
        if cap.readonly {
            self.say("giot", format!("{device}.{capability} is read-only"));
            return;
        }
        let current = self.fleet().value(&device, &capability).map(|v| match v {
            Value::String(s) => s,
            other => other.to_string(),
        });
        self.form = Some(Form {
            device,
            capability,
            input: Input::new(current.unwrap_or_default()),
            error: None,
        });
        self.focus = Focus::Form;
    }

    fn submit_form(&mut self) -> Vec<Effect> {
        let Some(form) = self.form.as_mut() else {
            return Vec::new();
        };
        let text = form.input.value().trim().to_string();
        let registry = self.session.fleet().registry();
        let Some(device) = registry.get(&form.device) else {
            return Vec::new();
        };
        let value = match device.capability(&form.capability).map(|c| &c.kind) {
            Some(crate::registry::CapabilityType::Number { .. }) => match text.parse::<f64>() {
                Ok(n) => crate::registry::value::number(n),
                Err(_) => {
                    form.error = Some(format!("`{text}` is not a number"));
                    return Vec::new();
                }
            },
            Some(crate::registry::CapabilityType::Bool) => {
                Value::Bool(matches!(text.as_str(), "true" | "on" | "yes" | "1"))
            }
            _ => Value::String(text.clone()),
        };
        let action = device.action(&form.capability, value);
        // The form shows a refusal where the value was typed; the session
        // checks the action again and asks for a yes where the policy wants one.
        if let Verdict::Refuse(reason) =
            policy::check(registry, &self.policy, std::slice::from_ref(&action), false)
        {
            form.error = Some(reason);
            return Vec::new();
        }
        self.form = None;
        self.focus = Focus::Tree;
        let goal = format!("set {}", describe_actions(std::slice::from_ref(&action)));
        self.say("you", goal.clone());
        let request = self.next_goal(goal, Intent::Actions(vec![action]));
        self.feed(session::Input::Goal(request))
    }

    fn submit_goal(&mut self) -> Vec<Effect> {
        let goal = self.goal.value().trim().to_string();
        if goal.is_empty() {
            return Vec::new();
        }
        if self.agent_busy {
            self.say("giot", "the agent is still working on the last goal");
            return Vec::new();
        }
        if let ModelStatus::Failed(e) = &self.model {
            let e = e.clone();
            self.say("giot", format!("cannot run goals: {e}"));
            return Vec::new();
        }
        // "/room kitchen": goals from now on are said in the kitchen
        // ("turn off the lights" means its lights); "/room" alone forgets it.
        if let Some(rest) = goal.strip_prefix("/room") {
            self.goal.reset();
            let rest = rest.trim();
            self.room = if rest.is_empty() {
                self.say("giot", "goals are said nowhere in particular now");
                None
            } else {
                let room = self.session.fleet().registry().room_id(rest);
                match &room {
                    Some(id) => self.say("giot", format!("goals are said in: {id}")),
                    None => self.say(
                        "giot",
                        format!("no room called \"{rest}\"; goals are said nowhere in particular"),
                    ),
                }
                room
            };
            return Vec::new();
        }
        self.goal.reset();
        self.say("you", goal.clone());
        self.agent_busy = true;
        let request = self.next_goal(goal, Intent::Words);
        self.feed(session::Input::Goal(request))
    }

    fn mouse(&mut self, mouse: MouseEvent) {
        match mouse.kind {
            MouseEventKind::Down(MouseButton::Left) => {
                self.tree.click_at(Position::new(mouse.column, mouse.row));
                if self.focus == Focus::Goal {
                    self.focus = Focus::Tree;
                }
            }
            MouseEventKind::ScrollDown => drop(self.tree.scroll_down(1)),
            MouseEventKind::ScrollUp => drop(self.tree.scroll_up(1)),
            _ => {}
        }
    }
}

/// One action as the conversation names it.
fn label(a: &ActionResult) -> String {
    match market_of(&a.device) {
        Some(m) => format!("the {m} market's new menu"),
        None => format!("{}.{} = {}", a.device, a.capability, a.value),
    }
}

fn describe(actions: &[ActionResult]) -> String {
    list(actions.iter().map(|a| (&a.device, &a.capability, &a.value)))
}

fn describe_actions(actions: &[crate::types::Action]) -> String {
    list(actions.iter().map(|a| (&a.device, &a.capability, &a.value)))
}

fn list<'a>(items: impl Iterator<Item = (&'a String, &'a String, &'a Value)>) -> String {
    items
        .map(|(d, c, v)| match market_of(d) {
            Some(m) => format!("a new menu for the {m} market"),
            None => format!("{d}.{c} = {v}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
