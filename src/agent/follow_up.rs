//! Goals that lean on the one before in the same conversation: "turn it off
//! again", "set them to 40%", "the same for the bedroom", and the answer to
//! a question giot asked back ("the front one", "both").
//!
//! A [`Conversation`] is what the session remembers between goals: the
//! last goal that decided actions, and a clarification waiting for its
//! answer. It holds device ids and words only, never a decision to replay:
//! every follow-up is planned again from the live state and checked by the
//! policy like any goal.

use serde::{Deserialize, Serialize};

use super::understand::{self, Clause};
use super::{Agent, StateLookup, lexicon, relative, resolve};
use crate::registry::Device;
use crate::types::{Action, Decision, Plan};

/// What a conversation remembers (DESIGN §1: "conversations (for 'it',
/// 'them', clarifications)").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    /// The last goal that decided actions: its words and what it set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<Turn>,
    /// A goal giot asked back about, waiting for the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Pending>,
}

/// A goal that decided actions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    pub goal: String,
    /// `(device, capability, value)` of each action.
    pub actions: Vec<(String, String, serde_json::Value)>,
}

impl Turn {
    /// The devices the turn acted on, in order, once each.
    pub fn devices(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (d, _, _) in &self.actions {
            if !out.contains(d) {
                out.push(d.clone());
            }
        }
        out
    }
}

/// A clarification: the goal and the devices it could mean.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub goal: String,
    pub candidates: Vec<String>,
}

/// Words that point back at the last goal's devices.
const POINTERS: &[&str] = &[
    "it", "them", "they", "those", "these", "that", "this", "one", "ones", "again",
];

/// Words of an answer that pick every candidate.
const EVERY: &[&str] = &["both", "all", "every", "each", "either"];

impl Agent {
    /// Plans `goal` as a follow-up in `conversation`, when it is one: the
    /// answer to a pending clarification, a pointer back ("it", "them",
    /// "again") in a goal that names no device, or "the same for …". `None`
    /// when the goal stands on its own (it is then planned as usual).
    pub fn plan_follow_up(
        &mut self,
        goal: &str,
        conversation: &Conversation,
        state: StateLookup<'_>,
    ) -> Option<Plan> {
        let normalized = understand::normalize(goal);
        let clauses = understand::clauses(&normalized);
        let words: Vec<String> = clauses.iter().flat_map(|c| c.words.clone()).collect();
        // A standing rule's "again" ("and off again below 60%") points at
        // its own action, not at the last goal.
        if words.is_empty() || understand::is_question(&words) || understand::is_rule(&words) {
            return None;
        }
        let commands = clauses.iter().any(|c| {
            !c.cues.is_empty()
                || c.words
                    .iter()
                    .any(|w| lexicon::COMMAND_VERBS.contains(&w.as_str()))
        });
        // "the front one", "both", "the one in the kitchen": an answer, not
        // a command.
        if let Some(pending) = &conversation.pending
            && !commands
        {
            let chosen = self.choose(pending, &words);
            let every = words.iter().any(|w| EVERY.contains(&w.as_str()));
            let mut plan = if chosen.len() > 1 && !every {
                // "the one in the kitchen" of fourteen lights: fewer, but
                // still several.
                let mut plan = Plan::empty();
                plan.decision = Decision::Clarify {
                    question: format!("which one? {} devices fit", chosen.len()),
                    candidates: chosen.clone(),
                };
                plan
            } else if chosen.is_empty()
                && let Some(mode) = words
                    .iter()
                    .find(|w| matches!(w.as_str(), "heat" | "heating" | "cool" | "cooling"))
            {
                // "heat or cool?" answered: the pending goal with that word.
                self.plan_on(
                    &format!("{} {mode}", pending.goal),
                    &pending.candidates,
                    state,
                )
            } else if chosen.is_empty() {
                let mut plan = Plan::empty();
                plan.decision = Decision::Clarify {
                    question: format!(
                        "\"{goal}\" is none of the {} devices giot asked about",
                        pending.candidates.len()
                    ),
                    candidates: pending.candidates.clone(),
                };
                plan
            } else {
                self.plan_on(&pending.goal, &chosen, state)
            };
            plan.trace.insert(
                0,
                format!(
                    "answer to \"{}\": {}",
                    pending.goal,
                    if chosen.is_empty() {
                        "none of them".to_string()
                    } else {
                        chosen.join(", ")
                    }
                ),
            );
            return Some(plan);
        }
        let last = conversation.last.as_ref()?;
        // "the same for the bedroom", "do the same in the kitchen".
        if words.iter().any(|w| w == "same") {
            return Some(self.same_for(goal, &clauses, last));
        }
        let points_back = words.iter().any(|w| POINTERS.contains(&w.as_str()));
        if !points_back || !commands || self.names_any(&clauses) {
            return None;
        }
        let devices = last.devices();
        let mut plan = self.plan_on(goal, &devices, state);
        plan.trace.insert(
            0,
            format!(
                "\"{goal}\" refers to the last goal's devices: {}",
                devices.join(", ")
            ),
        );
        Some(plan)
    }

