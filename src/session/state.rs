//! [`Session`]: the goals in flight and what each waits for.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::agent::{Agent, AgentDefinition, Conversation};
use crate::fleet::Fleet;
use crate::mqtt::LinkEvent;
use crate::outcome;
use crate::types::Decision;
use crate::types::{ActionResult, Outcome, Status};

use super::replay::{Replay, ReplayScorer};
use super::rule::{Half, Rule};
use super::schedule::Schedule;
use super::when::{self, Timing};
use super::{
    Effect, GoalId, GoalRequest, Input, Intent, ModelInfo, Now, PlanStats, RequestId, SessionConfig,
};

/// The pseudo-goal that warms the model's priors.
const WARMING: GoalId = GoalId::MAX;

#[derive(Debug)]
enum Model {
    /// No model: ties are broken by registry order (the words-only baseline).
    Absent,
    /// Loading: goals wait for it.
    Loading,
    Ready,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Stage {
    /// Waiting for the model to load.
    WaitingForModel,
    /// Waiting for the answer to this score request.
    Scoring(RequestId),
    /// Waiting for a person's yes, until the deadline.
    Asking(Now),
    /// Allowed; waiting for earlier goals on the same devices to finish.
    Queued,
    /// Handed to the driver to publish.
    Publishing,
    /// Published; waiting for echoes (until the deadline) and the ledger.
    Confirming { deadline: Now, recorded: bool },
}

#[derive(Debug)]
struct Goal {
    request: GoalRequest,
    received: Now,
    stage: Stage,
    replay: Replay,
    /// Time the model spent on this goal.
    llm: Duration,
    /// The decided outcome, once there is one.
    outcome: Option<Outcome>,
    /// Whether a person's yes allowed the actions.
    by_person: bool,
    /// Set by a reconnection while the goal waited for its echo: its
    /// unconfirmed actions go out once more when their device reports
    /// again (after a broker restart the device itself may resubscribe
    /// only after our first retransmission).
    resend: bool,
    stats: PlanStats,
    /// A goal for later: when, and the words to plan without the time.
    later: Option<(Timing, String)>,
    /// The schedule that started this goal.
    fired: Option<crate::types::ScheduleInfo>,
    /// The standing rule this goal asks for, to arm after a yes.
    proposed: Option<crate::types::RuleInfo>,
    /// The rule that started this goal.
    fired_rule: Option<crate::types::RuleInfo>,
}

/// The agent core: goals in, effects out. See the [module docs](super).
pub struct Session {
    fleet: Fleet,
    agent: Agent,
    generation: u64,
    model: Model,
    replay: Arc<Mutex<Replay>>,
    config: SessionConfig,
    goals: BTreeMap<GoalId, Goal>,
    next_request: RequestId,
    warming: Option<(RequestId, Replay)>,
    /// What each conversation remembers for its next goal ("it", "the
    /// front one"), by conversation id; at most [`CONVERSATIONS`].
    conversations: HashMap<String, (u64, Conversation)>,
    /// Goals seen, to find the least recently used conversation.
    turns: u64,
    /// Goals kept for later, by id.
    schedules: BTreeMap<String, Schedule>,
    /// The wall clock's last reading and the moment it was read.
    wall: Option<(jiff::Timestamp, Now)>,
    /// Schedules made and goals started by schedules, for their ids.
    scheduled: u64,
    /// Standing rules, by id.
    rules: BTreeMap<String, Rule>,
    /// Whether this session runs its schedules and rules when they are due
    /// (see [`Session::set_fires`]).
    fires: bool,
}

/// Goal ids from here up are goals started by schedules.
pub const FIRED: GoalId = GoalId::MAX / 2;

/// Conversations remembered at once; the least recently used is forgotten.
pub const CONVERSATIONS: usize = 4096;

impl Session {
    /// A session over `fleet` (the registry and the live state) for the
    /// agent `definition`. The model is absent until [`Input::Model`] (or
    /// [`Session::expect_model`]) says otherwise.
    pub fn new(fleet: Fleet, definition: AgentDefinition, config: SessionConfig) -> Self {
        let mut agent = Agent::new(fleet.registry().clone(), definition, None);
        agent.set_languages(&config.languages);
        Self {
            generation: fleet.generation(),
            fleet,
            agent,
            model: Model::Absent,
            replay: Arc::new(Mutex::new(Replay::default())),
            config,
            goals: BTreeMap::new(),
            next_request: 0,
            warming: None,
            conversations: HashMap::new(),
            turns: 0,
            schedules: BTreeMap::new(),
            wall: None,
            scheduled: 0,
            rules: BTreeMap::new(),
            fires: true,
        }
    }

    /// Whether this session runs the schedules and rules it keeps (the
    /// default), or only keeps them: of several bridge instances sharing
    /// their schedules and rules, one runs them (the keeper) and the others
    /// hold copies, kept in step through the shared store, ready to take
    /// over.
    pub fn set_fires(&mut self, fires: bool) {
        self.fires = fires;
    }

    /// Whether this session runs its schedules and rules.
    pub fn fires(&self) -> bool {
        self.fires
    }

    /// Goals wait for the model, which is loading.
    pub fn expect_model(&mut self) {
        self.model = Model::Loading;
    }

    pub fn fleet(&self) -> &Fleet {
        &self.fleet
    }

    /// The fleet, for a face that records what only it shows (the TUI's
    /// topic view). Device states should come in as [`Input::Link`].
    pub fn fleet_mut(&mut self) -> &mut Fleet {
        &mut self.fleet
    }

    pub fn definition(&self) -> &AgentDefinition {
        self.agent.definition()
    }

    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// Whether the model's priors are still being computed ([`Session::warm`]).
    pub fn warming(&self) -> bool {
        self.warming.is_some()
    }

