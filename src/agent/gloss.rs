//! Goals in German, French and Spanish as the English words giot's own
//! resolver reads, for what Home Assistant's templates do not explain
//! ("schalte alle Lichter aus außer dem Flurlicht", "il fait trop sombre
//! dans le bureau", "abre la persiana hasta la mitad").
//!
//! The words are data (`gloss.yaml`); names from the registry are kept as
//! said, so "Lumière du couloir" still names its device.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::registry::Registry;

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    split_verbs: Vec<SplitVerb>,
    phrases: HashMap<String, String>,
    /// The words before and after an exception said last ("nur … nicht").
    #[serde(default)]
    exception_around: Option<[String; 2]>,
    /// Words that make a sentence a question ("est-elle").
    #[serde(default)]
    asking: Vec<String>,
    /// Tag questions said last ("oder", "c'est ça", "verdad").
    #[serde(default)]
    tags: Vec<String>,
}

/// A verb said first with its particle last ("schalte … an", "cierra …
/// con llave").
#[derive(Deserialize)]
struct SplitVerb {
    verbs: Vec<String>,
    particle: String,
    means: String,
}

/// One language's words, as token sequences.
struct Table {
    /// (verbs, particle tokens, English).
    split_verbs: Vec<(Vec<String>, Vec<String>, String)>,
    /// Phrase (tokens) → English, longest first.
    phrases: Vec<(Vec<String>, String)>,
    /// "nur … nicht": the words around an exception said last.
    exception: Option<(String, String)>,
    /// Phrases (tokens) that make a sentence a question.
    asking: Vec<Vec<String>>,
    /// Tag questions (tokens), said last.
    tags: Vec<Vec<String>>,
}

/// English verbs a goal may end with ("Garagentor ganz aufmachen"): they
/// are read first.
const VERBS: &[&str] = &[
    "turn on", "turn off", "open", "close", "lock", "unlock", "start", "stop", "pause", "set",
    "dim", "mute", "resume",
];

fn tables() -> &'static HashMap<String, Table> {
    static TABLES: OnceLock<HashMap<String, Table>> = OnceLock::new();
    TABLES.get_or_init(|| {
        let files: HashMap<String, File> = serde_saphyr::from_str(include_str!("gloss.yaml"))
            .expect("src/agent/gloss.yaml is valid (a unit test reads it)");
        files
            .into_iter()
            .map(|(code, f)| {
                let mut phrases: Vec<(Vec<String>, String)> = f
                    .phrases
                    .into_iter()
                    .map(|(from, to)| (tokens(&from), to))
                    .collect();
                phrases.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
                let split_verbs = f
                    .split_verbs
                    .into_iter()
                    .map(|v| (v.verbs, tokens(&v.particle), v.means))
                    .collect();
                let exception = f.exception_around.map(|[a, b]| (a, b));
                (
                    code,
                    Table {
                        split_verbs,
                        phrases,
                        exception,
                        asking: f.asking.iter().map(|a| tokens(a)).collect(),
                        tags: f.tags.iter().map(|t| tokens(t)).collect(),
                    },
                )
            })
            .collect()
    })
}

/// Whether giot has words for the language `code`.
#[cfg(test)]
fn knows(code: &str) -> bool {
    tables().contains_key(code)
}

/// The language with words for the most of `goal`'s words, and how many;
/// `None` when no language has words for any.
pub fn likely(goal: &str) -> Option<(&'static str, usize)> {
    let said = tokens(goal);
    let mut best: Option<(&'static str, usize)> = None;
    let mut codes: Vec<&'static String> = tables().keys().collect();
    codes.sort();
    for code in codes {
        let table = &tables()[code];
        let mut known = 0;
        let mut i = 0;
        while i < said.len() {
            match phrase_at(table, &said, i, said.len(), &[]) {
                Some((from, _)) => {
                    known += from.len();
                    i += from.len();
                }
                None => i += 1,
            }
        }
        if known > best.map_or(0, |b| b.1) {
            best = Some((code.as_str(), known));
        }
    }
    best
}

/// `text` as tokens: normalized, hyphens as spaces, and French elisions
/// ("l'entrée", "d'un") as their own tokens.
fn tokens(text: &str) -> Vec<String> {
    let text = crate::intents::normalize(text, &[]).replace('-', " ");
    let mut out = Vec::new();
    for word in text.split_whitespace() {
        match word.find('\'') {
            Some(i) if i > 0 && i <= 3 && i + 1 < word.len() => {
                out.push(word[..=i].to_string());
                out.push(word[i + 1..].to_string());
            }
            _ => out.push(word.to_string()),
        }
    }
    out
}

/// The longest phrase of `table` said at `i` (before `end`), on words
/// that are not part of a name.
fn phrase_at<'t>(
    table: &'t Table,
    said: &[String],
    i: usize,
    end: usize,
    kept: &[bool],
) -> Option<&'t (Vec<String>, String)> {
    table.phrases.iter().find(|(from, _)| {
        i + from.len() <= end
            && !(i..i + from.len()).any(|j| kept.get(j).copied().unwrap_or(false))
            && said[i..i + from.len()] == from[..]
    })
}

