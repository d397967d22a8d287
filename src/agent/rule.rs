//! Standing rules in words: "if the cellar humidity goes above 70%, switch
//! on the dehumidifier (and off again below 60%)", "turn on the hall light
//! when the front door opens".
//!
//! [`read`] splits a rule into its condition, read against the registry
//! (which device, which reported value, which comparison, which threshold
//! in which unit), the action's words (planned as a goal of their own by
//! the agent) and an optional reverse ("and off again below 60%", "until
//! it drops below 60%", "otherwise off"). Anything it cannot pin to one
//! reported value of one device is refused with the reason: a rule acts
//! later, unattended, so a guess is never good enough.
//!
//! English only: the phrasings are the ones Home Assistant's automation
//! editor names its triggers by (numeric state above/below, state to).

use serde_json::Value;

use super::lexicon;
use crate::registry::value::number_value;
use crate::registry::{Capability, CapabilityType, Device, Registry};
use crate::types::{Comparison, Condition};

/// A rule as the words give it, its action not yet planned.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub condition: Condition,
    /// The action's words, to plan as a goal of their own.
    pub then: String,
    /// The reverse, if the rule has one: `Some(None)` when the condition
    /// stops holding ("otherwise", "and off again"), `Some(Some(c))` when
    /// `c` starts to hold ("and off again below 60%").
    pub reverse: Option<Option<Condition>>,
    /// The state the reverse names, if it names one ("off", "close").
    pub reverse_word: Option<String>,
}

/// Words that lead a rule's condition.
const LEADS: &[&[&str]] = &[
    &["as", "soon", "as"],
    &["every", "time"],
    &["each", "time"],
    &["any", "time"],
    &["in", "case"],
    &["the", "moment"],
    &["whenever"],
    &["when"],
    &["if"],
    &["once"],
    // "should the humidity exceed 80%, …" (first word only)
    &["should"],
];

/// Words that put a second condition or a time on a rule ("… at night",
/// "… while I'm away", "… and nobody is home"): giot watches one reading,
/// so a rule with them is refused rather than armed without them.
const QUALIFIERS: &[&str] = &[
    "while",
    "during",
    "only",
    "except",
    "unless",
    "nobody",
    "noone",
    "anyone",
    "anybody",
    "someone",
    "somebody",
    "everyone",
    "everybody",
    "home",
    "away",
    "night",
    "nights",
    "daytime",
    "dark",
    "darkness",
    "sunset",
    "sunrise",
    "dusk",
    "dawn",
    "weekend",
    "weekends",
    "weekday",
    "weekdays",
    "morning",
    "mornings",
    "evening",
    "evenings",
    "afternoon",
    "tonight",
    "tomorrow",
    "today",
    "if",
    "when",
    "whenever",
    "once",
    "before",
    "after",
    "between",
    "until",
    "unless",
    "every",
    "o'clock",
    "am",
    "pm",
    "minutes",
    "minute",
    "hours",
    "hour",
    "seconds",
    "second",
    "already",
    "still",
    "otherwise",
    "else",
];

/// Numeric comparisons, longest phrases first within each.
const COMPARATORS: &[(&[&str], Comparison)] = &[
    (&["higher", "than"], Comparison::Above),
    (&["greater", "than"], Comparison::Above),
    (&["more", "than"], Comparison::Above),
    (&["warmer", "than"], Comparison::Above),
    (&["at", "least"], Comparison::AtLeast),
    (&["lower", "than"], Comparison::Below),
    (&["less", "than"], Comparison::Below),
    (&["fewer", "than"], Comparison::Below),
    (&["colder", "than"], Comparison::Below),
    (&["hotter", "than"], Comparison::Above),
    (&["bigger", "than"], Comparison::Above),
    (&["larger", "than"], Comparison::Above),
    (&["faster", "than"], Comparison::Above),
    (&["wetter", "than"], Comparison::Above),
    (&["smaller", "than"], Comparison::Below),
    (&["slower", "than"], Comparison::Below),
    (&["drier", "than"], Comparison::Below),
    (&["dryer", "than"], Comparison::Below),
    (&["cooler", "than"], Comparison::Below),
    (&["at", "most"], Comparison::AtMost),
    (&["above"], Comparison::Above),
    (&["over"], Comparison::Above),
    (&["exceeds"], Comparison::Above),
    (&["exceed"], Comparison::Above),
    (&["beyond"], Comparison::Above),
    (&["past"], Comparison::Above),
    (&["reaches"], Comparison::AtLeast),
    (&["reach"], Comparison::AtLeast),
    (&["hits"], Comparison::AtLeast),
    (&["below"], Comparison::Below),
    (&["under"], Comparison::Below),
    (&["beneath"], Comparison::Below),
    (&[">"], Comparison::Above),
    (&["<"], Comparison::Below),
];

/// Verbs and fillers around a condition's subject ("the humidity *goes*
/// above", "*it's* below"), never part of a device's name.
const FILLERS: &[&str] = &[
    "the",
    "a",
    "an",
    "of",
    "in",
    "on",
    "at",
    "is",
    "it",
    "it's",
    "its",
    "are",
    "gets",
    "get",
    "goes",
    "go",
    "rises",
    "rise",
    "climbs",
    "climb",
    "falls",
    "fall",
    "drops",
    "drop",
    "dips",
    "dip",
    "sinks",
    "sink",
    "reads",
    "read",
    "becomes",
    "become",
    "measures",
    "shows",
    "level",
    "levels",
    "reading",
    "value",
    "stays",
    "ever",
    "again",
    "back",
    "has",
    "been",
    "to",
    "up",
    "down",
    "there",
    "by",
    "my",
    "our",
    "from",
    "current",
    "currently",
    "now",
    "than",
    "s",
    ",",
];

/// Measurements as people name them, by a word of the capability's name.
const MEASURES: &[(&str, &[&str])] = &[
    (
        "temperature",
        &[
            "temperature",
            "temp",
            "warm",
            "warmth",
            "hot",
            "cold",
            "heat",
            "degrees",
        ],
    ),
    (
        "humidity",
        &["humidity", "humid", "damp", "moisture", "moist"],
    ),
    ("co2", &["co2", "carbon", "dioxide", "air"]),
    (
        "illuminance",
        &["illuminance", "light", "lux", "dark", "bright"],
    ),
    (
        "power",
        &[
            "power",
            "draw",
            "draws",
            "drawing",
            "consumption",
            "consumes",
            "usage",
            "uses",
            "load",
            "watts",
        ],
    ),
    ("battery", &["battery", "charge", "charged"]),
    ("pressure", &["pressure"]),
    ("noise", &["noise", "loud", "sound"]),
    ("pm25", &["pm25", "particulate", "particles", "dust"]),
    ("voc", &["voc", "vocs"]),
];

