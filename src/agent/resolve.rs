//! Choosing devices and values from the registry for one clause.
//!
//! Every device gets a lexical score for a clause (words of its name, aliases
//! and id weighted by rarity, its room, its kind); mentions of a room or a
//! kind are constraints, not hints. Words that nothing in the registry or the
//! lexicon knows mean the goal names something that does not exist. Values
//! come from the cues of the clause and the capability's own range and
//! values. Nothing here checks ranges: that is the policy's job.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::lexicon::{self, FILLER};
use super::understand::{Clause, Direction, Unit};
use crate::registry::value::number;
use crate::registry::{Capability, CapabilityType, Device, Registry};

/// Words never used to match names.
const NAME_STOP: &[&str] = &[
    "the", "a", "an", "of", "on", "off", "in", "to", "and", "room", "my",
];

/// What the index knows about one device.
#[derive(Debug, Clone)]
struct Entry {
    /// Words of the name, aliases and id.
    name_words: HashSet<String>,
    /// The name and each alias as words, for whole-phrase matches.
    phrases: Vec<Vec<String>>,
    kind_words: HashSet<&'static str>,
}

/// Lexical index over a registry, built once per registry.
#[derive(Debug, Clone)]
pub struct Index {
    entries: Vec<Entry>,
    /// Every word the registry and the lexicon know.
    vocab: HashSet<String>,
    /// Inverse document frequency of name words.
    idf: HashMap<String, f64>,
    /// Registry rooms by the words that name them ("living room" -> living_room).
    room_words: HashMap<String, String>,
}

fn words_of(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '_'))
        .filter(|w| !w.is_empty())
        .flat_map(|w| {
            // An id such as `car_03` is a word of its own and so are its parts.
            let mut v = vec![w.to_string()];
            if w.contains('_') {
                v.extend(w.split('_').filter(|p| !p.is_empty()).map(String::from));
            }
            v
        })
        .collect()
}