    /// Goals not yet reported.
    pub fn in_flight(&self) -> usize {
        self.goals.len()
    }

    /// The earliest deadline of any goal or schedule, for the driver's
    /// next tick.
    pub fn next_deadline(&self) -> Option<Now> {
        let due = self.wall.and_then(|(ts, at)| {
            let next = self.schedules.values().map(|s| s.next).min()?;
            let wait = next.duration_since(ts).as_secs_f64().max(0.0);
            Some(at + Duration::from_secs_f64(wait.min(86_400.0)))
        });
        self.goals
            .values()
            .filter_map(|g| match g.stage {
                Stage::Asking(d) => Some(d),
                Stage::Confirming { deadline, .. } => Some(deadline),
                _ => None,
            })
            .chain(due)
            .min()
    }

    /// The schedules kept, soonest first.
    pub fn schedules(&self) -> Vec<&Schedule> {
        let mut all: Vec<&Schedule> = self.schedules.values().collect();
        all.sort_by_key(|s| s.next);
        all
    }

    /// Takes the schedules kept on disk (at start, or after another
    /// process changed them: `giot schedule cancel`).
    pub fn set_schedules(&mut self, schedules: Vec<Schedule>) {
        self.schedules = schedules.into_iter().map(|s| (s.id.clone(), s)).collect();
    }

    /// The standing rules kept, in the order they were armed.
    pub fn rules(&self) -> Vec<&Rule> {
        let mut all: Vec<&Rule> = self.rules.values().collect();
        all.sort_by_key(|r| r.created);
        all
    }

    /// Takes the rules kept on disk (at start, or after another process
    /// changed them: `giot rules disable`).
    pub fn set_rules(&mut self, rules: Vec<Rule>) {
        self.rules = rules.into_iter().map(|r| (r.info.id.clone(), r)).collect();
    }

    /// Removes rule `id`; the effect saves what is left.
    pub fn remove_rule(&mut self, id: &str) -> Option<Effect> {
        self.rules.remove(id)?;
        Some(self.save_rules())
    }

    /// Enables or disables rule `id`; the effect saves the rules. An
    /// enabled rule starts from its next reading, as when it was armed: a
    /// crossing while it was disabled is no edge.
    pub fn enable_rule(&mut self, id: &str, enabled: bool) -> Option<Effect> {
        let rule = self.rules.get_mut(id)?;
        if enabled && !rule.info.enabled {
            rule.phase = super::rule::Phase::Unknown;
        }
        rule.info.enabled = enabled;
        Some(self.save_rules())
    }

    fn save_rules(&self) -> Effect {
        let mut all: Vec<Rule> = self.rules.values().cloned().collect();
        all.sort_by_key(|r| r.created);
        Effect::SaveRules(all)
    }

    /// Cancels schedule `id`; the effect saves what is left.
    pub fn cancel_schedule(&mut self, id: &str) -> Option<Effect> {
        self.schedules.remove(id)?;
        Some(Effect::SaveSchedules(
            self.schedules.values().cloned().collect(),
        ))
    }

    /// The wall clock at `now`, in the operator's zone, once a face said it.
    fn wall_at(&self, now: Now) -> Option<jiff::ZonedDateTime> {
        let (ts, at) = self.wall?;
        let since = now.saturating_duration_since(at);
        let ts = ts
            .checked_add(jiff::SignedDuration::try_from(since).ok()?)
            .ok()?;
        Some(ts.to_zoned_datetime(self.config.time_zone.clone()))
    }

    /// Takes one input at `now`; returns what should be done.
    pub fn handle(&mut self, input: Input, now: Now) -> Vec<Effect> {
        let mut out = Vec::new();
        match input {
            Input::Goal(request) => self.start(request, now, &mut out),
            Input::Model(info) => self.model_ready(info, now, &mut out),
            Input::Scored {
                request,
                result,
                took,
            } => self.scored(request, result, took, now, &mut out),
            Input::Confirm { goal, yes } => self.confirm(goal, yes, now, &mut out),
            Input::Published {
                goal,
                published,
                error,
            } => self.published(goal, published, error, now, &mut out),
            Input::Recorded { goal, error } => {
                if let Some(g) = self.goals.get_mut(&goal)
                    && let Stage::Confirming { recorded, .. } = &mut g.stage
                {
                    *recorded = true;
                    if let (Some(error), Some(o)) = (error, g.outcome.as_mut()) {
                        o.ledger_error = Some(error);
                    }
                }
                self.finish_confirmed(now, &mut out);
            }
            Input::Link(event) => {
                match &event {
                    LinkEvent::Connected => self.retransmit(now, None, &mut out),
                    LinkEvent::Message { topic, .. } if self.goals.values().any(|g| g.resend) => {
                        self.retransmit(now, Some(topic), &mut out);
                    }
                    _ => {}
                }
                self.fleet.apply(&event);
                let filters = self.fleet.take_new_filters();
                if !filters.is_empty() {
                    out.push(Effect::Subscribe(filters));
                }
                if let LinkEvent::Message { topic, .. } = &event {
                    self.finish_confirmed(now, &mut out);
                    self.evaluate_rules(now, Some(topic), &mut out);
                }
            }
            Input::Tick => self.expire(now, &mut out),
            Input::Clock(wall) => {
                self.wall = Some((wall, now));
                self.run_due(now, &mut out);
                self.evaluate_rules(now, None, &mut out);
                self.expire(now, &mut out);
            }
        }
        out
    }

    /// Computes the model's priors for every device name now, so that no
    /// goal pays for them; does nothing without a model.
    pub fn warm(&mut self) -> Vec<Effect> {
        let mut out = Vec::new();
        if matches!(self.model, Model::Ready) {
            self.warm_step(Replay::default(), &mut out);
        }
        out
    }

