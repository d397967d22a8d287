//! The first layer of understanding: Home Assistant's intent templates,
//! mapped onto the live registry.
//!
//! [`crate::intents`] says which intent a goal is and which slots it fills
//! (a device's name, a room, a floor, a domain, a value). Here those become
//! devices and actions: a name is the devices called so, a room and a
//! domain are every device of that domain in the room, a floor is its
//! rooms; an intent is a capability and a value per device ([`super::roles`]).
//! When a goal fits several devices and nothing decides, the answer is a
//! question back ([`Decision::Clarify`]), never a guess. What no template
//! matches goes on to the resolver ([`super::resolve`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Map, Value};

use super::StateLookup;
use super::roles::{self, domain};
use crate::intents::{Language, Matcher, Recognition, Vocabulary, normalize};
use crate::registry::value::display_value;
use crate::registry::value::number;
use crate::registry::{CapabilityType, Device, Registry};
use crate::types::Decision;

/// Where a goal was said, and in which language.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GoalContext {
    /// The room (registry room id) the operator is in: "turn off the
    /// lights" then means that room's lights.
    pub room: Option<String>,
}

/// Loaded languages, once per process: parsing a language's templates
/// takes milliseconds, and every agent of the process shares them.
fn cache() -> &'static Mutex<HashMap<String, Option<Arc<Language>>>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Option<Arc<Language>>>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The language `code` from the intents folders, loaded once; `None` (and a
/// warning in the log, once) when it is missing or broken.
pub fn language(code: &str) -> Option<Arc<Language>> {
    let mut cache = cache().lock().expect("intents cache");
    cache
        .entry(code.to_string())
        .or_insert_with(
            || match Language::load(code, &crate::paths::intents_dirs()) {
                Ok(l) => Some(Arc::new(l)),
                Err(e) => {
                    tracing::warn!("intent templates unavailable: {e:#}");
                    None
                }
            },
        )
        .clone()
}

/// One language with the registry's names, rooms and floors.
struct Loaded {
    language: Arc<Language>,
    vocabulary: Vocabulary,
    numbers: Option<text2num::Language>,
    /// Every word of the templates and of the registry's names, rooms and
    /// floors: what a typo is corrected towards.
    known: std::collections::HashSet<String>,
    /// The registry's words and the words for kinds of device only.
    names: std::collections::HashSet<String>,
    /// The templates' own words: which language a goal is in.
    words: std::collections::HashSet<String>,
    /// The registry's names with number words in them, as number
    /// conversion would write them and as they are: (digits, name).
    numbered_names: Vec<(String, String)>,
}

/// The trace's last line when the templates' only reading rests on a
/// wildcard (a search for media): other readings may still do better.
pub const WILDCARD_ONLY: &str = "only a wildcard's reading";

/// The template layer over one registry.
pub struct Templates {
    languages: Vec<Loaded>,
}

/// Words for floors by level, added when a floor has a level and no other
/// floor, room or device already uses the words (English only: the
/// templates of other languages say their own).
const LEVEL_WORDS: &[(i32, &[&str])] = &[
    (-1, &["basement"]),
    (0, &["ground floor", "downstairs"]),
    (1, &["upstairs", "first floor"]),
    (2, &["second floor"]),
];

impl Templates {
    /// The layer for `codes` (the first is preferred) over `registry`;
    /// languages whose data is missing are left out.
    pub fn new(codes: &[String], registry: &Registry) -> Self {
        let languages = codes
            .iter()
            .filter_map(|code| language(code))
            .map(|language| {
                let numbers = text2num::get_interpreter_for(&language.code);
                let mut names: std::collections::HashSet<String> = super::lexicon::KIND_WORDS
                    .iter()
                    .flat_map(|(_, words)| words.iter().map(|w| w.to_string()))
                    .collect();
                for d in registry.devices() {
                    for n in std::iter::once(&d.name).chain(&d.aliases) {
                        names.extend(normalize(n, &[]).split(' ').map(String::from));
                    }
                }
                for r in registry.room_list() {
                    for n in std::iter::once(&r.name).chain(&r.aliases) {
                        names.extend(normalize(n, &[]).split(' ').map(String::from));
                    }
                }
                let words = language.words();
                let mut known = words.clone();
                known.extend(names.iter().cloned());
                for d in registry.devices() {
                    for n in std::iter::once(&d.name).chain(&d.aliases) {
                        known.extend(normalize(n, &[]).split(' ').map(String::from));
                    }
                }
                for r in registry.room_list() {
                    for n in std::iter::once(&r.name).chain(&r.aliases) {
                        known.extend(normalize(n, &[]).split(' ').map(String::from));
                    }
                    known.extend(r.id.split('_').map(String::from));
                }
                for f in &registry.floors {
                    for n in std::iter::once(&f.name).chain(&f.aliases) {
                        known.extend(normalize(n, &[]).split(' ').map(String::from));
                    }
                }
                let mut numbered_names = Vec::new();
                let names_said = registry.names_said();
                for name in &names_said {
                    let name = normalize(name, &[]);
                    let digits = numbers_as_digits(&name, &language.code, numbers.as_ref());
                    if digits != name {
                        numbered_names.push((digits, name));
                    }
                }
                Loaded {
                    numbered_names,
                    vocabulary: vocabulary(registry, &language.code),
                    language,
                    numbers,
                    known,
                    names,
                    words,
                }
            })
            .collect();
        Self { languages }
    }

    /// The floors `goal` names (by name, alias, or in English by level:
    /// "upstairs", "downstairs"), as floor ids.
    pub fn floors_named(&self, registry: &Registry, goal: &str) -> Vec<String> {
        let text = format!(" {} ", normalize(goal, &[]));
        let mut found = Vec::new();
        for f in &registry.floors {
            let mut phrases: Vec<String> = std::iter::once(f.name.clone())
                .chain(f.aliases.iter().cloned())
                .chain(std::iter::once(f.id.replace('_', " ")))
                .collect();
            if let Some(level) = f.level
                && registry
                    .floors
                    .iter()
                    .filter(|g| g.level == Some(level))
                    .count()
                    == 1
            {
                for (l, words) in LEVEL_WORDS {
                    if *l == level {
                        phrases.extend(words.iter().map(|w| w.to_string()));
                    }
                }
            }
            if phrases
                .iter()
                .any(|p| text.contains(&format!(" {} ", normalize(p, &[]))))
            {
                found.push(f.id.clone());
            }
        }
        found
    }

    /// `goal` with its typos corrected towards the preferred language's and
    /// the registry's words, and the corrections; `None` if none was made.
    ///
    /// Only towards the registry's own words (names, rooms, floors) and
    /// the words for kinds of device: the resolver has no template to check
    /// a correction against, and "pool" must not become the mode "cool".
    pub fn corrected(&self, goal: &str) -> Option<(String, Vec<String>)> {
        let loaded = self.languages.first()?;
        let text = with_numbers(&normalize(goal, &loaded.language.skip_words), loaded);
        correct_with(&text, &loaded.names)
    }

    /// `goal` with number words as digits in the preferred language, for
    /// the layers after the templates.
    pub fn with_numbers(&self, goal: &str) -> Option<String> {
        let loaded = self.languages.first()?;
        let text = normalize(goal, &[]);
        let converted = with_numbers(&text, loaded);
        (converted != text).then_some(converted)
    }

    /// `goal` normalized, with number words as digits in the language
    /// `code` (as said when that language is not loaded).
    pub fn with_numbers_in(&self, goal: &str, code: &str) -> String {
        let text = normalize(goal, &[]);
        match self.languages.iter().find(|l| l.language.code == code) {
            Some(loaded) => with_numbers(&text, loaded),
            None => text,
        }
    }

    /// Codes of the loaded languages.
    pub fn codes(&self) -> Vec<&str> {
        self.languages
            .iter()
            .map(|l| l.language.code.as_str())
            .collect()
    }

    /// The loaded languages, those whose templates hold more of the goal's
    /// words first (the configured order among equals): "active ventilador
    /// baño" is Spanish before a French template's wildcard can take it.
    fn likeness(&self, goal: &str) -> Vec<(usize, &Loaded)> {
        let mut order: Vec<(usize, &Loaded)> = self
            .languages
            .iter()
            .map(|l| {
                let text = normalize(goal, &l.language.skip_words);
                // A word or, for words the templates spell in parts
                // ("activ(a|e|ar)"), a stem that leaves at most three
                // letters of it ("vent" is not "ventilador").
                let known = text
                    .split(' ')
                    .filter(|w| {
                        let letters = w.chars().count();
                        l.words.contains(*w)
                            || w.char_indices()
                                .skip(4.max(letters.saturating_sub(3)))
                                .any(|(i, _)| l.words.contains(&w[..i]))
                    })
                    .count();
                (known, l)
            })
            .collect();
        order.sort_by_key(|b| std::cmp::Reverse(b.0));
        tracing::debug!(
            "languages by likeness: {:?}",
            order
                .iter()
                .map(|(n, l)| format!("{} {n}", l.language.code))
                .collect::<Vec<_>>()
        );
        order
    }

    /// The loaded languages in the order of [`Templates::likeness`].
    fn by_likeness(&self, goal: &str) -> Vec<&Loaded> {
        self.likeness(goal).into_iter().map(|(_, l)| l).collect()
    }

    /// How many of `goal`'s words the templates of `code` hold (0 when
    /// that language is not loaded).
    pub fn words_known(&self, goal: &str, code: &str) -> usize {
        self.likeness(goal)
            .into_iter()
            .find(|(_, l)| l.language.code == code)
            .map_or(0, |(known, _)| known)
    }

