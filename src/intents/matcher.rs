//! Matching a goal against one language's sentence templates.
//!
//! The goal is normalised ([`normalize`]: lowercase, punctuation to spaces,
//! one space between words, the language's skip words dropped) and matched
//! character by character, as hassil does, so that text glued to an
//! optional part (`fan[s]`, French `l'{area}`) works. A space in a template
//! is a word boundary: it consumes the input's space, or nothing at the
//! start or end of the goal or right after a space. A sentence matches only
//! when it consumes the whole goal.
//!
//! Slots come from the language's lists and from the [`Vocabulary`] the
//! caller builds from the registry (`name`, `area`, `floor`). Every way a
//! goal matches is returned; choosing among them is the caller's business,
//! since it needs the registry ([`crate::agent`]).

use std::collections::HashMap;

use serde_json::Value;

use super::data::{Block, Language, SlotList};
use super::template::Expr;

/// A phrase list built from the registry: names, areas, floors.
#[derive(Debug, Default, Clone)]
pub struct PhraseList {
    /// Trie nodes: children by character, and the values ending here.
    nodes: Vec<(HashMap<char, usize>, Vec<Value>)>,
}

impl PhraseList {
    /// Adds `phrase` (normalised here) standing for `value`.
    pub fn insert(&mut self, phrase: &str, value: Value) {
        if self.nodes.is_empty() {
            self.nodes.push(Default::default());
        }
        let text = normalize(phrase, &[]);
        if text.is_empty() {
            return;
        }
        let mut at = 0;
        for c in text.chars() {
            at = match self.nodes[at].0.get(&c) {
                Some(&n) => n,
                None => {
                    self.nodes.push(Default::default());
                    let n = self.nodes.len() - 1;
                    self.nodes[at].0.insert(c, n);
                    n
                }
            };
        }
        if !self.nodes[at].1.contains(&value) {
            self.nodes[at].1.push(value);
        }
    }

    /// Every phrase that starts at `input[pos..]`: (end, values).
    fn prefixes(&self, input: &[char], pos: usize) -> Vec<(usize, &[Value])> {
        let mut out = Vec::new();
        let Some(mut node) = self.nodes.first() else {
            return out;
        };
        let mut at = pos;
        while at < input.len() {
            match node.0.get(&input[at]) {
                Some(&n) => {
                    node = &self.nodes[n];
                    at += 1;
                    if !node.1.is_empty() {
                        out.push((at, node.1.as_slice()));
                    }
                }
                None => break,
            }
        }
        out
    }
}

/// The registry's side of the lists: `name`, `area` and `floor` phrases.
#[derive(Debug, Default, Clone)]
pub struct Vocabulary {
    pub lists: HashMap<String, PhraseList>,
}

impl Vocabulary {
    /// Adds a phrase to the list `list` (`name`, `area`, `floor`).
    pub fn insert(&mut self, list: &str, phrase: &str, value: Value) {
        self.lists
            .entry(list.to_string())
            .or_default()
            .insert(phrase, value);
    }
}

/// A slot a match filled.
#[derive(Debug, Clone, PartialEq)]
pub struct Slot {
    pub name: String,
    /// Every value the matched text stands for (a name two devices share
    /// gives both).
    pub values: Vec<Value>,
    /// The goal's own words for it.
    pub text: String,
}

/// One way a goal matches one sentence.
#[derive(Debug, Clone)]
pub struct Recognition<'a> {
    pub block: &'a Block,
    /// Slots from the goal, in order, then none of the block's fixed slots
    /// (those are in `block.slots`).
    pub slots: Vec<Slot>,
    /// Characters matched by literal text: more means a closer reading.
    pub literal: usize,
    /// Characters matched by wildcards: fewer means a closer reading.
    pub wildcard: usize,
}

impl Recognition<'_> {
    /// The slot named `name`, if the goal filled it.
    pub fn slot(&self, name: &str) -> Option<&Slot> {
        self.slots.iter().find(|s| s.name == name)
    }
}