    fn warm_step(&mut self, replay: Replay, out: &mut Vec<Effect>) {
        self.refresh_registry();
        *self.replay.lock().expect("replay") = replay;
        self.agent.warm();
        let replay = std::mem::take(&mut *self.replay.lock().expect("replay"));
        if let Some((escalate, prompt, options)) = replay.missing.clone() {
            let request = self.request_id();
            self.warming = Some((request, replay));
            out.push(Effect::Score {
                request,
                escalate,
                prompt,
                options,
            });
        }
    }

    fn request_id(&mut self) -> RequestId {
        self.next_request += 1;
        self.next_request
    }

    fn refresh_registry(&mut self) {
        if self.fleet.generation() != self.generation {
            self.generation = self.fleet.generation();
            self.agent.set_registry(self.fleet.registry().clone());
        }
    }

    /// Hands goals the local layers cannot decide to an escalation server
    /// (`Some`: its name and template), or stops doing so (`None`); its
    /// requests come out as [`Effect::Score`] with `escalate` set.
    pub fn set_escalation(&mut self, info: Option<ModelInfo>) {
        let scorer = self.replay_scorer(info, true);
        self.agent.set_escalation(scorer);
    }

    /// The scorer the agent plans with for the model (or, with
    /// `escalation`, the escalation server) described by `info`.
    fn replay_scorer(
        &self,
        info: Option<ModelInfo>,
        escalation: bool,
    ) -> Option<Box<dyn crate::llm::Scorer>> {
        info.map(|model| {
            Box::new(ReplayScorer {
                replay: self.replay.clone(),
                model,
                escalation,
            }) as Box<dyn crate::llm::Scorer>
        })
    }

    fn model_ready(&mut self, info: Option<ModelInfo>, now: Now, out: &mut Vec<Effect>) {
        let scorer = self.replay_scorer(info, false);
        self.model = if scorer.is_some() {
            Model::Ready
        } else {
            Model::Absent
        };
        self.agent.set_scorer(scorer);
        let waiting: Vec<GoalId> = self
            .goals
            .iter()
            .filter(|(_, g)| g.stage == Stage::WaitingForModel)
            .map(|(&id, _)| id)
            .collect();
        for id in waiting {
            self.plan(id, now, out);
        }
    }

    fn start(&mut self, request: GoalRequest, now: Now, out: &mut Vec<Effect>) {
        let id = request.id;
        if self.goals.contains_key(&id) || id == WARMING {
            let mut o = Outcome::new(&request.text, Status::Refused);
            o.status = Status::Failed;
            o.reason = Some(format!("goal {id} is already in flight"));
            out.push(Effect::Report {
                goal: id,
                outcome: o,
                stats: PlanStats::default(),
            });
            return;
        }
        let intent = request.intent.clone();
        self.goals.insert(
            id,
            Goal {
                request,
                received: now,
                stage: Stage::WaitingForModel,
                replay: Replay::default(),
                llm: Duration::ZERO,
                outcome: None,
                by_person: false,
                resend: false,
                stats: PlanStats::default(),
                later: None,
                fired: None,
                proposed: None,
                fired_rule: None,
            },
        );
        if intent == Intent::Words && !self.for_later(id, now, out) {
            return;
        }
        match intent {
            Intent::Words if matches!(self.model, Model::Loading) => {}
            Intent::Words => self.plan(id, now, out),
            Intent::Actions(actions) => {
                let plan = crate::types::Plan::deciding(Decision::Act(actions));
                self.decide(id, plan, now, out);
            }
            Intent::Arm(rule) => {
                let actions = self.rule_actions(&rule.actions);
                let mut plan = crate::types::Plan::deciding(Decision::Act(actions));
                plan.rule = Some(*rule);
                self.goals.get_mut(&id).expect("inserted").request.yes = true;
                self.decide(id, plan, now, out);
            }
            Intent::Verify(actions) => {
                let goal = self.goals.get_mut(&id).expect("inserted");
                let mut o = Outcome::new(&goal.request.text, Status::Refused);
                o.status = Status::Executed;
                o.actions = actions;
                o.reason = Some(
                    "restarted while executing this goal: its commands were not published \
                     again; confirmed shows what the devices report"
                        .into(),
                );
                goal.outcome = Some(o);
                goal.stage = Stage::Confirming {
                    deadline: now + self.config.confirm_timeout,
                    recorded: true,
                };
                self.finish_confirmed(now, out);
            }
        }
    }

    /// What conversation `id` remembers for its next goal.
    pub fn conversation(&self, id: &str) -> Option<&Conversation> {
        self.conversations.get(id).map(|(_, c)| c)
    }

    /// Sets what conversation `id` remembers (a conversation kept on disk
    /// between runs: `giot run --conversation`).
    pub fn remember(&mut self, id: String, conversation: Conversation) {
        self.turns += 1;
        if !self.conversations.contains_key(&id)
            && self.conversations.len() >= CONVERSATIONS
            && let Some(oldest) = self
                .conversations
                .iter()
                .min_by_key(|(_, (turn, _))| *turn)
                .map(|(k, _)| k.clone())
        {
            self.conversations.remove(&oldest);
        }
        self.conversations.insert(id, (self.turns, conversation));
    }