    /// The decision for `goal` if a template explains it, with the trace.
    pub fn decide(
        &self,
        registry: &Registry,
        goal: &str,
        context: &GoalContext,
        state: StateLookup<'_>,
    ) -> Option<(Decision, Vec<String>)> {
        // Every language as written first, then every language with typos
        // corrected: a goal in Spanish is not "corrected" into English.
        let order = self.by_likeness(goal);
        let mut pending = None;
        for (loaded, fix_typos) in order
            .iter()
            .map(|l| (*l, false))
            .chain(order.iter().map(|l| (*l, true)))
        {
            if fix_typos && pending.is_some() {
                return pending;
            }
            let matcher = Matcher::new(&loaded.language, &loaded.vocabulary);
            let text = normalize(goal, &loaded.language.skip_words);
            let code = loaded.language.code.as_str();
            let mut trace = Vec::new();
            let numbers = with_numbers(&text, loaded);
            let mut from_numbers = 0;
            let readings = if !fix_typos {
                // As written; an indirect question as the direct one; with
                // number words as digits.
                let mut r = matcher.recognize_normalized(&text);
                if r.is_empty()
                    && let Some(q) = direct_question(&text, code)
                {
                    r = matcher.recognize_normalized(&q);
                }
                // With number words as digits first ("à vingt et un degrés"
                // is a set point before it is a search for "vingt et un
                // degrés"), then as written.
                if numbers != text {
                    let mut n = matcher.recognize_normalized(&numbers);
                    if !n.is_empty() {
                        from_numbers = n.len();
                        n.append(&mut r);
                        r = n;
                    }
                }
                r
            } else {
                match correct(&numbers, loaded) {
                    Some((corrected, fixes)) => {
                        let r = matcher.recognize_normalized(&corrected);
                        if !r.is_empty() {
                            trace.push(format!("typos corrected: {}", fixes.join(", ")));
                        }
                        r
                    }
                    None => Vec::new(),
                }
            };
            if readings.is_empty() {
                continue;
            }
            let mut first_refusal = None;
            let mut no_fit = None;
            for (i, r) in readings.iter().take(8).enumerate() {
                let described = describe(r, &loaded.language.code);
                match decide(registry, r, &text, context, state) {
                    Ok(d) => {
                        if i < from_numbers {
                            trace.push(format!("numbers read as \"{numbers}\""));
                        }
                        trace.push(described);
                        return Some((d, trace));
                    }
                    Err(Skip::Refuse(why) | Skip::Elsewhere(why)) => {
                        if first_refusal.is_none() {
                            first_refusal = Some((why, described, r.wildcard > 0));
                        }
                    }
                    Err(Skip::NoFit(why)) => {
                        if no_fit.is_none() {
                            no_fit = Some((why, described));
                        }
                    }
                }
            }
            if let Some((why, described, wildcard)) = first_refusal {
                trace.push(described);
                if !wildcard {
                    return Some((Decision::Refuse(why), trace));
                }
                // A refusal that rests on a wildcard ("active ventilador
                // baño" as a French search for media) waits for the other
                // languages as written.
                if pending.is_none() {
                    trace.push(WILDCARD_ONLY.to_string());
                    pending = Some((Decision::Refuse(why), trace));
                }
            }
            // Only readings of a device as another domain ("set the
            // radiator to 50%" read as a fan speed): the resolver may do
            // better with the same words.
            if let Some((why, described)) = no_fit {
                tracing::debug!("{described}: {why}");
            }
        }
        pending
    }
}

/// Splits "turn off every light but the hall light" into the goal and the
/// exception ("the hall light"); `None` without an exception word.
pub fn split_exception(text: &str, code: &str) -> Option<(String, String)> {
    let words: &[&str] = match code {
        "en" => &[
            " except for ",
            " except ",
            " but not ",
            " but ",
            " other than ",
            " apart from ",
            " besides ",
            " save for ",
            // "switch on every light, not the hall light"
            " not the ",
        ],
        "de" => &[" außer ", " ausser ", " bis auf ", " ohne "],
        "fr" => &[" sauf ", " à part ", " excepté ", " hormis "],
        "es" => &[
            " excepto ",
            " menos ",
            " salvo ",
            " aparte de ",
            " pero no ",
        ],
        _ => &[],
    };
    let (i, w) = words.iter().find_map(|w| text.find(w).map(|i| (i, *w)))?;
    let main = text[..i].trim().to_string();
    let rest = text[i + w.len()..].trim().to_string();
    (!main.is_empty() && !rest.is_empty()).then_some((main, rest))
}

/// The devices an exception names: devices by name or alias, or every
/// device of a room ("the bedroom's"); several joined by "and" or commas.
/// `None` when a part names nothing.
pub fn excluded_devices(registry: &Registry, phrase: &str) -> Option<Vec<String>> {
    const ARTICLES: &[&str] = &[
        "the", "my", "our", "der", "die", "das", "den", "le", "la", "les", "l'", "el", "los", "las",
    ];
    let mut ids = Vec::new();
    for part in phrase
        .split([','])
        .flat_map(|p| p.split(" and "))
        .flat_map(|p| p.split(" und "))
        .flat_map(|p| p.split(" et "))
        .flat_map(|p| p.split(" y "))
    {
        let mut words: Vec<&str> = part.split_whitespace().collect();
        // "leave the desk lamp on", "keep the hall light off": the device.
        if words
            .first()
            .is_some_and(|w| matches!(*w, "leave" | "keep"))
        {
            words.remove(0);
            if words
                .last()
                .is_some_and(|w| matches!(*w, "on" | "off" | "alone" | "open" | "closed" | "be"))
            {
                words.pop();
            }
        }
        while words.first().is_some_and(|w| ARTICLES.contains(w)) {
            words.remove(0);
        }
        // "the one in the bathroom", "those in the kitchen": the room.
        if words
            .first()
            .is_some_and(|w| matches!(*w, "one" | "ones" | "those" | "that"))
            && words.get(1).is_some_and(|w| matches!(*w, "in" | "on"))
        {
            words.drain(..2);
            while words.first().is_some_and(|w| ARTICLES.contains(w)) {
                words.remove(0);
            }
        }
        let raw = words.join(" ");
        let p = raw.trim_end_matches("'s").trim_end_matches('s').to_string();
        if p.is_empty() {
            continue;
        }
        let exactly = |name: &str| normalize(name, &[]) == raw;
        let same = |name: &str| {
            let n = normalize(name, &[]);
            n == p || n.trim_end_matches('s') == p
        };
        let named_by = |fits: &dyn Fn(&str) -> bool| -> Vec<String> {
            registry
                .devices()
                .iter()
                .filter(|d| {
                    fits(&d.name)
                        || d.aliases.iter().any(|a| fits(a))
                        || fits(&d.id.replace('_', " "))
                })
                .map(|d| d.id.clone())
                .collect()
        };
        // A name as said ("the counter lights") is that device.
        let exact = named_by(&exactly);
        if !exact.is_empty() {
            ids.extend(exact);
            continue;
        }
        // A room anywhere in it ("the kitchen", "the kitchen lights", "the
        // light in the kitchen").
        let padded = format!(" {p} ");
        let room = registry.room_list().into_iter().find(|r| {
            std::iter::once(r.name.clone())
                .chain(r.aliases.iter().cloned())
                .chain(std::iter::once(r.id.replace('_', " ")))
                .map(|n| normalize(&n, &[]))
                .any(|n| !n.is_empty() && padded.contains(&format!(" {n} ")))
        });
        // "the kitchen lights" are every light there, even when one of
        // them is called "Kitchen light".
        let plural = raw.ends_with('s') && !raw.ends_with("'s") && raw.len() > p.len();
        let named = named_by(&same);
        let in_room = |room: &crate::registry::Room| -> Vec<String> {
            registry
                .devices()
                .iter()
                .filter(|d| d.room.as_deref() == Some(room.id.as_str()))
                .map(|d| d.id.clone())
                .collect()
        };
        match (&room, named.is_empty()) {
            (Some(room), _) if plural => ids.extend(in_room(room)),
            (_, false) => ids.extend(named),
            (Some(room), true) => ids.extend(in_room(room)),
            (None, true) => return None,
        }
    }
    (!ids.is_empty()).then_some(ids)
}

/// The goal with each word nobody knows replaced by the one known word
/// within a small edit distance (Damerau–Levenshtein: 1 for words of 4 to 6
/// letters, 2 from 7), and the corrections made; `None` if none was made.
/// A word with two equally near candidates is left alone.
fn correct(text: &str, loaded: &Loaded) -> Option<(String, Vec<String>)> {
    correct_with(text, &loaded.known)
}

