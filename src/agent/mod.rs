//! The agent core: a goal and the fleet's state in, a decision out.
//!
//! No I/O happens here: [`Agent::plan`] reads the state through a closure and
//! asks a [`Scorer`] (the model, or a scripted fake in tests) to rank devices
//! when the words alone leave a tie. What comes out is a [`Plan`](crate::types::Plan): actions
//! drawn only from the registry, an answer from the live state, or a refusal
//! with its reason. The policy ([`crate::policy`]) then decides what may be
//! published, and a face (`run`, the TUI, the bridge) does the publishing.

mod definition;
mod escalate;
pub mod follow_up;
mod gloss;
mod indirect;
mod lexicon;
pub mod market;
mod relative;
mod resolve;
pub mod roles;
mod rule;
mod templates;
mod understand;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

pub use definition::{AgentDefinition, DefinitionError};
pub use follow_up::Conversation;
use resolve::Index;
pub use templates::GoalContext;

/// `goal` without phrases of manners that read like a time or a condition
/// ("as soon as possible", "when you get a chance"), normalized; `None`
/// when it has none.
pub fn without_manners(goal: &str) -> Option<String> {
    let words: Vec<String> = understand::normalize(goal)
        .split_whitespace()
        .map(String::from)
        .collect();
    let polite = understand::without_manners(&words);
    (polite.len() < words.len() && !polite.is_empty()).then(|| polite.join(" "))
}

/// Whether `goal` states a standing rule (an action under a condition:
/// "if the cellar humidity goes above 70%, …", "… once it has boiled")
/// rather than something to do now or at a time.
pub fn is_rule(goal: &str) -> bool {
    let words: Vec<String> = understand::normalize(goal)
        .split_whitespace()
        .map(String::from)
        .collect();
    understand::is_rule(&words)
}
use understand::Clause;

use crate::llm::{Prompt, Scorer};
use crate::registry::value::display_value;
use crate::registry::{Device, Registry};
use crate::types::{Action, Decision, Plan};

/// The state of one device, if known.
pub type StateLookup<'a> = &'a dyn Fn(&str) -> Option<Map<String, Value>>;

/// Lexical scores this close to the best count as a tie for the model to break.
const TIE: f64 = 0.35;

/// At most this many tied devices are ranked by the model; more are asked
/// about (`needs_clarification`), so that a goal's latency does not grow
/// with the number of devices that fit it.
pub const MODEL_CANDIDATES: usize = 8;

/// The least time between two firings of one rule, in seconds: a reading
/// that flaps around its threshold acts at most once a minute.
pub const RULE_MIN_INTERVAL_S: u64 = 60;

/// How much more (in nats of lift) the model must prefer one device over
/// the next before giot acts on its choice; below it, giot asks.
const MARGIN: f32 = 0.5;

pub struct Agent {
    registry: Registry,
    index: Index,
    definition: AgentDefinition,
    scorer: Option<Box<dyn Scorer>>,
    /// Where goals no local layer decides go (`--escalate`), if anywhere.
    escalation: Option<Box<dyn Scorer>>,
    /// log P(option | empty request), per option, for the current stable prompt.
    priors: HashMap<String, f32>,
    stable: Option<String>,
    /// Home Assistant's intent templates over this registry.
    templates: templates::Templates,
    /// Language codes to read goals in, preferred first.
    languages: Vec<String>,
    /// Floors the goal being planned names: the resolver's devices are kept
    /// to them (set for one goal at a time).
    floors: Vec<String>,
}

impl Agent {
    /// An agent over `registry`; without a scorer, ties are broken by
    /// registry order (the "model out of the loop" baseline).
    pub fn new(
        registry: Registry,
        definition: AgentDefinition,
        scorer: Option<Box<dyn Scorer>>,
    ) -> Self {
        let index = Index::new(&registry);
        let languages = vec!["en".to_string()];
        let templates = templates::Templates::new(&languages, &registry);
        Self {
            registry,
            index,
            definition,
            scorer,
            escalation: None,
            priors: HashMap::new(),
            stable: None,
            templates,
            languages,
            floors: Vec::new(),
        }
    }