impl Index {
    pub fn new(registry: &Registry) -> Self {
        let mut vocab: HashSet<String> = FILLER.iter().map(|w| w.to_string()).collect();
        let mut room_words = HashMap::new();
        for (room, words) in lexicon::ROOM_WORDS {
            for w in *words {
                room_words.insert(w.to_string(), room.to_string());
            }
        }
        for (_, words) in lexicon::KIND_WORDS.iter().chain(lexicon::CAPABILITY_WORDS) {
            vocab.extend(words.iter().map(|w| w.to_string()));
        }
        vocab.extend(lexicon::relative_vocabulary().map(String::from));
        let mut entries = Vec::new();
        let mut df: HashMap<String, usize> = HashMap::new();
        for d in registry.devices() {
            let mut name_words: HashSet<String> = HashSet::new();
            let mut phrases = Vec::new();
            for text in std::iter::once(&d.name)
                .chain(&d.aliases)
                .chain(std::iter::once(&d.id))
            {
                let words: Vec<String> = words_of(text)
                    .into_iter()
                    .filter(|w| !NAME_STOP.contains(&w.as_str()))
                    .collect();
                name_words.extend(words.iter().cloned());
                // "My bedside lamp" is said in full only with its "my":
                // "the bedside lamp" does not tell it from the partner's.
                let phrase: Vec<String> = words_of(text)
                    .into_iter()
                    .filter(|w| {
                        !NAME_STOP.contains(&w.as_str())
                            || matches!(w.as_str(), "my" | "our" | "your" | "his" | "her" | "their")
                    })
                    .collect();
                if phrase.len() > 1 {
                    phrases.push(phrase);
                }
            }
            for w in &name_words {
                *df.entry(w.clone()).or_default() += 1;
            }
            if let Some(room) = &d.room {
                for w in room.split('_') {
                    vocab.insert(w.to_string());
                }
                room_words
                    .entry(room.clone())
                    .or_insert_with(|| room.clone());
                // The first word of a multi-word room names it too ("living").
                if let Some(first) = room.split('_').next()
                    && !FILLER.contains(&first)
                {
                    room_words
                        .entry(first.to_string())
                        .or_insert_with(|| room.clone());
                }
            }
            for c in &d.capabilities {
                vocab.extend(words_of(&c.name));
                if let CapabilityType::Enum { values } = &c.kind {
                    vocab.extend(values.iter().flat_map(|v| words_of(v)));
                }
                if let Some(u) = &c.unit {
                    vocab.insert(u.to_lowercase());
                }
            }
            vocab.extend(d.kind.split('_').map(String::from));
            vocab.extend(name_words.iter().cloned());
            let kind_words = lexicon::KIND_WORDS
                .iter()
                .filter(|(k, _)| *k == d.kind)
                .flat_map(|(_, w)| w.iter().copied())
                .chain(std::iter::once(static_kind(&d.kind)))
                .collect();
            entries.push(Entry {
                name_words,
                phrases,
                kind_words,
            });
        }
        // The rooms' own names and aliases ("Arbeitszimmer", "Man cave"):
        // each word that names one room only.
        let mut said_rooms: HashMap<String, HashSet<String>> = HashMap::new();
        for r in registry.room_list() {
            for text in std::iter::once(&r.name).chain(&r.aliases) {
                for w in words_of(text) {
                    if !FILLER.contains(&w.as_str()) && !NAME_STOP.contains(&w.as_str()) {
                        said_rooms.entry(w).or_default().insert(r.id.clone());
                    }
                }
            }
        }
        for (w, rooms) in said_rooms {
            if rooms.len() == 1 {
                let room = rooms.into_iter().next().expect("one room");
                room_words.entry(w).or_insert(room);
            }
        }
        // Only rooms that exist in the registry constrain matches.
        let known: HashSet<&str> = registry.rooms().into_iter().collect();
        let room_words: HashMap<String, String> = room_words
            .into_iter()
            .filter(|(_, room)| {
                known.contains(room.as_str()) || lexicon::ROOM_WORDS.iter().any(|(r, _)| r == room)
            })
            .collect();
        vocab.extend(room_words.keys().cloned());
        // A vacuum's command words ("back to its dock") name no device.
        if registry
            .devices()
            .iter()
            .any(|d| super::roles::domain(d) == "vacuum")
        {
            for (said, _) in lexicon::VACUUM_WORDS {
                vocab.extend(said.iter().map(|w| w.to_string()));
            }
        }
        // Floors are constraints applied after the resolver (the agent keeps
        // its devices to the floor named), so their words are known here.
        for f in &registry.floors {
            for text in std::iter::once(&f.name).chain(&f.aliases) {
                vocab.extend(words_of(text));
            }
            vocab.extend(words_of(&f.id));
            if f.level.is_some() {
                vocab.extend(
                    [
                        "upstairs",
                        "downstairs",
                        "basement",
                        "ground",
                        "floor",
                        "first",
                        "second",
                    ]
                    .map(String::from),
                );
            }
        }
        let n = entries.len().max(1) as f64;
        let idf = df
            .into_iter()
            .map(|(w, c)| (w, (1.0 + n / c as f64).ln()))
            .collect();
        Self {
            entries,
            vocab,
            idf,
            room_words,
        }
    }

