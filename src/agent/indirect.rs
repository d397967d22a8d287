//! The model where words end: a goal that states how things are ("it's too
//! dark in the study", "my towels are cold") or asks with a verb giot has no
//! action word for ("water the garden") names no action. giot reads the
//! situation it states ([`lexicon::SITUATIONS`]: darkness, glare, cold,
//! heat, stale air, dryness, dirt, a need for a named device), draws the full
//! candidate actions that would answer it from the registry — device,
//! capability, value, said as a person would ("turn on the desk lamp") —
//! within the rooms the goal names (or the room it was said in), and then:
//! one candidate is acted on; several are ranked by the model, and giot acts
//! only when the best is [`ACTION_MARGIN`] above the next, and otherwise asks
//! which (`needs_clarification`).
//!
//! **Calibration.** Each action's score is how much the goal raises the
//! model's log-likelihood of the action over a baseline request that names
//! only the goal's scope (the rooms it mentions, or nothing):
//! `log P(action | goal) − log P(action | baseline)`. This is the
//! domain-conditional pointwise mutual information of Holtzman et al., "Surface
//! Form Competition" (EMNLP 2021), and the content-free calibration of Zhao et
//! al., "Calibrate Before Use" (ICML 2021): an action that is likely whatever
//! the goal says ("turn on the light") does not win for that reason.
//!
//! **Why the situation first.** Measured on the intent bench's home, the
//! default model ranking every action of the home by itself follows surface
//! words: "the floors are covered in crumbs" gave "turn off the floor lamp"
//! and "my car is dirty" "turn off the garage light", each with a margin
//! above the correct answers' margins. So the model only ranks among actions
//! that answer a situation the words state.
//!
//! **Which goals.** Only goals the templates and the resolver could not
//! decide, that are not questions and carry no command word the resolver
//! reads (on/off, open/close, a number…), and that name no thing the registry
//! lacks other than what the situation is about ("the *lawn* is dry"): "the
//! hot tub is cold" and "my car is dirty" stay refused. Locks, media players,
//! scenes and sensors are never candidates: a statement never unlocks a door.
//! The situations are English; other languages reach this layer only through
//! the devices they name.

use std::collections::HashSet;
use std::time::Instant;

use serde_json::Value;

use super::lexicon::{self, Situation};
use super::templates::{Pairs, enum_to, on_off};
use super::understand;
use super::{Agent, GoalContext, roles};
use crate::llm::Prompt;
use crate::registry::{Device, Room};
use crate::types::{Action, Decision, Plan};

/// How much (in nats) the best action's calibrated score must exceed the
/// next one's before giot acts on it; below it, giot asks which.
pub const ACTION_MARGIN: f32 = 2.0;

/// The instructions for ranking actions.
const SYSTEM: &str = "You are giot, the operator of a smart home. The person says how things are or what they want. Answer with the one device action that helps.";

/// What the model's answer starts with.
const ANSWER_PREFIX: &str = "Action:";

/// One action that answers a situation: what it sets, and how it is said.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    /// Index of the device in the registry.
    pub device: usize,
    pub pairs: Pairs,
    /// The action in words, lowercase: "turn on the desk lamp".
    pub text: String,
}

/// The situations `words` state (whole words or phrases; "could *really*
/// use" is "could use").
fn situations(words: &[String]) -> Vec<&'static Situation> {
    let kept: Vec<&str> = words
        .iter()
        .map(String::as_str)
        .filter(|w| {
            !matches!(
                *w,
                "really"
                    | "very"
                    | "so"
                    | "just"
                    | "totally"
                    | "actually"
                    | "kind"
                    | "of"
                    | "a"
                    | "bit"
                    | "little"
            )
        })
        .collect();
    let text = format!(" {} ", kept.join(" "));
    lexicon::SITUATIONS
        .iter()
        .filter(|s| s.triggers.iter().any(|t| text.contains(&format!(" {t} "))))
        .collect()
}