/// Whether `before` ends in the elision "qu" (French "qu'", "lorsqu'"),
/// case aside.
fn ends_with_qu(before: &[char]) -> bool {
    matches!(before, [.., q, u] if q.eq_ignore_ascii_case(&'q') && u.eq_ignore_ascii_case(&'u'))
}

/// Lowercases, turns punctuation into spaces (keeping apostrophes inside
/// words, `%`, `°` and decimal points), folds whitespace, and drops the
/// `skip` phrases where they stand as whole words.
pub fn normalize(goal: &str, skip: &[String]) -> String {
    let mut chars: Vec<char> = goal.chars().collect();
    // An elision written with a space after it ("d' ampoules", "l' entrée",
    // as speech-to-text and sloppy typing give it) is the elided word.
    let mut i = 0;
    while i + 2 < chars.len() {
        let elided = matches!(chars[i], '\'' | '’')
            && i > 0
            && chars[i - 1].is_alphabetic()
            && (i < 2 || !chars[i - 2].is_alphabetic() || ends_with_qu(&chars[..i]))
            && chars[i + 1] == ' ';
        if elided {
            let mut j = i + 1;
            while chars.get(j) == Some(&' ') {
                j += 1;
            }
            if chars.get(j).is_some_and(|c| c.is_alphabetic()) {
                chars.drain(i + 1..j);
            }
        }
        i += 1;
    }
    let mut out = String::with_capacity(goal.len());
    for (i, &c) in chars.iter().enumerate() {
        let keep = c.is_alphanumeric()
            || matches!(c, '%' | '°' | '-')
            || (matches!(c, '\'' | '’')
                && i > 0
                && chars[i - 1].is_alphabetic()
                && chars.get(i + 1).is_some_and(|n| n.is_alphabetic()))
            || (matches!(c, '.' | ',')
                && i > 0
                && chars[i - 1].is_ascii_digit()
                && chars.get(i + 1).is_some_and(char::is_ascii_digit));
        if keep {
            let c = if c == '’' { '\'' } else { c };
            out.extend(c.to_lowercase());
        } else {
            out.push(' ');
        }
    }
    let mut words: Vec<&str> = out.split_whitespace().collect();
    // Hyphens between words are spaces ("wi-fi" stays, "twenty-one" is two).
    let mut text = words.join(" ");
    if text.contains('-') {
        text = text
            .split(' ')
            .map(|w| {
                // A minus sign stays: "-10%" is not "10%".
                let negative =
                    w.starts_with('-') && w[1..].starts_with(|c: char| c.is_ascii_digit());
                let t = w.trim_matches('-');
                if negative { &w[..t.len() + 1] } else { t }
            })
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
    }
    if skip.is_empty() {
        return text;
    }
    words = text.split(' ').collect();
    let mut kept: Vec<&str> = Vec::with_capacity(words.len());
    let mut i = 0;
    'outer: while i < words.len() {
        for phrase in skip {
            let n = phrase.split(' ').count();
            if i + n <= words.len() && words[i..i + n].join(" ") == *phrase {
                i += n;
                continue 'outer;
            }
        }
        kept.push(words[i]);
        i += 1;
    }
    kept.join(" ")
}

#[derive(Debug, Clone)]
struct Partial {
    pos: usize,
    slots: Vec<Slot>,
    literal: usize,
    wildcard: usize,
}

/// Matches goals against one language with one vocabulary.
pub struct Matcher<'a> {
    language: &'a Language,
    vocabulary: &'a Vocabulary,
}

/// More partial matches than this per step are cut (templates with many
/// optional parts can otherwise multiply them).
const WIDTH: usize = 256;

impl<'a> Matcher<'a> {
    pub fn new(language: &'a Language, vocabulary: &'a Vocabulary) -> Self {
        Self {
            language,
            vocabulary,
        }
    }