/// `goal` (in the language `code`) in English words, with the registry's
/// names kept as said; `None` when giot has no words for the language or
/// nothing changed.
pub fn english(goal: &str, code: &str, registry: &Registry) -> Option<String> {
    let table = tables().get(code)?;
    // "la lampe est éteinte, c'est ça": the sentence, then ", right".
    let said = tokens(goal);
    let tag = table
        .tags
        .iter()
        .find(|t| said.len() > t.len() + 1 && said.ends_with(t));
    let (goal, tagged) = match tag {
        Some(t) => (said[..said.len() - t.len()].join(" "), true),
        None => (goal.to_string(), false),
    };
    let goal = goal.as_str();
    let english = words_in_english(goal, table, registry)?;
    // Asked as English asks it: no "right" left to name a device by.
    let english = if tagged {
        format!("tell me whether {english}")
    } else {
        english
    };
    // A question stays one: "est-elle …" asks, and so does a "?".
    let said = tokens(goal);
    let asks = table
        .asking
        .iter()
        .any(|a| said.windows(a.len()).any(|w| w == &a[..]));
    let english = if asks {
        format!("tell me whether {english}")
    } else {
        english
    };
    Some(if goal.trim_end().ends_with('?') {
        format!("{english}?")
    } else {
        english
    })
}

/// [`english`] without the question's marks.
fn words_in_english(goal: &str, table: &Table, registry: &Registry) -> Option<String> {
    let said = tokens(goal);
    // Names first, longest first: their words are not glossed.
    let mut kept = vec![false; said.len()];
    let mut names: Vec<(Vec<String>, String)> = registry
        .names_said()
        .iter()
        .map(|n| (tokens(n), crate::intents::normalize(n, &[])))
        .filter(|(n, _)| !n.is_empty())
        .collect();
    names.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
    // Each name said is put back as the registry writes it ("led-streifen",
    // not "led streifen"), on its first word; the others are dropped.
    let mut said = said;
    for (name, written) in &names {
        let mut i = 0;
        while i + name.len() <= said.len() {
            if !kept[i..i + name.len()].iter().any(|k| *k) && said[i..i + name.len()] == name[..] {
                kept[i..i + name.len()].iter_mut().for_each(|k| *k = true);
                said[i] = written.clone();
                for w in &mut said[i + 1..i + name.len()] {
                    w.clear();
                }
                i += name.len();
            } else {
                i += 1;
            }
        }
    }
    let (said, kept): (Vec<String>, Vec<bool>) = said
        .into_iter()
        .zip(kept)
        .filter(|(w, _)| !w.is_empty())
        .unzip();
    // "mach alle Lampen an, nur die Deckenlampe nicht": the exception
    // said last is the goal, "except", and the exception.
    if let Some((before, after)) = &table.exception
        && said.last() == Some(after)
        && let Some(at) = said.iter().rposition(|w| w == before)
        && at > 0
        && at + 2 < said.len()
    {
        let main = clause(table, &said[..at], &kept[..at]);
        let except = clause(
            table,
            &said[at + 1..said.len() - 1],
            &kept[at + 1..said.len() - 1],
        );
        return Some(format!("{main} except {except}"));
    }
    // "schalte alle Lichter aus außer dem Flurlicht": each side of the
    // exception word is a clause of its own (the particle ends the first).
    let except = (1..said.len()).find_map(|i| {
        phrase_at(table, &said, i, said.len(), &kept)
            .filter(|(_, to)| to == "except")
            .map(|(from, _)| (i, from.len()))
    });
    if let Some((at, len)) = except
        && at + len < said.len()
    {
        // "schalte alle Lichter außer denen in der Küche aus": the
        // particle said last belongs to the verb said first.
        let particle = table
            .split_verbs
            .iter()
            .find(|(verbs, particle, _)| {
                said.first().is_some_and(|f| verbs.contains(f))
                    && said.len() > at + len + particle.len()
                    && said[said.len() - particle.len()..] == particle[..]
            })
            .map_or(0, |(_, particle, _)| particle.len());
        let end = said.len() - particle;
        let mut main: Vec<String> = said[..at].to_vec();
        let mut main_kept: Vec<bool> = kept[..at].to_vec();
        main.extend_from_slice(&said[end..]);
        main_kept.extend_from_slice(&kept[end..]);
        let main = clause(table, &main, &main_kept);
        let rest = clause(table, &said[at + len..end], &kept[at + len..end]);
        return Some(format!("{main} except {rest}"));
    }
    // "schalte die Kaffeemaschine ein und die Brunnenpumpe aus": two
    // clauses, each with its particle; the verb said first serves both.
    let verb_first = said
        .first()
        .filter(|f| !kept[0] && table.split_verbs.iter().any(|(v, _, _)| v.contains(f)));
    if let Some(verb) = verb_first
        && let Some(k) = (2..said.len().saturating_sub(1)).find(|&k| {
            said[k] == "und"
                && !kept[k - 1]
                && table
                    .split_verbs
                    .iter()
                    .any(|(v, p, _)| v.contains(verb) && p.len() == 1 && p[0] == said[k - 1])
        })
    {
        let first = clause(table, &said[..k], &kept[..k]);
        let mut second = vec![verb.clone()];
        second.extend_from_slice(&said[k + 1..]);
        let mut second_kept = vec![false];
        second_kept.extend_from_slice(&kept[k + 1..]);
        let second = clause(table, &second, &second_kept);
        return Some(format!("{first} and {second}"));
    }
    let english = clause(table, &said, &kept);
    (english != said.join(" ")).then_some(english)
}