    /// Reads a time phrase off goal `id` ("in 10 minutes", "every day at
    /// 7"): the goal is then planned without it and kept for later.
    /// `false` when the goal was reported instead (a time that cannot be
    /// read, or a face that keeps no schedules).
    fn for_later(&mut self, id: GoalId, now: Now, out: &mut Vec<Effect>) -> bool {
        let goal = self.goals.get(&id).expect("goal in flight");
        // A standing rule says when by its condition, not by the clock ("as
        // soon as the door opens"); a time inside it is refused by its reader.
        if goal.fired.is_some() || crate::agent::is_rule(&goal.request.text) {
            return true;
        }
        // Without a clock, a time phrase is still recognised (and refused):
        // a goal for later never runs now.
        let wall = self.wall_at(now).unwrap_or_else(|| {
            jiff::Timestamp::UNIX_EPOCH.to_zoned_datetime(self.config.time_zone.clone())
        });
        // "as soon as possible" is manners, not a time.
        let text = crate::agent::without_manners(&goal.request.text)
            .unwrap_or_else(|| goal.request.text.clone());
        let refusal = match when::split(&text, &wall) {
            Ok(None) => return true,
            Ok(Some(_)) if self.wall.is_none() || !self.config.keeps_schedules => {
                "this goal is for later, and this giot keeps no schedules: send it to \
                 `giot bridge` (giot/<agent>/goals) or say it in `giot tui`, which run it \
                 at its time"
                    .to_string()
            }
            Ok(Some(later)) => {
                self.goals.get_mut(&id).expect("goal in flight").later = Some(later);
                return true;
            }
            // "la hora de dormir" is a scene, not an hour.
            Err(when::BadTime(_)) if time_only_in_names(&text, self.fleet.registry(), &wall) => {
                return true;
            }
            Err(when::BadTime(why)) => why,
        };
        let goal = self.goals.get_mut(&id).expect("goal in flight");
        let mut o = Outcome::with_reason(&goal.request.text, Status::Refused, &refusal);
        o.timing_ms.total = crate::types::ms(now - goal.received);
        goal.outcome = Some(o);
        self.report(id, now, out);
        false
    }

    /// A schedule for goal `id`, with a new id.
    fn make_schedule(&mut self, id: GoalId, timing: Timing, rest: String, now: Now) -> Schedule {
        let goal = &self.goals[&id];
        let wall = self.wall_at(now).expect("a goal for later has a clock");
        self.scheduled += 1;
        let next = match &timing {
            Timing::Once(t) => *t,
            every => every.next_after(&wall).unwrap_or(wall.timestamp()),
        };
        let created = wall.timestamp();
        Schedule {
            id: format!(
                "s{}{}",
                radix36(created.as_millisecond().unsigned_abs()),
                radix36(self.scheduled)
            ),
            goal: rest,
            said: goal.request.text.clone(),
            timing,
            next,
            time_zone: self
                .config
                .time_zone
                .iana_name()
                .unwrap_or("UTC")
                .to_string(),
            conversation: goal.request.conversation.clone(),
            room: goal.request.room.clone(),
            created,
        }
    }

    /// Starts the goals of the schedules whose time has come; each one-off
    /// schedule is removed, and each recurring one moved to its next time,
    /// before its goal starts (saved first: a crash right after loses one
    /// run rather than repeating it).
    fn run_due(&mut self, now: Now, out: &mut Vec<Effect>) {
        let Some(wall) = self.wall_at(now) else {
            return;
        };
        if !self.config.keeps_schedules || !self.fires {
            return;
        }
        let due: Vec<String> = self
            .schedules
            .values()
            .filter(|s| s.next <= wall.timestamp())
            .map(|s| s.id.clone())
            .collect();
        if due.is_empty() {
            return;
        }
        let mut runs = Vec::new();
        for sid in due {
            let schedule = self.schedules.remove(&sid).expect("due");
            if let Some(next) = schedule.after_run(&wall) {
                self.schedules.insert(sid.clone(), next);
            }
            runs.push(schedule);
        }
        out.push(Effect::SaveSchedules(
            self.schedules.values().cloned().collect(),
        ));
        for schedule in runs {
            self.scheduled += 1;
            let goal = FIRED + self.scheduled;
            let late = wall.timestamp().duration_since(schedule.next).as_secs();
            let info = self
                .schedules
                .get(&schedule.id)
                .map_or_else(|| schedule.info(true), |next| next.info(false));
            let mut request = GoalRequest::words(
                goal,
                schedule.goal.clone(),
                super::Origin::new(
                    "schedule",
                    "operator (schedule)",
                    &format!("say yes to schedule {}", schedule.id),
                ),
            );
            request.conversation = schedule.conversation.clone();
            request.room = schedule.room.clone();
            request.ask = self.config.schedules_ask;
            out.push(Effect::Trace {
                goal,
                step: format!(
                    "schedule {} runs \"{}\"{}",
                    schedule.id,
                    schedule.goal,
                    if late > 60 {
                        format!(
                            " (late by {}: giot was not running)",
                            super::schedule::human_duration(late)
                        )
                    } else {
                        String::new()
                    }
                ),
            });
            self.start_fired(request, info, now, out);
        }
    }

    /// Starts a schedule's goal like any other, marked as the schedule's.
    fn start_fired(
        &mut self,
        request: GoalRequest,
        info: crate::types::ScheduleInfo,
        now: Now,
        out: &mut Vec<Effect>,
    ) {
        let id = request.id;
        self.start(request, now, out);
        if let Some(goal) = self.goals.get_mut(&id) {
            goal.fired = Some(info);
        } else {
            // Reported at once (refused, answered): say which schedule.
            for e in out.iter_mut().rev() {
                if let Effect::Report { goal, outcome, .. } = e
                    && *goal == id
                {
                    outcome.schedule = Some(info);
                    break;
                }
            }
        }
    }

    /// Plans a goal in words with the answers known so far.
    /// The actions of a rule as the registry builds them now (topics and
    /// payloads of discovered devices may have changed since it was
    /// armed); a device that left is kept by name for the policy to refuse.
    fn rule_actions(&self, actions: &[crate::types::RuleAction]) -> Vec<crate::types::Action> {
        actions
            .iter()
            .map(|a| match self.fleet.registry().get(&a.device) {
                Some(d) => d.action(&a.capability, a.value.clone()),
                None => crate::types::Action {
                    device: a.device.clone(),
                    capability: a.capability.clone(),
                    value: a.value.clone(),
                    topic: String::new(),
                    payload: String::new(),
                },
            })
            .collect()
    }