/// `normalized` without an "on" or "off" that is a preposition: followed by a
/// determiner, in a goal with no verb that takes it ("turn", "switch"…).
fn prepositions_dropped(normalized: &str) -> String {
    let words: Vec<&str> = normalized.split_whitespace().collect();
    if words
        .iter()
        .any(|w| matches!(*w, "turn" | "switch" | "power" | "put" | "flip" | "shut"))
    {
        return normalized.to_string();
    }
    let mut kept = Vec::new();
    for (i, w) in words.iter().enumerate() {
        let next = words.get(i + 1).copied();
        if matches!(*w, "on" | "off")
            && next.is_some_and(|n| DETERMINERS.contains(&n) || n == "top")
        {
            continue;
        }
        kept.push(*w);
    }
    kept.join(" ")
}

/// Words that open a noun phrase.
const DETERMINERS: &[&str] = &[
    "the", "a", "an", "my", "our", "your", "his", "her", "their", "this", "that", "these", "those",
];

/// Words that end a noun phrase after its head.
const PHRASE_ENDS: &[&str] = &[
    "is", "are", "was", "were", "looks", "look", "seems", "seem", "feels", "feel", "smells",
    "smell", "has", "have", "got", "gets", "needs", "need", "in", "on", "at", "of", "for", "with",
    "by", "from", "to", "right", "now", "today", "tonight", "again", "please", "and",
];