    /// The word as the registry knows it: plurals folded ("lights" -> "light").
    fn canonical<'w>(&self, word: &'w str) -> std::borrow::Cow<'w, str> {
        if self.vocab.contains(word) {
            return word.into();
        }
        for suffix in ["es", "s"] {
            if let Some(stem) = word.strip_suffix(suffix)
                && stem.len() > 2
                && self.vocab.contains(stem)
            {
                return stem.to_string().into();
            }
        }
        if let Some(stem) = word.strip_suffix("'s")
            && self.vocab.contains(stem)
        {
            return stem.to_string().into();
        }
        word.into()
    }

    /// Whether `word` (or `word` and `next`, as in "living room") names a
    /// room of the registry.
    pub fn names_room(&self, word: &str, next: Option<&str>) -> bool {
        next.is_some_and(|n| self.room_words.contains_key(&format!("{word}_{n}")))
            || self.room_words.contains_key(self.canonical(word).as_ref())
    }

    /// Words of a clause that neither the registry nor the lexicon knows:
    /// the clause names something that does not exist.
    ///
    /// Only words where a device would be named count: right before a word
    /// that names devices ("the *attic* light"), right after an article,
    /// a room or a device word ("the *sauna*"), or ending the goal after an
    /// article and describing words ("the hot *tub*"). Inflected verbs and
    /// contractions ("switched", "leaving", "we're") never name a device.
    pub fn unknown_words(&self, clause: &Clause) -> Vec<String> {
        let words = &clause.words;
        let known = |w: &str| self.vocab.contains(self.canonical(w).as_ref());
        let device_word = |w: &str| {
            let c = self.canonical(w);
            lexicon::kind_of_word(&c).next().is_some()
                || self.room_words.contains_key(c.as_ref())
                || self
                    .entries
                    .iter()
                    .any(|e| e.name_words.contains(c.as_ref()))
        };
        words
            .iter()
            .enumerate()
            .filter(|(_, w)| !w.chars().any(|c| c.is_ascii_digit()))
            .filter(|(_, w)| w.chars().any(char::is_alphabetic))
            .filter(|(_, w)| !known(w))
            .filter(|(_, w)| {
                !(w.contains('\'') && !w.ends_with("'s")
                    || ["ed", "ing", "ly"]
                        .iter()
                        .any(|suffix| w.len() > suffix.len() + 2 && w.ends_with(suffix)))
            })
            .filter(|&(i, _)| {
                let before = i.checked_sub(1).map(|j| words[j].as_str());
                let after = words.get(i + 1).map(String::as_str);
                let article = |b: &str| matches!(b, "the" | "a" | "an" | "my" | "our" | "your");
                // The object's last word after an article and words that
                // only describe it ("the hot *tub*").
                let object_end = i + 1 == words.len()
                    && words[..i]
                        .iter()
                        .rev()
                        .take_while(|b| !device_word(b))
                        .find(|b| article(b) || !known(b))
                        .is_some_and(|b| article(b));
                object_end
                    || after.is_some_and(|a| device_word(a) || !known(a))
                    || before.is_some_and(|b| article(b) || device_word(b))
            })
            .map(|(_, w)| w.clone())
            .collect()
    }

    /// Whether `word` is part of some device's name or alias ("the wine
    /// *cooler*").
    pub fn in_a_name(&self, word: &str) -> bool {
        self.entries.iter().any(|e| e.name_words.contains(word))
    }

    /// Rooms the clause mentions, as registry room ids.
    pub fn rooms(&self, clause: &Clause) -> HashSet<String> {
        let mut rooms = HashSet::new();
        for (i, w) in clause.words.iter().enumerate() {
            // "living room" as two words.
            if let Some(next) = clause.words.get(i + 1) {
                let pair = format!("{w}_{next}");
                if let Some(r) = self.room_words.get(&pair) {
                    rooms.insert(r.clone());
                    continue;
                }
            }
            if let Some(r) = self.room_words.get(self.canonical(w).as_ref()) {
                rooms.insert(r.clone());
            }
        }
        rooms
    }

    /// Scores every device for the clause; devices excluded by a room or kind
    /// the clause names score `None`.
    pub fn scores(&self, registry: &Registry, clause: &Clause) -> Vec<Option<f64>> {
        let rooms = self.rooms(clause);
        let words: Vec<String> = clause
            .words
            .iter()
            .map(|w| self.canonical(w).into_owned())
            .collect();
        // "switch" and "lock" are kinds only as nouns ("the switch"), not
        // as verbs ("lock the back gate" names no lock);
        // "garage" in "the heater in the garage" is the room.
        let kind_mentions: Vec<&str> = words
            .iter()
            .enumerate()
            .filter(|(i, w)| {
                lexicon::kind_of_word(w).next().is_some()
                    && !self
                        .room_words
                        .get(w.as_str())
                        .is_some_and(|r| rooms.contains(r))
                    && (!matches!(w.as_str(), "switch" | "lock")
                        || *i > 0 && matches!(words[i - 1].as_str(), "the" | "a" | "wall"))
            })
            .map(|(_, w)| w.as_str())
            .collect();
        registry
            .devices()
            .iter()
            .zip(&self.entries)
            .map(|(d, e)| {
                let in_name = |w: &str| e.name_words.contains(w);
                // A room that the clause names and the device is not in rules
                // it out, unless the word is part of its own name.
                if !rooms.is_empty() {
                    let room_ok = d.room.as_ref().is_some_and(|r| rooms.contains(r))
                        || words
                            .iter()
                            .any(|w| self.room_words.contains_key(w) && in_name(w));
                    if !room_ok {
                        return None;
                    }
                }
                // Likewise a kind ("fan" in "the kitchen fan").
                if !kind_mentions.is_empty()
                    && !kind_mentions
                        .iter()
                        .any(|w| e.kind_words.contains(w) || in_name(w))
                {
                    return None;
                }
                let mut score = 0.0;
                for w in &words {
                    if in_name(w) {
                        score += 2.0 * self.idf.get(w.as_str()).copied().unwrap_or(1.0);
                    } else if self
                        .room_words
                        .get(w.as_str())
                        .is_some_and(|r| d.room.as_ref() == Some(r))
                    {
                        score += 1.5;
                    } else if e.kind_words.contains(w.as_str()) {
                        score += 1.0;
                    }
                }
                // A name or alias said in full ("roof window") beats its parts.
                if e.phrases.iter().any(|p| contains_phrase(&words, p)) {
                    score += 2.0;
                }
                Some(score)
            })
            .collect()
    }

    /// Whether the registry or the lexicon knows `word`.
    pub fn knows(&self, word: &str) -> bool {
        self.vocab.contains(self.canonical(word).as_ref())
    }

    /// The clause's words that point at device `i`, each marked by how:
    /// `n:` a word of its name or aliases, `k:` a word for its kind, `r:`
    /// its room, `=` its name said in full. The leading verb ("lock the
    /// door") is not a word for a device.
    pub fn matched_words(&self, registry: &Registry, i: usize, clause: &Clause) -> HashSet<String> {
        const VERBS: &[&str] = &[
            "turn", "switch", "set", "lock", "unlock", "open", "close", "dim", "raise", "lower",
            "start", "stop", "put", "make", "change", "extend", "retract", "shut",
        ];
        let e = &self.entries[i];
        let d = &registry.devices()[i];
        let words: Vec<String> = clause
            .words
            .iter()
            .map(|w| self.canonical(w).into_owned())
            .collect();
        let mut matched = HashSet::new();
        for (k, w) in words.iter().enumerate() {
            if k == 0 && VERBS.contains(&w.as_str()) {
                continue;
            }
            if e.name_words.contains(w) {
                matched.insert(format!("n:{w}"));
            } else if e.kind_words.contains(w.as_str()) {
                matched.insert(format!("k:{w}"));
            } else if self
                .room_words
                .get(w.as_str())
                .is_some_and(|r| d.room.as_ref() == Some(r))
            {
                matched.insert(format!("r:{w}"));
            }
        }
        // A name said in full ("kitchen light") tells its device apart from
        // one that only has the same words as room and kind.
        for p in &e.phrases {
            if contains_phrase(&words, p) {
                matched.insert(format!("={}", p.join(" ")));
            }
        }
        matched
    }

    /// Whether the words tell device `a` (with `matched_words` `a_words`)
    /// apart from `b`: some word points at `a` more than at `b` (a name
    /// word of `a` that is only a kind word for `b`, say).
    pub fn alike(a_words: &HashSet<String>, b_words: &HashSet<String>) -> bool {
        a_words.iter().all(|w| {
            b_words.contains(w)
                || w.strip_prefix("k:")
                    .is_some_and(|k| b_words.contains(&format!("n:{k}")))
        })
    }

    /// Devices among `group` whose names hold every word of the clause
    /// that only names say ("the *bedside* lamps"): not a kind, a room,
    /// or a filler word. All of `group` when the clause has no such word.
    pub fn named_within(&self, clause: &Clause, group: Vec<usize>) -> Vec<usize> {
        let words: Vec<String> = clause
            .words
            .iter()
            .map(|w| self.canonical(w).into_owned())
            .filter(|w| {
                !FILLER.contains(&w.as_str())
                    && !self.room_words.contains_key(w)
                    && lexicon::kind_of_word(w).next().is_none()
                    && lexicon::kind_of_word(w.trim_end_matches('s'))
                        .next()
                        .is_none()
                    && self.entries.iter().any(|e| e.name_words.contains(w))
            })
            .collect();
        if words.is_empty() {
            return group;
        }
        let named: Vec<usize> = group
            .iter()
            .copied()
            .filter(|&i| words.iter().all(|w| self.entries[i].name_words.contains(w)))
            .collect();
        if named.is_empty() { group } else { named }
    }

    /// Whether the clause names a kind of device in the plural ("the
    /// lights in the living room"), and not as a word of a name said in
    /// full ("the garden lights").
    pub fn plural_kind(&self, clause: &Clause) -> bool {
        let words: Vec<String> = clause
            .words
            .iter()
            .map(|w| self.canonical(w).into_owned())
            .collect();
        clause.words.iter().any(|w| {
            let singular = w.strip_suffix('s').unwrap_or(w);
            w.ends_with('s')
                && lexicon::kind_of_word(w).next().is_some()
                && (self.canonical(w) != w.as_str()
                    || singular.len() > 2 && lexicon::kind_of_word(singular).next().is_some())
                && !self.entries.iter().any(|e| {
                    e.phrases
                        .iter()
                        .any(|p| p.contains(w) && contains_phrase(&words, p))
                })
        })
    }
}