    /// The candidates an answer picks: every one for "both"/"all", else
    /// those whose names share the most words with the answer.
    fn choose(&self, pending: &Pending, words: &[String]) -> Vec<String> {
        if words.iter().any(|w| EVERY.contains(&w.as_str())) {
            return pending.candidates.clone();
        }
        let content: Vec<&String> = words
            .iter()
            .filter(|w| !lexicon::FILLER.contains(&w.as_str()) && !POINTERS.contains(&w.as_str()))
            .collect();
        let hits = |d: &Device| {
            let mut name = format!(
                "{} {} {}",
                d.name,
                d.aliases.join(" "),
                d.id.replace('_', " ")
            );
            if let Some(room) = &d.room {
                name.push(' ');
                name.push_str(&room.replace('_', " "));
            }
            let name = understand::normalize(&name);
            let name: Vec<&str> = name.split_whitespace().collect();
            content
                .iter()
                .filter(|w| {
                    name.iter().any(|n| {
                        *n == w.as_str() || n.trim_end_matches('s') == w.trim_end_matches('s')
                    })
                })
                .count()
        };
        let scored: Vec<(usize, &String)> = pending
            .candidates
            .iter()
            .filter_map(|id| self.registry.get(id).map(|d| (hits(d), id)))
            .collect();
        let best = scored.iter().map(|(h, _)| *h).max().unwrap_or(0);
        if best == 0 {
            return Vec::new();
        }
        let top: Vec<String> = scored
            .into_iter()
            .filter(|(h, _)| *h == best)
            .map(|(_, id)| id.clone())
            .collect();
        top
    }

    /// Whether any clause names a device, a room or a kind of device.
    fn names_any(&self, clauses: &[Clause]) -> bool {
        clauses.iter().any(|c| {
            self.index
                .scores(&self.registry, c)
                .iter()
                .any(|s| s.is_some_and(|s| s > 0.0))
        })
    }

    /// `goal`'s values applied to `devices` (given, not searched for): each
    /// clause's change, from the current state for relative ones.
    pub(super) fn plan_on(
        &mut self,
        goal: &str,
        devices: &[String],
        state: StateLookup<'_>,
    ) -> Plan {
        let mut plan = Plan::empty();
        // "that one" points; it is not the number 1.
        let pointing = understand::normalize(goal)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .replace("that one", "it")
            .replace("this one", "it")
            .replace("the one", "it");
        let text = self.templates.with_numbers(&pointing).unwrap_or(pointing);
        let clauses = understand::clauses(&understand::normalize(&text));
        let mut actions: Vec<Action> = Vec::new();
        for clause in &clauses {
            if clause.cues.is_empty()
                && relative::read(&clause.words, &clause.cues, &|_, _| false).is_none()
                && !relative::toggles(&clause.words, &clause.cues)
                && clauses.len() > 1
            {
                continue;
            }
            for id in devices {
                let Some(device) = self.registry.get(id) else {
                    continue;
                };
                let pairs = match self.change(device, clause, state) {
                    Some(Ok(pair)) => vec![pair],
                    Some(Err(why)) => {
                        plan.decision = Decision::Refuse(why);
                        return plan;
                    }
                    None => match resolve::derive(device, clause, &clause.words) {
                        Ok(pairs) => pairs,
                        Err(resolve::NoAction(why)) => {
                            plan.decision = Decision::Refuse(format!(
                                "{why} (\"{}\" on {})",
                                clause.text, device.name
                            ));
                            return plan;
                        }
                    },
                };
                for (cap, value) in pairs {
                    if !actions
                        .iter()
                        .any(|a| a.device == device.id && a.capability == cap)
                    {
                        actions.push(device.action(&cap, value));
                    }
                }
            }
        }
        plan.decision = if actions.is_empty() {
            Decision::Refuse(format!("\"{goal}\" says nothing to do"))
        } else {
            self.allowed(Decision::Act(actions))
        };
        self.set_points_by_mode(&text, &mut plan, state);
        plan
    }