/// [`correct`] towards the words of `known`.
fn correct_with(
    text: &str,
    known: &std::collections::HashSet<String>,
) -> Option<(String, Vec<String>)> {
    let mut fixes = Vec::new();
    // Words split or joined by speech-to-text: "bed room" → "bedroom",
    // "livingroom" → "living room", when only that form is known.
    let mut joined: Vec<String> = Vec::new();
    let raw: Vec<&str> = text.split(' ').collect();
    let mut i = 0;
    while i < raw.len() {
        let w = raw[i];
        if let Some(next) = raw.get(i + 1) {
            let both = format!("{w}{next}");
            if (!known.contains(w) || !known.contains(*next)) && known.contains(&both) {
                fixes.push(format!("\"{w} {next}\" → \"{both}\""));
                joined.push(both);
                i += 2;
                continue;
            }
        }
        if !known.contains(w) && w.chars().count() >= 6 {
            let split = (3..w.len().saturating_sub(2))
                .filter(|&k| w.is_char_boundary(k))
                .find(|&k| known.contains(&w[..k]) && known.contains(&w[k..]));
            if let Some(k) = split {
                fixes.push(format!("\"{w}\" → \"{} {}\"", &w[..k], &w[k..]));
                joined.push(format!("{} {}", &w[..k], &w[k..]));
                i += 1;
                continue;
            }
        }
        joined.push(w.to_string());
        i += 1;
    }
    let text = joined.join(" ");
    let words: Vec<String> = text
        .split(' ')
        .map(|w| {
            let n = w.chars().count();
            if known.contains(w) || n < 4 || w.chars().any(|c| c.is_ascii_digit()) {
                return w.to_string();
            }
            let limit = if n >= 7 { 2 } else { 1 };
            // Nearest first; among equals, the same first letter and the same
            // length ("trun" is "turn" rather than "run").
            let first = w.chars().next();
            let mut best: Option<(&str, (usize, bool, usize))> = None;
            let mut tie = false;
            for k in known {
                let kn = k.chars().count();
                if kn.abs_diff(n) > limit {
                    continue;
                }
                let d = strsim::damerau_levenshtein(w, k);
                if d > limit {
                    continue;
                }
                let rank = (d, k.chars().next() != first, kn.abs_diff(n));
                match best {
                    Some((_, b)) if rank > b => {}
                    Some((_, b)) if rank == b => tie = true,
                    _ => {
                        best = Some((k, rank));
                        tie = false;
                    }
                }
            }
            match best {
                Some((k, _)) if !tie => {
                    fixes.push(format!("\"{w}\" → \"{k}\""));
                    k.to_string()
                }
                None => match sounds_like(w, known) {
                    Some(k) => {
                        fixes.push(format!("\"{w}\" → \"{k}\" (by its sound)"));
                        k.to_string()
                    }
                    None => w.to_string(),
                },
                _ => w.to_string(),
            }
        })
        .collect();
    (!fixes.is_empty()).then(|| (words.join(" "), fixes))
}

/// The one known word that sounds like `word` (Double Metaphone, Philips
/// 2000, as in Apache commons-codec, through `rphonetic`) and is at most
/// two edits from it (three from a word of five letters or more): spelled
/// as heard ("lites", "dore", "vacume").
/// `None` when none or several do.
fn sounds_like<'k>(word: &str, known: &'k std::collections::HashSet<String>) -> Option<&'k str> {
    use rphonetic::Encoder;
    // English sounds, and rphonetic slices bytes: ASCII letters only.
    let plain = |w: &str| w.chars().all(|c| c.is_ascii_alphabetic());
    if !plain(word) {
        return None;
    }
    let encoder = rphonetic::DoubleMetaphone::default();
    let code = encoder.encode(word);
    if code.len() < 2 {
        return None;
    }
    let n = word.chars().count();
    let edits = if n >= 5 { 3 } else { 2 };
    let mut found = known.iter().filter(|k| {
        plain(k)
            && k.chars().count().abs_diff(n) <= 2
            && k.chars().next() == word.chars().next()
            && strsim::damerau_levenshtein(word, k) <= edits
            && encoder.encode(k) == code
    });
    let first = found.next()?;
    found.next().is_none().then_some(first.as_str())
}

/// An indirect question as the direct one the templates know: "check
/// whether the kitchen light is on" → "is the kitchen light on" (English).
fn direct_question(text: &str, code: &str) -> Option<String> {
    if code != "en" {
        return None;
    }
    const LEADS: &[&str] = &[
        "check whether",
        "check if",
        "see whether",
        "see if",
        "tell me whether",
        "tell me if",
        "i wonder whether",
        "i wonder if",
        "do you know whether",
        "do you know if",
        "know whether",
        "know if",
        "confirm whether",
        "confirm if",
        "verify whether",
        "verify if",
    ];
    let rest = LEADS.iter().find_map(|l| {
        text.find(&format!("{l} "))
            .map(|i| &text[i + l.len() + 1..])
    })?;
    for verb in [" is ", " are "] {
        if let Some(i) = rest.rfind(verb) {
            return Some(format!(
                "{}{} {}",
                verb.trim(),
                format_args!(" {}", &rest[..i]),
                &rest[i + verb.len()..]
            ));
        }
    }
    None
}

/// Number words as digits ("thirty" → 30), fractions as percentages.
fn with_numbers(text: &str, loaded: &Loaded) -> String {
    let converted = numbers_as_digits(text, &loaded.language.code, loaded.numbers.as_ref());
    if converted == text {
        return converted;
    }
    // A name keeps its number words: "premier étage" is a floor, not "1er
    // étage"; "second bedroom" a room.
    let (said, mut out) = (format!(" {text} "), format!(" {converted} "));
    for (digits, name) in &loaded.numbered_names {
        if said.contains(&format!(" {name} ")) {
            out = out.replace(&format!(" {digits} "), &format!(" {name} "));
        }
    }
    out.trim().to_string()
}

/// `text` with number words as digits, in the language `code`.
fn numbers_as_digits(text: &str, code: &str, numbers: Option<&text2num::Language>) -> String {
    // "stell … auf achtzig ein": the particle of "einstellen", not "one".
    if code == "de"
        && let Some(head) = text.strip_suffix(" ein")
    {
        return format!("{} ein", numbers_as_digits(head, code, numbers));
    }
    let mut t = text.to_string();
    // Words that look like numbers and are none: "un peu" is "a little",
    // "schalte die Kaffeemaschine ein und …" has the particle "ein".
    let not_numbers: &[(&str, &str)] = match code {
        "fr" => &[("un peu", "unxpeu")],
        "es" => &[("un poco", "unxpoco")],
        "de" => &[
            ("ein bisschen", "einxbisschen"),
            ("ein wenig", "einxwenig"),
            ("ein und", "einxund"),
            ("ein aber", "einxaber"),
        ],
        "en" => &[("a bit", "axbit"), ("a little", "axlittle")],
        _ => &[],
    };
    for (words, mark) in not_numbers {
        t = replace_words(&t, words, mark);
    }
    let t = numbers_with_marks(&t, code, numbers);
    let mut t = format!(" {t} ");
    for (words, mark) in not_numbers {
        t = t.replace(&format!(" {mark} "), &format!(" {words} "));
    }
    t.trim().to_string()
}

/// [`numbers_as_digits`] once the words that are no numbers are marked.
fn numbers_with_marks(text: &str, code: &str, numbers: Option<&text2num::Language>) -> String {
    let mut t = text.to_string();
    // "nineteen and a half", "dix-neuf et demi", "diecinueve y medio",
    // "neunzehneinhalb": a mark read with the number before it.
    let halves: &[&str] = match code {
        "en" => &["and a half", "and half"],
        "fr" => &["et demi", "et demie"],
        "es" => &["y medio", "y media"],
        _ => &[],
    };
    for h in halves {
        t = replace_words(&t, h, HALF_MARK);
    }
    if code == "de" {
        t = t
            .split(' ')
            .map(|w| match w.strip_suffix("einhalb") {
                Some(n) => format!("{} {HALF_MARK}", n.strip_suffix("und").unwrap_or(n))
                    .trim()
                    .to_string(),
                None => w.to_string(),
            })
            .collect::<Vec<_>>()
            .join(" ");
    }
    let quarters: &[(&str, &str)] = match code {
        "de" => &[
            ("drei viertel", "75%"),
            ("dreiviertel", "75%"),
            ("ein viertel", "25%"),
        ],
        "fr" => &[
            ("trois quarts", "75%"),
            ("trois quart", "75%"),
            ("un quart", "25%"),
        ],
        "es" => &[("tres cuartos", "75%"), ("un cuarto", "25%")],
        _ => &[],
    };
    for (words, pct) in quarters {
        t = replace_words(&t, words, pct);
    }
    if code == "en" {
        for (words, pct) in [
            ("three quarters", "75%"),
            ("three quarter", "75%"),
            ("a quarter", "25%"),
            ("one quarter", "25%"),
            ("a third", "33%"),
            ("two thirds", "67%"),
            ("halfway", "50%"),
            ("half", "50%"),
        ] {
            t = replace_words(&t, words, pct);
        }
    }
    // "veintiún grados": the form before a noun, which text2num does not
    // read.
    if code == "es" {
        t = replace_words(&t, "veintiún", "veintiuno");
        t = replace_words(&t, "veintiun", "veintiuno");
    }
    // "trente pour cent" is 30 %, not "30 pour 100".
    for (words, pct) in [("pour cent", "%"), ("por ciento", "%"), ("por cien", "%")] {
        t = replace_words(&t, words, pct);
    }
    let converted = match numbers {
        Some(lang) => {
            let replaced = text2num::replace_numbers_in_text(&t, lang, 0.0);
            normalize(&replaced, &[])
        }
        None => t,
    };
    if !converted.contains(HALF_MARK) {
        return converted;
    }
    // The half goes to the whole number before it, a unit between them
    // staying where it is ("19 degrees and a half" → "19.5 degrees").
    let mut words: Vec<String> = converted.split(' ').map(String::from).collect();
    while let Some(at) = words.iter().position(|w| w == HALF_MARK) {
        let whole = (at.saturating_sub(2)..at)
            .rev()
            .find(|&i| words[i].parse::<u32>().is_ok());
        match whole {
            Some(i) => {
                words[i] = format!("{}.5", words[i]);
                words.remove(at);
            }
            // No number before it: the words as said.
            None => words[at] = halves.first().map_or("einhalb", |h| h).to_string(),
        }
    }
    words.join(" ")
}