/// The head nouns of the goal's noun phrases, with their positions: the
/// last word after a determiner before a verb, a preposition or the end
/// ("the hot *tub* is cold", "my *towels* are cold").
fn heads(words: &[String]) -> Vec<(usize, &String)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        if DETERMINERS.contains(&words[i].as_str()) {
            let mut j = i + 1;
            while j < words.len() && !PHRASE_ENDS.contains(&words[j].as_str()) {
                j += 1;
            }
            if j > i + 1 {
                out.push((j - 1, &words[j - 1]));
            }
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

/// The registry rooms whose id, name or an alias the words say.
fn rooms_named(rooms: &[Room], words: &[String]) -> HashSet<String> {
    let text = format!(" {} ", words.join(" "));
    rooms
        .iter()
        .filter(|r| {
            std::iter::once(r.id.replace('_', " "))
                .chain(std::iter::once(r.name.to_lowercase()))
                .chain(r.aliases.iter().map(|a| a.to_lowercase()))
                .any(|n| !n.is_empty() && text.contains(&format!(" {n} ")))
        })
        .map(|r| r.id.clone())
        .collect()
}

/// "towels" → "towel": a plural's singular, for kind words.
fn singular(word: &str) -> String {
    word.strip_suffix('s')
        .filter(|s| s.len() > 2)
        .unwrap_or(word)
        .to_string()
}

/// Whether a goal word names a word of a device's name: the same word, or
/// one the stem of the other ("towels" / "towel", "print" / "printer"),
/// four letters at least.
fn names_word(goal_word: &str, name_word: &str) -> bool {
    let (g, n) = (goal_word, name_word);
    g == n || (g.len() >= 4 && n.len() >= 4 && (n.starts_with(g) || g.starts_with(n)))
}

/// Whether the goal's words name device `d` by a word of its name or an alias
/// (kind words such as "light" or "lamp" alone do not, nor the words of its
/// room: "the living room" does not name the living room ceiling light).
fn named(d: &Device, words: &[String]) -> bool {
    let room: Vec<String> = d
        .room
        .iter()
        .flat_map(|r| r.split('_').map(String::from).collect::<Vec<_>>())
        .collect();
    std::iter::once(&d.name)
        .chain(&d.aliases)
        .flat_map(|n| {
            n.split_whitespace()
                .map(str::to_lowercase)
                .collect::<Vec<_>>()
        })
        .filter(|n| {
            lexicon::kind_of_word(n).next().is_none()
                && !room.contains(n)
                && !lexicon::DESCRIBING_WORDS.contains(&n.as_str())
                && !lexicon::FILLER.contains(&n.as_str())
                && !DETERMINERS.contains(&n.as_str())
        })
        .any(|n| words.iter().any(|w| names_word(w, &n)))
}

/// The action `effect` (see [`lexicon::SITUATIONS`]) means for `d`, if any.
fn effect(index: usize, d: &Device, effect: &str, words: &[String]) -> Option<Choice> {
    let name = d.name.to_lowercase();
    let domain = roles::domain(d);
    // Whether its kind, id or name has one of `words` in it.
    let says = |words: &[&str]| {
        let text = format!("{} {} {}", d.kind, d.id, name);
        words.iter().any(|w| text.contains(w))
    };
    let (pairs, text) = match effect {
        "light:on" if domain == "light" => (on_off(d, true)?, format!("turn on the {name}")),
        "light:off" if domain == "light" => (on_off(d, false)?, format!("turn off the {name}")),
        "cover:close" if domain == "cover" => (on_off(d, false)?, format!("close the {name}")),
        "climate:heat" if domain == "climate" => (
            enum_to(d, &["heat"]).or_else(|| on_off(d, true))?,
            format!("set the {name} to heat"),
        ),
        "climate:cool" if domain == "climate" => {
            (enum_to(d, &["cool"])?, format!("set the {name} to cool"))
        }
        "heater:on" if matches!(domain, "switch" | "") && says(lexicon::HEATER_WORDS) => {
            (on_off(d, true)?, format!("turn on the {name}"))
        }
        "fan:on" if domain == "fan" => (on_off(d, true)?, format!("turn on the {name}")),
        "dehumidifier:on"
            if says(&["dehumid"]) && matches!(domain, "humidifier" | "switch" | "") =>
        {
            (on_off(d, true)?, format!("turn on the {name}"))
        }
        "valve:on"
            if domain == "valve"
                || matches!(domain, "switch" | "") && says(lexicon::WATERING_WORDS) =>
        {
            (on_off(d, true)?, format!("turn on the {name}"))
        }
        "vacuum:start" if domain == "vacuum" => (
            enum_to(d, &["cleaning", "start"])?,
            format!("start the {name}"),
        ),
        "named:on" if named(d, words) => match domain {
            "vacuum" | "lawn_mower" => (
                enum_to(d, &["cleaning", "mowing", "start"])?,
                format!("start the {name}"),
            ),
            "light" | "switch" | "fan" | "valve" | "humidifier" | "" => {
                (on_off(d, true)?, format!("turn on the {name}"))
            }
            _ => return None,
        },
        _ => return None,
    };
    Some(Choice {
        device: index,
        pairs,
        text,
    })
}

impl Agent {
    /// The reading of a goal no other layer decided, or `None` when the goal
    /// states no situation giot knows (see the module's documentation).
    /// `normalized` is the goal as [`understand::normalize`] left it,
    /// `floors` the floors it names.
    pub(super) fn plan_indirect(
        &mut self,
        goal: &str,
        normalized: &str,
        context: &GoalContext,
        asks: bool,
        floors: &[String],
    ) -> Option<Plan> {
        // "burning *on* the stove" is a place, not a command.
        let normalized = prepositions_dropped(normalized);
        let clauses = understand::clauses(&normalized);
        let words: Vec<String> = clauses.iter().flat_map(|c| c.words.clone()).collect();
        if words.is_empty()
            || asks
            || understand::is_question(&words)
            || clauses.iter().any(|c| !c.cues.is_empty())
        {
            return None;
        }
        let found = situations(&words);
        if found.is_empty() {
            return None;
        }
        let mut plan = Plan::empty();
        let effects: Vec<&str> = found
            .iter()
            .flat_map(|s| s.effects.iter().copied())
            .collect();
        plan.trace.push(format!(
            "the goal states a situation: {}",
            effects.join(", ")
        ));
        let mut choices: Vec<Choice> = Vec::new();
        for (i, d) in self.registry.devices().iter().enumerate() {
            for e in &effects {
                if let Some(c) = effect(i, d, e, &words)
                    && !choices
                        .iter()
                        .any(|x| x.device == c.device && x.pairs == c.pairs)
                {
                    choices.push(c);
                }
            }
        }
        // Scope: devices the goal names ("my *towels* are cold"); else the
        // rooms (and floors) it names; else the room it was said in, when
        // something there fits; else the whole home.
        let mut rooms = rooms_named(&self.registry.room_list(), &words);
        for f in floors {
            if let Some(floor) = self.registry.floors.iter().find(|x| x.id == *f) {
                rooms.extend(floor.rooms.iter().cloned());
            }
        }
        let in_rooms = |c: &Choice, rooms: &HashSet<String>| {
            self.registry.devices()[c.device]
                .room
                .as_ref()
                .is_some_and(|r| rooms.contains(r))
        };
        let named_ones: Vec<Choice> = choices
            .iter()
            .filter(|c| named(&self.registry.devices()[c.device], &words))
            .cloned()
            .collect();
        // The things the goal talks about must be in the registry (a device,
        // a room, a kind it has) or be what the situation is about ("the
        // *lawn* is dry"), unless the goal names the device that helps ("I
        // need to *print* my boarding pass"): "the hot tub is cold" and "my
        // car is dirty" are about nothing giot has.
        let about: HashSet<&str> = found
            .iter()
            .flat_map(|s| s.about.iter().chain(s.triggers))
            .flat_map(|t| t.split_whitespace())
            .collect();
        let known = |i: usize, head: &String| {
            let room_after = i > 0 && self.index.names_room(&words[i - 1], Some(head));
            about.contains(head.as_str())
                || room_after
                || self
                    .index
                    .names_room(head, words.get(i + 1).map(String::as_str))
                || self.registry.devices().iter().any(|d| {
                    named(d, std::slice::from_ref(head))
                        || lexicon::kind_of_word(&singular(head)).any(|k| d.kind == k)
                })
        };
        let missing: Vec<&String> = heads(&words)
            .into_iter()
            .filter(|&(i, head)| !known(i, head))
            .map(|(_, h)| h)
            .collect();
        if named_ones.is_empty() && !missing.is_empty() {
            return None;
        }
        if !named_ones.is_empty() {
            choices = named_ones;
        } else if !rooms.is_empty() {
            choices.retain(|c| in_rooms(c, &rooms));
        } else if let Some(room) = &context.room {
            let here: HashSet<String> = [room.clone()].into();
            if choices.iter().any(|c| in_rooms(c, &here)) {
                choices.retain(|c| in_rooms(c, &here));
            }
        }
        if choices.is_empty() {
            plan.decision = Decision::Refuse(format!(
                "nothing in the registry can help with \"{}\" there",
                goal.trim()
            ));
            return Some(plan);
        }
        let best = if choices.len() == 1 {
            plan.trace
                .push(format!("one action fits: {}", choices[0].text));
            0
        } else {
            match self.rank_choices(goal, &rooms, &choices, &mut plan) {
                Some(best) => best,
                None => {
                    let mut candidates: Vec<String> = Vec::new();
                    for c in &choices {
                        let id = &self.registry.devices()[c.device].id;
                        if !candidates.contains(id) {
                            candidates.push(id.clone());
                        }
                    }
                    plan.decision = Decision::Clarify {
                        question: format!(
                            "which one? {} actions could help: {}",
                            choices.len(),
                            choices
                                .iter()
                                .map(|c| c.text.as_str())
                                .collect::<Vec<_>>()
                                .join("; ")
                        ),
                        candidates,
                    };
                    return Some(plan);
                }
            }
        };
        let choice = &choices[best];
        let device = &self.registry.devices()[choice.device];
        let actions: Vec<Action> = choice
            .pairs
            .iter()
            .map(|(cap, value): &(String, Value)| device.action(cap, value.clone()))
            .collect();
        plan.decision = self.allowed(Decision::Act(actions));
        Some(plan)
    }

    /// The model's choice among several actions, when its calibrated margin
    /// is at least [`ACTION_MARGIN`]; `None` without a model or under it.
    fn rank_choices(
        &mut self,
        goal: &str,
        rooms: &HashSet<String>,
        choices: &[Choice],
        plan: &mut Plan,
    ) -> Option<usize> {
        self.rank_locally(goal, rooms, choices, plan).or_else(|| {
            let texts: Vec<String> = choices.iter().map(|c| c.text.clone()).collect();
            self.escalate(goal, &texts, plan)
        })
    }

    /// The local model's choice, above [`ACTION_MARGIN`].
    fn rank_locally(
        &mut self,
        goal: &str,
        rooms: &HashSet<String>,
        choices: &[Choice],
        plan: &mut Plan,
    ) -> Option<usize> {
        self.scorer.as_ref()?;
        let mut sorted: Vec<&String> = rooms.iter().collect();
        sorted.sort();
        let baseline = if sorted.is_empty() {
            String::new()
        } else {
            let list = self.registry.room_list();
            let names: Vec<String> = sorted
                .iter()
                .map(|r| {
                    list.iter()
                        .find(|x| x.id == **r)
                        .map_or(r.replace('_', " "), |x| x.name.to_lowercase())
                })
                .collect();
            format!("the {}", names.join(" and the "))
        };
        let started = Instant::now();
        let scored = self.score_choices(goal, &baseline, choices, plan);
        plan.llm_time += started.elapsed();
        let mut scored = scored?;
        scored.sort_by(|a, b| b.1.total_cmp(&a.1));
        let top: Vec<String> = scored
            .iter()
            .take(3)
            .map(|(c, s)| format!("\"{}\" {s:.2}", choices[*c].text))
            .collect();
        plan.trace.push(format!(
            "the model ranks {} actions: {}",
            choices.len(),
            top.join(", ")
        ));
        let [(best, a), (_, b), ..] = scored.as_slice() else {
            return None;
        };
        if a - b < ACTION_MARGIN {
            plan.trace.push(format!(
                "the model's margin {:.2} is under {ACTION_MARGIN}",
                a - b
            ));
            return None;
        }
        plan.trace.push(format!("the model's margin {:.2}", a - b));
        Some(*best)
    }

    /// Each choice's calibrated score: log P(choice | goal) − log P(choice |
    /// baseline), both after the action prompt.
    fn score_choices(
        &mut self,
        goal: &str,
        baseline: &str,
        choices: &[Choice],
        plan: &mut Plan,
    ) -> Option<Vec<(usize, f32)>> {
        let scorer = self.scorer.as_mut()?;
        let (stable, tail) = super::prompt_frame(scorer.as_ref(), SYSTEM, ANSWER_PREFIX);
        let texts: Vec<String> = choices.iter().map(|c| format!(" {}", c.text)).collect();
        let mut score = |request: String| match scorer.score(
            &Prompt {
                stable: stable.clone(),
                request,
            },
            &texts,
        ) {
            Ok(s) => {
                plan.tokens_evaluated += s.tokens_evaluated;
                plan.llm_decode_time += s.decode_time;
                Some(s.logprobs)
            }
            Err(e) => {
                plan.trace.push(format!("model unavailable: {e}"));
                None
            }
        };
        let with_goal = score(format!("{}{tail}", goal.trim()))?;
        let base = score(format!("{baseline}{tail}"))?;
        plan.used_model = true;
        Some(
            with_goal
                .into_iter()
                .zip(base)
                .map(|(g, b)| g - b)
                .enumerate()
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::{Map, json};

    use super::*;
    use crate::agent::AgentDefinition;
    use crate::llm::Scorer;
    use crate::llm::fake::FakeScorer;

    /// The intent bench's home (bench/intents/home.en.yaml).
    fn agent(scorer: Option<FakeScorer>) -> Agent {
        agent_in("bench/intents/home.en.yaml", scorer)
    }

    fn agent_in(fixture: &str, scorer: Option<FakeScorer>) -> Agent {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(fixture);
        let registry = crate::registry::Registry::load(&path).unwrap();
        let mut definition = AgentDefinition::builtin();
        definition.policy.confirm_kinds.clear();
        Agent::new(
            registry,
            definition,
            scorer.map(|s| Box::new(s) as Box<dyn Scorer>),
        )
    }

    fn no_state(_: &str) -> Option<Map<String, Value>> {
        None
    }

    fn acts(agent: &mut Agent, goal: &str, room: Option<&str>) -> Vec<(String, String, Value)> {
        let context = GoalContext {
            room: room.map(String::from),
        };
        let plan = agent.plan_in(goal, &context, &no_state);
        match plan.decision {
            Decision::Act(actions) => actions
                .into_iter()
                .map(|a| (a.device, a.capability, a.value))
                .collect(),
            other => panic!("{goal}: {other:?} {:?}", plan.trace),
        }
    }

    fn act(d: &str, c: &str, v: Value) -> Vec<(String, String, Value)> {
        vec![(d.to_string(), c.to_string(), v)]
    }

    #[test]
    fn a_situation_with_one_device_that_answers_it_acts_on_that_device() {
        let mut a = agent(None);
        let on = json!("on");
        for (goal, want) in [
            (
                "it's too dark in the study",
                act("desk_lamp", "power", on.clone()),
            ),
            (
                "the bathroom is really stuffy",
                act("bathroom_fan", "power", on.clone()),
            ),
            (
                "I can't see a thing in the garage",
                act("garage_light", "power", on.clone()),
            ),
            (
                "my towels are cold",
                act("towel_warmer", "power", on.clone()),
            ),
            (
                "the lawn looks really dry",
                act("sprinkler", "power", on.clone()),
            ),
            ("water the garden", act("sprinkler", "power", on.clone())),
            (
                "the garden plants are thirsty",
                act("sprinkler", "power", on.clone()),
            ),
            (
                "the floors are covered in crumbs",
                act("robot_vacuum", "state", json!("cleaning")),
            ),
            (
                "I could really use a coffee right now",
                act("coffee_machine", "power", on.clone()),
            ),
            (
                "it's freezing in the bedroom",
                act("bedroom_thermostat", "mode", json!("heat")),
            ),
            (
                "I need to print my boarding pass",
                act("printer", "power", on.clone()),
            ),
            (
                "it's pitch black out on the patio",
                act("garden_lights", "power", on.clone()),
            ),
            (
                "there's dust everywhere",
                act("robot_vacuum", "state", json!("cleaning")),
            ),
            (
                "the bathroom walls are damp",
                act("bathroom_fan", "power", on.clone()),
            ),
            (
                "something's burning on the stove, clear the air in the kitchen",
                act("extractor_fan", "power", on.clone()),
            ),
        ] {
            assert_eq!(acts(&mut a, goal, None), want, "{goal}");
        }
    }

    #[test]
    fn names_that_hold_command_words_and_plugs_that_water_are_read_as_such() {
        // The held-out office: "open office" is a room, an irrigation pump
        // runs on a plug.
        let mut a = agent_in("tests/eval/holdout/devices.yaml", None);
        let on = json!("on");
        assert_eq!(
            acts(&mut a, "the open office is really stuffy", None),
            act("office_fan", "power", on.clone())
        );
        assert_eq!(
            acts(&mut a, "the greenhouse plants look parched", None),
            act("irrigation_pump", "power", on)
        );
    }

    #[test]
    fn the_room_it_was_said_in_scopes_a_statement_about_the_room() {
        let mut a = agent(None);
        assert_eq!(
            acts(&mut a, "it's so stuffy in here", Some("bathroom")),
            act("bathroom_fan", "power", json!("on"))
        );
    }

    #[test]
    fn a_statement_about_what_the_registry_lacks_is_refused_and_never_acts() {
        let mut a = agent(Some(FakeScorer::default()));
        for goal in [
            "the hot tub is cold",
            "my car is dirty",
            "the weather is nice today",
            "the dishwasher is full",
            "I love this song",
            "my sister is visiting tomorrow",
        ] {
            let plan = a.plan(goal, &no_state);
            assert!(
                !matches!(plan.decision, Decision::Act(_)),
                "{goal}: {:?} {:?}",
                plan.decision,
                plan.trace
            );
        }
    }

    #[test]
    fn several_fitting_actions_go_to_the_model_and_without_a_margin_are_asked_back() {
        // Three lights in the living room: the words cannot choose.
        let mut a = agent(None);
        let plan = a.plan("it's too dark in the living room", &no_state);
        let Decision::Clarify { candidates, .. } = plan.decision else {
            panic!("{:?}", plan.decision)
        };
        assert_eq!(candidates.len(), 3, "{candidates:?}");
        // A model that clearly prefers the floor lamp decides.
        let scorer = FakeScorer::default().prefer("dark", " turn on the floor lamp");
        let mut a = agent(Some(scorer));
        assert_eq!(
            acts(&mut a, "it's too dark in the living room", None),
            act("floor_lamp", "power", json!("on"))
        );
    }

    #[test]
    fn without_a_local_margin_the_escalation_server_chooses_or_declines() {
        let mut a = agent(None);
        a.set_escalation(Some(Box::new(
            FakeScorer::default().prefer("dark", " turn on the floor lamp"),
        )));
        let plan = a.plan("it's too dark in the living room", &no_state);
        assert!(plan.escalated, "{:?}", plan.trace);
        assert!(
            matches!(&plan.decision, Decision::Act(x) if x[0].device == "floor_lamp"),
            "{:?}",
            plan.decision
        );
        a.set_escalation(Some(Box::new(
            FakeScorer::default().prefer("dark", " none of these"),
        )));
        let plan = a.plan("it's too dark in the living room", &no_state);
        assert!(
            matches!(plan.decision, Decision::Clarify { .. }),
            "{:?}",
            plan.decision
        );
    }
}