    /// Reads goals in `codes` (Home Assistant's language codes: `en`, `de`,
    /// `fr`, `es`, …), the first preferred; a goal in another of them is
    /// recognised too. Returns the codes whose templates are missing.
    pub fn set_languages(&mut self, codes: &[String]) -> Vec<String> {
        self.languages = codes.to_vec();
        self.templates = templates::Templates::new(codes, &self.registry);
        let loaded = self.templates.codes();
        codes
            .iter()
            .filter(|c| !loaded.contains(&c.as_str()))
            .cloned()
            .collect()
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn definition(&self) -> &AgentDefinition {
        &self.definition
    }

    /// Takes a new registry (discovered devices joined or left): the lexical
    /// index is rebuilt and the model's cached priors are dropped, since the
    /// device list in the prompt changed. Nothing happens if it is the same.
    pub fn set_registry(&mut self, registry: Registry) {
        if registry.devices() == self.registry.devices() {
            return;
        }
        self.index = Index::new(&registry);
        self.templates = templates::Templates::new(&self.languages, &registry);
        self.registry = registry;
        self.priors.clear();
        self.stable = None;
    }

    /// Takes the model out of the loop (or puts it back), returning the old one.
    pub fn set_scorer(&mut self, scorer: Option<Box<dyn Scorer>>) -> Option<Box<dyn Scorer>> {
        self.priors.clear();
        self.stable = None;
        std::mem::replace(&mut self.scorer, scorer)
    }

    /// Decides what to do about `goal`, said nowhere in particular.
    /// Sends goals the local layers cannot decide above their margin to
    /// `server` with their candidates (see `escalate.rs`); `None` stops it.
    pub fn set_escalation(&mut self, server: Option<Box<dyn Scorer>>) -> Option<Box<dyn Scorer>> {
        std::mem::replace(&mut self.escalation, server)
    }

    pub fn plan(&mut self, goal: &str, state: StateLookup<'_>) -> Plan {
        self.plan_in(goal, &GoalContext::default(), state)
    }

    /// Decides what to do about `goal`, said in `context` (a room).
    ///
    /// Layers, cheapest first (`../shared/DESIGN.md` §1): the market's
    /// tools; Home Assistant's intent templates; giot's own resolver, with
    /// the model breaking ties; a refusal that says why.
    pub fn plan_in(&mut self, goal: &str, context: &GoalContext, state: StateLookup<'_>) -> Plan {
        let plan = self.plan_said(goal, context, state);
        // A goal in German, French or Spanish that no template explains is
        // read once more in English words (`gloss.rs`) by the same layers:
        // not one a template refused (that refusal has its reason), and
        // only when more of its words are of that language than English.
        let by_template = plan.trace.iter().any(|t| t.starts_with("templates ("))
            && !plan.trace.iter().any(|t| t == templates::WILDCARD_ONLY);
        if let Decision::Refuse(_) = &plan.decision
            && !by_template
            && let Some((code, known)) = gloss::likely(goal)
            && known > self.templates.words_known(goal, "en")
            && let Some(english) = gloss::english(
                &self.templates.with_numbers_in(goal, code),
                code,
                &self.registry,
            )
        {
            let mut again = self.plan_said(&english, context, state);
            if !matches!(again.decision, Decision::Refuse(_)) {
                again
                    .trace
                    .insert(0, format!("read in English words ({code}): \"{english}\""));
                return again;
            }
        }
        plan
    }

    /// [`Agent::plan_in`] for the words as said.
    fn plan_said(&mut self, goal: &str, context: &GoalContext, state: StateLookup<'_>) -> Plan {
        // "if the cellar humidity goes above 70%, switch on the dehumidifier"
        // is never an action now: a standing rule, to be armed.
        let words: Vec<String> = understand::normalize(goal)
            .split_whitespace()
            .map(String::from)
            .collect();
        if understand::is_rule(&words) {
            return self.plan_rule(goal, context, state);
        }
        // "when you get a chance, close the blinds": the command without
        // its manners, which read like a condition or a question.
        let polite = understand::without_manners(&words);
        if polite.len() < words.len() && !polite.is_empty() {
            let plain = polite.join(" ");
            return self.plan_in(&plain, context, state);
        }
        // "every light but the hall light": the goal without its exception,
        // then the exception taken out of what it decided.
        let text = crate::intents::normalize(goal, &[]);
        for code in self
            .templates
            .codes()
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>()
        {
            if let Some((main, except)) = templates::split_exception(&text, &code) {
                // "which lights are not the ceiling ones" asks; its "not"
                // leaves nothing out.
                if understand::is_question(&words) && text.contains(&format!("{main} not the ")) {
                    break;
                }
                let mut plan = self.plan_except(&main, &except, context, state);
                self.set_points_by_mode(goal, &mut plan, state);
                return plan;
            }
        }
        let mut plan = self.plan_layers(goal, context, state);
        self.set_points_by_mode(goal, &mut plan, state);
        plan
    }

    /// A standing rule: its condition pinned to one reported value
    /// ([`rule::read`]), its action planned by every layer as a goal of its
    /// own, its reverse the action's other state. The plan's decision holds
    /// the actions and `plan.rule` the rule, to be checked and armed by the
    /// session, not done now.
    fn plan_rule(&mut self, goal: &str, context: &GoalContext, state: StateLookup<'_>) -> Plan {
        let refuse = |why: String| {
            let mut plan = Plan::empty();
            plan.decision = Decision::Refuse(format!("this standing rule cannot be armed: {why}"));
            plan
        };
        let plain = match rule::plain_numbers(goal) {
            Ok(plain) => plain,
            Err(why) => return refuse(why),
        };
        let text = self.templates.with_numbers(&plain).unwrap_or(plain);
        let draft = match rule::read(&understand::normalize(&text), &self.registry) {
            Ok(draft) => draft,
            Err(why) => return refuse(why),
        };
        let then = understand::clauses(&understand::normalize(&draft.then));
        if then.iter().any(|c| {
            relative::toggles(&c.words, &c.cues) || self.relative(c).is_some_and(|r| !r.implied)
        }) {
            let mut plan = Plan::empty();
            plan.decision = Decision::Refuse(format!(
                "a rule's action must say the value to set (\"switch on\", \"set to 40%\"), \
                 not a change from whatever it is then (\"brighter\", \"toggle\"): \"{}\"",
                draft.then
            ));
            return plan;
        }
        let mut plan = self.plan_layers(&draft.then, context, state);
        plan.trace.insert(
            0,
            format!("rule: when {} → \"{}\"", draft.condition.says, draft.then),
        );
        let actions = match &plan.decision {
            Decision::Act(actions) => actions.clone(),
            Decision::Clarify { question, .. } => {
                plan.decision = Decision::Refuse(format!(
                    "the rule's action \"{}\" fits several devices ({question}): name the one",
                    draft.then
                ));
                return plan;
            }
            Decision::Answer(_) => {
                plan.decision = Decision::Refuse(format!(
                    "a rule's action must change a device; \"{}\" asks something",
                    draft.then
                ));
                return plan;
            }
            Decision::Refuse(why) => {
                plan.decision =
                    Decision::Refuse(format!("the rule's action \"{}\": {why}", draft.then));
                return plan;
            }
        };
        if let Some(a) = actions
            .iter()
            .find(|a| crate::types::market_of(&a.device).is_some())
        {
            plan.decision = Decision::Refuse(format!(
                "a rule acts on devices, not on markets ({})",
                a.device
            ));
            return plan;
        }
        let rule_actions: Vec<crate::types::RuleAction> = actions
            .iter()
            .map(|a| crate::types::RuleAction {
                device: a.device.clone(),
                capability: a.capability.clone(),
                value: a.value.clone(),
            })
            .collect();
        let otherwise = match draft.reverse {
            None => None,
            Some(when) => {
                let mut back = Vec::new();
                for a in &rule_actions {
                    let device = self.registry.get(&a.device);
                    let flipped = device
                        .and_then(|d| d.capability(&a.capability))
                        .and_then(|c| relative::flipped(c, Some(&a.value)))
                        .map(|v| (a.capability.clone(), v))
                        // "set the fan to high … and off again": the state
                        // the reverse names, on the device's own switch or
                        // cover.
                        .or_else(|| {
                            let d = device?;
                            let word = draft.reverse_word.as_deref()?;
                            d.writable().find_map(|c| match (&c.kind, word) {
                                (crate::registry::CapabilityType::Enum { values }, w)
                                    if values.iter().any(|v| v == w)
                                        && relative::flipped(c, None).is_some() =>
                                {
                                    Some((c.name.clone(), Value::from(w)))
                                }
                                (crate::registry::CapabilityType::Number { min, max, .. }, w)
                                    if c.name == "position"
                                        && matches!(w, "open" | "close" | "closed") =>
                                {
                                    let end = if w == "open" { *max } else { *min };
                                    Some((c.name.clone(), Value::from(end as i64)))
                                }
                                _ => None,
                            })
                        })
                        .filter(|(c, v)| !(c == &a.capability && v == &a.value));
                    match flipped {
                        Some((capability, value)) => back.push(crate::types::RuleAction {
                            device: a.device.clone(),
                            capability,
                            value,
                        }),
                        None => {
                            plan.decision = Decision::Refuse(format!(
                                "the rule's reverse needs an action with two states (on/off, \
                                 open/closed) or says the state to go back to ('and off \
                                 again'); {} {} = {} has no other state to go back to",
                                a.device, a.capability, a.value
                            ));
                            return plan;
                        }
                    }
                }
                let condition = when.unwrap_or_else(|| {
                    let c = &draft.condition;
                    let device = self.registry.get(&c.device).expect("pinned to a device");
                    let cap = device.capability(&c.capability).expect("pinned");
                    rule::condition(device, cap, c.test.negated(), c.value.clone())
                });
                Some(crate::types::Otherwise {
                    condition,
                    actions: back,
                })
            }
        };
        plan.rule = Some(crate::types::RuleInfo {
            id: String::new(),
            said: goal.trim().to_string(),
            condition: draft.condition,
            actions: rule_actions,
            otherwise,
            enabled: true,
            min_interval_s: RULE_MIN_INTERVAL_S,
        });
        plan
    }

    /// On a device with both a heating and a cooling set point (a
    /// Zigbee2MQTT thermostat's `occupied_heating_setpoint` and
    /// `occupied_cooling_setpoint`), the set point the goal's words ("cool
    /// the living room to 24") or else the device's mode (`mode` or
    /// `system_mode`: cool or heat) say; when neither says, giot asks.
    fn set_points_by_mode(&self, goal: &str, plan: &mut Plan, state: StateLookup<'_>) {
        let Decision::Act(actions) = &mut plan.decision else {
            return;
        };
        let words: Vec<String> = understand::normalize(goal)
            .split_whitespace()
            .map(String::from)
            .collect();
        // "the heat pump" names a device; it says nothing about heating.
        let said = |list: &[&str]| {
            words
                .iter()
                .any(|w| list.contains(&w.as_str()) && !self.index.in_a_name(w))
        };
        let from_words = if said(&["cool", "cooling", "cooler", "colder", "ac", "aircon"]) {
            Some(true)
        } else if said(&["heat", "heating", "warm", "warmer", "hotter"]) {
            Some(false)
        } else {
            None
        };
        let mut trace = Vec::new();
        let mut unclear = None;
        for a in actions.iter_mut() {
            let Some(d) = self.registry.get(&a.device) else {
                continue;
            };
            let points: Vec<&crate::registry::Capability> = roles::setpoints(d).collect();
            let both = points.iter().any(|c| c.name.contains("cool"))
                && points.iter().any(|c| c.name.contains("heat"));
            if !both || !points.iter().any(|c| c.name == a.capability) {
                continue;
            }
            let mode = state(&d.id).and_then(|s| {
                s.get("mode")
                    .or_else(|| s.get("system_mode"))
                    .and_then(Value::as_str)
                    .map(String::from)
            });
            let cool = from_words.or(match mode.as_deref() {
                Some("cool") => Some(true),
                Some("heat") => Some(false),
                _ => None,
            });
            match cool.and_then(|c| roles::setpoint(d, Some(c))) {
                Some(cap) if cap.name != a.capability => {
                    trace.push(format!(
                        "{}: the {} set point ({})",
                        d.id,
                        if cool == Some(true) {
                            "cooling"
                        } else {
                            "heating"
                        },
                        if from_words.is_some() {
                            "the goal says so"
                        } else {
                            "its mode"
                        }
                    ));
                    *a = d.action(&cap.name, a.value.clone());
                }
                Some(_) => {}
                None => unclear = Some(d.id.clone()),
            }
        }
        plan.trace.extend(trace);
        if let Some(device) = unclear {
            plan.decision = Decision::Clarify {
                question: format!(
                    "heat or cool? {device} has a heating and a cooling set point and neither the goal nor its mode says which"
                ),
                candidates: vec![device],
            };
        }
    }

    fn plan_except(
        &mut self,
        main: &str,
        except: &str,
        context: &GoalContext,
        state: StateLookup<'_>,
    ) -> Plan {
        let Some(excluded) = templates::excluded_devices(&self.registry, except) else {
            let mut plan = Plan::empty();
            plan.decision = Decision::Refuse(format!(
                "nothing in the registry is called \"{except}\", so it cannot be left out"
            ));
            return plan;
        };
        let mut plan = self.plan_layers(main, context, state);
        plan.trace
            .push(format!("except \"{except}\": {}", excluded.join(", ")));
        plan.decision = match std::mem::replace(&mut plan.decision, Decision::Refuse(String::new()))
        {
            Decision::Act(actions) => {
                let devices: std::collections::BTreeSet<&str> =
                    actions.iter().map(|a| a.device.as_str()).collect();
                let kept: Vec<Action> = actions
                    .iter()
                    .filter(|a| !excluded.contains(&a.device))
                    .cloned()
                    .collect();
                if devices.len() < 2 && kept.len() == actions.len() {
                    Decision::Refuse(format!(
                        "\"{main}\" is one device, and \"{except}\" is not part of it"
                    ))
                } else if kept.is_empty() {
                    Decision::Refuse(format!(
                        "nothing is left of \"{main}\" once \"{except}\" is taken out"
                    ))
                } else {
                    Decision::Act(kept)
                }
            }
            Decision::Clarify { candidates, .. } => {
                let kept: Vec<String> = candidates
                    .into_iter()
                    .filter(|c| !excluded.contains(c))
                    .collect();
                if kept.is_empty() {
                    Decision::Refuse(format!("nothing is left once \"{except}\" is taken out"))
                } else {
                    // Even one left is only what the words did not rule
                    // out: the person says yes to it by naming it.
                    Decision::Clarify {
                        question: format!("which one? {} device(s) fit", kept.len()),
                        candidates: kept,
                    }
                }
            }
            other => other,
        };
        plan
    }

    /// Every layer for a goal without an exception.
    fn plan_layers(&mut self, goal: &str, context: &GoalContext, state: StateLookup<'_>) -> Plan {
        let mut plan = Plan::empty();
        let normalized = understand::normalize(goal);
        let clauses = understand::clauses(&normalized);
        if clauses.is_empty() {
            plan.decision = Decision::Refuse("the goal is empty".into());
            return plan;
        }
        let all_words: Vec<String> = clauses.iter().flat_map(|c| c.words.clone()).collect();
        // "don't turn on the hall light", "never unlock the side door": the
        // rest of the words name an action that must not be done.
        if understand::negated(&all_words)
            && !understand::is_question(&all_words)
            && !goal.trim_end().ends_with('?')
        {
            plan.decision = Decision::Refuse(
                "the goal says what not to do (\"don't\", \"not\", \"never\"): giot does nothing; say what to do instead".into(),
            );
            return plan;
        }
        // The market's tools first: they answer, they never act on devices.
        if let Some(decision) =
            market::decide(&self.registry, &self.definition.tools, &all_words, state)
        {
            plan.trace.push("market tool".into());
            plan.decision = decision;
            return plan;
        }
        // "a bit brighter", "by 10%", "toggle": Home Assistant's templates
        // read these as absolute values (or not at all); the resolver moves
        // the current value.
        let moves = clauses.iter().any(|c| {
            relative::toggles(&c.words, &c.cues) || self.relative(c).is_some_and(|r| !r.implied)
        });
        if moves {
            plan.trace.push("a change from the current value".into());
        } else if let Some((decision, trace)) =
            self.templates.decide(&self.registry, goal, context, state)
        {
            plan.trace.extend(trace);
            plan.decision = self.allowed(decision);
            return plan;
        }
        let asks = goal.trim_end().ends_with('?');
        let floors = self.templates.floors_named(&self.registry, goal);
        self.floors = floors.clone();
        let mut rest = self.plan_resolver(goal, asks, state);
        // Words the registry does not know may be typos ("ligth", "bed
        // room"): the resolver tries once more with them corrected.
        // Only a goal with a command in it is corrected: a statement's
        // words are not device names ("the lawn looks dry" is not "locks").
        let commands = clauses.iter().any(|c| {
            !c.cues.is_empty()
                || c.words
                    .iter()
                    .any(|w| lexicon::COMMAND_VERBS.contains(&w.as_str()))
        });
        if commands
            && matches!(&rest.decision, Decision::Refuse(r) if r.contains("nothing in the registry is called"))
            && let Some((corrected, fixes)) = self.templates.corrected(goal)
        {
            let mut again = self.plan_resolver(&corrected, asks, state);
            if !matches!(again.decision, Decision::Refuse(_)) {
                again
                    .trace
                    .insert(0, format!("typos corrected: {}", fixes.join(", ")));
                rest = again;
            }
        }
        // "turn of the fan", "switch the lamp of": after turn/switch, "of"
        // can only be "off".
        if matches!(&rest.decision, Decision::Refuse(_))
            && let Some(corrected) = understand::of_as_off(&normalized)
        {
            let mut again = self.plan_resolver(&corrected, asks, state);
            if !matches!(again.decision, Decision::Refuse(_)) {
                again
                    .trace
                    .insert(0, "typos corrected: of → off".to_string());
                rest = again;
            }
        }
        self.floors.clear();
        // What no words explain may be a situation for the model to read.
        if let Decision::Refuse(why) | Decision::Clarify { question: why, .. } = &rest.decision
            && let Some(mut indirect) =
                self.plan_indirect(goal, &normalized, context, asks, &floors)
        {
            indirect.trace.insert(0, format!("the words alone: {why}"));
            indirect.llm_time += rest.llm_time;
            rest = indirect;
        }
        rest.trace.splice(0..0, plan.trace.drain(..));
        // A floor the goal names constrains the resolver's devices as a
        // room does: "all the fans upstairs" is no fan downstairs.
        let on_floor = |id: &str| {
            self.registry
                .get(id)
                .and_then(|d| d.room.as_deref())
                .and_then(|r| self.registry.floor_of(r))
                .is_some_and(|f| floors.contains(&f.id))
        };
        if !floors.is_empty()
            && let Decision::Clarify { candidates, .. } = &mut rest.decision
        {
            candidates.retain(|c| on_floor(c));
            if candidates.is_empty() {
                rest.decision = Decision::Refuse(format!(
                    "nothing the goal names is on the {}",
                    floors.join(" or ").replace('_', " ")
                ));
            }
        }
        if !floors.is_empty()
            && let Decision::Act(actions) = &rest.decision
        {
            let kept: Vec<Action> = actions
                .iter()
                .filter(|a| on_floor(&a.device))
                .cloned()
                .collect();
            if kept.len() < actions.len() {
                rest.trace.push(format!(
                    "on the {}: {} of {} actions",
                    floors.join(", "),
                    kept.len(),
                    actions.len()
                ));
                rest.decision = if kept.is_empty() {
                    Decision::Refuse(format!(
                        "nothing the goal names is on the {}",
                        floors.join(" or ").replace('_', " ")
                    ))
                } else {
                    Decision::Act(kept)
                };
            }
        }
        rest
    }

    /// The resolver on `goal`, number words read as digits first.
    fn plan_resolver(&mut self, goal: &str, asks: bool, state: StateLookup<'_>) -> Plan {
        let mut plan = Plan::empty();
        // The resolver reads numbers as digits ("thirty percent" → 30 %).
        if let Some(converted) = self.templates.with_numbers(goal) {
            plan.trace.push(format!("numbers read as \"{converted}\""));
            let mut rest = self.plan_words(&converted, asks, state);
            rest.trace.splice(0..0, plan.trace.drain(..));
            return rest;
        }
        let mut rest = self.plan_words(goal, asks, state);
        rest.trace.splice(0..0, plan.trace.drain(..));
        rest
    }

    /// The resolver's layer: giot's own words, the model for ties. `asks`:
    /// the goal ended with a question mark.
    fn plan_words(&mut self, goal: &str, asks: bool, state: StateLookup<'_>) -> Plan {
        let mut plan = Plan::empty();
        let normalized = understand::normalize(goal);
        let clauses = understand::clauses(&normalized);
        let all_words: Vec<String> = clauses.iter().flat_map(|c| c.words.clone()).collect();
        if clauses.is_empty() {
            plan.decision = Decision::Refuse("the goal is empty".into());
            return plan;
        }
        let polite = matches!(
            all_words.first().map(String::as_str),
            Some("could" | "can" | "would" | "will")
        ) && all_words.get(1).is_some_and(|w| w == "you")
            && !understand::is_question(&all_words);
        // "quick question, is the front door locked": a clause after a
        // lead-in asks as much as a whole goal does.
        let asked = understand::is_question(&all_words)
            || clauses
                .iter()
                .skip(1)
                .any(|c| understand::is_question(&c.words));
        let decision = if asked || (asks && !polite) {
            let whole = understand::clauses(&normalized.replace(',', " "))
                .into_iter()
                .reduce(|mut a, b| {
                    a.words.extend(b.words);
                    a.text = format!("{} {}", a.text, b.text);
                    a
                })
                .expect("non-empty");
            self.answer(goal, &whole, state, &mut plan)
        } else {
            self.act(goal, &clauses, state, &mut plan)
        };
        plan.decision = self.allowed(decision);
        plan
    }

    /// `scores` with the devices off the floors the goal names ruled out.
    fn on_floors(&self, mut scores: Vec<Option<f64>>) -> Vec<Option<f64>> {
        if self.floors.is_empty() {
            return scores;
        }
        for (i, d) in self.registry.devices().iter().enumerate() {
            let on = d
                .room
                .as_deref()
                .and_then(|r| self.registry.floor_of(r))
                .is_some_and(|f| self.floors.contains(&f.id));
            if !on {
                scores[i] = None;
            }
        }
        scores
    }

    /// The decision if the agent definition lists the tool it needs
    /// (`device_action` to act on devices, `state_query` to answer), a
    /// refusal that names the missing tool otherwise.
    fn allowed(&self, decision: Decision) -> Decision {
        let tool = match &decision {
            Decision::Act(_) => "device_action",
            Decision::Answer(_) => "state_query",
            Decision::Refuse(_) | Decision::Clarify { .. } => return decision,
        };
        if self.definition.tools.iter().any(|t| t == tool) {
            decision
        } else {
            Decision::Refuse(format!(
                "the agent `{}` has no `{tool}` tool (add it to the agent's tools to allow it)",
                self.definition.name
            ))
        }
    }

    fn act(
        &mut self,
        goal: &str,
        clauses: &[Clause],
        state: StateLookup<'_>,
        plan: &mut Plan,
    ) -> Decision {
        // Per clause: which devices, and which cues.
        let mut targets: Vec<Vec<usize>> = Vec::new();
        let mut cues: Vec<Clause> = Vec::new();
        for clause in clauses {
            let unknown = self.index.unknown_words(clause);
            if !unknown.is_empty() {
                // Words the registry does not know name a device that does
                // not exist ("the attic light", "the back door"). The model is
                // not asked to read them as another name for a known device:
                // measured, its lift for the nearest device was as high for
                // "the attic light" (cellar light, 2.65) as for "the lamp by
                // the bed" (bedside lamp, 2.34), so guessing would act on the
                // wrong device. Refusing with the words is the safe answer.
                return Decision::Refuse(format!(
                    "no device matches \"{}\": nothing in the registry is called {}",
                    clause.text,
                    quote_list(&unknown)
                ));
            }
            let mut scores = self.on_floors(self.index.scores(&self.registry, clause));
            // "make it warmer in the bedroom": of the devices the words
            // point to, those that have something to move that way.
            let toggles = relative::toggles(&clause.words, &clause.cues);
            let moves = self.relative(clause);
            if toggles || moves.is_some() {
                let fitness: Vec<u8> = self
                    .registry
                    .devices()
                    .iter()
                    .map(|d| match &moves {
                        Some(r) if !toggles => relative::fitness(d, r),
                        _ => u8::from(relative::can_toggle(d)),
                    })
                    .collect();
                // Only among the devices the words fit best: a device the
                // goal names is never traded for one that fits the change
                // ("dim the bedside lamp by 10%" on a lamp without
                // brightness is refused, not done to the desk lamp).
                let top = scores.iter().flatten().copied().fold(0.0_f64, f64::max);
                let tied = |s: &Option<f64>| s.is_some_and(|s| s > 0.0 && s >= top - TIE);
                let best = scores
                    .iter()
                    .zip(&fitness)
                    .filter(|(s, _)| tied(s))
                    .map(|(_, f)| *f)
                    .max()
                    .unwrap_or(0);
                if best > 0 {
                    for (s, f) in scores.iter_mut().zip(&fitness) {
                        if tied(s) && *f < best {
                            *s = None;
                        }
                    }
                }
            }
            let matched = scores.iter().any(|s| s.is_some_and(|s| s > 0.0));
            let named = matched || self.names_something(clause);
            if named && !matched {
                return Decision::Refuse(format!("no device matches \"{}\"", clause.text));
            }
            let devices = if !matched {
                Vec::new()
            } else if clause.plural || self.index.plural_kind(clause) {
                let group = self.group(clause, &scores);
                plan.trace.push(format!(
                    "\"{}\": every match: {}",
                    clause.text,
                    self.ids(&group)
                ));
                group
            } else {
                match self.best(goal, clause, &scores, plan) {
                    Ok(Some(i)) => vec![i],
                    Ok(None) => {
                        return Decision::Refuse(format!("no device matches \"{}\"", clause.text));
                    }
                    Err(candidates) => {
                        return Decision::Clarify {
                            question: format!(
                                "which one? \"{}\" fits {} devices equally",
                                clause.text,
                                candidates.len()
                            ),
                            candidates: candidates
                                .iter()
                                .map(|&i| self.registry.devices()[i].id.clone())
                                .collect(),
                        };
                    }
                }
            };
            targets.push(devices);
            cues.push(clause.clone());
        }
        // Clauses without a device take the previous clause's ("and set it to
        // 40%"), or the next one's; clauses without a value likewise.
        for i in 0..targets.len() {
            if targets[i].is_empty() {
                let from = (0..i)
                    .rev()
                    .chain(i + 1..targets.len())
                    .find(|&j| !targets[j].is_empty());
                match from {
                    Some(j) => targets[i] = targets[j].clone(),
                    None => {
                        return Decision::Refuse(format!(
                            "\"{}\" names no device giot knows",
                            cues[i].text
                        ));
                    }
                }
            }
        }
        let inherit_from: Vec<Option<usize>> = (0..cues.len())
            .map(|i| {
                let empty = cues[i].cues.is_empty() && !self.has_value_words(&cues[i], &targets[i]);
                if !empty {
                    return None;
                }
                (0..i).rev().chain(i + 1..cues.len()).find(|&j| {
                    !cues[j].cues.is_empty() || self.has_value_words(&cues[j], &targets[j])
                })
            })
            .collect();
        let mut actions: Vec<Action> = Vec::new();
        // Devices of a group that cannot take the change, and why.
        let mut skipped: Vec<String> = Vec::new();
        let mut seen_clause_targets: Vec<(usize, usize)> = Vec::new();
        for (i, devices) in targets.iter().enumerate() {
            let source = inherit_from[i].unwrap_or(i);
            let clause = Clause {
                words: merge_words(&cues[i].words, &cues[source].words, source != i),
                cues: cues[source].cues.clone(),
                ..cues[i].clone()
            };
            for &d in devices {
                // A clause that only named a device whose value another clause
                // gives ("the fan in the bedroom, speed medium") acts once.
                if inherit_from[i].is_some() && seen_clause_targets.contains(&(source, d)) {
                    continue;
                }
                if source != i {
                    seen_clause_targets.push((i, d));
                }
                let device = &self.registry.devices()[d];
                match self.change(device, &clause, state) {
                    Some(Ok((cap, value))) => {
                        let action = device.action(&cap, value);
                        if !actions
                            .iter()
                            .any(|a| a.device == action.device && a.capability == action.capability)
                        {
                            actions.push(action);
                        }
                        continue;
                    }
                    // "dim all the downstairs lights": one that cannot is
                    // left out, said in the trace; the rest act.
                    Some(Err(why)) if devices.len() > 1 => {
                        skipped.push(format!("{} ({why})", device.id));
                        continue;
                    }
                    Some(Err(why)) => {
                        return Decision::Refuse(format!("{why} (\"{}\")", clause.text));
                    }
                    None => {}
                }
                match resolve::derive(device, &clause, &clause.words) {
                    Ok(pairs) => {
                        for (cap, value) in pairs {
                            let action = device.action(&cap, value);
                            if !actions.iter().any(|a| {
                                a.device == action.device && a.capability == action.capability
                            }) {
                                actions.push(action);
                            }
                        }
                    }
                    Err(resolve::NoAction(why)) if devices.len() > 1 => {
                        skipped.push(format!("{} ({why})", device.id));
                    }
                    Err(resolve::NoAction(why)) => {
                        return Decision::Refuse(format!("{} (\"{}\")", why, clause.text));
                    }
                }
            }
        }
        if !skipped.is_empty() {
            if actions.is_empty() {
                return Decision::Refuse(format!(
                    "none of the devices it names can do that: {}",
                    skipped.join("; ")
                ));
            }
            plan.trace.push(format!("left out: {}", skipped.join("; ")));
        }
        if actions.is_empty() {
            return Decision::Refuse("nothing to do".into());
        }
        plan.trace.push(format!(
            "plan: {}",
            actions
                .iter()
                .map(|a| format!("{}.{} = {}", a.device, a.capability, a.value))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        Decision::Act(actions)
    }

    /// The relative change a clause asks for, with the words of device
    /// names left out ("the wine cooler" is no cooler).
    fn relative(&self, clause: &Clause) -> Option<relative::Relative> {
        // A name's word follows an article or another word of a name; the
        // verb that starts a command does not ("*open* the skylight" in a
        // home with an "open office").
        let in_name = |words: &[String], i: usize| {
            i > 0
                && self.index.in_a_name(&words[i])
                && (matches!(
                    words[i - 1].as_str(),
                    "the" | "a" | "an" | "my" | "our" | "your"
                ) || self.index.in_a_name(&words[i - 1]))
        };
        relative::read(&clause.words, &clause.cues, &in_name)
    }

    /// What a relative change or a toggle sets on `device`, from its current
    /// state: `None` when the clause asks for neither (or, on a cover, a
    /// verb that opens or closes it), `Some(Err)` with the reason when it
    /// cannot be made.
    fn change(
        &self,
        device: &Device,
        clause: &Clause,
        state: StateLookup<'_>,
    ) -> Option<Result<(String, Value), String>> {
        let now = state(&device.id);
        if relative::toggles(&clause.words, &clause.cues) {
            return Some(relative::toggle(device, &clause.words, now.as_ref()));
        }
        let r = self.relative(clause)?;
        match relative::derive(device, &r, &clause.words, now.as_ref()) {
            Ok(change) => Some(Ok(change)),
            Err(relative::NoChange::NotRelative) => None,
            Err(relative::NoChange::Refuse(why)) => Some(Err(why)),
        }
    }

    fn answer(
        &mut self,
        goal: &str,
        clause: &Clause,
        state: StateLookup<'_>,
        plan: &mut Plan,
    ) -> Decision {
        let scores = self.on_floors(self.index.scores(&self.registry, clause));
        let words: Vec<String> = clause.words.clone();
        // Devices that have a capability the question is about come first.
        let asked = |d: &Device| -> Vec<usize> {
            let m = resolve::mentions(d, &words);
            let best = m.iter().map(|&(_, h)| h).max().unwrap_or(0);
            if best == 0 {
                Vec::new()
            } else {
                m.iter()
                    .filter(|&&(_, h)| h == best)
                    .map(|&(i, _)| i)
                    .collect()
            }
        };
        let mut scores = scores;
        for (i, d) in self.registry.devices().iter().enumerate() {
            if let Some(s) = scores[i].as_mut()
                && !asked(d).is_empty()
            {
                *s += 0.5;
            }
        }
        let matched = scores.iter().any(|s| s.is_some_and(|s| s > 0.5));
        if !matched {
            return Decision::Refuse(format!("no device matches \"{}\"", clause.text));
        }
        let devices = if clause.plural || self.index.plural_kind(clause) {
            self.group(clause, &scores)
        } else {
            match self.best(goal, clause, &scores, plan) {
                Ok(Some(i)) => vec![i],
                Ok(None) => {
                    return Decision::Refuse(format!("no device matches \"{}\"", clause.text));
                }
                // A question that fits several devices equally is answered
                // about all of them.
                Err(candidates) => candidates,
            }
        };
        let mut lines = Vec::new();
        for &i in &devices {
            let d = &self.registry.devices()[i];
            let Some(current) = state(&d.id) else {
                lines.push(format!("{}: no state seen yet", d.name));
                continue;
            };
            let caps = asked(d);
            let caps: Vec<usize> = if caps.is_empty() {
                (0..d.capabilities.len()).collect()
            } else {
                caps
            };
            lines.push(state_line(
                d,
                &current,
                caps.iter().map(|&c| &d.capabilities[c]),
            ));
        }
        Decision::Answer(lines.join("; "))
    }

    /// Whether the clause has words that name a device, a room or a kind
    /// (as opposed to "and set it to 40%").
    fn names_something(&self, clause: &Clause) -> bool {
        !self.index.rooms(clause).is_empty()
            || clause
                .words
                .iter()
                .any(|w| lexicon::kind_of_word(w).next().is_some() && w != "switch")
    }

    fn has_value_words(&self, clause: &Clause, devices: &[usize]) -> bool {
        devices.iter().any(|&d| {
            let device = &self.registry.devices()[d];
            resolve::mentions(device, &clause.words)
                .into_iter()
                .any(|(i, hits)| hits > 0 && !device.capabilities[i].readonly)
        })
    }

    fn group(&self, clause: &Clause, scores: &[Option<f64>]) -> Vec<usize> {
        /// Home Assistant's cover device classes that hang at a window.
        const WINDOW_COVERINGS: [&str; 4] = ["blind", "shade", "shutter", "curtain"];
        /// Its other cover classes, which "the blinds" do not include.
        const OTHER_COVERS: [&str; 5] = ["awning", "garage", "gate", "door", "sunshade"];
        let best = scores.iter().flatten().copied().fold(0.0, f64::max);
        // Every device the constraints let through that matched at all; with
        // no kind named, only the best matches.
        let kinds = clause.words.iter().any(|w| {
            lexicon::kind_of_word(w).next().is_some()
                || lexicon::kind_of_word(w.trim_end_matches('s'))
                    .next()
                    .is_some()
        });
        let mut group: Vec<usize> = (0..scores.len())
            .filter(|&i| scores[i].is_some_and(|s| s > 0.0 && (kinds || s >= best - TIE)))
            .collect();
        // "all the blinds": window coverings, as Home Assistant's device
        // classes have it, not every cover: the awning and the garage door
        // are covers too, but no blinds.
        let covering = clause.words.iter().any(|w| {
            WINDOW_COVERINGS
                .iter()
                .any(|c| w == c || w.strip_suffix('s') == Some(c))
        });
        if covering {
            let devices = self.registry.devices();
            let other = |i: &usize| {
                let d = &devices[*i];
                !WINDOW_COVERINGS.iter().any(|c| roles::has_class(d, c))
                    && OTHER_COVERS.iter().any(|c| roles::has_class(d, c))
            };
            group.retain(|i| !other(i));
        }
        // "the bedside lamps": the lamps whose names say "bedside".
        self.index.named_within(clause, group)
    }

    /// The best-scoring device; near ties go to the model, which decides
    /// only by a clear margin. `Err` with the candidates when the words fit
    /// several devices equally and the model does not decide: the caller
    /// asks which, it never guesses.
    fn best(
        &mut self,
        goal: &str,
        clause: &Clause,
        scores: &[Option<f64>],
        plan: &mut Plan,
    ) -> Result<Option<usize>, Vec<usize>> {
        let best = scores.iter().flatten().copied().fold(0.0, f64::max);
        if best <= 0.0 {
            return Ok(None);
        }
        let mut tied: Vec<usize> = (0..scores.len())
            .filter(|&i| scores[i].is_some_and(|s| s >= best - TIE))
            .collect();
        // Prefer devices that can do what is asked; a reading ("19
        // degrees" on a sensor) is no setting.
        let can = |i: usize| {
            let d = &self.registry.devices()[i];
            resolve::derive(d, clause, &clause.words).is_ok_and(|changes| {
                changes.iter().all(|(c, _)| {
                    d.capabilities
                        .iter()
                        .find(|cap| &cap.name == c)
                        .is_none_or(|cap| !cap.readonly)
                })
            })
        };
        let able: Vec<usize> = tied.iter().copied().filter(|&i| can(i)).collect();
        let able_only = !able.is_empty();
        if able_only {
            tied = able;
        }
        // "close the garage": a verb for covers means a cover, not the
        // garage's light.
        let is_cover = |i: usize| {
            matches!(
                roles::domain(&self.registry.devices()[i]),
                "cover" | "valve"
            )
        };
        let cover_verb = clause.words.iter().any(|w| {
            matches!(
                w.as_str(),
                "open" | "close" | "shut" | "extend" | "retract" | "raise" | "lower"
            )
        }) && tied.iter().any(|&i| is_cover(i));
        if cover_verb {
            tied.retain(|&i| is_cover(i));
        }
        // Devices the words do not tell from the best one ("lock the door"
        // with a front door and a side door) tie with it, however the
        // scores came out.
        if let Some(&top) = tied.iter().max_by(|&&a, &&b| {
            scores[a]
                .partial_cmp(&scores[b])
                .unwrap_or(std::cmp::Ordering::Equal)
        }) {
            let top_words = self.index.matched_words(&self.registry, top, clause);
            for (i, s) in scores.iter().enumerate() {
                if tied.contains(&i) || !s.is_some_and(|s| s > 0.0) {
                    continue;
                }
                let device = &self.registry.devices()[i];
                if (!cover_verb || is_cover(i))
                    && (!able_only || can(i))
                    && resolve::derive(device, clause, &clause.words).is_ok()
                    && Index::alike(
                        &top_words,
                        &self.index.matched_words(&self.registry, i, clause),
                    )
                {
                    tied.push(i);
                }
            }
        }
        if tied.len() == 1 {
            plan.trace.push(format!(
                "\"{}\": {}",
                clause.text,
                self.registry.devices()[tied[0]].id
            ));
            return Ok(Some(tied[0]));
        }
        // The highest lexical score first, registry order after.
        tied.sort_by(|&a, &b| {
            scores[b]
                .partial_cmp(&scores[a])
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(a.cmp(&b))
        });
        // Many devices the words fit equally: asking which is the answer,
        // and the model's time would grow with their number (200 lamps
        // took 19 s to rank).
        if tied.len() > MODEL_CANDIDATES {
            plan.trace.push(format!(
                "\"{}\": {} devices fit equally, more than the model ranks ({MODEL_CANDIDATES}): asking which",
                clause.text,
                tied.len()
            ));
            return Err(tied);
        }
        plan.trace.push(format!(
            "\"{}\": candidates {}",
            clause.text,
            self.ids(&tied)
        ));
        // What the model is asked to read: the words giot does not know
        // ("where I sleep"). The same goal without them is the baseline the
        // model's preference is measured against, so that its bias for one
        // name over another does not count as understanding.
        let baseline: Vec<&str> = clause
            .words
            .iter()
            .map(String::as_str)
            .filter(|w| self.index.knows(w) || w.chars().any(|c| c.is_ascii_digit()))
            .collect();
        let baseline = (baseline.len() < clause.words.len()).then(|| baseline.join(" "));
        match self.rank(goal, baseline.as_deref(), &tied, plan) {
            Some(i) => {
                plan.trace
                    .push(format!("model chose {}", self.registry.devices()[i].id));
                Ok(Some(i))
            }
            None => {
                let top = tied[0];
                let top_words = self.index.matched_words(&self.registry, top, clause);
                let alike: Vec<usize> = tied
                    .iter()
                    .copied()
                    .filter(|&i| {
                        i == top
                            || top_words.is_subset(&self.index.matched_words(
                                &self.registry,
                                i,
                                clause,
                            ))
                    })
                    .collect();
                if alike.len() > 1 {
                    // Words only a bigger model can read: ask it, if allowed.
                    if baseline.is_some() {
                        let names: Vec<String> = alike
                            .iter()
                            .map(|&i| {
                                format!("the {}", self.registry.devices()[i].name.to_lowercase())
                            })
                            .collect();
                        if let Some(k) = self.escalate(goal, &names, plan) {
                            return Ok(Some(alike[k]));
                        }
                    }
                    Err(alike)
                } else {
                    Ok(Some(top))
                }
            }
        }
    }

    /// Evaluates the stable prompt and every device name's prior once, so
    /// that no goal pays for them. Returns the time it took.
    pub fn warm(&mut self) -> Duration {
        let started = Instant::now();
        let all: Vec<usize> = (0..self.registry.len()).collect();
        let mut plan = Plan::empty();
        if let Some((stable, tail)) = self.prompt_parts() {
            let options = self.options(&all);
            self.ensure_priors(&stable, &tail, &options, &mut plan);
        }
        started.elapsed()
    }

    /// Ranks devices by how much the goal raises the model's likelihood of
    /// each one's name or alias over an empty request; `None` without a model.
    /// Calibrated against `baseline` (the goal without the words only the
    /// model can read): each device's lift for the goal less its lift for
    /// the baseline. `None` when there is nothing for the model to read or
    /// the best is not [`MARGIN`] above the next.
    fn rank(
        &mut self,
        goal: &str,
        baseline: Option<&str>,
        candidates: &[usize],
        plan: &mut Plan,
    ) -> Option<usize> {
        let Some(baseline) = baseline.filter(|b| b.trim() != goal.trim()) else {
            plan.trace
                .push("nothing in the goal for the model to read between them".into());
            return None;
        };
        let lifts = self.lifts(goal, candidates, plan)?;
        let base = self.lifts(baseline, candidates, plan)?;
        let mut lifts: Vec<(usize, f32)> = lifts
            .into_iter()
            .map(|(i, l)| {
                let b = base.iter().find(|(j, _)| *j == i).map_or(0.0, |(_, b)| *b);
                (i, l - b)
            })
            .collect();
        lifts.sort_by(|a, b| b.1.total_cmp(&a.1));
        match lifts.as_slice() {
            [(i, _)] => Some(*i),
            [(i, a), (_, b), ..] if a - b >= MARGIN => {
                plan.trace.push(format!("the model's margin {:.2}", a - b));
                Some(*i)
            }
            [(_, a), (_, b), ..] => {
                plan.trace
                    .push(format!("the model's margin {:.2} is under {MARGIN}", a - b));
                None
            }
            [] => None,
        }
    }

    /// The stable part of the prompt and the text that follows the goal.
    fn prompt_parts(&mut self) -> Option<(String, String)> {
        let scorer = self.scorer.as_ref()?;
        let (stable, tail) = prompt_frame(
            scorer.as_ref(),
            &self.definition.system_prompt(&self.registry),
            &self.definition.answer_prefix,
        );
        if self.stable.as_deref() != Some(&stable) {
            self.priors.clear();
            self.stable = Some(stable.clone());
        }
        Some((stable, tail))
    }

    /// Each candidate by its name and its aliases, as the model would say them.
    fn options(&self, candidates: &[usize]) -> Vec<(usize, String)> {
        let mut options = Vec::new();
        for &i in candidates {
            let d = &self.registry.devices()[i];
            for n in std::iter::once(&d.name).chain(&d.aliases) {
                options.push((i, format!(" {}", n.to_lowercase())));
            }
        }
        options
    }

    /// Makes sure the prior (empty request) of every option is known.
    fn ensure_priors(
        &mut self,
        stable: &str,
        tail: &str,
        options: &[(usize, String)],
        plan: &mut Plan,
    ) -> bool {
        let missing: Vec<String> = options
            .iter()
            .map(|(_, o)| o.clone())
            .filter(|o| !self.priors.contains_key(o))
            .collect();
        if missing.is_empty() {
            return true;
        }
        let Some(scorer) = self.scorer.as_mut() else {
            return false;
        };
        let prior = Prompt {
            stable: stable.to_string(),
            request: tail.to_string(),
        };
        match scorer.score(&prior, &missing) {
            Ok(s) => {
                plan.tokens_evaluated += s.tokens_evaluated;
                plan.llm_decode_time += s.decode_time;
                for (o, lp) in missing.into_iter().zip(s.logprobs) {
                    self.priors.insert(o, lp);
                }
                true
            }
            Err(e) => {
                plan.trace.push(format!("model unavailable: {e}"));
                false
            }
        }
    }

    /// For each candidate device, the largest calibrated lift over its name
    /// and aliases: log P(name | goal) - log P(name | empty request).
    fn lifts(
        &mut self,
        goal: &str,
        candidates: &[usize],
        plan: &mut Plan,
    ) -> Option<Vec<(usize, f32)>> {
        let started = Instant::now();
        let (stable, tail) = self.prompt_parts()?;
        let options = self.options(candidates);
        if !self.ensure_priors(&stable, &tail, &options, plan) {
            return None;
        }
        let prompt = Prompt {
            stable,
            request: format!("{}{tail}", goal.trim()),
        };
        let texts: Vec<String> = options.iter().map(|(_, o)| o.clone()).collect();
        let scorer = self.scorer.as_mut()?;
        let scores = match scorer.score(&prompt, &texts) {
            Ok(s) => s,
            Err(e) => {
                plan.trace.push(format!("model unavailable: {e}"));
                return None;
            }
        };
        plan.used_model = true;
        plan.tokens_evaluated += scores.tokens_evaluated;
        plan.llm_decode_time += scores.decode_time;
        plan.llm_time += started.elapsed();
        let mut lifts: Vec<(usize, f32)> = Vec::new();
        for ((i, o), lp) in options.iter().zip(scores.logprobs) {
            let lift = lp - self.priors.get(o).copied().unwrap_or(0.0);
            match lifts.iter_mut().find(|(j, _)| j == i) {
                Some(entry) => entry.1 = entry.1.max(lift),
                None => lifts.push((*i, lift)),
            }
        }
        Some(lifts)
    }

    fn ids(&self, devices: &[usize]) -> String {
        devices
            .iter()
            .map(|&i| self.registry.devices()[i].id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The prompt `scorer` builds for `system`, split around the request: the
/// stable part (whose KV cache the model keeps) and what follows the
/// request, ending in `answer_prefix`, after which the options are scored.
fn prompt_frame(scorer: &dyn Scorer, system: &str, answer_prefix: &str) -> (String, String) {
    let full = scorer.chat(system, "\u{2}");
    let (stable, tail) = full.split_once('\u{2}').unwrap_or((&full, ""));
    (stable.to_string(), format!("{tail}{answer_prefix}"))
}

/// "Hall light: power is on, brightness is 40%": the values `caps` have in
/// `current`, or that none was reported.
fn state_line<'a>(
    d: &Device,
    current: &Map<String, Value>,
    caps: impl Iterator<Item = &'a crate::registry::Capability>,
) -> String {
    let parts: Vec<String> = caps
        .filter_map(|c| {
            current.get(&c.name).map(|v| {
                format!(
                    "{} is {}",
                    c.name.replace('_', " "),
                    display_value(v, c.unit.as_deref())
                )
            })
        })
        .collect();
    if parts.is_empty() {
        format!("{}: no value reported", d.name)
    } else {
        format!("{}: {}", d.name, parts.join(", "))
    }
}

fn merge_words(own: &[String], other: &[String], inherit: bool) -> Vec<String> {
    let mut words = own.to_vec();
    if inherit {
        words.extend(other.iter().cloned());
    }
    words
}

fn quote_list(words: &[String]) -> String {
    words
        .iter()
        .map(|w| format!("\"{w}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::fake::FakeScorer;
    use serde_json::json;
    use std::path::Path;

    const FLEET: &str = r#"
devices:
  - {id: desk_lamp, name: Desk lamp, room: study, kind: light, state_topic: s/desk, command_topic: c/desk,
     capabilities: [{name: power, type: enum, values: ["on", "off"]}, {name: brightness, type: number, min: 0, max: 100, unit: "%"}]}
  - {id: bedside_lamp, name: Bedside lamp, room: bedroom, kind: light, state_topic: s/bed, command_topic: c/bed,
     capabilities: [{name: power, type: enum, values: ["on", "off"]}, {name: brightness, type: number, min: 0, max: 100, unit: "%"}]}
  - {id: study_light, name: Study ceiling light, room: study, kind: light, state_topic: s/study, command_topic: c/study,
     capabilities: [{name: power, type: enum, values: ["on", "off"]}]}
  - {id: radiator, name: Study radiator, aliases: [heating], room: study, kind: thermostat, state_topic: s/rad, command_topic: c/rad,
     capabilities: [{name: target_temperature, type: number, min: 5, max: 30, unit: "°C"}, {name: current_temperature, type: number, min: -10, max: 40, unit: "°C", readonly: true}]}
  - {id: blinds, name: Study blinds, room: study, kind: cover, state_topic: s/blinds, command_topic: c/blinds,
     capabilities: [{name: position, type: number, min: 0, max: 100, unit: "%"}]}
"#;

    fn agent(scorer: Option<FakeScorer>) -> Agent {
        let registry = crate::registry::parse_str(FLEET, Path::new("t.yaml")).unwrap();
        Agent::new(
            registry,
            AgentDefinition::builtin(),
            scorer.map(|s| Box::new(s) as Box<dyn Scorer>),
        )
    }

    fn no_state(_: &str) -> Option<Map<String, Value>> {
        None
    }

    fn acts(plan: &Plan) -> Vec<(String, String, Value)> {
        match &plan.decision {
            Decision::Act(a) => a
                .iter()
                .map(|a| (a.device.clone(), a.capability.clone(), a.value.clone()))
                .collect(),
            other => panic!("expected actions, got {other:?}"),
        }
    }

    fn a(d: &str, c: &str, v: Value) -> (String, String, Value) {
        (d.into(), c.into(), v)
    }

    fn demo_agent() -> Agent {
        let registry = Registry::load(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/devices.yaml"
        )))
        .unwrap();
        let mut agent = Agent::new(registry, AgentDefinition::builtin(), None);
        agent.set_languages(&["en".to_string()]);
        agent
    }

    #[test]
    fn a_question_after_a_lead_in_is_answered_and_a_missing_kind_is_not_the_room() {
        let mut agent = demo_agent();
        let answered = |d: &Decision| matches!(d, Decision::Answer(_));
        let refused = |d: &Decision| matches!(d, Decision::Refuse(_));
        for (goal, fits) in [
            (
                "quick question, is the front door locked",
                &answered as &dyn Fn(&Decision) -> bool,
            ),
            ("by the way, is the garage light on", &answered),
            // Advice asked and tag questions are questions too.
            ("should I turn off the garage light", &answered),
            ("the garage light is off, isn't it", &answered),
            ("the garage light is on, right", &answered),
            // What not to do is not done.
            ("don't turn on the garage light", &refused),
            ("never open the garage door", &refused),
        ] {
            let plan = agent.plan(goal, &no_state);
            assert!(
                fits(&plan.decision),
                "{goal}: {:?} {:?}",
                plan.decision,
                plan.trace
            );
        }
        // No heater in the garage: not its light.
        let plan = agent.plan("turn on the heater in the garage", &no_state);
        assert!(
            matches!(plan.decision, Decision::Refuse(_)),
            "{:?} {:?}",
            plan.decision,
            plan.trace
        );
    }

    #[test]
    fn a_number_with_a_unit_goes_to_a_capability_of_that_unit() {
        // "19 degrees" is the radiator's, not the blinds' position.
        let plan = agent(None).plan("make it 19 degrees in the study", &no_state);
        assert_eq!(
            acts(&plan),
            [a("radiator", "target_temperature", json!(19))],
            "{:?}",
            plan.trace
        );
        // "lock" as the verb names no lock: nothing here is a gate.
        let plan = demo_agent().plan("lock the back gate", &no_state);
        assert!(
            !matches!(plan.decision, Decision::Act(_)),
            "{:?} {:?}",
            plan.decision,
            plan.trace
        );
    }

    fn rule_of(agent: &mut Agent, goal: &str) -> crate::types::RuleInfo {
        let plan = agent.plan(goal, &no_state);
        plan.rule
            .unwrap_or_else(|| panic!("{goal}: no rule: {:?}", plan.decision))
    }

    #[test]
    fn a_rule_reads_number_words_and_reverses_to_the_state_it_names() {
        let mut agent = demo_agent();
        let r = rule_of(
            &mut agent,
            "if the cellar humidity goes above seventy percent, switch on the dehumidifier",
        );
        assert_eq!(r.condition.value, json!(70));
        // "high … and off again": the fan's switch, not a speed.
        let r = rule_of(
            &mut agent,
            "if the bedroom temperature goes above 25 degrees, set the bedroom fan to high, and off again below 22 degrees",
        );
        assert_eq!(r.actions[0].capability, "speed");
        let back = r.otherwise.unwrap();
        assert_eq!(back.condition.value, json!(22));
        assert_eq!(
            (
                back.actions[0].capability.as_str(),
                back.actions[0].value.clone()
            ),
            ("power", json!("off"))
        );
        // "too" is no second condition.
        let r = rule_of(
            &mut agent,
            "when the bedside lamp goes off, turn off the bedroom ceiling light too",
        );
        assert_eq!(r.condition.device, "bedside_lamp");
        // Manners are no condition: the command is planned.
        let plan = agent.plan(
            "when you get a chance, close the living room blinds",
            &no_state,
        );
        assert_eq!(acts(&plan), vec![a("living_blinds", "position", json!(0))]);
    }

    #[test]
    fn all_the_blinds_are_the_window_coverings_not_every_cover() {
        let mut agent = demo_agent();
        for goal in [
            "close all the blinds",
            "open every blind",
            "close all the shades",
        ] {
            let plan = agent.plan(goal, &no_state);
            let devices: Vec<String> = acts(&plan).into_iter().map(|a| a.0).collect();
            assert!(
                devices.contains(&"living_blinds".to_string()),
                "{goal}: {devices:?}"
            );
            assert!(
                !devices.iter().any(|d| d == "awning" || d == "garage_door"),
                "{goal}: {devices:?}"
            );
        }
        // The covers, all of them, when that is what is said.
        let plan = agent.plan("open all the covers", &no_state);
        let devices: Vec<String> = acts(&plan).into_iter().map(|a| a.0).collect();
        assert!(devices.contains(&"awning".to_string()), "{devices:?}");
    }

    #[test]
    fn all_the_way_up_is_a_degree_not_every_device_in_the_room() {
        let mut agent = demo_agent();
        // Nothing in the living room has a volume: nothing is changed (it
        // set every light, the thermostat and the blinds to their maximum).
        for goal in [
            "turn the volume all the way up in the living room",
            "turn everything all the way up in the living room",
        ] {
            let plan = agent.plan(goal, &no_state);
            assert!(
                matches!(
                    plan.decision,
                    Decision::Clarify { .. } | Decision::Refuse(_)
                ),
                "{goal}: {:?}",
                plan.decision
            );
        }
        let plan = agent.plan(
            "turn all the lights all the way up in the living room",
            &no_state,
        );
        assert_eq!(acts(&plan).len(), 3, "{:?}", plan.decision);
    }

    #[test]
    fn a_possessive_alias_is_said_in_full_only_with_its_possessive() {
        let yaml = "devices:\n  - {id: left, name: Left bedside lamp, aliases: [my bedside lamp], room: bedroom, kind: light, state_topic: s/l, command_topic: c/l, capabilities: [{name: power, type: enum, values: [\"on\", \"off\"]}]}\n  - {id: right, name: Right bedside lamp, aliases: [\"partner's bedside lamp\"], room: bedroom, kind: light, state_topic: s/r, command_topic: c/r, capabilities: [{name: power, type: enum, values: [\"on\", \"off\"]}]}\n";
        let registry = crate::registry::parse_str(yaml, Path::new("t.yaml")).unwrap();
        let mut agent = Agent::new(registry, AgentDefinition::builtin(), None);
        let plan = agent.plan("turn on the bedside lamp", &no_state);
        assert!(
            matches!(&plan.decision, Decision::Clarify { candidates, .. } if candidates.len() == 2),
            "{:?}",
            plan.decision
        );
        let plan = agent.plan("turn on my bedside lamp", &no_state);
        assert_eq!(acts(&plan), vec![a("left", "power", json!("on"))]);
    }

    #[test]
    fn a_group_acts_on_the_devices_that_can_and_leaves_out_the_rest() {
        let mut agent = agent(None);
        // The study ceiling light has no brightness: left out, said why.
        let plan = agent.plan("dim all the lights to 30%", &no_state);
        assert_eq!(
            acts(&plan),
            vec![
                a("desk_lamp", "brightness", json!(30)),
                a("bedside_lamp", "brightness", json!(30))
            ]
        );
        assert!(
            plan.trace
                .iter()
                .any(|t| t.starts_with("left out: study_light")),
            "{:?}",
            plan.trace
        );
        // One device that cannot is refused, as before.
        let plan = agent.plan("dim the study ceiling light to 30%", &no_state);
        assert!(
            matches!(plan.decision, Decision::Refuse(_)),
            "{:?}",
            plan.decision
        );
        // Exceptions said as people say them.
        let plan = agent.plan(
            "turn off all the lights but leave the desk lamp on",
            &no_state,
        );
        assert_eq!(
            acts(&plan),
            vec![
                a("bedside_lamp", "power", json!("off")),
                a("study_light", "power", json!("off"))
            ]
        );
        let plan = agent.plan(
            "turn off all the lamps except the one in the bedroom",
            &no_state,
        );
        assert_eq!(
            acts(&plan),
            vec![
                a("desk_lamp", "power", json!("off")),
                a("study_light", "power", json!("off"))
            ]
        );
    }

    #[test]
    fn a_mode_named_by_its_value_is_set_though_the_word_also_names_the_set_point() {
        let yaml = "devices:\n  - {id: ac, name: Meeting room AC, room: meeting_room, kind: thermostat, state_topic: s/ac, command_topic: c/ac, capabilities: [{name: target_temperature, type: number, min: 16, max: 28, unit: \"°C\"}, {name: mode, type: enum, values: [heat, cool, auto, \"off\"]}]}\n";
        let registry = crate::registry::parse_str(yaml, Path::new("t.yaml")).unwrap();
        let mut agent = Agent::new(registry, AgentDefinition::builtin(), None);
        for goal in ["set the meeting room ac to cool", "switch the ac to heat"] {
            let plan = agent.plan(goal, &no_state);
            let want = if goal.contains("cool") {
                "cool"
            } else {
                "heat"
            };
            assert_eq!(acts(&plan), vec![a("ac", "mode", json!(want))], "{goal}");
        }
        let plan = agent.plan("set the ac to 22", &no_state);
        assert_eq!(acts(&plan), vec![a("ac", "target_temperature", json!(22))]);
    }

    #[test]
    fn kind12_many_devices_that_fit_equally_are_asked_about_without_the_model() {
        let mut yaml = String::from("devices:\n");
        for i in 0..40 {
            yaml.push_str(&format!(
                "  - {{id: lamp_{i}, name: Lamp {i}, kind: light, state_topic: s/{i}, command_topic: c/{i}, capabilities: [{{name: power, type: enum, values: [\"on\", \"off\"]}}]}}\n"
            ));
        }
        let registry = crate::registry::parse_str(&yaml, std::path::Path::new("t.yaml")).unwrap();
        let mut agent = Agent::new(
            registry,
            AgentDefinition::builtin(),
            Some(Box::new(FakeScorer::default())),
        );
        let plan = agent.plan("turn on the lamp where I sleep", &no_state);
        match &plan.decision {
            Decision::Clarify { candidates, .. } => assert_eq!(candidates.len(), 40),
            other => panic!("{other:?}"),
        }
        assert!(!plan.used_model, "the model was asked to rank 40 lamps");
    }

    #[test]
    fn kind4_a_thermostat_with_two_set_points_gets_the_one_the_words_or_its_mode_say() {
        let yaml = r#"
devices:
  - {id: living_tstat, name: Living room thermostat, room: living_room, kind: thermostat,
     state_topic: z2m/tstat, command_topic: z2m/tstat/set,
     capabilities: [{name: occupied_heating_setpoint, type: number, min: 5, max: 30, unit: "°C"},
                    {name: occupied_cooling_setpoint, type: number, min: 10, max: 35, unit: "°C"},
                    {name: system_mode, type: enum, values: ["off", heat, cool]}]}
"#;
        let registry = crate::registry::parse_str(yaml, std::path::Path::new("t.yaml")).unwrap();
        let mut agent = Agent::new(registry, AgentDefinition::builtin(), None);
        let mode = |m: &'static str| {
            move |_: &str| Some(json!({"system_mode": m}).as_object().unwrap().clone())
        };
        let cooling = a("living_tstat", "occupied_cooling_setpoint", json!(24));
        let heating = a("living_tstat", "occupied_heating_setpoint", json!(24));
        // The words say which, whatever the mode.
        let plan = agent.plan("cool the living room to 24 degrees", &mode("heat"));
        assert_eq!(acts(&plan), vec![cooling.clone()], "{:?}", plan.decision);
        let plan = agent.plan("heat the living room to 24 degrees", &mode("cool"));
        assert_eq!(acts(&plan), vec![heating.clone()], "{:?}", plan.decision);
        // Else the mode.
        let plan = agent.plan(
            "set the living room thermostat to 24 degrees",
            &mode("cool"),
        );
        assert_eq!(acts(&plan), vec![cooling], "{:?}", plan.decision);
        let plan = agent.plan(
            "set the living room thermostat to 24 degrees",
            &mode("heat"),
        );
        assert_eq!(acts(&plan), vec![heating], "{:?}", plan.decision);
        // Neither: giot asks.
        let plan = agent.plan("set the living room thermostat to 24 degrees", &mode("off"));
        assert!(
            matches!(&plan.decision, Decision::Clarify { question, .. } if question.starts_with("heat or cool")),
            "{:?}",
            plan.decision
        );
        // And the answer completes the goal.
        let mut talk = follow_up::Conversation::default();
        follow_up::remember(
            &mut talk,
            "set the living room thermostat to 24 degrees",
            &plan.decision,
        );
        let answered = agent.plan_follow_up("cool", &talk, &mode("off")).unwrap();
        assert_eq!(
            acts(&answered),
            vec![a("living_tstat", "occupied_cooling_setpoint", json!(24))],
            "{:?}",
            answered.decision
        );
    }

    #[test]
    fn turn_on_sets_the_switch_only() {
        let plan = agent(None).plan("turn on the desk lamp", &no_state);
        assert_eq!(acts(&plan), [a("desk_lamp", "power", json!("on"))]);
        assert!(!plan.used_model);
    }

    #[test]
    fn percentages_and_words_map_onto_the_range() {
        let mut agent = agent(None);
        assert_eq!(
            acts(&agent.plan("set the study radiator to 50%", &no_state)),
            [a("radiator", "target_temperature", json!(17.5))]
        );
        assert_eq!(
            acts(&agent.plan("close the study blinds halfway", &no_state)),
            [a("blinds", "position", json!(50))]
        );
        assert_eq!(
            acts(&agent.plan("open the blinds fully", &no_state)),
            [a("blinds", "position", json!(100))]
        );
        // The lowest brightness is the lowest level that is still on.
        assert_eq!(
            acts(&agent.plan("turn the desk lamp down to its lowest setting", &no_state)),
            [a("desk_lamp", "brightness", json!(1))]
        );
        assert_eq!(
            acts(&agent.plan("set the study radiator as low as it goes", &no_state)),
            [a("radiator", "target_temperature", json!(5))]
        );
        assert_eq!(
            acts(&agent.plan("put the study radiator as high as it goes", &no_state)),
            [a("radiator", "target_temperature", json!(30))]
        );
    }

    #[test]
    fn every_light_in_a_room_means_each_of_them() {
        let plan = agent(None).plan("turn off every light in the study", &no_state);
        assert_eq!(
            acts(&plan),
            [
                a("desk_lamp", "power", json!("off")),
                a("study_light", "power", json!("off"))
            ]
        );
    }

    #[test]
    fn later_clauses_take_the_verb_or_the_device_of_earlier_ones() {
        let mut agent = agent(None);
        let plan = agent.plan("switch off the desk lamp and the bedside lamp", &no_state);
        assert_eq!(
            acts(&plan),
            [
                a("desk_lamp", "power", json!("off")),
                a("bedside_lamp", "power", json!("off"))
            ]
        );
        let plan = agent.plan("turn on the desk lamp and set it to 30%", &no_state);
        assert_eq!(
            acts(&plan),
            [
                a("desk_lamp", "power", json!("on")),
                a("desk_lamp", "brightness", json!(30))
            ]
        );
    }

    #[test]
    fn a_device_that_does_not_exist_is_refused_with_its_name() {
        let plan = agent(None).plan("turn on the desk lamp and the sauna", &no_state);
        assert!(
            matches!(&plan.decision, Decision::Refuse(r) if r.contains("sauna")),
            "{:?}",
            plan.decision
        );
        let plan = agent(None).plan("turn on the attic light", &no_state);
        assert!(
            matches!(&plan.decision, Decision::Refuse(r) if r.contains("attic")),
            "{:?}",
            plan.decision
        );
    }

    #[test]
    fn a_plain_goal_that_fits_several_devices_asks_which() {
        let plan = agent(None).plan("turn on the lamp", &no_state);
        match plan.decision {
            Decision::Clarify { candidates, .. } => {
                assert!(
                    candidates.contains(&"desk_lamp".to_string()),
                    "{candidates:?}"
                );
                assert!(
                    candidates.contains(&"bedside_lamp".to_string()),
                    "{candidates:?}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_tie_goes_to_the_model_and_without_one_is_asked_back() {
        // "where I sleep" is for the model to read: the resolver's tie
        // between the two lamps goes to the scripted model, which prefers the
        // bedside one when it reads "sleep"; without a model giot asks.
        let plan = agent(None).plan("turn on the lamp where i sleep", &no_state);
        assert!(
            matches!(plan.decision, Decision::Clarify { .. }),
            "{:?}",
            plan.decision
        );
        let scorer = FakeScorer::default().prefer("sleep", " bedside lamp");
        let plan = agent(Some(scorer)).plan("turn on the lamp where i sleep", &no_state);
        assert!(plan.used_model);
        assert_eq!(acts(&plan), [a("bedside_lamp", "power", json!("on"))]);
    }

    #[test]
    fn of_after_turn_or_switch_is_read_as_off_and_said_in_the_trace() {
        let mut agent = agent(None);
        for goal in ["turn of the desk lamp", "switch the desk lamp of"] {
            let plan = agent.plan(goal, &no_state);
            assert_eq!(
                acts(&plan),
                vec![a("desk_lamp", "power", json!("off"))],
                "{goal}: {:?}",
                plan.trace
            );
            assert!(
                plan.trace.iter().any(|t| t.contains("of → off")),
                "{:?}",
                plan.trace
            );
        }
        assert_eq!(understand::of_as_off("turn on the lamp of the hall"), None);
    }

    #[test]
    fn a_vacuum_is_started_paused_stopped_and_sent_home_in_the_words_people_use() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/intents/home.en.yaml");
        let registry = Registry::load(&path).unwrap();
        let mut agent = Agent::new(registry, AgentDefinition::builtin(), None);
        for (goal, state) in [
            ("send the vacuum back to its dock", "returning"),
            ("the vacuum should go home now", "returning"),
            ("start vacuuming", "cleaning"),
            ("hoover the house", "cleaning"),
            ("pause the vacuum", "paused"),
            ("turn off the robot vacuum", "idle"),
        ] {
            let plan = agent.plan(goal, &no_state);
            assert_eq!(
                acts(&plan),
                vec![a("robot_vacuum", "state", json!(state))],
                "{goal}: {:?}",
                plan.trace
            );
        }
    }

    #[test]
    fn questions_are_answered_from_the_state_and_never_act() {
        let state = |id: &str| {
            (id == "radiator").then(|| {
                json!({"target_temperature": 20, "current_temperature": 18.5})
                    .as_object()
                    .unwrap()
                    .clone()
            })
        };
        let plan = agent(None).plan("how warm is it in the study?", &state);
        match plan.decision {
            Decision::Answer(text) => assert!(text.contains("18.5"), "{text}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn whatever_the_words_every_action_exists_in_the_registry() {
        // A crude fuzz: goals glued from registry words, filler and values.
        use rand::{Rng, SeedableRng, seq::IndexedRandom};
        let words = [
            "turn",
            "on",
            "off",
            "the",
            "desk",
            "lamp",
            "bedside",
            "study",
            "blinds",
            "radiator",
            "set",
            "to",
            "50%",
            "21",
            "degrees",
            "open",
            "close",
            "and",
            "all",
            "lights",
            "heating",
            "brightness",
            "sauna",
            "fully",
            "half",
            "is",
            "what",
            "every",
            "bedroom",
            "light",
            "position",
            "temperature",
            "-5",
            "1000",
        ];
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut agent = agent(Some(FakeScorer::default()));
        let registry = agent.registry().clone();
        for _ in 0..3000 {
            let n = rng.random_range(1..9);
            let goal: Vec<&str> = (0..n).map(|_| *words.choose(&mut rng).unwrap()).collect();
            let goal = goal.join(" ");
            if let Decision::Act(actions) = agent.plan(&goal, &no_state).decision {
                for act in actions {
                    let device = registry
                        .get(&act.device)
                        .unwrap_or_else(|| panic!("{goal}: {act:?}"));
                    assert!(
                        device.capability(&act.capability).is_some(),
                        "{goal}: {act:?}"
                    );
                    assert_eq!(Some(&act.topic), device.command_topic.as_ref());
                }
            }
        }
    }
}