/// Stands for "and a half" while numbers are read.
const HALF_MARK: &str = "plushalf";

fn replace_words(text: &str, words: &str, with: &str) -> String {
    let padded = format!(" {text} ");
    padded
        .replace(&format!(" {words} "), &format!(" {with} "))
        .trim()
        .to_string()
}

fn describe(r: &Recognition<'_>, code: &str) -> String {
    let mut slots: Vec<String> = r
        .block
        .slots
        .iter()
        .map(|(k, v)| format!("{k}: {}", plain(v)))
        .collect();
    slots.extend(r.slots.iter().map(|s| {
        let values: Vec<String> = s.values.iter().map(plain).collect();
        format!("{}: {}", s.name, values.join("|"))
    }));
    format!(
        "templates ({code}): {} {{{}}}",
        r.block.intent,
        slots.join(", ")
    )
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The registry's names, rooms and floors as the templates' lists.
fn vocabulary(registry: &Registry, code: &str) -> Vocabulary {
    let mut v = Vocabulary::default();
    for d in registry.devices() {
        let id = Value::from(d.id.clone());
        v.insert("name", &d.name, id.clone());
        for a in &d.aliases {
            v.insert("name", a, id.clone());
        }
        v.insert("name", &d.id.replace('_', " "), id);
    }
    let rooms = registry.room_list();
    for r in &rooms {
        let id = Value::from(r.id.clone());
        v.insert("area", &r.name, id.clone());
        for a in &r.aliases {
            v.insert("area", a, id.clone());
        }
        v.insert("area", &r.id.replace('_', " "), id);
    }
    let taken = |phrase: &str| {
        registry
            .devices()
            .iter()
            .any(|d| d.name.eq_ignore_ascii_case(phrase))
            || rooms.iter().any(|r| r.name.eq_ignore_ascii_case(phrase))
            || registry.floors.iter().any(|f| {
                f.name.eq_ignore_ascii_case(phrase)
                    || f.aliases.iter().any(|a| a.eq_ignore_ascii_case(phrase))
            })
    };
    for f in &registry.floors {
        let id = Value::from(f.id.clone());
        v.insert("floor", &f.name, id.clone());
        for a in &f.aliases {
            v.insert("floor", a, id.clone());
        }
        v.insert("floor", &f.id.replace('_', " "), id.clone());
        if code == "en"
            && let Some(level) = f.level
        {
            let same_level = registry
                .floors
                .iter()
                .filter(|g| g.level == Some(level))
                .count();
            for (l, words) in LEVEL_WORDS {
                if *l == level && same_level == 1 {
                    for w in *words {
                        if !taken(w) {
                            v.insert("floor", w, id.clone());
                        }
                    }
                }
            }
        }
    }
    v
}

/// Why a reading gives no decision.
enum Skip {
    /// The reading does not fit the registry (a name of a device of another
    /// domain): try the next reading; the reason if none fits.
    NoFit(String),
    /// The reading fits, and the goal cannot be done: this is the answer
    /// unless a later reading does better.
    Refuse(String),
    /// The goal names a device and a place it is not in: refused, even as
    /// a question ("is the front door open in the bathroom?" rests on
    /// something untrue, and answering it would pass over that).
    Elsewhere(String),
}

/// Intents giot does not handle, with what to say.
fn unsupported(intent: &str) -> Option<&'static str> {
    Some(match intent {
        i if i.contains("Timer") => "timers",
        i if i.contains("ShoppingList") || i.starts_with("HassList") => "shopping and to-do lists",
        "HassGetWeather" => "weather",
        "HassGetCurrentDate" | "HassGetCurrentTime" => "the date and time",
        "HassBroadcast" => "broadcasts",
        "HassMediaSearchAndPlay" => "searching for media",
        "HassRespond" => "canned responses",
        _ => return None,
    })
}

fn decide(
    registry: &Registry,
    r: &Recognition<'_>,
    text: &str,
    context: &GoalContext,
    state: StateLookup<'_>,
) -> Result<Decision, Skip> {
    let intent = r.block.intent.as_str();
    if let Some(what) = unsupported(intent) {
        return Err(Skip::Refuse(format!(
            "giot does not handle {what} (Home Assistant's {intent})"
        )));
    }
    if intent == "HassNevermind" {
        return Err(Skip::Refuse(
            "nothing to do: the goal takes nothing back".into(),
        ));
    }
    let question = matches!(intent, "HassGetState" | "HassClimateGetTemperature");
    let targets = match targets(registry, r, text, context) {
        Ok(t) => t,
        // A question about a group with nothing in it has an answer.
        Err(Skip::Refuse(why)) if question => return Ok(Decision::Answer(why)),
        Err(Skip::Elsewhere(why)) => return Err(Skip::Refuse(why)),
        Err(e) => return Err(e),
    };
    if question {
        Ok(answer(r, &targets, state))
    } else {
        act(r, &targets, state)
    }
}

/// The devices a reading is about.
struct Targets<'a> {
    devices: Vec<&'a Device>,
    /// Whether the goal named the devices as a group (a room, a floor, a
    /// domain), so that all of them are meant.
    group: bool,
    /// How the goal named them, for messages ("lights in the kitchen").
    what: String,
}

fn slot_str<'a>(r: &'a Recognition<'_>, name: &str) -> Option<&'a str> {
    r.slot(name)
        .and_then(|s| s.values.first())
        .or_else(|| r.block.slots.get(name))
        .and_then(Value::as_str)
}

/// The domains a reading allows: its fixed `domain` slot, or its
/// `requires_context.domain` list.
fn domains(r: &Recognition<'_>) -> Vec<String> {
    if let Some(d) = slot_str(r, "domain") {
        return vec![d.to_string()];
    }
    match r.block.requires_context.get("domain") {
        Some(Value::String(d)) => return vec![d.clone()],
        Some(Value::Array(v)) => {
            return v
                .iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect();
        }
        _ => {}
    }
    // Intents that only make sense for one domain, when the block does not
    // say it: never "every device".
    let intent = r.block.intent.as_str();
    let implied = if intent.starts_with("HassVacuum") {
        "vacuum"
    } else if intent.starts_with("HassLawnMower") {
        "lawn_mower"
    } else if intent.starts_with("HassMedia") || intent.contains("Volume") {
        "media_player"
    } else if intent.starts_with("HassClimate") {
        "climate"
    } else if intent == "HassLightSet" {
        "light"
    } else if intent == "HassFanSetSpeed" {
        "fan"
    } else {
        return Vec::new();
    };
    vec![implied.to_string()]
}

fn plural_words(text: &str) -> bool {
    text.split(' ').any(|w| {
        matches!(
            w,
            "all"
                | "every"
                | "each"
                | "lights"
                | "lamps"
                | "fans"
                | "switches"
                | "blinds"
                | "covers"
                | "shutters"
                | "curtains"
                | "doors"
                | "locks"
                | "windows"
                | "alle"
                | "tous"
                | "toutes"
                | "les"
                | "todas"
                | "todos"
                | "las"
                | "los"
        )
    })
}

fn targets<'a>(
    registry: &'a Registry,
    r: &Recognition<'_>,
    text: &str,
    context: &GoalContext,
) -> Result<Targets<'a>, Skip> {
    let domains = domains(r);
    // One class ("door") or several (["blind", "shade"]).
    let classes: Vec<&str> = match r
        .slot("device_class")
        .and_then(|s| s.values.first())
        .or_else(|| r.block.slots.get("device_class"))
    {
        Some(Value::String(c)) => vec![c.as_str()],
        Some(Value::Array(cs)) => cs.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let fits = |d: &Device| {
        (domains.is_empty() || domains.iter().any(|x| x == domain(d)))
            && (classes.is_empty() || classes.iter().any(|c| roles::has_class(d, c)))
    };
    // "vacuum the kitchen": the kitchen is where to clean, not where the
    // vacuum is.
    let place_is_target = r.block.intent != "HassVacuumCleanArea";
    let area = r
        .slot("area")
        .and_then(|s| s.values.first())
        .and_then(Value::as_str)
        .map(String::from)
        .filter(|_| place_is_target);
    let floor = slot_str(r, "floor")
        .map(String::from)
        .filter(|_| place_is_target);
    let in_place = |d: &Device, area: Option<&str>| match (area, &floor) {
        (Some(a), _) => d.room.as_deref() == Some(a),
        (None, Some(f)) => d
            .room
            .as_deref()
            .is_some_and(|room| registry.floor_of(room).is_some_and(|fl| &fl.id == f)),
        (None, None) => true,
    };
    if let Some(name) = r.slot("name") {
        let named: Vec<&Device> = name
            .values
            .iter()
            .filter_map(Value::as_str)
            .filter_map(|id| registry.get(id))
            .collect();
        let of_domain: Vec<&Device> = named.iter().copied().filter(|d| fits(d)).collect();
        let fitting: Vec<&Device> = of_domain
            .iter()
            .copied()
            .filter(|d| in_place(d, area.as_deref()))
            .collect();
        if fitting.is_empty() && !of_domain.is_empty() {
            // The device exists, elsewhere: say so rather than guess.
            let place = match (&area, &floor) {
                (Some(a), _) => format!("in the {}", a.replace('_', " ")),
                (None, Some(f)) => format!("on the {}", f.replace('_', " ")),
                (None, None) => "there".into(),
            };
            return Err(Skip::Elsewhere(format!("\"{}\" is not {place}", name.text)));
        }
        if fitting.is_empty() {
            let kinds = if domains.is_empty() {
                "what was asked".to_string()
            } else {
                domains.join(" or ").replace('_', " ")
            };
            let place = match (&area, &floor) {
                (Some(a), _) => format!(" in the {}", a.replace('_', " ")),
                (None, Some(f)) => format!(" on the {}", f.replace('_', " ")),
                (None, None) => String::new(),
            };
            return Err(Skip::NoFit(format!(
                "\"{}\"{place} is not a {kinds}",
                name.text
            )));
        }
        // A name two devices share: the operator's room decides, else ask.
        let fitting = if fitting.len() > 1
            && let Some(room) = &context.room
            && fitting.iter().any(|d| d.room.as_deref() == Some(room))
        {
            fitting
                .into_iter()
                .filter(|d| d.room.as_deref() == Some(room))
                .collect()
        } else {
            fitting
        };
        return Ok(Targets {
            devices: fitting,
            group: false,
            what: format!("\"{}\"", name.text),
        });
    }
    let needs_context_area = r
        .block
        .requires_context
        .get("area")
        .is_some_and(|a| a.get("slot").and_then(Value::as_bool) == Some(true));
    let area = match area {
        Some(a) => Some(a),
        None if needs_context_area && floor.is_none() => context.room.clone(),
        None => None,
    };
    let devices: Vec<&Device> = registry
        .devices()
        .iter()
        .filter(|d| fits(d) && in_place(d, area.as_deref()))
        .collect();
    let kind = classes
        .first()
        .map(|c| c.to_string())
        .or_else(|| domains.first().cloned())
        .unwrap_or_else(|| "device".into());
    let place = match (&area, &floor) {
        (Some(a), _) => format!(" in the {}", a.replace('_', " ")),
        (None, Some(f)) => format!(" on the {}", f.replace('_', " ")),
        (None, None) => String::new(),
    };
    let what = format!("{}{place}", plural(&kind.replace('_', " ")));
    if devices.is_empty() {
        return Err(Skip::Refuse(format!("there are no {what} in the registry")));
    }
    // A template that needs no room ("turn off all the lights", "everywhere")
    // means the whole home; one that reads the room ("turn on the light")
    // means one device there, unless the words say all of them.
    let group = area.is_some()
        || floor.is_some()
        || !needs_context_area
        || plural_words(text)
        || devices.len() == 1;
    Ok(Targets {
        devices,
        group,
        what,
    })
}