/// States a condition can wait for, by the phrase after the subject, with
/// the state's canonical word.
const STATES: &[(&[&str], &str)] = &[
    (&["is", "turned", "on"], "on"),
    (&["is", "switched", "on"], "on"),
    (&["gets", "turned", "on"], "on"),
    (&["turns", "on"], "on"),
    (&["switches", "on"], "on"),
    (&["comes", "on"], "on"),
    (&["goes", "on"], "on"),
    (&["is", "on"], "on"),
    (&["gets", "switched", "on"], "on"),
    (&["is", "turned", "off"], "off"),
    (&["gets", "switched", "off"], "off"),
    (&["is", "switched", "off"], "off"),
    (&["gets", "turned", "off"], "off"),
    (&["turns", "off"], "off"),
    (&["switches", "off"], "off"),
    (&["goes", "off"], "off"),
    (&["is", "off"], "off"),
    (&["is", "opened"], "open"),
    (&["gets", "opened"], "open"),
    (&["is", "open"], "open"),
    (&["opens"], "open"),
    (&["is", "closed"], "closed"),
    (&["gets", "closed"], "closed"),
    (&["is", "shut"], "closed"),
    (&["closes"], "closed"),
    (&["shuts"], "closed"),
    (&["is", "locked"], "locked"),
    (&["gets", "locked"], "locked"),
    (&["locks"], "locked"),
    (&["is", "unlocked"], "unlocked"),
    (&["gets", "unlocked"], "unlocked"),
    (&["unlocks"], "unlocked"),
    (&["detects", "motion"], "motion"),
    (&["detects", "movement"], "motion"),
    (&["detects", "someone"], "motion"),
    (&["detects", "presence"], "motion"),
    (&["sees", "motion"], "motion"),
    (&["is", "detected"], "motion"),
];

/// What a state word is, as the values of an enum capability say it.
fn enum_values_of(state: &str) -> &'static [&'static str] {
    match state {
        "on" => &["on"],
        "off" => &["off"],
        "open" => &["open", "opened"],
        "closed" => &["closed", "close"],
        "locked" => &["locked"],
        "unlocked" => &["unlocked"],
        "motion" => &["detected", "motion", "occupied"],
        _ => &[],
    }
}

/// The value a two-state capability reports in `state`, by its name: a
/// contact sensor's `open: true`, Zigbee2MQTT's `contact: false` (open; it
/// reports `true` when the contact is closed), `occupancy: true`.
fn bool_value_of(cap: &str, state: &str) -> Option<bool> {
    let name = cap.to_lowercase();
    match (name.as_str(), state) {
        ("open" | "opening" | "door" | "window", "open") => Some(true),
        ("open" | "opening" | "door" | "window", "closed") => Some(false),
        ("contact", "open") => Some(false),
        ("contact", "closed") => Some(true),
        ("occupancy" | "motion" | "presence" | "occupied", "motion") => Some(true),
        ("power" | "state" | "on", "on") => Some(true),
        ("power" | "state" | "on", "off") => Some(false),
        _ => None,
    }
}

/// Units a threshold may be said in.
#[derive(Debug, Clone, PartialEq)]
enum Unit {
    Percent,
    Degrees,
    Celsius,
    Fahrenheit,
    Ppm,
    Lux,
    Watts,
    Kilowatts,
    /// A unit giot does not convert (`mph`, `hpa`, `km/h`): only a reading
    /// in exactly that unit can take it.
    Other(String),
}

/// Units giot knows by name but does not convert.
const OTHER_UNITS: &[&str] = &[
    "mph",
    "kmh",
    "kph",
    "miles",
    "km",
    "kilometres",
    "kilometers",
    "metres",
    "meters",
    "cm",
    "mm",
    "ft",
    "feet",
    "lb",
    "lbs",
    "kg",
    "hpa",
    "mbar",
    "bar",
    "psi",
    "db",
    "dba",
    "v",
    "volt",
    "volts",
    "amp",
    "amps",
    "ma",
    "kwh",
    "wh",
    "ppb",
    "ug",
    "µg",
    "mg",
    "kelvin",
    "rpm",
    "hz",
    "ms",
];

/// The unit said at `i`, and how many words it takes.
fn unit_at(words: &[String], i: usize) -> Option<(Unit, usize)> {
    let w = words.get(i)?.as_str();
    let known = match w {
        "percent" | "percentage" | "pct" => Unit::Percent,
        "degrees" | "degree" | "deg" => Unit::Degrees,
        "c" | "celsius" | "centigrade" => Unit::Celsius,
        "f" | "fahrenheit" => Unit::Fahrenheit,
        "ppm" => Unit::Ppm,
        "lux" | "lx" => Unit::Lux,
        "w" | "watt" | "watts" => Unit::Watts,
        "kw" | "kilowatt" | "kilowatts" => Unit::Kilowatts,
        // "km/h" arrives as "km h"
        "km" if words.get(i + 1).is_some_and(|n| n == "h") => {
            return Some((Unit::Other("kmh".into()), 2));
        }
        other if OTHER_UNITS.contains(&other) => Unit::Other(other.to_string()),
        _ => return None,
    };
    Some((known, 1))
}

fn unit_of(word: &str) -> Option<Unit> {
    unit_at(&[word.to_string()], 0).map(|(u, _)| u)
}

/// Whether a threshold said in `unit` is in the capability's own unit.
fn same_unit(unit: &Unit, cap_unit: &str) -> bool {
    let u = cap_unit.trim().to_lowercase();
    match unit {
        Unit::Percent => u == "%",
        Unit::Degrees => matches!(u.as_str(), "°c" | "°f" | "c" | "f" | "°"),
        Unit::Celsius => matches!(u.as_str(), "°c" | "c"),
        Unit::Fahrenheit => matches!(u.as_str(), "°f" | "f"),
        Unit::Ppm => u == "ppm",
        Unit::Lux => matches!(u.as_str(), "lx" | "lux"),
        Unit::Watts | Unit::Kilowatts => matches!(u.as_str(), "w" | "kw"),
        Unit::Other(said) => {
            let plain: String = u.chars().filter(|c| c.is_alphanumeric()).collect();
            plain == *said || (matches!(said.as_str(), "kmh" | "kph") && plain == "kmh")
        }
    }
}