fn contains_phrase(words: &[String], phrase: &[String]) -> bool {
    words.windows(phrase.len()).any(|w| w == phrase)
}

fn static_kind(kind: &str) -> &'static str {
    lexicon::KIND_WORDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or("", |(k, _)| k)
}

/// Why no action could be derived for a device.
#[derive(Debug, Clone, PartialEq)]
pub struct NoAction(pub String);

/// How strongly the clause names each capability of the device: a word of
/// its own name counts 2, a synonym 1. Used to pick the capability a command
/// sets and the one a question asks about.
pub(super) fn mentions(device: &Device, words: &[String]) -> Vec<(usize, usize)> {
    device
        .capabilities
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let own = words_of(&c.name);
            let synonyms: Vec<&str> = lexicon::capability_words(&c.name).collect();
            let hits: usize = words
                .iter()
                .map(|w| {
                    if own.iter().any(|o| o == w) {
                        2
                    } else {
                        usize::from(synonyms.contains(&w.as_str()))
                    }
                })
                .sum();
            (i, hits)
        })
        .collect()
}

fn enum_values(cap: &Capability) -> &[String] {
    match &cap.kind {
        CapabilityType::Enum { values } => values,
        _ => &[],
    }
}

fn is_on_off(cap: &Capability) -> bool {
    let v = enum_values(cap);
    v.iter().any(|x| x == "on") && v.iter().any(|x| x == "off")
}