    /// Every reading of `goal`: the best first (least wildcard text, then a
    /// device's name, then the most literal text).
    pub fn recognize(&self, goal: &str) -> Vec<Recognition<'a>> {
        let text = normalize(goal, &self.language.skip_words);
        self.recognize_normalized(&text)
    }

    /// As [`Matcher::recognize`] for text already [`normalize`]d.
    pub fn recognize_normalized(&self, text: &str) -> Vec<Recognition<'a>> {
        let input: Vec<char> = text.chars().collect();
        let mut found = Vec::new();
        if input.is_empty() {
            return found;
        }
        for sentence in &self.language.sentences {
            if !sentence.required.iter().all(|w| text.contains(w.as_str())) {
                continue;
            }
            let mut out = Vec::new();
            self.expr(
                &sentence.expr,
                &input,
                Partial {
                    pos: 0,
                    slots: Vec::new(),
                    literal: 0,
                    wildcard: 0,
                },
                &mut out,
            );
            let block = &self.language.blocks[sentence.block];
            for p in out {
                if p.pos == input.len() {
                    found.push(Recognition {
                        block,
                        slots: p.slots,
                        literal: p.literal,
                        wildcard: p.wildcard,
                    });
                }
            }
        }
        // As Home Assistant asks of hassil (`recognize_best` with
        // `best_slot_name="name"`): a reading that names a device beats one
        // that names a room and a kind with the same words.
        found.sort_by(|a, b| {
            a.wildcard
                .cmp(&b.wildcard)
                .then(b.slot("name").is_some().cmp(&a.slot("name").is_some()))
                .then(b.literal.cmp(&a.literal))
        });
        // The same reading through two sentences is one reading.
        let mut unique: Vec<Recognition<'a>> = Vec::new();
        for r in found {
            if !unique
                .iter()
                .any(|u| std::ptr::eq(u.block, r.block) && u.slots == r.slots)
            {
                unique.push(r);
            }
        }
        unique
    }

    fn expr(&self, e: &Expr, input: &[char], p: Partial, out: &mut Vec<Partial>) {
        match e {
            Expr::Text(t) => {
                if let Some((pos, n)) = text(t, input, p.pos) {
                    out.push(Partial {
                        pos,
                        literal: p.literal + n,
                        ..p
                    });
                }
            }
            Expr::Seq(items) => {
                let mut current = vec![p];
                for item in items {
                    let mut next = Vec::new();
                    for c in current {
                        self.expr(item, input, c, &mut next);
                    }
                    dedup(&mut next);
                    next.truncate(WIDTH);
                    if next.is_empty() {
                        return;
                    }
                    current = next;
                }
                out.extend(current);
            }
            Expr::Alt(items) => {
                for item in items {
                    self.expr(item, input, p.clone(), out);
                }
            }
            Expr::Perm(items) => {
                // Unfolded at load; kept for templates built by hand.
                for item in items {
                    self.expr(item, input, p.clone(), out);
                }
            }
            Expr::Rule(_) => {}
            Expr::List { list, slot } => self.list(list, slot, input, p, out),
        }
    }

    fn list(&self, list: &str, slot: &str, input: &[char], p: Partial, out: &mut Vec<Partial>) {
        let fill = |p: &Partial, end: usize, values: Vec<Value>, wildcard: usize| {
            let mut slots = p.slots.clone();
            slots.push(Slot {
                name: slot.to_string(),
                values,
                text: input[p.pos..end].iter().collect(),
            });
            Partial {
                pos: end,
                slots,
                literal: p.literal,
                wildcard: p.wildcard + wildcard,
            }
        };
        if let Some(phrases) = self.vocabulary.lists.get(list) {
            if !at_word_start(input, p.pos) {
                return;
            }
            for (end, values) in phrases.prefixes(input, p.pos) {
                out.push(fill(&p, end, values.to_vec(), 0));
            }
            return;
        }
        match self.language.lists.get(list) {
            Some(SlotList::Values(values)) => {
                for (expr, value) in values {
                    let mut ends = Vec::new();
                    self.expr(
                        expr,
                        input,
                        Partial {
                            slots: Vec::new(),
                            ..p.clone()
                        },
                        &mut ends,
                    );
                    for e in ends {
                        let mut q = fill(&p, e.pos, vec![value.clone()], 0);
                        q.literal = e.literal;
                        out.push(q);
                    }
                }
            }
            Some(SlotList::Range {
                from,
                to,
                fractions,
                multiplier,
                ..
            }) => {
                if let Some((end, n)) = number(input, p.pos)
                    && n >= *from
                    && n <= *to
                    && (*fractions || n.fract() == 0.0)
                {
                    let v = n * multiplier;
                    let v = if v.fract() == 0.0 && v.abs() < 1e15 {
                        Value::from(v as i64)
                    } else {
                        Value::from(v)
                    };
                    out.push(fill(&p, end, vec![v], 0));
                }
            }
            Some(SlotList::Wildcard) => {
                if !at_word_start(input, p.pos) {
                    return;
                }
                for end in p.pos + 1..=input.len() {
                    if end == input.len() || input[end] == ' ' {
                        let text: String = input[p.pos..end].iter().collect();
                        let q = fill(&p, end, vec![Value::String(text)], end - p.pos);
                        out.push(q);
                    }
                }
            }
            // A list the language does not define and the registry does
            // not fill (`{zone}` in a home without zones) matches nothing.
            None => {}
        }
    }
}