    /// The reading a rule's condition is about, as last reported.
    fn reading(&self, condition: &crate::types::Condition) -> Option<serde_json::Value> {
        self.fleet
            .state(&condition.device)
            .and_then(|s| s.get(&condition.capability).cloned())
    }

    /// A standing rule the goal asks for, its actions checked by the
    /// policy as a dry run (`o`): refused, shown for a yes, or armed.
    fn propose_rule(
        &mut self,
        id: GoalId,
        mut rule: crate::types::RuleInfo,
        mut o: Outcome,
        now: Now,
        out: &mut Vec<Effect>,
    ) {
        let goal = self.goals.get_mut(&id).expect("goal in flight");
        o.timing_ms.total = crate::types::ms(now - goal.received);
        let r = &goal.request;
        // The condition's device must still be there and report the value.
        let watched = self
            .fleet
            .registry()
            .get(&rule.condition.device)
            .and_then(|d| d.capability(&rule.condition.capability))
            .is_some();
        if !watched {
            o.status = Status::Refused;
            o.reason = Some(format!(
                "the rule watches {} {}, which the registry no longer has",
                rule.condition.device, rule.condition.capability
            ));
        } else if matches!(o.status, Status::Planned | Status::NeedsConfirmation) {
            if self.wall.is_none() || !self.config.keeps_schedules {
                o.status = Status::Refused;
                o.reason = Some(
                    "this is a standing rule, and this giot keeps no rules: send it to `giot \
                     bridge` (giot/<agent>/goals) or say it in `giot tui`, which watch the fleet \
                     and arm it after your yes"
                        .into(),
                );
            } else if r.dry_run {
                o.status = Status::Planned;
                o.reason = Some("dry run: the rule was not armed".into());
            } else if r.yes {
                self.arm(id, rule, o, now, out);
                return;
            } else {
                o.status = Status::NeedsConfirmation;
                rule.id.clear();
                o.reason = Some(format!(
                    "a standing rule is armed only after a yes: {}; {}",
                    rule.describe(),
                    r.origin.confirm_hint
                ));
                if r.ask {
                    goal.stage = Stage::Asking(now + self.config.ask_timeout);
                    o.rule = Some(rule.clone());
                    goal.proposed = Some(rule);
                    out.push(Effect::AskConfirmation {
                        goal: id,
                        outcome: o.clone(),
                    });
                    goal.outcome = Some(o);
                    return;
                }
            }
        }
        if o.status != Status::Refused || watched {
            o.rule = Some(rule);
        }
        goal.outcome = Some(o);
        self.report(id, now, out);
    }

    /// Arms `rule` (a person said yes): it gets its id and its phase from
    /// the reading now, and is kept.
    fn arm(
        &mut self,
        id: GoalId,
        mut rule: crate::types::RuleInfo,
        mut o: Outcome,
        now: Now,
        out: &mut Vec<Effect>,
    ) {
        let created = self
            .wall_at(now)
            .map_or(jiff::Timestamp::UNIX_EPOCH, |w| w.timestamp());
        self.scheduled += 1;
        rule.id = format!(
            "r{}{}",
            radix36(created.as_millisecond().unsigned_abs()),
            radix36(self.scheduled)
        );
        rule.enabled = true;
        rule.min_interval_s = self.config.rule_interval.as_secs();
        let reading = self.reading(&rule.condition);
        let phase = Rule::baseline(&rule, reading.as_ref());
        let goal = self.goals.get_mut(&id).expect("goal in flight");
        o.status = Status::Rule;
        o.reason = Some(match (&reading, phase) {
            (None, _) | (_, super::rule::Phase::Unknown) => format!(
                "armed; {} has reported no {} yet, so its first reading is the starting point",
                rule.condition.device,
                rule.condition.capability.replace('_', " ")
            ),
            (Some(v), super::rule::Phase::Active) => format!(
                "armed; the condition already holds ({} is {}), so the rule acts the next time \
                 it starts to hold",
                rule.condition.capability.replace('_', " "),
                crate::registry::value::display_value(v, rule.condition.unit.as_deref())
            ),
            (Some(v), _) => format!(
                "armed; {} is {} now",
                rule.condition.capability.replace('_', " "),
                crate::registry::value::display_value(v, rule.condition.unit.as_deref())
            ),
        });
        o.rule = Some(rule.clone());
        goal.outcome = Some(o);
        out.push(Effect::Trace {
            goal: id,
            step: format!("rule {} armed: {}", rule.id, rule.describe()),
        });
        let conversation = goal.request.conversation.clone();
        let room = goal.request.room.clone();
        self.rules.insert(
            rule.id.clone(),
            Rule {
                info: rule,
                phase,
                last_fired: None,
                created,
                conversation,
                room,
            },
        );
        out.push(self.save_rules());
        self.report(id, now, out);
    }