/// One clause's words in English.
fn clause(table: &Table, said: &[String], kept: &[bool]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut start = 0;
    let mut end = said.len();
    // "schalte … an": the verb and its particle, read together.
    if let Some(first) = said.first()
        && !kept[0]
        && let Some((_, particle, means)) = table.split_verbs.iter().find(|(verbs, particle, _)| {
            said.len() > particle.len() + 1
                && verbs.contains(first)
                && said[said.len() - particle.len()..] == particle[..]
                && !kept[said.len() - particle.len()..].iter().any(|k| *k)
        })
    {
        out.push(means.clone());
        start = 1;
        end = said.len() - particle.len();
    }
    let mut last_verb = None;
    let mut i = start;
    while i < end {
        if kept[i] {
            out.push(said[i].clone());
            i += 1;
            continue;
        }
        match phrase_at(table, said, i, end, kept) {
            Some((from, to)) => {
                if !to.is_empty() {
                    if i + from.len() == end && VERBS.contains(&to.as_str()) {
                        last_verb = Some(to.clone());
                    } else {
                        out.push(to.clone());
                    }
                }
                i += from.len();
            }
            None => {
                out.push(said[i].clone());
                i += 1;
            }
        }
    }
    // "Garagentor ganz aufmachen": the verb said last is read first.
    // After a lead ("should i", "quick question,"): "soll ich den Lüfter
    // ausschalten" asks "should i turn off the lüfter".
    if let Some(verb) = last_verb {
        let lead = out
            .iter()
            .take_while(|w| w.starts_with("should ") || w.starts_with("quick question"))
            .count();
        out.insert(lead, verb);
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const HOME: &str = r#"
rooms:
  - {id: hallway, name: Flur, aliases: [couloir, pasillo]}
  - {id: study, name: Arbeitszimmer, aliases: [bureau, despacho]}
devices:
  - {id: hall_light, name: Flurlicht, aliases: [Lumière du couloir], room: hallway, kind: light, state_topic: s/h, command_topic: c/h,
     capabilities: [{name: power, type: enum, values: ["on", "off"]}]}
"#;

    fn registry() -> Registry {
        crate::registry::parse_str(HOME, Path::new("home.yaml")).unwrap()
    }

    #[test]
    fn the_words_file_reads_and_has_the_three_languages() {
        for code in ["de", "fr", "es"] {
            assert!(knows(code), "{code}");
        }
        assert!(!knows("en"));
    }

    #[test]
    fn goals_read_as_english_with_names_kept() {
        let r = registry();
        assert_eq!(
            english("schalte alle Lichter aus außer dem Flurlicht", "de", &r).unwrap(),
            "turn off all lights except the Flurlicht".to_lowercase()
        );
        assert_eq!(
            english("schließ die Tür ab", "de", &r).unwrap(),
            "lock the door"
        );
        assert_eq!(
            english("allume la lumière du couloir", "fr", &r).unwrap(),
            "turn on the lumière du couloir"
        );
        assert_eq!(
            english("il fait trop sombre dans le bureau", "fr", &r).unwrap(),
            "it is too dark in the bureau"
        );
        assert_eq!(
            english("apaga todas las luces menos la del pasillo", "es", &r).unwrap(),
            "turn off all the lights except the one in the pasillo"
        );
        assert_eq!(english("turn on the light", "en", &r), None);
        // Two clauses, each with its particle.
        assert_eq!(
            english("schalte das Flurlicht ein und das Radio aus", "de", &r).unwrap(),
            "turn on the flurlicht and turn off the radio"
        );
        assert_eq!(
            english("soll ich das Flurlicht ausschalten", "de", &r).unwrap(),
            "should i turn off the flurlicht"
        );
        // A tag question stays a question.
        assert_eq!(
            english("das Flurlicht ist aus, oder", "de", &r).unwrap(),
            "tell me whether the flurlicht is off"
        );
    }
}