fn at_word_start(input: &[char], pos: usize) -> bool {
    pos == 0 || pos >= input.len() || input[pos - 1] == ' ' || !input[pos - 1].is_alphanumeric()
}

/// Matches literal text `t` at `pos`: the end and the characters matched.
fn text(t: &str, input: &[char], mut pos: usize) -> Option<(usize, usize)> {
    let mut n = 0;
    for c in t.chars() {
        if c == ' ' {
            if pos == 0 || pos == input.len() || input[pos - 1] == ' ' {
                continue;
            }
            if input[pos] == ' ' {
                pos += 1;
                continue;
            }
            // A boundary between a word and a sign ("50 %" written "50%").
            if !input[pos].is_alphanumeric() || !input[pos - 1].is_alphanumeric() {
                continue;
            }
            return None;
        }
        if pos < input.len() && input[pos] == c {
            pos += 1;
            n += 1;
        } else {
            return None;
        }
    }
    Some((pos, n))
}

/// A number at `pos` ("21", "21.5", "21,5", "-3"): its end and value.
fn number(input: &[char], pos: usize) -> Option<(usize, f64)> {
    if !at_word_start(input, pos) {
        return None;
    }
    let mut end = pos;
    if input.get(end) == Some(&'-') {
        end += 1;
    }
    let digits = end;
    while end < input.len() && (input[end].is_ascii_digit() || matches!(input[end], '.' | ',')) {
        end += 1;
    }
    while end > digits && matches!(input[end - 1], '.' | ',') {
        end -= 1;
    }
    // A unit may follow without a space ("4000k", "21°"); the template
    // says which, so only another digit ends the number wrongly.
    if end == digits || input.get(end).is_some_and(char::is_ascii_digit) {
        return None;
    }
    let s: String = input[pos..end]
        .iter()
        .map(|&c| if c == ',' { '.' } else { c })
        .collect();
    s.parse().ok().map(|v| (end, v))
}