    /// Every enabled rule against the readings now: a rule whose condition
    /// (or reverse) starts to hold starts a goal with its actions, through
    /// the policy again; phases that changed are saved.
    ///
    /// After a message on `topic`, only the rules watching a device that
    /// reports there (a message on any other topic changes no reading of
    /// theirs); on a clock tick, all (a rule resting may act now).
    fn evaluate_rules(&mut self, now: Now, topic: Option<&str>, out: &mut Vec<Effect>) {
        if self.rules.is_empty() || !self.config.keeps_schedules || !self.fires {
            return;
        }
        let Some(wall) = self.wall_at(now).map(|w| w.timestamp()) else {
            return;
        };
        let registry = self.fleet.registry();
        let ids: Vec<String> = self
            .rules
            .values()
            .filter(|r| {
                topic.is_none_or(|t| {
                    registry
                        .get(&r.info.condition.device)
                        .is_some_and(|d| d.state_topics().any(|s| s == t))
                })
            })
            .map(|r| r.info.id.clone())
            .collect();
        let mut fired = Vec::new();
        let mut changed = false;
        for rid in ids {
            let reading = self.reading(&self.rules[&rid].info.condition);
            let rule = self.rules.get_mut(&rid).expect("listed");
            let before = rule.phase;
            let half = rule.step(reading.as_ref(), wall);
            changed |= rule.phase != before;
            if let (Some(half), Some(reading)) = (half, reading) {
                fired.push((rid, half, reading));
            }
        }
        if changed {
            out.push(self.save_rules());
        }
        for (rid, half, reading) in fired {
            let rule = &self.rules[&rid];
            let (condition, actions) = match half {
                Half::Then => (&rule.info.condition, &rule.info.actions),
                Half::Otherwise => {
                    let o = rule.info.otherwise.as_ref().expect("fired its reverse");
                    (&o.condition, &o.actions)
                }
            };
            // 72.0 as 72: sensors often send whole numbers as floats.
            let reading = match reading.as_f64() {
                Some(x) if reading.is_f64() => crate::registry::value::number_value(x),
                _ => reading,
            };
            let shown = crate::registry::value::display_value(&reading, condition.unit.as_deref());
            let text = format!(
                "rule {rid}: {} (read {shown}), as armed from \"{}\"",
                condition.says, rule.info.said
            );
            self.scheduled += 1;
            let goal = FIRED + self.scheduled;
            let mut request = GoalRequest::words(
                goal,
                text.clone(),
                super::Origin::new(
                    "rule",
                    &format!("operator (rule {rid})"),
                    &format!("say yes to rule {rid}"),
                ),
            );
            request.intent = Intent::Actions(self.rule_actions(actions));
            request.conversation = rule.conversation.clone();
            request.room = rule.room.clone();
            request.ask = self.config.schedules_ask;
            let info = rule.info.clone();
            out.push(Effect::Trace {
                goal,
                step: format!("rule {rid} fires: {} (read {shown})", condition.says),
            });
            self.start(request, now, out);
            if let Some(g) = self.goals.get_mut(&goal) {
                g.fired_rule = Some(info);
            } else if let Some(outcome) = reported(out, goal) {
                outcome.rule = Some(info);
            }
        }
    }

    fn plan(&mut self, id: GoalId, now: Now, out: &mut Vec<Effect>) {
        self.refresh_registry();
        let Some(goal) = self.goals.get_mut(&id) else {
            return;
        };
        goal.replay.missing = None;
        *self.replay.lock().expect("replay") = std::mem::take(&mut goal.replay);
        let fleet = &self.fleet;
        let context = crate::agent::GoalContext {
            room: goal
                .request
                .room
                .as_deref()
                .map(|r| fleet.registry().room_id(r).unwrap_or_else(|| r.to_string())),
        };
        let conversation = goal
            .request
            .conversation
            .as_ref()
            .and_then(|c| self.conversations.get(c))
            .map(|(_, c)| c.clone());
        let state = |device: &str| fleet.state(device);
        let text = goal
            .later
            .as_ref()
            .map_or(goal.request.text.as_str(), |(_, rest)| rest.as_str());
        let plan = match conversation
            .as_ref()
            .and_then(|c| self.agent.plan_follow_up(text, c, &state))
        {
            Some(plan) => plan,
            None => self.agent.plan_in(text, &context, &state),
        };
        goal.replay = std::mem::take(&mut *self.replay.lock().expect("replay"));
        if let Some((escalate, prompt, options)) = goal.replay.missing.clone() {
            self.next_request += 1;
            let request = self.next_request;
            goal.stage = Stage::Scoring(request);
            out.push(Effect::Score {
                request,
                escalate,
                prompt,
                options,
            });
            return;
        }
        goal.replay.answers.clear();
        if let Some(id) = goal.request.conversation.clone() {
            let mut remembered = conversation.unwrap_or_default();
            let text = goal
                .later
                .as_ref()
                .map_or(goal.request.text.as_str(), |(_, rest)| rest.as_str());
            crate::agent::follow_up::remember(&mut remembered, text, &plan.decision);
            self.remember(id, remembered);
        }

        for step in &plan.trace {
            out.push(Effect::Trace {
                goal: id,
                step: step.clone(),
            });
        }
        self.decide(id, plan, now, out);
    }

    fn scored(
        &mut self,
        request: RequestId,
        result: Result<crate::llm::Scores, crate::llm::LlmError>,
        took: Duration,
        now: Now,
        out: &mut Vec<Effect>,
    ) {
        if let Some((r, mut replay)) = self.warming.take() {
            if r == request {
                if let Some(key) = replay.missing.take() {
                    replay.answers.insert(key, result);
                }
                // Warming asks once: whatever failed is asked again per goal.
                if replay.answers.values().all(Result::is_ok) {
                    self.warm_step(replay, out);
                }
                return;
            }
            self.warming = Some((r, replay));
        }
        let Some((&id, goal)) = self
            .goals
            .iter_mut()
            .find(|(_, g)| g.stage == Stage::Scoring(request))
        else {
            return;
        };
        goal.llm += took;
        if let Some(key) = goal.replay.missing.take() {
            goal.replay.answers.insert(key, result);
        }
        self.plan(id, now, out);
    }