/// `goal` with its numbers written plainly: thousands separators dropped
/// ("1,200" → 1200), a decimal comma as a point ("20,5" → 20.5), a unit
/// glued to its number apart ("1000ppm" → 1000 ppm, "25ºC" → 25 °C).
/// `Err` for "1.000", which is one or one thousand depending on who wrote it.
pub(super) fn plain_numbers(goal: &str) -> Result<String, String> {
    let chars: Vec<char> = goal.replace('º', "°").chars().collect();
    let digits_at = |i: usize| chars[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    let mut out = String::with_capacity(goal.len() + 8);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let after_digit = i > 0 && chars[i - 1].is_ascii_digit();
        if (c == ',' || c == '.')
            && after_digit
            && chars.get(i + 1).is_some_and(char::is_ascii_digit)
        {
            let n = digits_at(i + 1);
            match (c, n) {
                (',', 3) => {}
                (',', _) => out.push('.'),
                ('.', 3) if chars[i + 1..i + 4].iter().all(|d| *d == '0') => {
                    let start = chars[..i]
                        .iter()
                        .rposition(|c| !c.is_ascii_digit())
                        .map_or(0, |p| p + 1);
                    let said: String = chars[start..i + 4].iter().collect();
                    return Err(format!(
                        "\"{said}\" is one number to some and another to others: write it \
                         without the point ({}) or as a decimal",
                        said.replace('.', "")
                    ));
                }
                _ => out.push('.'),
            }
            i += 1;
            continue;
        }
        out.push(c);
        if c.is_ascii_digit()
            && chars
                .get(i + 1)
                .is_some_and(|n| n.is_alphabetic() || *n == '°')
        {
            out.push(' ');
        }
        i += 1;
    }
    Ok(out)
}

/// A number word ("70", "21.5", "-5", "70%"-split) at `i`.
fn number_at(words: &[String], i: usize) -> Option<f64> {
    let w = words.get(i)?;
    let end = w
        .char_indices()
        .find(|&(j, c)| !(c.is_ascii_digit() || c == '.' || (c == '-' && j == 0)))
        .map_or(w.len(), |(j, _)| j);
    if end < w.len() {
        return None;
    }
    w.parse().ok().filter(|n: &f64| n.is_finite())
}

/// A comparison phrase at `i`: the test and how many words it takes.
fn comparator_at(words: &[String], i: usize) -> Option<(Comparison, usize)> {
    COMPARATORS.iter().find_map(|(phrase, test)| {
        let fits = phrase
            .iter()
            .enumerate()
            .all(|(k, p)| words.get(i + k).is_some_and(|w| w == p));
        // "over" and "past" compare only before a number ("over 70").
        (fits && number_at(words, i + phrase.len()).is_some()).then_some((*test, phrase.len()))
    })
}

fn state_at(words: &[String], i: usize) -> Option<(&'static str, usize)> {
    STATES.iter().find_map(|(phrase, state)| {
        let fits = phrase
            .iter()
            .enumerate()
            .all(|(k, p)| words.get(i + k).is_some_and(|w| w == p));
        fits.then_some((*state, phrase.len()))
    })
}