fn dedup(v: &mut Vec<Partial>) {
    let mut i = 0;
    while i < v.len() {
        if v[..i]
            .iter()
            .any(|q| q.pos == v[i].pos && q.slots == v[i].slots)
        {
            // Keep the reading with more literal text.
            let j = v[..i]
                .iter()
                .position(|q| q.pos == v[i].pos && q.slots == v[i].slots)
                .expect("found");
            if v[i].literal > v[j].literal {
                v.swap(i, j);
            }
            v.remove(i);
        } else {
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EN: &str = r#"{
      "language": "en",
      "skip_words": ["please", "can you", "could you"],
      "expansion_rules": {
        "the": "(the|my|our)", "turn": "(turn|switch)", "light": "(light|lights|lamp|lamps)",
        "in": "(in|on|at)", "all": "(all [[of] <the>]|every)", "here": "([in] here|[in] this room)"
      },
      "lists": {
        "brightness": {"range": {"type": "percentage", "from": 0, "to": 100}},
        "temperature": {"range": {"type": "temperature", "from": 0, "to": 100, "fractions": "halves"}},
        "on_off_states": {"values": [{"in": "on", "out": "on"}, {"in": "off", "out": "off"}]},
        "cover_classes": {"values": [{"in": "blind[s]", "out": "blind"}, {"in": "garage door[s]", "out": "garage"}]},
        "search_query": {"wildcard": true}
      },
      "intents": {
        "HassTurnOn": {"data": [
          {"sentences": ["<turn> on [<the>] {name}", "<turn> [<the>] {name} on"], "metadata": {"slot_combination": "name_only"}},
          {"sentences": ["<turn> on [<all>] [<the>] {area} <light>", "<turn> (on;<here>) [<the>] <light>"], "slots": {"domain": "light"}},
          {"sentences": ["open [<the>] {cover_classes:device_class} <in> [<the>] {area}"], "slots": {"domain": "cover"}},
          {"sentences": ["<turn> on fan[s] <in> [<the>] {area}"], "slots": {"domain": "fan"}}
        ]},
        "HassLightSet": {"data": [{"sentences": ["set [<the>] {name} [brightness] to {brightness}[([ ]%)| percent]"]}]},
        "HassClimateSetTemperature": {"data": [{"sentences": ["set [the] temperature to {temperature}[([ ]°)|( degree[s])]"]}]},
        "HassMediaSearchAndPlay": {"data": [{"sentences": ["play {search_query}"]}]}
      }
    }"#;

    fn setup() -> (Language, Vocabulary) {
        let lang = Language::from_json(EN).unwrap();
        let mut v = Vocabulary::default();
        v.insert("name", "Kitchen light", Value::from("kitchen_light"));
        v.insert("name", "kitchen spots", Value::from("kitchen_light"));
        v.insert("name", "Lamp", Value::from("lamp_a"));
        v.insert("name", "Lamp", Value::from("lamp_b"));
        v.insert("area", "Kitchen", Value::from("kitchen"));
        v.insert("area", "Living room", Value::from("living_room"));
        (lang, v)
    }

    type Reading = (String, Vec<(String, Vec<Value>)>);

    fn best(goal: &str) -> Option<Reading> {
        let (lang, v) = setup();
        let m = Matcher::new(&lang, &v);
        m.recognize(goal).first().map(|r| {
            (
                r.block.intent.clone(),
                r.slots
                    .iter()
                    .map(|s| (s.name.clone(), s.values.clone()))
                    .collect(),
            )
        })
    }

    fn slot(name: &str, v: &str) -> (String, Vec<Value>) {
        (name.into(), vec![Value::from(v)])
    }

    #[test]
    fn names_match_whole_with_optional_articles_and_skip_words() {
        assert_eq!(
            best("Please turn on the kitchen light!"),
            Some(("HassTurnOn".into(), vec![slot("name", "kitchen_light")]))
        );
        assert_eq!(
            best("switch my kitchen spots on"),
            Some(("HassTurnOn".into(), vec![slot("name", "kitchen_light")]))
        );
        // Half a name or a longer word is not the name.
        assert_eq!(best("turn on the kitchen"), None);
        assert_eq!(best("turn on the kitchen lightning"), None);
        // The same words as a room and a kind read as the device's name.
        assert_eq!(
            best("turn on the kitchen light").unwrap().1,
            vec![slot("name", "kitchen_light")]
        );
    }

    #[test]
    fn a_name_two_devices_share_gives_both() {
        let (_, slots) = best("turn on the lamp").unwrap();
        assert_eq!(
            slots,
            vec![(
                "name".into(),
                vec![Value::from("lamp_a"), Value::from("lamp_b")]
            )]
        );
    }

    #[test]
    fn areas_with_plural_kinds_and_rules_inside_rules() {
        assert_eq!(
            best("turn on all of the living room lights"),
            Some(("HassTurnOn".into(), vec![slot("area", "living_room")]))
        );
        assert_eq!(
            best("switch on fans in the kitchen"),
            Some(("HassTurnOn".into(), vec![slot("area", "kitchen")]))
        );
        assert_eq!(
            best("switch on fan at kitchen"),
            Some(("HassTurnOn".into(), vec![slot("area", "kitchen")]))
        );
    }

    #[test]
    fn permutations_match_in_either_order() {
        assert!(best("turn on in here the lights").is_some());
        assert!(best("turn in here on the lights").is_some());
        assert!(best("turn on the lights in here").is_none());
    }

    #[test]
    fn value_lists_give_their_out_value_and_glued_plurals_match() {
        assert_eq!(
            best("open the garage doors in the kitchen"),
            Some((
                "HassTurnOn".into(),
                vec![slot("device_class", "garage"), slot("area", "kitchen")]
            ))
        );
    }

    #[test]
    fn ranges_match_numbers_with_or_without_their_unit_glued() {
        for goal in [
            "set the kitchen light to 40%",
            "set kitchen light brightness to 40 %",
            "set the kitchen light to 40 percent",
            "set the kitchen light to 40",
        ] {
            let (intent, slots) = best(goal).unwrap_or_else(|| panic!("{goal}"));
            assert_eq!(intent, "HassLightSet");
            assert_eq!(
                slots[1],
                ("brightness".into(), vec![Value::from(40)]),
                "{goal}"
            );
        }
        assert_eq!(best("set the kitchen light to 140%"), None);
        assert_eq!(best("set the kitchen light to 40 percentage"), None);
    }

    #[test]
    fn halves_are_allowed_only_where_the_range_says() {
        let (_, slots) = best("set the temperature to 21.5 degrees").unwrap();
        assert_eq!(slots[0].1, vec![Value::from(21.5)]);
        let (_, slots) = best("set temperature to 21,5°").unwrap();
        assert_eq!(slots[0].1, vec![Value::from(21.5)]);
        assert_eq!(best("set the kitchen light to 40.5%"), None);
    }

    #[test]
    fn wildcards_take_the_rest_and_rank_after_literal_readings() {
        let (intent, slots) = best("play some jazz music").unwrap();
        assert_eq!(intent, "HassMediaSearchAndPlay");
        assert_eq!(slots[0].1, vec![Value::from("some jazz music")]);
    }

    #[test]
    fn normalize_keeps_decimals_apostrophes_and_units() {
        assert_eq!(
            normalize("What's the TEMP? 21.5°C, ok.", &[]),
            "what's the temp 21.5°c ok"
        );
        assert_eq!(
            normalize("  Turn   on  'the'  light. ", &[]),
            "turn on the light"
        );
        assert_eq!(normalize("twenty-one", &[]), "twenty-one");
        // Elisions written with a space join their word; quotes do not.
        assert_eq!(
            normalize("combien d' ampoules à l'  entrée, qu' il", &[]),
            "combien d'ampoules à l'entrée qu'il"
        );
        assert_eq!(normalize("say 'hello' to it", &[]), "say hello to it");
        assert_eq!(
            normalize("brightness -10% - now", &[]),
            "brightness -10% now"
        );
        assert_eq!(
            normalize(
                "could you please turn it on",
                &["could you".into(), "please".into()]
            ),
            "turn it on"
        );
    }
}