    /// The policy's verdict on a plan, and what follows from it.
    fn decide(&mut self, id: GoalId, plan: crate::types::Plan, now: Now, out: &mut Vec<Effect>) {
        let registry = self.fleet.registry();
        let goal = self.goals.get_mut(&id).expect("goal in flight");
        if plan.used_model || plan.tokens_evaluated > 0 || plan.escalated {
            goal.stats = PlanStats {
                escalated: plan.escalated,
                used_model: plan.used_model,
                tokens_evaluated: plan.tokens_evaluated,
                decode_time: plan.llm_decode_time,
            };
        }
        let r = &goal.request;
        // A goal for later is checked now, as a dry run: it is planned
        // again, and checked again, when its time comes.
        let mut o = outcome::decide(
            &r.text,
            &plan,
            registry,
            &self.agent.definition().policy,
            r.yes,
            r.dry_run || goal.later.is_some() || plan.rule.is_some(),
            &r.origin.confirm_hint,
        );
        goal.by_person = r.yes;
        if let Some(rule) = plan.rule {
            self.propose_rule(id, rule, o, now, out);
            return;
        }
        if let Some((timing, rest)) = goal.later.clone()
            && matches!(o.status, Status::Planned | Status::NeedsConfirmation)
        {
            let dry_run = r.dry_run;
            let schedule = self.make_schedule(id, timing, rest, now);
            let goal = self.goals.get_mut(&id).expect("goal in flight");
            o.schedule = Some(schedule.info(false));
            o.status = if dry_run {
                o.reason = Some("dry run: not scheduled".into());
                Status::Planned
            } else {
                o.reason = None;
                Status::Scheduled
            };
            o.timing_ms.total = crate::types::ms(now - goal.received);
            goal.outcome = Some(o);
            if !dry_run {
                self.schedules.insert(schedule.id.clone(), schedule);
                out.push(Effect::SaveSchedules(
                    self.schedules.values().cloned().collect(),
                ));
            }
            self.report(id, now, out);
            return;
        }
        match o.status {
            Status::NeedsConfirmation if r.ask && !r.dry_run => {
                o.timing_ms.total = crate::types::ms(now - goal.received);
                o.timing_ms.llm = crate::types::ms(goal.llm);
                goal.stage = Stage::Asking(now + self.config.ask_timeout);
                out.push(Effect::AskConfirmation {
                    goal: id,
                    outcome: o.clone(),
                });
                goal.outcome = Some(o);
            }
            Status::Executed => {
                goal.outcome = Some(o);
                goal.stage = Stage::Queued;
                self.release(out);
            }
            _ => {
                o.timing_ms.total = crate::types::ms(now - goal.received);
                goal.outcome = Some(o);
                self.report(id, now, out);
            }
        }
    }

    fn confirm(&mut self, id: GoalId, yes: bool, now: Now, out: &mut Vec<Effect>) {
        let Some(goal) = self.goals.get_mut(&id) else {
            return;
        };
        if !matches!(goal.stage, Stage::Asking(_)) {
            return;
        }
        if !yes {
            let o = goal.outcome.as_mut().expect("asked with an outcome");
            o.status = Status::Refused;
            o.actions.clear();
            o.reason = Some("the person said no: nothing was published".into());
            o.timing_ms.total = crate::types::ms(now - goal.received);
            self.report(id, now, out);
            return;
        }
        // The yes is for this plan: the policy checks it again, as it is now.
        goal.request.yes = true;
        if let Some(rule) = goal.proposed.take() {
            let o = goal.outcome.take().expect("asked with an outcome");
            self.arm(id, rule, o, now, out);
            return;
        }
        let actions: Vec<crate::types::Action> = goal
            .outcome
            .as_ref()
            .map(|o| o.actions.iter().map(ActionResult::to_action).collect())
            .unwrap_or_default();
        let mut plan = crate::types::Plan::deciding(Decision::Act(actions));
        plan.llm_time = goal.llm;
        self.decide(id, plan, now, out);
    }