fn is_lock(cap: &Capability) -> bool {
    enum_values(cap).iter().any(|x| x == "locked")
}

fn unit_matches(cap: &Capability, unit: Unit) -> bool {
    let u = cap.unit.as_deref().unwrap_or("").to_lowercase();
    match unit {
        Unit::Percent => u == "%",
        Unit::Degrees => {
            u.contains('c') && !u.contains("ppm")
                || u.contains('°')
                || cap.name.contains("temperature")
        }
        Unit::Kelvin => u == "k",
        Unit::Watts => u == "w",
        Unit::None => false,
    }
}

/// The value a clause asks of a capability.
fn value_for(cap: &Capability, clause: &Clause, words: &[String]) -> Result<Value, NoAction> {
    let cues = &clause.cues;
    match &cap.kind {
        CapabilityType::Enum { values } => {
            if is_on_off(cap)
                && let Some(on) = cues.power
            {
                return Ok(Value::from(if on { "on" } else { "off" }));
            }
            if is_lock(cap)
                && let Some(lock) = cues.lock
            {
                let want = if lock { "locked" } else { "unlocked" };
                if values.iter().any(|v| v == want) {
                    return Ok(Value::from(want));
                }
            }
            // The last value word wins: "change mode from heat to cool".
            if let Some(v) = words
                .iter()
                .rev()
                .find_map(|w| values.iter().find(|v| *v == w))
            {
                return Ok(Value::from(v.clone()));
            }
            if let Some(dir) = cues.direction {
                let want = if dir == Direction::Up {
                    "open"
                } else {
                    "closed"
                };
                if let Some(v) = values.iter().find(|v| v.starts_with(&want[..4])) {
                    return Ok(Value::from(v.clone()));
                }
            }
            Err(NoAction(format!(
                "{} takes one of {}",
                cap.name,
                values.join("|")
            )))
        }
        CapabilityType::Number { min, max, .. } => {
            let (min, max) = (*min, *max);
            if let Some((n, unit)) = cues.number {
                let v = if unit == Unit::Percent && cap.unit.as_deref() != Some("%") {
                    min + n / 100.0 * (max - min)
                } else {
                    n
                };
                return Ok(number(round(v)));
            }
            // The lowest brightness is the lowest level still on, not off.
            if cues.extreme
                && cues.direction == Some(Direction::Down)
                && matches!(cap.name.as_str(), "brightness" | "level" | "dim")
                && let Some(v) = super::roles::lowest_on(cap)
            {
                return Ok(number(round(v)));
            }
            if let Some(dir) = cues.direction {
                return Ok(number(if dir == Direction::Up { max } else { min }));
            }
            if cues.extreme {
                return Ok(number(max));
            }
            Err(NoAction(format!(
                "no value for {} (between {min} and {max})",
                cap.name
            )))
        }
        CapabilityType::Bool => {
            let yes = words
                .iter()
                .any(|w| matches!(w.as_str(), "true" | "yes" | "open" | "on"));
            let no = words
                .iter()
                .any(|w| matches!(w.as_str(), "false" | "no" | "closed" | "close" | "off"));
            match (yes, no) {
                (true, false) => Ok(Value::Bool(true)),
                (false, true) => Ok(Value::Bool(false)),
                _ => Err(NoAction(format!("no value for {}", cap.name))),
            }
        }
        CapabilityType::String => Err(NoAction(format!("no value for {}", cap.name))),
    }
}