/// "light" → "lights", "switch" → "switches" (English, for messages).
fn plural(kind: &str) -> String {
    if kind.ends_with('s') || kind.ends_with("sh") || kind.ends_with("ch") {
        format!("{kind}es")
    } else {
        format!("{kind}s")
    }
}

fn clarify(targets: &Targets<'_>) -> Decision {
    Decision::Clarify {
        question: format!("which one? {} {} fit", targets.devices.len(), targets.what),
        candidates: targets.devices.iter().map(|d| d.id.clone()).collect(),
    }
}

/// A number slot's value.
fn number_slot(r: &Recognition<'_>, name: &str) -> Option<f64> {
    r.slot(name)
        .and_then(|s| s.values.first())
        .and_then(Value::as_f64)
}

fn act(
    r: &Recognition<'_>,
    targets: &Targets<'_>,
    state: StateLookup<'_>,
) -> Result<Decision, Skip> {
    if targets.devices.len() > 1 && !targets.group {
        return Ok(clarify(targets));
    }
    let intent = r.block.intent.as_str();
    let mut actions = Vec::new();
    for d in &targets.devices {
        let current = state(&d.id);
        match action(intent, r, d, current.as_ref()) {
            Ok(pairs) => {
                for (cap, value) in pairs {
                    actions.push(d.action(&cap, value));
                }
            }
            // In a group, a device that cannot do it is left out ("turn off
            // the kitchen" leaves its sensors alone); named alone, it refuses.
            Err(why) if targets.devices.len() == 1 => return Err(Skip::Refuse(why.0)),
            Err(_) => {}
        }
    }
    if actions.is_empty() {
        return Err(Skip::Refuse(format!(
            "none of the {} can do that",
            targets.what
        )));
    }
    Ok(Decision::Act(actions))
}

/// Capability names and the values to set them to.
pub(super) type Pairs = Vec<(String, Value)>;

/// Why a device cannot do what an intent asks ("Hall light cannot be
/// dimmed"): the text of the refusal.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
struct Unmet(String);

impl From<&str> for Unmet {
    fn from(text: &str) -> Self {
        Unmet(text.to_string())
    }
}

fn set(cap: &str, v: Value) -> Result<Pairs, Unmet> {
    Ok(vec![(cap.to_string(), v)])
}

/// The capability and value `intent` means for device `d`.
fn action(
    intent: &str,
    r: &Recognition<'_>,
    d: &Device,
    current: Option<&Map<String, Value>>,
) -> Result<Pairs, Unmet> {
    let cannot = |what: &str| Err(Unmet(format!("{} cannot {what}", d.name)));
    match intent {
        "HassTurnOn" | "HassTurnOff" => {
            let on = intent == "HassTurnOn";
            on_off(d, on).ok_or_else(|| {
                Unmet(format!(
                    "{} cannot be {}",
                    d.name,
                    if on { "turned on" } else { "turned off" }
                ))
            })
        }
        "HassLightSet" => {
            let mut pairs = Vec::new();
            if let Some(b) = number_slot(r, "brightness") {
                let Some(cap) = roles::find(d, &["brightness", "level", "dim"]) else {
                    return cannot("be dimmed");
                };
                let v = if b > 0.0
                    && b <= 1.0
                    && r.slot("brightness")
                        .is_some_and(|s| !s.text.chars().any(|c| c.is_ascii_digit()))
                {
                    // "minimum": the lowest level that is still on.
                    roles::lowest_on(cap).unwrap_or(b)
                } else {
                    roles::percent_of(cap, b).unwrap_or(b)
                };
                pairs.push((cap.name.clone(), number(round(v))));
            }
            if let Some(k) = number_slot(r, "temperature") {
                let Some(cap) = roles::find(d, &["color_temp", "color_temperature", "colour_temp"])
                else {
                    return cannot("change its colour temperature");
                };
                let named = r
                    .slot("temperature")
                    .is_some_and(|s| !s.text.chars().any(|c| c.is_ascii_digit()));
                let mut v = if cap
                    .unit
                    .as_deref()
                    .is_some_and(|u| u.eq_ignore_ascii_case("mired"))
                {
                    (1_000_000.0 / k).round()
                } else {
                    k
                };
                // A named white is a region, not a point: the nearest the
                // lamp can do.
                if named && let CapabilityType::Number { min, max, .. } = cap.kind {
                    v = v.clamp(min, max);
                }
                pairs.push((cap.name.clone(), number(v)));
            }
            if r.slot("color").is_some() {
                return cannot("change colour (giot does not model colours yet)");
            }
            if pairs.is_empty() {
                return cannot("do that");
            }
            Ok(pairs)
        }
        "HassSetPosition" => {
            let p = number_slot(r, "position").ok_or("no position given")?;
            match roles::find(d, &["position", "level", "tilt"]) {
                Some(cap) => set(
                    &cap.name,
                    number(round(roles::percent_of(cap, p).unwrap_or(p))),
                ),
                None => cannot("be set to a position"),
            }
        }
        "HassClimateSetTemperature" => {
            let t = number_slot(r, "temperature").ok_or("no temperature given")?;
            let mode = current
                .and_then(|s| s.get("mode").or_else(|| s.get("system_mode")))
                .and_then(Value::as_str);
            let cool = match mode {
                Some("cool") => Some(true),
                Some("heat") => Some(false),
                _ => None,
            };
            // With both set points and no mode that says which, the first
            // for now: the agent then reads the goal's words ("cool the
            // living room to 24") and asks when they do not say either.
            match roles::setpoint(d, cool).or_else(|| roles::setpoints(d).next()) {
                Some(cap) => set(&cap.name, number(t)),
                None => cannot("take a temperature"),
            }
        }
        "HassFanSetSpeed" => {
            let p = number_slot(r, "percentage").ok_or("no speed given")?;
            let Some(cap) = roles::find(d, &["speed", "percentage", "fan_speed"]) else {
                return cannot("change speed");
            };
            match &cap.kind {
                CapabilityType::Number { .. } => set(
                    &cap.name,
                    number(round(roles::percent_of(cap, p).unwrap_or(p))),
                ),
                CapabilityType::Enum { values } if !values.is_empty() => {
                    let i = ((p / 100.0) * values.len() as f64).ceil().max(1.0) as usize - 1;
                    set(
                        &cap.name,
                        Value::from(values[i.min(values.len() - 1)].clone()),
                    )
                }
                _ => cannot("change speed"),
            }
        }
        "HassSetVolume" => {
            let v = number_slot(r, "volume_level").ok_or("no volume given")?;
            match roles::find(d, &["volume", "volume_level"]) {
                Some(cap) => set(
                    &cap.name,
                    number(round(roles::percent_of(cap, v).unwrap_or(v))),
                ),
                None => cannot("change volume"),
            }
        }
        "HassSetVolumeRelative" => {
            let Some(cap) = roles::find(d, &["volume", "volume_level"]) else {
                return cannot("change volume");
            };
            let step = match r.slot("volume_step").and_then(|s| s.values.first()) {
                Some(Value::String(s)) if s == "up" => 10.0,
                Some(Value::String(s)) if s == "down" => -10.0,
                Some(v) => v.as_f64().unwrap_or(10.0),
                None => 10.0,
            };
            let Some(now) = current
                .and_then(|s| s.get(&cap.name))
                .and_then(Value::as_f64)
            else {
                return Err(Unmet(format!(
                    "the volume of {} is not known yet, so it cannot be changed by a step",
                    d.name
                )));
            };
            let (min, max) = match cap.kind {
                CapabilityType::Number { min, max, .. } => (min, max),
                _ => (0.0, 100.0),
            };
            let delta = roles::percent_of(cap, step.abs()).unwrap_or(step.abs()) - min;
            let v = if step >= 0.0 {
                now + delta
            } else {
                now - delta
            };
            set(&cap.name, number(round(v.clamp(min, max))))
        }
        "HassMediaPause" | "HassMediaUnpause" => {
            let want = if intent == "HassMediaPause" {
                "paused"
            } else {
                "playing"
            };
            match d
                .writable()
                .find(|c| roles::enum_values(c).iter().any(|v| v == want))
            {
                Some(cap) => set(&cap.name, Value::from(want)),
                None => cannot(if want == "paused" { "pause" } else { "play" }),
            }
        }
        "HassMediaNext" | "HassMediaPrevious" => {
            let want = if intent == "HassMediaNext" {
                "next"
            } else {
                "previous"
            };
            match d
                .writable()
                .find(|c| roles::enum_values(c).iter().any(|v| v == want))
            {
                Some(cap) => set(&cap.name, Value::from(want)),
                None => cannot("skip tracks"),
            }
        }
        "HassMediaPlayerMute" | "HassMediaPlayerUnmute" => {
            let mute = intent == "HassMediaPlayerMute";
            match roles::find(d, &["muted", "mute", "is_volume_muted"]) {
                Some(cap) if cap.kind == CapabilityType::Bool => set(&cap.name, Value::Bool(mute)),
                Some(cap) => {
                    let want = if mute { "on" } else { "off" };
                    set(&cap.name, Value::from(want))
                }
                None => cannot("be muted"),
            }
        }
        "HassVacuumStart" | "HassVacuumCleanArea" | "HassLawnMowerStartMowing" => {
            enum_to(d, &["cleaning", "mowing", "start"])
                .ok_or_else(|| Unmet(format!("{} cannot start", d.name)))
        }
        "HassVacuumReturnToBase" | "HassLawnMowerDock" => {
            enum_to(d, &["returning", "return_to_base", "docked", "dock"])
                .ok_or_else(|| Unmet(format!("{} cannot return to its dock", d.name)))
        }
        other => Err(Unmet(format!(
            "giot does not handle Home Assistant's {other} yet"
        ))),
    }
}