    /// Hands queued goals to the driver, in order, unless an earlier goal
    /// still works on one of their devices.
    fn release(&mut self, out: &mut Vec<Effect>) {
        let mut busy: Vec<String> = Vec::new();
        let mut ready = Vec::new();
        for (&id, goal) in &self.goals {
            let devices = goal
                .outcome
                .as_ref()
                .map(|o| {
                    o.actions
                        .iter()
                        .map(|a| a.device.clone())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            match goal.stage {
                Stage::Queued => {
                    if !devices.iter().any(|d| busy.contains(d)) {
                        ready.push(id);
                    }
                    busy.extend(devices);
                }
                Stage::Publishing | Stage::Confirming { .. } => busy.extend(devices),
                _ => {}
            }
        }
        for id in ready {
            let goal = self.goals.get_mut(&id).expect("listed");
            goal.stage = Stage::Publishing;
            let o = goal.outcome.as_ref().expect("queued with an outcome");
            out.push(Effect::Publish {
                goal: id,
                actions: o.actions.clone(),
                retransmit: false,
            });
        }
    }

    fn published(
        &mut self,
        id: GoalId,
        published: usize,
        error: Option<String>,
        now: Now,
        out: &mut Vec<Effect>,
    ) {
        let Some(goal) = self.goals.get_mut(&id) else {
            return;
        };
        if goal.stage != Stage::Publishing {
            return;
        }
        let o = goal.outcome.as_mut().expect("publishing an outcome");
        o.timing_ms.total = crate::types::ms(now - goal.received);
        o.timing_ms.llm = crate::types::ms(goal.llm);
        let all = o.actions.len();
        let published = published.min(all);
        let confirmed_by = if goal.by_person {
            goal.request.origin.person.clone()
        } else {
            goal.request.origin.policy.clone()
        };
        if let Some(error) = error {
            // What was published is recorded; what was not is not claimed.
            o.status = Status::Failed;
            o.reason = Some(if published == 0 {
                format!("nothing was published: {error}")
            } else {
                format!("only {published} of {all} actions were published: {error}")
            });
            o.actions.truncate(published);
            if published == 0 {
                self.report(id, now, out);
                return;
            }
        }
        let o = goal.outcome.as_ref().expect("publishing an outcome");
        out.push(Effect::Record {
            goal: id,
            text: goal.request.text.clone(),
            actions: o.actions.clone(),
            confirmed_by,
        });
        goal.stage = Stage::Confirming {
            deadline: now + self.config.confirm_timeout,
            recorded: false,
        };
        self.finish_confirmed(now, out);
    }

    /// After a reconnection (`state_topic` is `None`): the unconfirmed
    /// actions of goals waiting for their echo go out again, with a fresh
    /// deadline (see [`Effect::Publish`]); and once more when the device's
    /// state topic next reports (`Some`), since after a broker restart the
    /// device may have resubscribed only after the first retransmission.
    fn retransmit(&mut self, now: Now, state_topic: Option<&str>, out: &mut Vec<Effect>) {
        let registry = self.fleet.registry();
        for (&id, goal) in self.goals.iter_mut() {
            let Stage::Confirming { recorded, .. } = goal.stage else {
                continue;
            };
            if let Some(topic) = state_topic {
                let reports = goal.outcome.as_ref().is_some_and(|o| {
                    o.actions.iter().any(|a| {
                        a.confirmed != Some(true)
                            && registry
                                .get(&a.device)
                                .is_some_and(|d| d.state_topic == topic)
                    })
                });
                if !goal.resend || !reports {
                    continue;
                }
                goal.resend = false;
            } else {
                goal.resend = true;
            }
            let o = goal.outcome.as_ref().expect("confirming an outcome");
            let unconfirmed: Vec<ActionResult> = o
                .actions
                .iter()
                .filter(|a| a.confirmed != Some(true))
                .cloned()
                .collect();
            // Verified goals were published before a restart: never again.
            if unconfirmed.is_empty() || matches!(goal.request.intent, Intent::Verify(_)) {
                continue;
            }
            goal.stage = Stage::Confirming {
                deadline: now + self.config.confirm_timeout,
                recorded,
            };
            out.push(Effect::Publish {
                goal: id,
                actions: unconfirmed,
                retransmit: true,
            });
        }
    }

    /// Marks what the devices show; reports goals whose every action is
    /// confirmed and recorded.
    fn finish_confirmed(&mut self, now: Now, out: &mut Vec<Effect>) {
        let mut done = Vec::new();
        for (&id, goal) in self.goals.iter_mut() {
            let Stage::Confirming { recorded, .. } = goal.stage else {
                continue;
            };
            let o = goal.outcome.as_mut().expect("confirming an outcome");
            for a in o.actions.iter_mut() {
                if a.confirmed != Some(true) {
                    a.confirmed = Some(self.fleet.shows(a));
                }
            }
            if recorded && o.actions.iter().all(|a| a.confirmed == Some(true)) {
                done.push(id);
            }
        }
        for id in done {
            self.report(id, now, out);
        }
    }

    /// Deadlines: unanswered questions and unconfirmed actions.
    fn expire(&mut self, now: Now, out: &mut Vec<Effect>) {
        let mut done = Vec::new();
        for (&id, goal) in self.goals.iter_mut() {
            match goal.stage {
                Stage::Asking(deadline) if now >= deadline => {
                    let o = goal.outcome.as_mut().expect("asked with an outcome");
                    o.reason = Some(format!(
                        "{} (no answer before the question expired: nothing was published)",
                        o.reason.clone().unwrap_or_default()
                    ));
                    done.push(id);
                }
                Stage::Confirming { deadline, recorded } if now >= deadline && recorded => {
                    done.push(id);
                }
                _ => {}
            }
        }
        for id in done {
            self.report(id, now, out);
        }
    }

    fn report(&mut self, id: GoalId, now: Now, out: &mut Vec<Effect>) {
        let Some(goal) = self.goals.remove(&id) else {
            return;
        };
        let mut o = goal.outcome.unwrap_or_else(|| {
            let mut o = Outcome::new(&goal.request.text, Status::Refused);
            o.timing_ms.total = crate::types::ms(now - goal.received);
            o
        });
        if goal.fired.is_some() {
            o.schedule = goal.fired;
        }
        if goal.fired_rule.is_some() {
            o.rule = goal.fired_rule;
        }
        o.timing_ms.llm = crate::types::ms(goal.llm);
        if !goal.request.dry_run {
            for a in o.actions.iter_mut() {
                if o.status == Status::Executed || o.status == Status::Failed {
                    a.confirmed.get_or_insert(false);
                }
            }
        }
        out.push(Effect::Report {
            goal: id,
            outcome: o,
            stats: goal.stats,
        });
        // A finished goal may free devices for queued ones.
        self.release(out);
    }
}

/// The outcome of goal `id` if it was reported among `out`.
fn reported(out: &mut [Effect], id: GoalId) -> Option<&mut Outcome> {
    out.iter_mut().rev().find_map(|e| match e {
        Effect::Report { goal, outcome, .. } if *goal == id => Some(outcome),
        _ => None,
    })
}

/// `n` in base 36 (0-9a-z): short ids.
fn radix36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).expect("ascii")
}

/// Whether the words that made `text` a time giot cannot read all belong
/// to names in `registry` (devices, rooms, floors): with those names taken
/// out, `text` says no time at all.
pub(super) fn time_only_in_names(
    text: &str,
    registry: &crate::registry::Registry,
    wall: &jiff::ZonedDateTime,
) -> bool {
    use crate::intents::normalize;
    let mut said = format!(" {} ", normalize(text, &[]));
    let names = registry.names_said();
    let mut found = false;
    for name in &names {
        let name = format!(" {} ", normalize(name, &[]));
        if name.trim().is_empty() {
            continue;
        }
        if said.contains(&name) {
            said = said.replace(&name, " ");
            found = true;
        }
    }
    found && matches!(when::split(said.trim(), wall), Ok(None))
}