/// Rounds to a sensible precision so that 17.5 stays 17.5 and 4600.000001 is 4600.
fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The capability/value pairs a clause asks of a device.
/// What a goal asks of a vacuum ("send it back to its dock", "pause the
/// robot vacuum", "hoover the house"), as the state value its schema takes.
fn vacuum_command(
    device: &Device,
    clause: &Clause,
    words: &[String],
) -> Option<Vec<(String, Value)>> {
    let says = |list: &[&str]| words.iter().any(|w| list.contains(&w.as_str()));
    // The last entry (start) is also the device's own name ("the vacuum"):
    // "turn off the vacuum" stops it.
    let (start, commands) = lexicon::VACUUM_WORDS.split_last()?;
    for (said, values) in commands {
        if says(said) {
            return super::templates::enum_to(device, values);
        }
    }
    match clause.cues.power {
        Some(false) => super::templates::enum_to(device, &["idle", "stopped", "returning"]),
        Some(true) => super::templates::enum_to(device, start.1),
        None if says(start.0) => super::templates::enum_to(device, start.1),
        None => None,
    }
}

pub fn derive(
    device: &Device,
    clause: &Clause,
    words: &[String],
) -> Result<Vec<(String, Value)>, NoAction> {
    let cues = &clause.cues;
    if super::roles::domain(device) == "vacuum"
        && let Some(pairs) = vacuum_command(device, clause, words)
    {
        return Ok(pairs);
    }
    let caps = &device.capabilities;
    let by_index = |i: usize| &caps[i];
    // 1. A capability the clause names ("brightness", "mode", "speed").
    let mut named: Vec<(usize, usize)> = mentions(device, words)
        .into_iter()
        .filter(|&(_, h)| h > 0)
        .collect();
    named.sort_by_key(|&(i, h)| (std::cmp::Reverse(h), i));
    let fits = |cap: &Capability| value_for(cap, clause, words).is_ok();
    let mut chosen: Option<usize> = None;
    if let Some(&(_, best)) = named.first() {
        let top: Vec<usize> = named
            .iter()
            .filter(|&&(_, h)| h == best)
            .map(|&(i, _)| i)
            .collect();
        chosen = top
            .iter()
            .copied()
            .find(|&i| fits(by_index(i)) && !(is_on_off(by_index(i)) && cues.power.is_none()))
            .or_else(|| top.iter().copied().find(|&i| fits(by_index(i))))
            .or(top.first().copied());
        // "power" named on a device with a writable power switch and a read-only power draw.
        if let Some(i) = chosen
            && cues.number.is_some()
            && !matches!(by_index(i).kind, CapabilityType::Number { .. })
            && let Some(j) = named
                .iter()
                .map(|&(j, _)| j)
                .find(|&j| matches!(by_index(j).kind, CapabilityType::Number { .. }))
        {
            chosen = Some(j);
        }
    }
    // "set the AC to cool": the named setting takes no such value ("cool"
    // names the set point too), another setting does (the mode).
    if chosen.is_some_and(|i| !fits(by_index(i)))
        && let Some(other) = caps.iter().position(|c| {
            !c.readonly
                && !is_on_off(c)
                && words.iter().any(|w| enum_values(c).contains(w))
                && fits(c)
        })
    {
        chosen = Some(other);
    }
    // "on quiet", "on boost": a value of another setting, not the switch.
    if chosen.is_some_and(|i| is_on_off(by_index(i))) {
        let other = caps.iter().position(|c| {
            !c.readonly && !is_on_off(c) && words.iter().any(|w| enum_values(c).contains(w))
        });
        if other.is_some() {
            chosen = other;
        }
    }
    // 2. Otherwise, what the cues point to.
    if chosen.is_none() {
        let find = |pred: &dyn Fn(&Capability) -> bool| {
            caps.iter()
                .position(|c| !c.readonly && pred(c))
                .or_else(|| caps.iter().position(pred))
        };
        let enum_word = caps.iter().position(|c| {
            !c.readonly && !is_on_off(c) && words.iter().any(|w| enum_values(c).contains(w))
        });
        chosen = if let Some((_, unit)) = cues
            .number
            .filter(|(_, u)| *u != Unit::None && *u != Unit::Percent)
        {
            find(&|c| unit_matches(c, unit))
        } else if enum_word.is_some() && cues.number.is_none() {
            enum_word
        } else if cues.direction.is_some() && !cues.brightness_verb {
            find(&|c| c.name.contains("position") || enum_values(c).iter().any(|v| v == "open"))
        } else if cues.lock.is_some() {
            find(&is_lock)
        } else if cues.brightness_verb {
            find(&|c| c.name.contains("bright"))
        } else if cues.number.is_some_and(|(_, u)| u == Unit::Percent) {
            find(&|c| unit_matches(c, Unit::Percent))
                .or_else(|| find(&|c| matches!(c.kind, CapabilityType::Number { .. })))
        } else {
            None
        };
        if chosen.is_none() {
            // An enum value the clause says ("high", "cool", "on quiet").
            chosen = caps.iter().position(|c| {
                !c.readonly && !is_on_off(c) && words.iter().any(|w| enum_values(c).contains(w))
            });
        }
        // Opening and closing move covers, not lights.
        if cues.direction.is_some()
            && !cues.brightness_verb
            && chosen.is_some_and(|i| caps[i].name.contains("bright"))
        {
            chosen = None;
        }
        if chosen.is_none() && cues.power.is_some() {
            chosen = find(&is_on_off);
        }
        if chosen.is_none() && (cues.direction.is_some() || cues.extreme) {
            chosen = find(&|c| {
                c.name.contains("position") || unit_matches(c, Unit::Percent) && !c.readonly
            })
            .or_else(|| find(&|c| enum_values(c).iter().any(|v| v == "open")));
        }
        // A number, or an end ("as low as it goes"), on a device with one
        // settable number: that one, unless the number's unit says another
        // ("19 degrees" is not a blind's position).
        let unitless = cues
            .number
            .is_some_and(|(_, u)| matches!(u, Unit::None | Unit::Percent));
        if chosen.is_none() && (unitless || cues.number.is_none() && cues.extreme) {
            let numeric: Vec<usize> = (0..caps.len())
                .filter(|&i| {
                    !caps[i].readonly && matches!(caps[i].kind, CapabilityType::Number { .. })
                })
                .collect();
            if numeric.len() == 1 {
                chosen = Some(numeric[0]);
            }
        }
    }
    let Some(i) = chosen else {
        return Err(NoAction(format!(
            "nothing in the request says what to change on {}",
            device.id
        )));
    };
    let cap = by_index(i);
    // "the current temperature" is a reading, whatever the device calls it.
    if !cap.readonly
        && words
            .iter()
            .any(|w| matches!(w.as_str(), "current" | "measured" | "actual"))
    {
        return Err(NoAction(format!(
            "the current reading of {} cannot be set",
            device.id
        )));
    }
    let value = value_for(cap, clause, words)?;
    let mut actions = vec![(cap.name.clone(), value)];
    // "turn on the desk lamp at 40%": the switch, then the level.
    if let Some(on) = cues.power
        && !is_on_off(cap)
        && on
        && let Some(p) = caps.iter().find(|c| is_on_off(c) && !c.readonly)
        && matches!(cap.kind, CapabilityType::Number { .. })
        && !cap.readonly
    {
        actions.insert(0, (p.name.clone(), Value::from("on")));
    }
    Ok(actions)
}