    /// The last turn's changes made in the rooms `goal` names, on the
    /// devices there of the same kinds ("turn off the kitchen lights" → "the
    /// same for the bedroom": the bedroom's lights off).
    fn same_for(&self, goal: &str, clauses: &[Clause], last: &Turn) -> Plan {
        let mut plan = Plan::empty();
        let rooms: std::collections::HashSet<String> =
            clauses.iter().flat_map(|c| self.index.rooms(c)).collect();
        if rooms.is_empty() {
            plan.decision = Decision::Refuse(format!(
                "\"{goal}\": the same for which room? (say \"the same for the kitchen\")"
            ));
            return plan;
        }
        let domain_of = |id: &str| self.registry.get(id).map(super::roles::domain);
        let mut actions: Vec<Action> = Vec::new();
        for device in self.registry.devices() {
            if !device.room.as_ref().is_some_and(|r| rooms.contains(r)) {
                continue;
            }
            for (from, cap, value) in &last.actions {
                let fits = domain_of(from) == Some(super::roles::domain(device))
                    && device
                        .capability(cap)
                        .is_some_and(|c| !c.readonly && c.check_write(value).is_ok());
                if fits
                    && !actions
                        .iter()
                        .any(|a| a.device == device.id && &a.capability == cap)
                {
                    actions.push(device.action(cap, value.clone()));
                }
            }
        }
        let mut rooms: Vec<String> = rooms.into_iter().collect();
        rooms.sort();
        plan.trace.push(format!(
            "the same as \"{}\" in {}",
            last.goal,
            rooms.join(", ")
        ));
        plan.decision = if actions.is_empty() {
            Decision::Refuse(format!(
                "nothing in {} is like what \"{}\" changed",
                rooms.join(" or ").replace('_', " "),
                last.goal
            ))
        } else {
            self.allowed(Decision::Act(actions))
        };
        plan
    }
}

/// What `plan`'s decision leaves for the conversation to remember after
/// `goal`: the goal's actions, or the clarification it asked for.
pub fn remember(conversation: &mut Conversation, goal: &str, decision: &Decision) {
    match decision {
        Decision::Act(actions) => {
            conversation.last = Some(Turn {
                goal: goal.to_string(),
                actions: actions
                    .iter()
                    .map(|a| (a.device.clone(), a.capability.clone(), a.value.clone()))
                    .collect(),
            });
            conversation.pending = None;
        }
        // An answer that picked none keeps the question open; one that
        // picked fewer keeps it open about those.
        Decision::Clarify { candidates, .. }
            if conversation
                .pending
                .as_ref()
                .is_some_and(|p| candidates.iter().all(|c| p.candidates.contains(c))) =>
        {
            if let Some(p) = &mut conversation.pending {
                p.candidates = candidates.clone();
            }
        }
        Decision::Clarify { candidates, .. } => {
            conversation.pending = Some(Pending {
                goal: goal.to_string(),
                candidates: candidates.clone(),
            });
        }
        Decision::Answer(_) | Decision::Refuse(_) => conversation.pending = None,
    }
}