/// What a condition said before it is pinned to a device.
#[derive(Debug, Clone)]
enum Said {
    Threshold {
        test: Comparison,
        number: f64,
        unit: Option<Unit>,
    },
    State(&'static str),
}

/// A condition's words: the subject and what is said about it; `end` is
/// where the condition's words stop.
fn condition_words(words: &[String]) -> Option<(Vec<String>, Said, usize)> {
    for i in 0..words.len() {
        if let Some((test, len)) = comparator_at(words, i) {
            let number = number_at(words, i + len)?;
            let mut end = i + len + 1;
            let unit = unit_at(words, end);
            if let Some((_, n)) = &unit {
                end += n;
                // "70 degrees celsius"
                if words
                    .get(end)
                    .is_some_and(|w| matches!(unit_of(w), Some(Unit::Celsius | Unit::Fahrenheit)))
                {
                    end += 1;
                }
            }
            let unit = unit.map(|(u, _)| u);
            // "70 or more", "60 or less"
            let test = match (
                words.get(end).map(String::as_str),
                words.get(end + 1).map(String::as_str),
            ) {
                (Some("or"), Some("more" | "higher" | "above")) => {
                    end += 2;
                    Comparison::AtLeast
                }
                (Some("or"), Some("less" | "lower" | "below")) => {
                    end += 2;
                    Comparison::AtMost
                }
                _ => test,
            };
            let unit = match (unit, words.get(end - 1).and_then(|w| unit_of(w))) {
                (Some(Unit::Degrees), Some(u @ (Unit::Celsius | Unit::Fahrenheit))) => Some(u),
                (u, _) => u,
            };
            return Some((
                words[..i].to_vec(),
                Said::Threshold { test, number, unit },
                end,
            ));
        }
        // "is 65% or more", "is 20 degrees or less"
        if i > 0
            && matches!(words[i].as_str(), "is" | "reads" | "measures" | "shows")
            && let Some(number) = number_at(words, i + 1)
        {
            let mut end = i + 2;
            let unit = unit_at(words, end);
            end += unit.as_ref().map_or(0, |(_, n)| *n);
            let unit = unit.map(|(u, _)| u);
            let test = match (
                words.get(end).map(String::as_str),
                words.get(end + 1).map(String::as_str),
            ) {
                (Some("or"), Some("more" | "higher" | "above" | "over")) => Comparison::AtLeast,
                (Some("or"), Some("less" | "lower" | "below" | "under")) => Comparison::AtMost,
                _ => continue,
            };
            return Some((
                words[..i].to_vec(),
                Said::Threshold { test, number, unit },
                end + 2,
            ));
        }
        if i > 0
            && let Some((state, len)) = state_at(words, i)
        {
            return Some((words[..i].to_vec(), Said::State(state), i + len));
        }
    }
    None
}

/// Reads `normalized` (lowercase words, numbers as digits) as a standing
/// rule over `registry`. `Err` says why it cannot be one.
pub fn read(normalized: &str, registry: &Registry) -> Result<Draft, String> {
    // Commas stay: they end the quote of a condition giot cannot read.
    let words: Vec<String> = normalized.split_whitespace().map(String::from).collect();
    if words.iter().any(|w| w == "unless") {
        return Err(
            "giot arms rules on a condition that starts to hold ('if', 'when'); say the \
             condition instead of 'unless' ('if the window is closed, …')"
                .into(),
        );
    }
    let skip = words
        .iter()
        .take_while(|w| {
            matches!(
                w.as_str(),
                "please" | "giot" | "hey" | "ok" | "okay" | "so" | "and"
            )
        })
        .count();
    let words = &words[skip..];
    let lead_at = |i: usize| {
        LEADS.iter().find_map(|lead| {
            (lead[0] != "should" || i == 0)
                .then_some(())
                .filter(|()| {
                    lead.iter()
                        .enumerate()
                        .all(|(k, l)| words.get(i + k).is_some_and(|w| w == l))
                })
                .map(|()| lead.len())
        })
    };
    let (start, lead_len) = (0..words.len())
        .find_map(|i| lead_at(i).map(|len| (i, len)))
        .ok_or(
            "giot arms rules that act when a reading crosses a threshold or a device reaches a \
             state ('if the cellar humidity goes above 70%, …', 'when the front door opens, …')",
        )?;
    let rest = &words[start + lead_len..];
    let Some((mut subject, said, mut end)) = condition_words(rest) else {
        return Err(format!(
            "a rule needs a condition giot can test on a device's reading: a threshold ('if the \
             cellar humidity goes above 70%') or a state ('when the front door opens'); \"{}\" is \
             neither",
            rest.iter()
                .take_while(|w| !matches!(w.as_str(), "then" | ","))
                .take(8)
                .cloned()
                .collect::<Vec<_>>()
                .join(" ")
        ));
    };
    // "above 25 degrees in the living room": the room belongs to the condition.
    if let Some(len) = room_after(&rest[end..], registry) {
        subject.extend(rest[end..end + len].iter().cloned());
        end += len;
    }
    if let Some(w) = rest
        .get(end)
        .filter(|_| matches!(said, Said::Threshold { .. }))
        && number_at(rest, end.saturating_sub(1)).is_some()
        && w.chars().all(char::is_alphabetic)
        && w.len() <= 4
        && !matches!(
            w.as_str(),
            "then"
                | "and"
                | "or"
                | "turn"
                | "set"
                | "open"
                | "shut"
                | "dim"
                | "put"
                | "let"
                | "lock"
                | "stop"
                | "run"
                | "make"
                | "raise"
                | "lower"
                | "start"
                | "close"
                | "play"
        )
        && !registry.devices().iter().any(|d| name_words(d).contains(w))
    {
        return Err(format!(
            "giot does not know the unit \"{w}\" after the threshold: say it in the reading's own unit"
        ));
    }
    // The action: after the condition (leading form) or before it.
    let (mut action, mut after): (Vec<String>, Vec<String>) = if start == 0 {
        (rest[end..].to_vec(), Vec::new())
    } else {
        (words[..start].to_vec(), rest[end..].to_vec())
    };
    while action.first().is_some_and(|w| w == "then" || w == ",") {
        action.remove(0);
    }
    after.retain(|w| w != ",");
    if action.is_empty() {
        return Err("the rule says no action: say what to do when the condition holds".into());
    }
    if action.first().is_some_and(|w| w == "for") {
        return Err(
            "giot cannot yet wait for a condition to hold for a while ('for 10 minutes'): \
             a rule acts the moment its condition starts to hold"
                .into(),
        );
    }
    if start == 0 && action.first().is_some_and(|w| w == "and" || w == "or") {
        return Err(format!(
            "giot watches one condition per rule; \"{}\" adds another",
            action.iter().take(8).cloned().collect::<Vec<_>>().join(" ")
        ));
    }
    let condition = pin(&subject, &said, registry)?;
    // The reverse: "and off again (below 60%)", "until it drops below
    // 60%", "otherwise off" — only in words about this rule's own reading.
    let own = own_words(&condition, registry);
    let mut reverse_words = None;
    if let Some(k) = (0..action.len()).find(|&k| is_reverse(&action, k, &own)) {
        reverse_words = Some(
            action[k..]
                .iter()
                .filter(|w| *w != ",")
                .cloned()
                .collect::<Vec<_>>(),
        );
        action.truncate(k);
    }
    action.retain(|w| w != ",");
    if !after.is_empty() {
        if !is_reverse(&after, 0, &own) {
            return Err(format!(
                "giot cannot read \"{}\" after the rule's condition: it watches one reading \
                 and reverses only on that reading ('and off again below 60%')",
                after.join(" ")
            ));
        }
        reverse_words = Some(std::mem::take(&mut after));
    }
    if let Some(rw) = &reverse_words
        && matches!(rw[0].as_str(), "until" | "otherwise" | "else")
        && !is_reverse(rw, 0, &own)
    {
        return Err(format!(
            "giot reads \"{}\" only as the action's other state on the same reading \
             ('otherwise off', 'until it drops below 60%')",
            rw.join(" ")
        ));
    }
    // A second condition or a time left in the action ("… at night",
    // "… while I'm away"): refused, never dropped.
    let names: Vec<String> = registry.devices().iter().flat_map(name_words).collect();
    if let Some(q) = action
        .iter()
        .find(|w| QUALIFIERS.contains(&w.as_str()) && !names.contains(w))
    {
        return Err(format!(
            "giot watches one reading per rule, and \"{}\" puts another condition or a time on \
             it (\"{q}\"): say the rule without it",
            action.join(" ")
        ));
    }
    let reverse_word = reverse_words.as_ref().and_then(|rw| {
        rw.iter()
            .find(|w| {
                matches!(
                    w.as_str(),
                    "off" | "on" | "open" | "close" | "closed" | "lock" | "unlock"
                )
            })
            .cloned()
    });
    let reverse = match reverse_words {
        None => None,
        Some(rw) => Some(reverse_condition(&rw, &condition, registry)?),
    };
    Ok(Draft {
        condition,
        then: action.join(" "),
        reverse,
        reverse_word,
    })
}

/// How many words at the start of `words` name a room ("in the living room").
fn room_after(words: &[String], registry: &Registry) -> Option<usize> {
    let at = usize::from(
        words
            .first()
            .is_some_and(|w| matches!(w.as_str(), "in" | "inside" | "at")),
    );
    if at == 0 {
        return None;
    }
    let the = usize::from(words.get(at).is_some_and(|w| w == "the"));
    registry.room_list().iter().find_map(|r| {
        std::iter::once(r.name.to_lowercase())
            .chain(std::iter::once(r.id.replace('_', " ")))
            .chain(r.aliases.iter().map(|a| a.to_lowercase()))
            .find_map(|name| {
                let rw: Vec<&str> = name.split_whitespace().collect();
                (!rw.is_empty()
                    && rw
                        .iter()
                        .enumerate()
                        .all(|(k, w)| words.get(at + the + k).is_some_and(|x| x == w)))
                .then_some(at + the + rw.len())
            })
    })
}

/// Words that may speak of the rule's own reading in its reverse half
/// ("when *the humidity* drops below 60%", "once *it's* under 60").
fn own_words(condition: &Condition, registry: &Registry) -> Vec<String> {
    let mut own = Vec::new();
    if let Some(d) = registry.get(&condition.device) {
        own.extend(name_words(d));
        if let Some(room) = d.room_words() {
            own.extend(room.split_whitespace().map(String::from));
        }
        if let Some(c) = d.capability(&condition.capability) {
            own.extend(cap_words(c));
            own.extend(measure_words(c).into_iter().map(String::from));
        }
    }
    own
}

/// Words a reverse half is made of, besides its reading's own words and
/// numbers.
const REVERSE_WORDS: &[&str] = &[
    "and",
    "then",
    "but",
    "until",
    "otherwise",
    "else",
    "turn",
    "switch",
    "set",
    "put",
    "shut",
    "power",
    "it",
    "them",
    "back",
    "again",
    "off",
    "on",
    "open",
    "close",
    "closed",
    "lock",
    "unlock",
    "stop",
    "down",
    "up",
    "to",
    "when",
    "once",
    "if",
    "as",
    "soon",
    "it's",
    "its",
    "is",
    "are",
    "gets",
    "goes",
    "drops",
    "falls",
    "rises",
    "climbs",
    "sinks",
    "dips",
    "comes",
    "returns",
    "reaches",
    "hits",
    "the",
    "at",
    "or",
    "less",
    "more",
    "level",
    "reading",
    "value",
    "again",
    "switching",
    "turning",
    "turned",
    "switched",
    "opens",
    "closes",
    "locks",
    "unlocks",
    "get",
    "go",
    "drop",
    "fall",
    "rise",
    "has",
    "have",
    "been",
    "there",
    "they",
    "they're",
    "they've",
];

/// Whether `words[k..]` is a rule's reverse half: a flip of the action
/// ("off", "back", "again") in words about nothing but the rule's own
/// reading (`own`); "and switch on the shelf light" is a second action.
fn is_reverse(words: &[String], k: usize, own: &[String]) -> bool {
    let w = words[k].as_str();
    let starts = matches!(w, "until" | "otherwise" | "else")
        || (matches!(w, "and" | "then" | "but") && {
            let flip = words[k + 1..].iter().any(|w| {
                matches!(
                    w.as_str(),
                    "off"
                        | "on"
                        | "open"
                        | "close"
                        | "closed"
                        | "lock"
                        | "unlock"
                        | "stop"
                        | "back"
                )
            });
            let marked = words[k + 1..].iter().enumerate().any(|(i, w)| {
                matches!(w.as_str(), "again" | "back" | "when" | "once" | "if")
                    || comparator_at(&words[k + 1..], i).is_some()
            });
            flip && marked
        });
    starts
        && words[k..].iter().enumerate().all(|(i, w)| {
            REVERSE_WORDS.contains(&w.as_str())
                || own.contains(w)
                || number_at(&words[k..], i).is_some()
                || unit_of(w).is_some()
                || COMPARATORS.iter().any(|(p, _)| p.contains(&w.as_str()))
                || w == ","
        })
}

/// The reverse condition its words give, on the rule's own reading: a
/// threshold ("below 60%", "at 60%"), a state ("when it closes"), or, with
/// neither, the end of the rule's own condition.
fn reverse_condition(
    words: &[String],
    main: &Condition,
    registry: &Registry,
) -> Result<Option<Condition>, String> {
    let device = registry.get(&main.device).expect("pinned to a device");
    let cap = device.capability(&main.capability).expect("pinned");
    let up = |t: Comparison| matches!(t, Comparison::Above | Comparison::AtLeast);
    let said = (0..words.len()).find_map(|i| {
        if let Some((test, len)) = comparator_at(words, i) {
            return Some((test, i + len));
        }
        // "and off again at 60%": the other side of the rule's own threshold.
        (words[i] == "at" && number_at(words, i + 1).is_some() && !main.value.is_string()).then(
            || {
                let test = if up(main.test) {
                    Comparison::AtMost
                } else {
                    Comparison::AtLeast
                };
                (test, i + 1)
            },
        )
    });
    let Some((test, at)) = said else {
        // "and if it closes, turn it off": a state of the same reading.
        if let Some((state, _)) = (1..words.len()).find_map(|i| state_at(words, i)) {
            let value = match &cap.kind {
                CapabilityType::Bool => bool_value_of(&cap.name, state).map(Value::Bool),
                CapabilityType::Enum { values } => values
                    .iter()
                    .find(|v| enum_values_of(state).contains(&v.as_str()))
                    .map(|v| Value::from(v.clone())),
                _ => None,
            };
            return match value {
                Some(v) if v != main.value => Ok(Some(condition(device, cap, Comparison::Is, v))),
                _ => Err(format!(
                    "the rule's reverse (\"{}\") is no other state of {} {}",
                    words.join(" "),
                    device.name,
                    cap.name.replace('_', " ")
                )),
            };
        }
        if words[0] == "until" {
            return Err(
                "'until' needs a threshold on the same reading ('until it drops below 60%')".into(),
            );
        }
        return Ok(None);
    };
    let number = number_at(words, at).expect("a number follows");
    let unit = unit_at(words, at + 1).map(|(u, _)| u);
    let value = threshold(device, cap, number, unit)?;
    let c = condition(device, cap, test, value.clone());
    let (Some(a), Some(b)) = (main.value.as_f64(), value.as_f64()) else {
        return Err("the reverse threshold needs a number".into());
    };
    let overlap = match (up(main.test), up(test)) {
        (true, false) => a < b,
        (false, true) => b < a,
        _ => true,
    };
    if overlap {
        return Err(format!(
            "the rule's two conditions ({} and {}) can hold at once, so it would switch back \
             and forth: the reverse must be on the other side ('above 70%, … and off again \
             below 60%')",
            main.says, c.says
        ));
    }
    Ok(Some(c))
}

/// A condition with its words.
pub(super) fn condition(
    device: &Device,
    cap: &Capability,
    test: Comparison,
    value: Value,
) -> Condition {
    let shown = crate::registry::value::display_value(&value, cap.unit.as_deref());
    let what = cap.name.replace('_', " ");
    let says = match (test, &value) {
        // A two-state reading by its name: "Front door contact sensor: open".
        (Comparison::Is, Value::Bool(true)) => format!("{}: {what}", device.name),
        (Comparison::Is, Value::Bool(false)) => format!("{}: not {what}", device.name),
        (Comparison::IsNot, Value::Bool(b)) => {
            format!("{}: {}{what}", device.name, if *b { "not " } else { "" })
        }
        _ => format!("{} {what} {} {shown}", device.name, test.words()),
    };
    Condition {
        device: device.id.clone(),
        capability: cap.name.clone(),
        test,
        value,
        unit: cap.unit.clone(),
        says,
    }
}

/// The threshold in the capability's unit, checked against its range.
fn threshold(
    device: &Device,
    cap: &Capability,
    number: f64,
    unit: Option<Unit>,
) -> Result<Value, String> {
    let CapabilityType::Number { min, max, .. } = cap.kind else {
        return Err(format!(
            "{}'s {} is not a number, so it has no threshold",
            device.name,
            cap.name.replace('_', " ")
        ));
    };
    let cap_unit = cap.unit.clone().unwrap_or_default();
    let kw = cap_unit.eq_ignore_ascii_case("kw");
    let value = match unit {
        None => number,
        Some(Unit::Kilowatts) if !kw && same_unit(&Unit::Watts, &cap_unit) => number * 1000.0,
        Some(Unit::Watts) if kw => number / 1000.0,
        Some(u) if same_unit(&u, &cap_unit) => number,
        // A percentage of a range without a unit of its own (a brightness of 0–254).
        Some(Unit::Percent) if cap_unit.is_empty() => min + number / 100.0 * (max - min),
        Some(_) => {
            return Err(format!(
                "{}'s {} is reported in {}: say the threshold in that unit",
                device.name,
                cap.name.replace('_', " "),
                if cap_unit.is_empty() {
                    "plain numbers".to_string()
                } else {
                    cap_unit
                }
            ));
        }
    };
    if value < min || value > max {
        return Err(format!(
            "{}'s {} reads between {} and {}, so {} is never crossed",
            device.name,
            cap.name.replace('_', " "),
            crate::registry::value::display_value(&number_value(min), cap.unit.as_deref()),
            crate::registry::value::display_value(&number_value(max), cap.unit.as_deref()),
            crate::registry::value::display_value(&number_value(value), cap.unit.as_deref()),
        ));
    }
    Ok(number_value(value))
}

/// Whether a capability's value is reported (a rule can watch it): a
/// capability written by command only is not.
fn reported(cap: &Capability) -> bool {
    !cap.state.is_empty() || cap.command.is_none()
}

fn name_words(device: &Device) -> Vec<String> {
    std::iter::once(device.name.as_str())
        .chain(device.aliases.iter().map(String::as_str))
        .chain(std::iter::once(device.id.as_str()))
        .flat_map(|n| {
            n.to_lowercase()
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// How strongly `words` name the measurement `cap` reports.
fn measure_words(cap: &Capability) -> Vec<&'static str> {
    let name = cap.name.to_lowercase();
    let mut out: Vec<&'static str> = lexicon::capability_words(&cap.name).collect();
    for (measure, synonyms) in MEASURES {
        if name.split('_').any(|p| p == *measure) {
            out.extend(synonyms.iter().copied());
        }
    }
    out
}

fn cap_words(cap: &Capability) -> Vec<String> {
    cap.name
        .to_lowercase()
        .split('_')
        .filter(|w| !w.is_empty())
        .map(String::from)
        .collect()
}

/// Pins what the condition says to one reported value of one device.
fn pin(subject: &[String], said: &Said, registry: &Registry) -> Result<Condition, String> {
    // Possessives ("the cellar sensor's humidity") as their words; a filler
    // that is a word of a device's name stays ("the *reading* lamp").
    let names: Vec<String> = registry.devices().iter().flat_map(name_words).collect();
    let stop = [
        "the", "a", "an", "of", "in", "on", "at", "is", "it", "its", "it's", ",",
    ];
    let words: Vec<String> = subject
        .iter()
        .map(|w| w.trim_end_matches("'s").to_string())
        .filter(|w| {
            !w.is_empty()
                && (!FILLERS.contains(&w.as_str())
                    || (!stop.contains(&w.as_str()) && names.contains(w)))
        })
        .collect();
    // A room the subject names keeps the devices to it.
    let mut room = None;
    for r in registry.room_list() {
        for name in std::iter::once(r.name.to_lowercase())
            .chain(std::iter::once(r.id.replace('_', " ")))
            .chain(r.aliases.iter().map(|a| a.to_lowercase()))
        {
            let rw: Vec<&str> = name.split_whitespace().collect();
            if rw.is_empty() || rw.len() > words.len() {
                continue;
            }
            // A word may name the room and a device both ("cellar" in
            // "cellar sensor"): both count.
            if (0..=words.len() - rw.len())
                .any(|i| rw.iter().enumerate().all(|(k, w)| words[i + k] == *w))
            {
                room = Some((
                    r.id.clone(),
                    rw.iter().map(|w| w.to_string()).collect::<Vec<_>>(),
                ));
                break;
            }
        }
        if room.is_some() {
            break;
        }
    }
    let room_words: Vec<String> = room.as_ref().map(|(_, w)| w.clone()).unwrap_or_default();
    let threshold_unit = match said {
        Said::Threshold { unit, .. } => unit.clone(),
        Said::State(_) => None,
    };
    struct Fit<'a> {
        device: &'a Device,
        cap: &'a Capability,
        value: Value,
        test: Comparison,
        names: usize,
        measure: usize,
        unexplained: Vec<String>,
    }
    let mut fits: Vec<Fit<'_>> = Vec::new();
    let mut unreported: Vec<String> = Vec::new();
    let mut mismatched: Vec<String> = Vec::new();
    for device in registry.devices() {
        if let Some((room, _)) = &room
            && device.room.as_deref() != Some(room.as_str())
        {
            continue;
        }
        let names = name_words(device);
        let kind_hit = |w: &str| lexicon::kind_of_word(w).any(|k| k == device.kind);
        // Words that name one of its readings: said of another reading,
        // they are no part of the device's name ("cellar *humidity*
        // sensor" said of its temperature).
        let readings: Vec<(Vec<String>, Vec<&'static str>)> = device
            .capabilities
            .iter()
            .map(|c| (cap_words(c), measure_words(c)))
            .collect();
        for (ci, cap) in device.capabilities.iter().enumerate() {
            let (own, measures) = &readings[ci];
            let elsewhere = |w: &str| {
                readings.iter().enumerate().any(|(cj, (o, m))| {
                    cj != ci
                        && matches!(device.capabilities[cj].kind, CapabilityType::Number { .. })
                        && (o.iter().any(|x| x == w) || m.contains(&w))
                })
            };
            let (test, value) = match said {
                Said::Threshold { test, .. } => {
                    if !matches!(cap.kind, CapabilityType::Number { .. }) {
                        continue;
                    }
                    (*test, Value::Null)
                }
                Said::State(s) => match &cap.kind {
                    CapabilityType::Enum { values } => {
                        match values
                            .iter()
                            .find(|v| enum_values_of(s).contains(&v.as_str()))
                        {
                            Some(v) => (Comparison::Is, Value::from(v.clone())),
                            None => continue,
                        }
                    }
                    CapabilityType::Bool => match bool_value_of(&cap.name, s) {
                        Some(b) => (Comparison::Is, Value::Bool(b)),
                        None => continue,
                    },
                    // A cover is open at any position above closed (as Home
                    // Assistant's cover state reads it).
                    CapabilityType::Number { min, .. }
                        if cap.name == "position" && matches!(*s, "open" | "closed") =>
                    {
                        let test = if *s == "open" {
                            Comparison::Above
                        } else {
                            Comparison::AtMost
                        };
                        (test, number_value(*min))
                    }
                    _ => continue,
                },
            };
            let mut name_hits = 0;
            // Name words that are not the room's too ("*sensor*", not "*hallway*").
            let mut own_name_hits = 0;
            let mut measure_hits = 0;
            let mut unexplained = Vec::new();
            for w in &words {
                if room_words.contains(w) && !names.contains(w) {
                    continue;
                }
                if own.contains(w) {
                    measure_hits += 2;
                } else if measures.contains(&w.as_str()) {
                    measure_hits += 1;
                } else if elsewhere(w) && matches!(said, Said::Threshold { .. }) {
                    unexplained.push(w.clone());
                } else if names.contains(w) || kind_hit(w) {
                    name_hits += 1;
                    own_name_hits += usize::from(!room_words.contains(w));
                } else if room_words.contains(w) {
                } else {
                    unexplained.push(w.clone());
                }
            }
            match (&threshold_unit, cap.unit.as_deref()) {
                // A percentage says little (humidity, brightness, position,
                // battery are all in %): it backs a reading the words
                // name, it names none itself.
                (Some(Unit::Percent), Some(cu)) if same_unit(&Unit::Percent, cu) => {
                    if measure_hits > 0 || own_name_hits > 0 {
                        measure_hits += 1;
                    }
                }
                (Some(u), Some(cu)) if same_unit(u, cu) => measure_hits += 1,
                (Some(Unit::Percent), None) => {}
                // A threshold in another unit than the reading's.
                (Some(_), cu) => {
                    if measure_hits > 0 && unexplained.is_empty() {
                        mismatched.push(format!(
                            "{}'s {} is reported in {}: say the threshold in that unit",
                            device.name,
                            cap.name.replace('_', " "),
                            cu.unwrap_or("plain numbers")
                        ));
                    }
                    continue;
                }
                (None, _) => {}
            }
            if matches!(said, Said::Threshold { .. }) && measure_hits == 0 {
                continue;
            }
            if matches!(said, Said::State("motion"))
                && !words.iter().any(|w| {
                    matches!(
                        w.as_str(),
                        "motion" | "movement" | "presence" | "someone" | "occupancy"
                    )
                })
                && name_hits == 0
            {
                continue;
            }
            if !reported(cap) {
                unreported.push(format!(
                    "{}'s {} is only written, never reported",
                    device.name,
                    cap.name.replace('_', " ")
                ));
                continue;
            }
            fits.push(Fit {
                device,
                cap,
                value,
                test,
                names: name_hits,
                measure: measure_hits,
                unexplained,
            });
        }
    }
    let where_ = room
        .as_ref()
        .map(|(r, _)| format!(" in the {}", r.replace('_', " ")))
        .unwrap_or_default();
    let what = match said {
        Said::Threshold { .. } => {
            let m: Vec<&str> = words
                .iter()
                .map(String::as_str)
                .filter(|w| !room_words.iter().any(|r| r == w))
                .collect();
            if m.is_empty() {
                "a reading".to_string()
            } else {
                format!("\"{}\"", m.join(" "))
            }
        }
        Said::State(s) => format!("a {s} state"),
    };
    // Every word of the subject must be explained: a word that names no
    // device, room or reading could mean a device giot does not know.
    let explained: Vec<&Fit<'_>> = fits.iter().filter(|f| f.unexplained.is_empty()).collect();
    if explained.is_empty() {
        if let Some(why) = unreported.first() {
            return Err(format!("{why}: a rule cannot watch it"));
        }
        if let Some(why) = mismatched.first() {
            return Err(why.clone());
        }
        if let Some(f) = fits.iter().min_by_key(|f| f.unexplained.len()) {
            return Err(format!(
                "nothing{where_} called \"{}\" reports {}: giot knows {} but not \"{}\"",
                words.join(" "),
                match said {
                    Said::Threshold { .. } => "that reading".to_string(),
                    Said::State(s) => format!("being {s}"),
                },
                f.device.name,
                f.unexplained.join(" ")
            ));
        }
        return Err(format!(
            "no device{where_} reports {what} that a rule could watch"
        ));
    }
    let best = explained
        .iter()
        .map(|f| (f.measure, f.names, f.cap.readonly))
        .max()
        .expect("not empty");
    let top: Vec<&&Fit<'_>> = explained
        .iter()
        .filter(|f| (f.measure, f.names, f.cap.readonly) == best)
        .collect();
    let mut devices: Vec<&str> = top.iter().map(|f| f.device.name.as_str()).collect();
    devices.dedup();
    if top.len() > 1 {
        return Err(format!(
            "the condition fits {} ({}): name the one to watch",
            if devices.len() > 1 {
                "several devices"
            } else {
                "several readings"
            },
            top.iter()
                .take(6)
                .map(|f| format!("{} {}", f.device.name, f.cap.name.replace('_', " ")))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let f = top[0];
    match said {
        Said::Threshold { number, unit, .. } => {
            let value = threshold(f.device, f.cap, *number, unit.clone())?;
            let c = condition(f.device, f.cap, f.test, value);
            let CapabilityType::Number { min, max, .. } = f.cap.kind else {
                unreachable!("thresholds are on numbers")
            };
            let v = c.value.as_f64().unwrap_or(f64::NAN);
            let never = match c.test {
                Comparison::Above => v >= max,
                Comparison::Below => v <= min,
                _ => false,
            };
            if never {
                return Err(format!("{} can never hold: the range ends there", c.says));
            }
            Ok(c)
        }
        Said::State(_) => Ok(condition(f.device, f.cap, f.test, f.value.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::parse_str;
    use std::path::Path;

    fn demo() -> Registry {
        Registry::load(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/devices.yaml"
        )))
        .unwrap()
    }

    fn rule(goal: &str) -> Result<Draft, String> {
        let r = demo();
        read(
            &super::super::understand::normalize(&plain_numbers(goal)?),
            &r,
        )
    }

    fn cond(goal: &str) -> (String, String, Comparison, Value) {
        let d = rule(goal).unwrap_or_else(|e| panic!("{goal}: {e}"));
        (
            d.condition.device,
            d.condition.capability,
            d.condition.test,
            d.condition.value,
        )
    }

    #[test]
    fn thresholds_pin_one_reading_of_one_device() {
        use Comparison::*;
        let hum = |t, v: i64| ("cellar_sensor".into(), "humidity".into(), t, Value::from(v));
        for (goal, want) in [
            (
                "if the cellar humidity goes above 70%, switch on the dehumidifier",
                hum(Above, 70),
            ),
            (
                "when the humidity in the cellar rises above 70 percent turn on the dehumidifier",
                hum(Above, 70),
            ),
            (
                "switch on the dehumidifier whenever the cellar sensor's humidity exceeds 70",
                hum(Above, 70),
            ),
            (
                "if cellar humidity is 65% or more, turn on the dehumidifier plug",
                hum(AtLeast, 65),
            ),
            (
                "as soon as the cellar humidity drops below 40%, turn off the dehumidifier",
                hum(Below, 40),
            ),
        ] {
            assert_eq!(cond(goal), want, "{goal}");
        }
        assert_eq!(
            cond("if the study co2 is higher than 1200 ppm, turn on the study fan"),
            ("study_co2".into(), "co2".into(), Above, Value::from(1200))
        );
        // A measurement, not the set point, when both read "temperature".
        assert_eq!(
            cond("when the temperature in the living room falls below 18 degrees, set the living room thermostat to 21").1,
            "current_temperature"
        );
        assert_eq!(
            cond("if the tv plug draws more than 100 watts, switch off the tv plug").1,
            "power_w"
        );
        // Numbers as people write them.
        let co2 = |g| cond(g).3;
        assert_eq!(
            co2("if the study co2 goes above 1,200 ppm, turn on the study fan"),
            Value::from(1200)
        );
        assert_eq!(
            co2("if the study co2 goes above 1200ppm, turn on the study fan"),
            Value::from(1200)
        );
        assert_eq!(
            cond("if the cellar temperature drops below 12,5 degrees, turn on the cellar light").3,
            Value::from(12.5)
        );
        assert_eq!(
            cond("if the tv plug draws more than 1.5 kW, switch off the tv plug").3,
            Value::from(1500)
        );
        // A room said after the threshold picks the reading.
        assert_eq!(
            cond(
                "if the temperature goes above 25 degrees in the living room, turn on the study fan"
            )
            .0,
            "living_thermostat"
        );
    }

    #[test]
    fn states_pin_the_device_that_reports_them() {
        assert_eq!(
            cond("when the front door opens, turn on the hall light"),
            (
                "front_door_contact".into(),
                "open".into(),
                Comparison::Is,
                Value::Bool(true)
            )
        );
        assert_eq!(
            cond("turn on the hall light when the front door is unlocked"),
            (
                "front_door".into(),
                "lock".into(),
                Comparison::Is,
                Value::from("unlocked")
            )
        );
        assert_eq!(
            cond("when the kitchen light turns on, switch on the coffee plug").0,
            "kitchen_light"
        );
    }

    #[test]
    fn the_action_and_its_reverse_are_split_off() {
        let d = rule("if the cellar humidity goes above 70%, switch on the dehumidifier, and off again below 60%").unwrap();
        assert_eq!(d.then, "switch on the dehumidifier");
        let rev = d.reverse.unwrap().unwrap();
        assert_eq!((rev.test, rev.value), (Comparison::Below, Value::from(60)));
        let d = rule("turn on the dehumidifier when the cellar humidity goes above 70% and off again when it drops below 60%").unwrap();
        assert_eq!(d.then, "turn on the dehumidifier");
        assert!(d.reverse.unwrap().is_some());
        let d = rule("if the cellar humidity goes above 70% switch on the dehumidifier until it falls under 55%").unwrap();
        assert_eq!(d.reverse.unwrap().unwrap().value, Value::from(55));
        let d =
            rule("when the front door opens turn on the hall light and off again when it closes")
                .unwrap();
        assert_eq!(d.then, "turn on the hall light");
        assert_eq!(d.reverse.unwrap().unwrap().value, Value::Bool(false));
        let d = rule("when the front door opens turn on the hall light and off again").unwrap();
        assert_eq!(d.reverse, Some(None));
        // "at 60%": the other side of the rule's own threshold.
        let d = rule(
            "if the cellar humidity goes above 70% turn on the dehumidifier and off again at 60%",
        )
        .unwrap();
        let rev = d.reverse.unwrap().unwrap();
        assert_eq!((rev.test, rev.value), (Comparison::AtMost, Value::from(60)));
        // A second action is no reverse, though it says "back on".
        let d = rule("when the front door opens, turn off the hallway light and switch back on the kitchen light").unwrap();
        assert_eq!(d.reverse, None);
        assert!(
            d.then.ends_with("switch back on the kitchen light"),
            "{}",
            d.then
        );
        // Two actions are not a reverse.
        let d =
            rule("when the front door opens turn on the hall light and the kitchen light").unwrap();
        assert_eq!(d.then, "turn on the hall light and the kitchen light");
        assert_eq!(d.reverse, None);
    }

    #[test]
    fn what_cannot_be_pinned_is_refused_with_the_reason() {
        for (goal, says) in [
            (
                "if the cellar gets damp, switch on the dehumidifier",
                "threshold",
            ),
            ("when the sun sets, turn on the hall light", "threshold"),
            (
                "if the garage temperature goes above 30, turn on the study fan",
                "garage",
            ),
            (
                "if the attic humidity goes above 70%, turn on the dehumidifier",
                "attic",
            ),
            (
                "if the cellar humidity goes above 150%, turn on the dehumidifier",
                "never",
            ),
            (
                "if the cellar humidity goes above 70 degrees, turn on the dehumidifier",
                "unit",
            ),
            (
                "if the temperature goes above 25, turn on the bedroom fan",
                "several",
            ),
            (
                "if the cellar humidity goes above 70%, turn on the dehumidifier and off again below 75%",
                "at once",
            ),
            ("turn on the heater unless the window is open", "unless"),
            ("if the cellar humidity goes above 70%", "no action"),
            // A room and a percentage name no reading.
            (
                "if the hallway goes above 50%, turn on the garden lights",
                "reading",
            ),
            // A second condition or a time is refused, never dropped.
            (
                "if the cellar humidity goes above 70% at night, turn on the dehumidifier",
                "night",
            ),
            (
                "when the front door opens while i'm away, turn on the hall light",
                "while",
            ),
            (
                "if the cellar humidity goes above 70% and nobody is home turn on the dehumidifier",
                "one condition",
            ),
            (
                "turn on the hall light when the front door opens, but only at night",
                "only",
            ),
            // A reverse on another reading, or another action, is refused.
            (
                "if the cellar humidity goes above 70%, turn on the dehumidifier and off again when the outside humidity drops below 50%",
                "outside",
            ),
            (
                "if the tv plug draws more than 100 w, switch off the kitchen light, otherwise switch on the desk lamp",
                "otherwise",
            ),
            // Numbers and units giot cannot take as said.
            (
                "if the study co2 goes above 1.000 ppm, turn on the study fan",
                "1000",
            ),
            (
                "if the tv plug draws more than 2 mph, switch off the tv plug",
                "unit",
            ),
            (
                "if the tv plug draws more than 2 hp, switch off the tv plug",
                "unit",
            ),
        ] {
            let err = rule(goal).expect_err(goal);
            assert!(err.contains(says), "{goal}: {err}");
        }
    }

    #[test]
    fn a_value_only_written_is_refused() {
        let yaml = "devices:\n  - id: fan\n    name: Attic fan\n    kind: fan\n    state_topic: s\n    command_topic: c\n    capabilities:\n      - {name: power, type: enum, values: [on, off]}\n  - id: bulb\n    name: Bulb\n    kind: light\n    state_topic: b\n    command_topic: bc\n    capabilities:\n      - {name: power, type: enum, values: [on, off]}\n";
        let mut r = parse_str(yaml, Path::new("d.yaml")).unwrap();
        let mut devices = r.devices().to_vec();
        devices[1].capabilities[0].command = Some(crate::registry::CommandSpec {
            topic: "bc".into(),
            format: crate::registry::PayloadFormat::Json,
            key: Some("power".into()),
            values: Default::default(),
            with: Default::default(),
            template: None,
        });
        r = Registry::from_devices(devices);
        let err = read("when the bulb turns on turn on the attic fan", &r).unwrap_err();
        assert!(err.contains("only written"), "{err}");
    }
}