/// The first writable enum value among `wanted`, in order of preference.
pub(super) fn enum_to(d: &Device, wanted: &[&str]) -> Option<Pairs> {
    wanted.iter().find_map(|w| {
        d.writable()
            .find(|c| roles::enum_values(c).iter().any(|v| v == w))
            .map(|c| vec![(c.name.clone(), Value::from(*w))])
    })
}

/// What "turn on" / "turn off" means for `d`.
pub(super) fn on_off(d: &Device, on: bool) -> Option<Pairs> {
    match domain(d) {
        "lock" => {
            let cap = roles::lock(d)?;
            return Some(vec![(
                cap.name.clone(),
                Value::from(if on { "locked" } else { "unlocked" }),
            )]);
        }
        "cover" | "valve" => {
            if let Some(cap) = roles::find(d, &["position"])
                && let CapabilityType::Number { min, max, .. } = cap.kind
            {
                return Some(vec![(cap.name.clone(), number(if on { max } else { min }))]);
            }
            if let Some(p) = enum_to(d, if on { &["open"] } else { &["closed", "close"] }) {
                return Some(p);
            }
        }
        "climate" => {
            if let Some(cap) = d.writable().find(|c| {
                matches!(c.name.as_str(), "mode" | "hvac_mode" | "system_mode")
                    && roles::enum_values(c).iter().any(|v| v == "off")
            }) {
                let values = roles::enum_values(cap);
                let v = if !on {
                    "off"
                } else if let Some(v) = ["heat", "auto", "heat_cool", "cool"]
                    .into_iter()
                    .find(|w| values.iter().any(|v| v == w))
                {
                    v
                } else {
                    values.iter().find(|v| *v != "off")?.as_str()
                };
                return Some(vec![(cap.name.clone(), Value::from(v))]);
            }
        }
        "vacuum" => {
            return if on {
                enum_to(d, &["cleaning", "start"])
            } else {
                enum_to(d, &["idle", "paused", "stopped", "returning"])
            };
        }
        "scene" | "script" => {
            if !on {
                return None;
            }
            let cap = d.writable().next()?;
            let v = roles::enum_values(cap)
                .first()
                .cloned()
                .map(Value::from)
                .unwrap_or(Value::Bool(true));
            return Some(vec![(cap.name.clone(), v)]);
        }
        _ => {}
    }
    let cap = roles::on_off(d)?;
    Some(vec![(
        cap.name.clone(),
        if cap.kind == CapabilityType::Bool {
            Value::Bool(on)
        } else {
            Value::from(if on { "on" } else { "off" })
        },
    )])
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The capability a state question is about, and the value it has when the
/// state asked (`on`, `locked`, `open`, …) holds.
fn state_of(d: &Device, asked: &str) -> Option<(String, Value)> {
    let lock = roles::lock(d);
    let cap = match asked {
        "locked" | "unlocked" => lock,
        "open" | "closed" | "opening" | "closing" => d
            .capabilities
            .iter()
            .find(|c| c.name == "position" || c.name == "open" || c.name == "contact")
            .or_else(|| roles::on_off(d)),
        _ => roles::on_off(d).or_else(|| {
            d.capabilities
                .iter()
                .find(|c| c.kind == CapabilityType::Bool)
        }),
    }?;
    Some((cap.name.clone(), Value::from(asked)))
}

/// Whether `value` of capability `cap` is the state `asked`.
fn holds(d: &Device, cap: &str, value: &Value, asked: &str) -> bool {
    let c = d.capability(cap);
    match value {
        Value::String(s) => s == asked,
        Value::Bool(b) => {
            let contact = c.is_some_and(|c| c.name == "contact");
            // A contact sensor reports `contact: true` when closed.
            let open = if contact { !*b } else { *b };
            match asked {
                "on" | "open" | "opening" => open,
                "off" | "closed" | "closing" => !open,
                _ => false,
            }
        }
        Value::Number(n) => {
            let n = n.as_f64().unwrap_or(0.0);
            let min = match c.map(|c| &c.kind) {
                Some(CapabilityType::Number { min, .. }) => *min,
                _ => 0.0,
            };
            match asked {
                "open" | "on" => n > min,
                "closed" | "off" => n <= min,
                _ => false,
            }
        }
        _ => false,
    }
}

fn answer(r: &Recognition<'_>, targets: &Targets<'_>, state: StateLookup<'_>) -> Decision {
    let asked = slot_str(r, "state").map(String::from);
    let temperature = r.block.intent == "HassClimateGetTemperature";
    let mut lines = Vec::new();
    let Some(asked) = asked else {
        // "what is the kitchen temperature", "how is the hall light".
        for d in &targets.devices {
            let Some(current) = state(&d.id) else {
                lines.push(format!("{}: no state seen yet", d.name));
                continue;
            };
            lines.push(super::state_line(
                d,
                &current,
                d.capabilities
                    .iter()
                    .filter(|c| !temperature || c.name.contains("temperature")),
            ));
        }
        return Decision::Answer(lines.join("; "));
    };
    let mut yes = Vec::new();
    let mut no = Vec::new();
    let mut unknown = Vec::new();
    for d in &targets.devices {
        let Some((cap, _)) = state_of(d, &asked) else {
            continue;
        };
        match state(&d.id).and_then(|s| s.get(&cap).cloned()) {
            Some(v) if holds(d, &cap, &v, &asked) => yes.push(d.name.clone()),
            Some(_) => no.push(d.name.clone()),
            None => unknown.push(d.name.clone()),
        }
    }
    let total = yes.len() + no.len() + unknown.len();
    let mut answer = if targets.devices.len() == 1 && total == 1 {
        let d = targets.devices[0];
        // The value itself too: "no, Garden lights is not on (power is off)".
        let shown = state_of(d, &asked)
            .and_then(|(cap, _)| {
                let v = state(&d.id)?.get(&cap).cloned()?;
                let unit = d.capability(&cap).and_then(|c| c.unit.clone());
                Some(format!(
                    " ({} is {})",
                    cap.replace('_', " "),
                    display_value(&v, unit.as_deref())
                ))
            })
            .unwrap_or_default();
        match (yes.is_empty(), no.is_empty()) {
            (false, _) => format!("yes, {} is {asked}{shown}", d.name),
            (true, false) => format!("no, {} is not {asked}{shown}", d.name),
            _ => format!("{}: no state seen yet", d.name),
        }
    } else if yes.is_empty() {
        format!("none of the {total} {} are {asked}", targets.what)
    } else {
        format!(
            "{} of the {total} {} {} {asked}: {}",
            yes.len(),
            targets.what,
            if yes.len() == 1 { "is" } else { "are" },
            yes.join(", ")
        )
    };
    let single = targets.devices.len() == 1 && total == 1;
    if !unknown.is_empty() && !single {
        answer.push_str(&format!(" (no state seen yet: {})", unknown.join(", ")));
    }
    Decision::Answer(answer)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::*;
    use crate::agent::{Agent, AgentDefinition};
    use crate::types::Plan;

    const HOME: &str = r#"
floors:
  - {id: ground_floor, name: Ground floor, level: 0, rooms: [hallway, kitchen, living_room]}
  - {id: upstairs_floor, name: Upper floor, aliases: [premier étage], level: 1, rooms: [bedroom]}
rooms:
  - {id: kitchen, name: Kitchen, aliases: [Küche, cuisine, cocina]}
  - {id: living_room, name: Living room, aliases: [Wohnzimmer, salon]}
devices:
  - {id: hall_light, name: Hall light, room: hallway, kind: light, state_topic: s/hall, command_topic: c/hall,
     capabilities: [{name: power, type: enum, values: ["on", "off"]}, {name: brightness, type: number, min: 0, max: 100, unit: "%"}]}
  - {id: kitchen_light, name: Kitchen light, room: kitchen, kind: light, state_topic: s/kl, command_topic: c/kl,
     capabilities: [{name: power, type: enum, values: ["on", "off"]}]}
  - {id: counter_lights, name: Counter lights, room: kitchen, kind: light, state_topic: s/cl, command_topic: c/cl,
     capabilities: [{name: power, type: enum, values: ["on", "off"]}]}
  - {id: living_lamp, name: Floor lamp, room: living_room, kind: light, state_topic: s/ll, command_topic: c/ll,
     capabilities: [{name: power, type: enum, values: ["on", "off"]}, {name: color_temp, type: number, min: 2200, max: 6500, unit: K}]}
  - {id: bedroom_light, name: Bedroom light, room: bedroom, kind: light, state_topic: s/bl, command_topic: c/bl,
     capabilities: [{name: power, type: enum, values: ["on", "off"]}]}
  - {id: front_door, name: Front door, room: hallway, kind: lock, state_topic: s/fd, command_topic: c/fd,
     capabilities: [{name: lock, type: enum, values: ["locked", "unlocked"]}]}
  - {id: back_door, name: Back door, room: kitchen, kind: lock, state_topic: s/bd, command_topic: c/bd,
     capabilities: [{name: lock, type: enum, values: ["locked", "unlocked"]}]}
  - {id: tv, name: TV, room: living_room, kind: media_player, state_topic: s/tv, command_topic: c/tv,
     capabilities: [{name: power, type: enum, values: ["on", "off"]}, {name: volume, type: number, min: 0, max: 100, unit: "%"},
                    {name: muted, type: bool}, {name: playback, type: enum, values: [playing, paused, stopped]}]}
  - {id: robot_vacuum, name: Robot vacuum, room: hallway, kind: vacuum, state_topic: s/rv, command_topic: c/rv,
     capabilities: [{name: state, type: enum, values: [cleaning, docked, returning, paused, idle]}]}
  - {id: heat_pump, name: Heat pump, room: living_room, kind: thermostat, state_topic: s/hp, command_topic: c/hp,
     capabilities: [{name: occupied_heating_setpoint, type: number, min: 5, max: 30}, {name: occupied_cooling_setpoint, type: number, min: 16, max: 32},
                    {name: system_mode, type: enum, values: ["off", heat, cool]}]}
"#;

    fn agent() -> Agent {
        assert!(
            language("en").is_some(),
            "the intent templates are missing: run scripts/fetch-intents"
        );
        let registry = crate::registry::parse_str(HOME, Path::new("home.yaml")).unwrap();
        let mut agent = Agent::new(registry, AgentDefinition::builtin(), None);
        let missing = agent.set_languages(&["en".into(), "de".into(), "fr".into(), "es".into()]);
        assert!(missing.is_empty(), "{missing:?}");
        agent
    }

    fn state(id: &str) -> Option<Map<String, Value>> {
        let s = match id {
            "kitchen_light" => json!({"power": "on"}),
            "counter_lights" | "hall_light" | "living_lamp" | "bedroom_light" => {
                json!({"power": "off", "brightness": 40})
            }
            "front_door" => json!({"lock": "unlocked"}),
            "back_door" => json!({"lock": "locked"}),
            "tv" => json!({"power": "on", "volume": 30, "muted": false, "playback": "playing"}),
            "heat_pump" => json!({"system_mode": "cool", "occupied_heating_setpoint": 20}),
            _ => return None,
        };
        s.as_object().cloned()
    }

    fn plan(goal: &str) -> Plan {
        agent().plan(goal, &state)
    }

    fn plan_in(goal: &str, room: &str) -> Plan {
        let context = GoalContext {
            room: Some(room.into()),
        };
        agent().plan_in(goal, &context, &state)
    }

    fn actions(p: &Plan) -> Vec<(String, String, Value)> {
        match &p.decision {
            Decision::Act(a) => {
                let mut v: Vec<_> = a
                    .iter()
                    .map(|a| (a.device.clone(), a.capability.clone(), a.value.clone()))
                    .collect();
                v.sort_by(|a, b| a.0.cmp(&b.0));
                v
            }
            other => panic!("expected actions, got {other:?} ({:?})", p.trace),
        }
    }

    fn act(d: &str, c: &str, v: Value) -> (String, String, Value) {
        (d.into(), c.into(), v)
    }

    #[test]
    fn a_room_and_a_plural_kind_mean_every_such_device_there() {
        assert_eq!(
            actions(&plan("turn off the kitchen lights")),
            [
                act("counter_lights", "power", json!("off")),
                act("kitchen_light", "power", json!("off"))
            ]
        );
    }

    #[test]
    fn a_floor_means_its_rooms_and_level_words_name_it() {
        assert_eq!(
            actions(&plan("turn off the lights upstairs")),
            [act("bedroom_light", "power", json!("off"))]
        );
        assert_eq!(actions(&plan("turn on the ground floor lights")).len(), 4);
    }

    #[test]
    fn a_floor_constrains_the_resolver_too() {
        // No template reads "… again": the resolver's devices are kept
        // to the floor the goal names.
        let p = plan("turn the lights upstairs off again");
        let devices: Vec<String> = match &p.decision {
            Decision::Act(a) => a.iter().map(|a| a.device.clone()).collect(),
            Decision::Clarify { candidates, .. } => candidates.clone(),
            other => panic!("{other:?} {:?}", p.trace),
        };
        assert_eq!(devices, ["bedroom_light"], "{:?}", p.trace);
    }

    #[test]
    fn the_room_the_goal_was_said_in_is_where_the_lights_are() {
        assert_eq!(
            actions(&plan_in("turn off the lights", "kitchen")),
            [
                act("counter_lights", "power", json!("off")),
                act("kitchen_light", "power", json!("off"))
            ]
        );
    }

    #[test]
    fn questions_anywhere_in_the_sentence_are_answered_and_never_act() {
        for goal in [
            "could you check whether the kitchen light is on?",
            "please, are any lights on",
            "how many lights are on?",
            "which doors are unlocked",
            "is the front door locked",
        ] {
            let p = plan(goal);
            assert!(
                matches!(p.decision, Decision::Answer(_)),
                "{goal}: {:?} {:?}",
                p.decision,
                p.trace
            );
        }
        let Decision::Answer(a) = plan("how many lights are on?").decision else {
            unreachable!()
        };
        assert!(
            a.starts_with("1 of the 5 lights is on: Kitchen light"),
            "{a}"
        );
        let Decision::Answer(a) = plan("is the front door locked").decision else {
            unreachable!()
        };
        assert!(a.starts_with("no, Front door is not locked"), "{a}");
    }

    #[test]
    fn unlock_unlocks_and_a_door_of_two_is_asked_about() {
        assert_eq!(
            actions(&plan("unlock the front door")),
            [act("front_door", "lock", json!("unlocked"))]
        );
        match plan("lock the door").decision {
            Decision::Clarify { candidates, .. } => {
                assert!(
                    candidates.contains(&"front_door".into())
                        && candidates.contains(&"back_door".into()),
                    "{candidates:?}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            plan("turn on the light").decision,
            Decision::Clarify { .. }
        ));
    }

    #[test]
    fn numbers_in_words_and_the_lowest_on_level() {
        assert_eq!(
            actions(&plan("set the hall light brightness to thirty percent")),
            [act("hall_light", "brightness", json!(30))]
        );
        assert_eq!(
            actions(&plan("dim the hall light to thirty percent")),
            [act("hall_light", "brightness", json!(30))]
        );
        assert_eq!(
            actions(&plan("set the hall light to minimum brightness")),
            [act("hall_light", "brightness", json!(1))]
        );
    }

    #[test]
    fn number_words_in_french_and_spanish_and_pour_cent_is_no_hundred() {
        for (code, goal, cap, value) in [
            (
                "fr",
                "règle la lumière du couloir à trente pour cent",
                "brightness",
                json!(30),
            ),
            (
                "es",
                "pon la luz del pasillo al treinta por ciento",
                "brightness",
                json!(30),
            ),
            (
                "fr",
                "mets le thermostat de la chambre à vingt et un degrés",
                "target_temperature",
                json!(21),
            ),
        ] {
            let path = format!(
                "{}/bench/intents/home.{code}.yaml",
                env!("CARGO_MANIFEST_DIR")
            );
            let registry = Registry::load(Path::new(&path)).unwrap();
            let mut agent = Agent::new(registry, AgentDefinition::builtin(), None);
            agent.set_languages(&["en".into(), "de".into(), "fr".into(), "es".into()]);
            let plan = agent.plan(goal, &|_| None);
            let got = actions(&plan);
            assert_eq!(got.len(), 1, "{goal}: {got:?}");
            assert_eq!(
                (got[0].1.as_str(), got[0].2.clone()),
                (cap, value),
                "{goal}"
            );
        }
    }

    #[test]
    fn named_whites_are_colour_temperatures_within_the_lamps_range() {
        assert_eq!(
            actions(&plan("set the floor lamp color temperature to warm white")),
            [act("living_lamp", "color_temp", json!(2700))]
        );
    }

    #[test]
    fn typos_are_corrected_and_the_correction_is_traced() {
        let p = plan("trun on the hall ligth");
        assert_eq!(actions(&p), [act("hall_light", "power", json!("on"))]);
        assert!(
            p.trace.iter().any(|t| t.contains("\"ligth\" → \"light\"")),
            "{:?}",
            p.trace
        );
        // Words split or joined by speech-to-text.
        assert_eq!(
            actions(&plan("turn on the bed room light")),
            [act("bedroom_light", "power", json!("on"))]
        );
        assert_eq!(
            actions(&plan("turn off the livingroom lights")),
            [act("living_lamp", "power", json!("off"))]
        );
        // A word near nothing known stays unknown: nothing acts.
        assert!(matches!(
            plan("turn on the sauna").decision,
            Decision::Refuse(_)
        ));
        // Spelled as heard: a few edits, and the same sound.
        let p = plan("turn on the hall lites");
        assert_eq!(actions(&p), [act("hall_light", "power", json!("on"))]);
        assert!(
            p.trace.iter().any(|t| t.contains("(by its sound)")),
            "{:?}",
            p.trace
        );
        let p = plan("unlock the back dore");
        assert_eq!(actions(&p), [act("back_door", "lock", json!("unlocked"))]);
    }

    #[test]
    fn exceptions_are_left_out_of_the_group() {
        let a = actions(&plan("switch on every light, not the hall light"));
        assert_eq!(a.len(), 4);
        assert!(!a.iter().any(|(d, _, _)| d == "hall_light"));
        let a = actions(&plan("switch on every light but the hall light"));
        assert_eq!(a.len(), 4);
        assert!(!a.iter().any(|(d, _, _)| d == "hall_light"));
        let a = actions(&plan("turn off all the lights except the kitchen"));
        assert_eq!(
            a.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
            ["bedroom_light", "hall_light", "living_lamp"]
        );
        assert!(matches!(
            plan("turn off all lights except the sauna").decision,
            Decision::Refuse(_)
        ));
    }

    #[test]
    fn media_and_vacuum_intents_act_on_their_capabilities() {
        assert_eq!(
            actions(&plan("mute the TV")),
            [act("tv", "muted", json!(true))]
        );
        assert_eq!(
            actions(&plan("pause the TV")),
            [act("tv", "playback", json!("paused"))]
        );
        assert_eq!(
            actions(&plan("set the TV volume to 20%")),
            [act("tv", "volume", json!(20))]
        );
        assert_eq!(
            actions(&plan("start the robot vacuum")),
            [act("robot_vacuum", "state", json!("cleaning"))]
        );
    }

    #[test]
    fn a_cooling_device_gets_its_cooling_set_point() {
        assert_eq!(
            actions(&plan("set the heat pump to 24 degrees")),
            [act("heat_pump", "occupied_cooling_setpoint", json!(24))]
        );
    }

    #[test]
    fn goals_in_german_french_and_spanish_use_their_templates() {
        for goal in [
            "schalte das Licht in der Küche aus",
            "éteins la lumière de la cuisine",
            "apaga las luces de la cocina",
        ] {
            assert_eq!(
                actions(&plan(goal)),
                [
                    act("counter_lights", "power", json!("off")),
                    act("kitchen_light", "power", json!("off"))
                ],
                "{goal}"
            );
        }
    }

    #[test]
    fn what_names_nothing_is_refused_and_timers_are_not_ours() {
        assert!(matches!(
            plan("turn on the attic fan").decision,
            Decision::Refuse(_)
        ));
        let p = plan("set a timer for 5 minutes");
        assert!(
            matches!(&p.decision, Decision::Refuse(r) if r.contains("timers")),
            "{:?}",
            p.decision
        );
    }

    #[test]
    fn the_language_with_more_of_the_words_reads_the_goal_first() {
        // French templates read "active …" as a search for media; the
        // Spanish ones hold "activ(a|e)" and "volumen": unmute.
        assert_eq!(
            actions(&plan("active volumen en tv")),
            [act("tv", "muted", json!(false))]
        );
        // A wildcard's refusal waits for the other languages, and is still
        // the answer when none reads the goal.
        let p = plan("play some jazz");
        assert!(
            matches!(&p.decision, Decision::Refuse(r) if r.contains("media")),
            "{:?}",
            p.decision
        );
    }

    #[test]
    fn a_question_about_a_device_in_a_place_it_is_not_is_refused() {
        let p = plan("is the front door locked in the kitchen");
        assert!(
            matches!(&p.decision, Decision::Refuse(r) if r.contains("not in the kitchen")),
            "{:?} {:?}",
            p.decision,
            p.trace
        );
        // A group with nothing in it is still an answer.
        assert!(matches!(
            plan("are any doors unlocked in the bedroom").decision,
            Decision::Answer(_)
        ));
    }

    #[test]
    fn names_keep_their_number_words_and_german_keeps_its_particle() {
        let registry = crate::registry::parse_str(HOME, Path::new("home.yaml")).unwrap();
        let t = Templates::new(&["fr".into(), "de".into()], &registry);
        assert_eq!(
            with_numbers(
                "mets la lumière du premier étage à trente pour cent",
                &t.languages[0]
            ),
            "mets la lumière du premier étage à 30 %"
        );
        assert_eq!(
            with_numbers("stell die lautstärke auf achtzig ein", &t.languages[1]),
            "stell die lautstärke auf 80 ein"
        );
        assert_eq!(
            with_numbers(
                "stell das thermostat auf neunzehneinhalb grad ein",
                &t.languages[1]
            ),
            "stell das thermostat auf 19.5 grad ein"
        );
        assert_eq!(
            with_numbers(
                "règle le thermostat sur dix-neuf degrés et demi",
                &t.languages[0]
            ),
            "règle le thermostat sur 19.5 degrés"
        );
        assert_eq!(
            with_numbers("ouvre le volet aux trois quarts", &t.languages[0]),
            "ouvre le volet aux 75%"
        );
        let en = Templates::new(&["en".into()], &registry);
        assert_eq!(
            with_numbers("make it nineteen and a half degrees", &en.languages[0]),
            "make it 19.5 degrees"
        );
        assert_eq!(
            with_numbers("open the blinds half way and a half", &en.languages[0]),
            "open the blinds 50% way and a half"
        );
        let es = Templates::new(&["es".into()], &registry);
        assert_eq!(
            with_numbers(
                "pon el termostato a diecinueve grados y medio",
                &es.languages[0]
            ),
            "pon el termostato a 19.5 grados"
        );
        assert_eq!(
            with_numbers("sube la persiana tres cuartos", &es.languages[0]),
            "sube la persiana 75%"
        );
        assert_eq!(
            with_numbers("pon el termostato a veintiún grados", &es.languages[0]),
            "pon el termostato a 21 grados"
        );
        assert_eq!(
            with_numbers("sube un poco la persiana", &es.languages[0]),
            "sube un poco la persiana"
        );
        assert_eq!(
            with_numbers("monte un peu le store à vingt pour cent", &t.languages[0]),
            "monte un peu le store à 20 %"
        );
        assert_eq!(
            with_numbers(
                "schalte die kaffeemaschine ein und die pumpe aus",
                &t.languages[1]
            ),
            "schalte die kaffeemaschine ein und die pumpe aus"
        );
    }

    #[test]
    fn what_no_template_reads_in_german_french_or_spanish_is_read_in_english_words() {
        // An exception after a separable verb's particle.
        assert_eq!(
            actions(&plan(
                "schalte alle Lichter aus außer dem Licht in der Küche"
            )),
            [
                act("bedroom_light", "power", json!("off")),
                act("hall_light", "power", json!("off")),
                act("living_lamp", "power", json!("off"))
            ]
        );
        // Two locks and no way to tell them apart: ask, in every language.
        for goal in ["schließ die Tür ab", "cierra la puerta con llave"] {
            let p = plan(goal);
            match &p.decision {
                Decision::Clarify { candidates, .. } => {
                    assert_eq!(candidates.len(), 2, "{goal}: {:?}", p.trace)
                }
                other => panic!("{goal}: {other:?} {:?}", p.trace),
            }
        }
        // A question inside a request is answered, and nothing acts.
        let p = plan("kannst du nachsehen, ob das Licht in der Küche an ist");
        assert!(
            matches!(p.decision, Decision::Answer(_)),
            "{:?} {:?}",
            p.decision,
            p.trace
        );
        // English words do not stand in for what names nothing.
        assert!(matches!(
            plan("schalte den Dachbodenventilator ein").decision,
            Decision::Refuse(_)
        ));
    }

    #[test]
    fn an_exception_names_a_room_anywhere_and_a_plural_means_the_room() {
        for goal in [
            "turn off all lights except the lights in the kitchen",
            "turn off all lights except the light in the kitchen",
            "turn off all lights except the kitchen lights",
        ] {
            assert_eq!(
                actions(&plan(goal)),
                [
                    act("bedroom_light", "power", json!("off")),
                    act("hall_light", "power", json!("off")),
                    act("living_lamp", "power", json!("off"))
                ],
                "{goal}"
            );
        }
        // A name as said is that device only.
        assert_eq!(
            actions(&plan("turn off all lights except the counter lights")).len(),
            4
        );
    }
}
