//! From goal text to clauses and cues, before any device is chosen: is it a
//! question, which words does each part use, what value does it ask for.

use super::lexicon::QUESTION_STARTS;

/// What a number in a goal was measured in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Unit {
    Percent,
    Degrees,
    Kelvin,
    Watts,
    None,
}

/// Which end of a range a verb points to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// open, raise, extend, brighten, up
    Up,
    /// close, lower, retract, dim, down
    Down,
}

/// The value part of a clause.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Cues {
    /// turn/switch on (true) or off (false), start/stop.
    pub power: Option<bool>,
    /// lock (true) or unlock (false).
    pub lock: Option<bool>,
    pub direction: Option<Direction>,
    /// A number and its unit; "half" is 50 %.
    pub number: Option<(f64, Unit)>,
    /// "fully", "completely", "all the way", "max".
    pub extreme: bool,
    /// The verb was dim/brighten (brightness) rather than open/close.
    pub brightness_verb: bool,
}

impl Cues {
    pub fn is_empty(&self) -> bool {
        *self == Cues::default()
    }
}

/// One part of a goal: "turn off the hall light" in "turn off the hall light
/// and dim the desk lamp".
#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    pub text: String,
    /// Lowercase words without punctuation.
    pub words: Vec<String>,
    pub cues: Cues,
    /// "all", "every", "both", or a plural device word.
    pub plural: bool,
}

/// Lowercases, and separates punctuation that carries no meaning.
pub fn normalize(goal: &str) -> String {
    let goal = goal
        .to_lowercase()
        .replace("->", " to ")
        .replace("per cent", "percent")
        .replace('’', "'")
        .replace("°c", " degrees ")
        .replace('°', " degrees ");
    let mut out = String::with_capacity(goal.len() + 8);
    let chars: Vec<char> = goal.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let prev = i.checked_sub(1).map(|j| chars[j]);
        let next = chars.get(i + 1).copied();
        match c {
            '%' => out.push_str(" percent "),
            // Keep decimal points and minus signs of numbers, apostrophes in words.
            '.' if prev.is_some_and(|p| p.is_ascii_digit())
                && next.is_some_and(|n| n.is_ascii_digit()) =>
            {
                out.push('.')
            }
            '-' if next.is_some_and(|n| n.is_ascii_digit())
                && !prev.is_some_and(|p| p.is_alphanumeric()) =>
            {
                out.push('-')
            }
            '\'' if prev.is_some_and(char::is_alphanumeric) => out.push('\''),
            '_' => out.push('_'),
            ',' | ';' => out.push_str(" , "),
            c if c.is_alphanumeric() => out.push(c),
            _ => out.push(' '),
        }
    }
    out
}

/// Splits a word into its number and unit when written together ("3000k", "21c").
fn split_number(word: &str) -> Option<(f64, &str)> {
    let end = word
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || c == '.' || (c == '-' && i == 0)))
        .map_or(word.len(), |(i, _)| i);
    let number = word[..end].parse::<f64>().ok()?;
    Some((number, &word[end..]))
}

fn unit_of(word: &str) -> Option<Unit> {
    Some(match word {
        "percent" | "percentage" | "pct" => Unit::Percent,
        "degrees" | "degree" | "deg" | "c" | "celsius" | "°c" => Unit::Degrees,
        "k" | "kelvin" => Unit::Kelvin,
        "w" | "watt" | "watts" => Unit::Watts,
        _ => return None,
    })
}

/// Whether the words ask something rather than command it: a question
/// word first, after any politeness ("could you tell me …", "please, are
/// any …"), or a question inside ("check whether", "I wonder if", "how
/// many", "is there").
pub fn is_question(words: &[String]) -> bool {
    // "should I turn off the fan", "shall we close the blinds": asking
    // advice, not giving an order.
    if matches!(
        (
            words.first().map(String::as_str),
            words.get(1).map(String::as_str)
        ),
        (Some("should" | "shall"), Some("i" | "we"))
    ) {
        return true;
    }
    // A tag question: "the desk lamp is off, isn't it", "…, right".
    let tail: Vec<&str> = words.iter().rev().take(2).map(String::as_str).collect();
    let commands = words
        .first()
        .is_some_and(|w| super::lexicon::COMMAND_VERBS.contains(&w.as_str()));
    if words.len() > 2
        && !commands
        && (matches!(tail.first(), Some(&("right" | "correct")))
            || matches!(
                tail.as_slice(),
                ["it", "isn't" | "is" | "doesn't" | "does"]
                    | ["they", "aren't" | "are" | "don't" | "do"]
                    | ["not", "or"]
            ))
    {
        return true;
    }
    is_question_asked(words)
}

/// Whether the goal says what not to do ("don't turn on the hall light",
/// "never unlock the side door"): a command giot must not carry out as
/// the rest of its words say.
pub fn negated(words: &[String]) -> bool {
    words.iter().any(|w| {
        matches!(
            w.as_str(),
            "don't" | "dont" | "not" | "never" | "doesn't" | "didn't" | "shouldn't" | "mustn't"
        )
    })
}

fn is_question_asked(words: &[String]) -> bool {
    const LEAD: &[&str] = &[
        "please", "could", "can", "would", "will", "you", "hey", "so", "ok", "okay", "giot", "i",
        "me", "we", "just", "quickly", "let", "us", "tell",
    ];
    let first = words.iter().find(|w| !LEAD.contains(&w.as_str()));
    if first.is_some_and(|w| QUESTION_STARTS.contains(&w.as_str()))
        && first != Some(&"tell".to_string())
    {
        return true;
    }
    words.windows(2).any(|p| {
        let (a, b) = (p[0].as_str(), p[1].as_str());
        matches!(
            (a, b),
            (
                "check" | "see" | "wonder" | "know" | "ask" | "tell" | "confirm" | "verify",
                "whether" | "if"
            ) | ("how", "many" | "much" | "warm" | "cold" | "hot" | "bright")
                | ("is" | "are", "there")
                | ("are" | "is", "any" | "all")
                | ("me", "whether" | "if" | "what" | "which" | "how")
                | ("tell" | "show", "me")
        )
    }) || words.iter().any(|w| w == "whether")
}

/// Whether the goal states a standing rule — an action under a condition
/// ("if the cellar humidity goes above 70%, switch on the dehumidifier",
/// "turn on the porch light whenever the door opens") — rather than
/// something to do now. Questions ("check if…", "when did…") are not rules.
pub fn is_rule(words: &[String]) -> bool {
    const LEAD: &[&str] = &["please", "giot", "hey", "ok", "okay", "so", "and"];
    const ASKING: &[&str] = &[
        "check", "see", "wonder", "know", "ask", "tell", "confirm", "verify", "me", "whether",
    ];
    // Someone or something a condition is about ("once *it* has boiled",
    // "before *the* rain starts", "while *nobody* is home").
    const SUBJECTS: &[&str] = &[
        "the",
        "it",
        "it's",
        "its",
        "they",
        "they're",
        "i",
        "i'm",
        "we",
        "we're",
        "you're",
        "someone",
        "somebody",
        "anyone",
        "anybody",
        "everyone",
        "everybody",
        "nobody",
        "no",
        "my",
        "our",
        "there",
        "there's",
        "a",
        "any",
    ];
    let words = without_manners(words);
    let words = &words[..];
    let subject = |i: usize| words.get(i).is_some_and(|n| SUBJECTS.contains(&n.as_str()));
    let phrase = |i: usize, p: &[&str]| {
        p.iter()
            .enumerate()
            .all(|(k, w)| words.get(i + k).is_some_and(|x| x == w))
    };
    // A condition word at `i`, said where a condition can start.
    let condition_at = |i: usize, first: bool| -> bool {
        let w = words[i].as_str();
        match w {
            "if" | "whenever" | "unless" => true,
            // "when did the door open", "when is the heating on": questions
            "when" => {
                !(first
                    && words.get(i + 1).is_some_and(|n| {
                        matches!(
                            n.as_str(),
                            "did" | "was" | "is" | "are" | "does" | "do" | "will" | "were"
                        )
                    }))
            }
            // "once the door opens", "switch the kettle off once it's boiled"
            "once" | "while" | "until" | "after" | "before" => subject(i + 1),
            // "should the humidity exceed 80%, open the vent"
            "should" => {
                first
                    && words.get(i + 1).is_some_and(|n| {
                        matches!(
                            n.as_str(),
                            "the" | "it" | "its" | "my" | "our" | "any" | "there"
                        )
                    })
            }
            _ => {
                phrase(i, &["as", "soon", "as"])
                    || phrase(i, &["in", "case"])
                    || phrase(i, &["the", "moment"]) && (first || subject(i + 2))
                    || phrase(i, &["as", "long", "as"])
                    || ["every", "each", "any"]
                        .iter()
                        .any(|w| phrase(i, &[w, "time"]) && subject(i + 2))
            }
        }
    };
    let first = words.iter().position(|w| !LEAD.contains(&w.as_str()));
    // "before I go to bed: is the side door locked?" asks; "if …, is …"
    // keeps its condition.
    // A condition word that is also plain English ("before", "once",
    // "should") makes a rule only beside a command.
    let commands = words
        .iter()
        .any(|w| super::lexicon::COMMAND_VERBS.contains(&w.as_str()));
    let asks = is_question(words);
    let starts = first.is_some_and(|i| {
        condition_at(i, true)
            && (matches!(words[i].as_str(), "if" | "when" | "whenever" | "unless")
                || (commands && !asks))
    });
    let inside = !is_question(words)
        && (1..words.len())
            .any(|i| condition_at(i, false) && !ASKING.contains(&words[i - 1].as_str()));
    starts || inside
}

/// Phrases of manners that look like conditions and are none: "if you
/// could", "if possible", "when you get a chance", "if it isn't already".
const MANNERS: &[&[&str]] = &[
    &["if", "you", "could"],
    &["if", "you", "can"],
    &["if", "you", "would"],
    &["if", "you", "please"],
    &["if", "you", "don't", "mind"],
    &["if", "you", "do", "not", "mind"],
    &["if", "possible"],
    &["if", "necessary"],
    &["if", "needed"],
    &["if", "that's", "ok"],
    &["if", "that's", "okay"],
    &["if", "that's", "alright"],
    &["if", "that's", "fine"],
    &["if", "that's", "possible"],
    &["if", "it", "isn't", "already"],
    &["if", "it's", "not", "already"],
    &["if", "it", "is", "not", "already"],
    &["if", "they", "aren't", "already"],
    &["if", "they're", "not", "already"],
    &["when", "you", "get", "a", "chance"],
    &["when", "you", "have", "a", "moment"],
    &["when", "you're", "ready"],
    &["when", "you", "are", "ready"],
    &["when", "you", "can"],
    &["when", "possible"],
    &["when", "you", "get", "a", "sec"],
    &["when", "you", "get", "a", "second"],
    &["when", "you're", "able"],
    &["when", "you", "are", "able"],
    &["while", "you're", "at", "it"],
    &["while", "you", "are", "at", "it"],
    &["if", "it's", "no", "trouble"],
    &["if", "it", "is", "no", "trouble"],
    &["as", "soon", "as", "possible"],
    &["as", "soon", "as", "you", "can"],
    &["asap"],
];

/// `words` without [`MANNERS`].
pub fn without_manners(words: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(words.len());
    let mut i = 0;
    while i < words.len() {
        if let Some(m) = MANNERS.iter().find(|m| {
            m.iter()
                .enumerate()
                .all(|(k, w)| words.get(i + k).is_some_and(|x| x == w))
        }) {
            i += m.len();
            continue;
        }
        out.push(words[i].clone());
        i += 1;
    }
    out
}

/// Splits a normalized goal into clauses at "and", commas, "then" and
/// dashes, and reads each clause's cues.
/// `normalized` with the typo "of" for "off" corrected where nothing else
/// can be meant: right after "turn"/"switch" ("turn of the fan"), or ending a
/// goal that starts with one of them ("switch the lamp of"); `None` when
/// there is no such "of".
pub fn of_as_off(normalized: &str) -> Option<String> {
    let mut words: Vec<&str> = normalized.split_whitespace().collect();
    let start = words
        .iter()
        .position(|w| !matches!(*w, "please" | "can" | "could" | "you"))?;
    if !matches!(words[start], "turn" | "switch") {
        return None;
    }
    let at = if words.get(start + 1) == Some(&"of") {
        start + 1
    } else if words.len() > start + 2 && words.last() == Some(&"of") {
        words.len() - 1
    } else {
        return None;
    };
    words[at] = "off";
    Some(words.join(" "))
}

pub fn clauses(normalized: &str) -> Vec<Clause> {
    let mut parts: Vec<Vec<String>> = vec![Vec::new()];
    for word in normalized.split_whitespace() {
        if matches!(word, "and" | "," | "then" | "also" | "plus" | "&") {
            parts.push(Vec::new());
        } else {
            parts
                .last_mut()
                .expect("never empty")
                .push(word.to_string());
        }
    }
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .map(|words| {
            let cues = read_cues(&words);
            let plural = words.iter().enumerate().any(|(i, w)| {
                let next = |k: usize| words.get(i + k).map(String::as_str);
                match w.as_str() {
                    "every" | "both" | "each" => true,
                    // "all the way up", "not at all": a degree, not a group.
                    "all" => {
                        let degree = next(1) == Some("the") && next(2) == Some("way");
                        let at_all = i > 0 && words[i - 1] == "at";
                        !degree && !at_all
                    }
                    _ => false,
                }
            });
            Clause {
                text: words.join(" "),
                words,
                cues,
                plural,
            }
        })
        .collect()
}

fn read_cues(words: &[String]) -> Cues {
    let mut cues = Cues::default();
    let has = |w: &str| words.iter().any(|x| x == w);
    let verb_on = ["turn", "switch", "power", "put", "flip"];
    for (i, w) in words.iter().enumerate() {
        let prev = i.checked_sub(1).map(|j| words[j].as_str());
        match w.as_str() {
            "on" | "off" => {
                // "turn on", "switch the light off", "lights on": power; but
                // "put the fan on medium" is not.
                let next = words.get(i + 1).map(String::as_str);
                let followed_by_value = next.is_some_and(|n| {
                    matches!(n, "low" | "medium" | "high" | "auto" | "heat" | "cool")
                        || split_number(n).is_some()
                });
                if !followed_by_value
                    && (words.iter().any(|v| verb_on.contains(&v.as_str()))
                        || i + 1 == words.len()
                        || prev.is_some())
                {
                    cues.power = Some(w == "on");
                }
            }
            "start" | "enable" | "activate" => cues.power = Some(true),
            "stop" | "disable" | "deactivate" | "kill" => cues.power = Some(false),
            "lock" => cues.lock = Some(true),
            "unlock" => cues.lock = Some(false),
            // After a determiner it describes a name ("the *open* office",
            // "the *lower* deck"): a verb never follows "the".
            "open" | "close" | "lower" | "upper"
                if prev.is_some_and(|p| {
                    matches!(
                        p,
                        "the" | "a" | "an" | "my" | "our" | "your" | "this" | "that"
                    )
                }) => {}
            "open" | "raise" | "extend" | "lift" | "up" => {
                cues.direction = cues.direction.or(Some(Direction::Up))
            }
            "close" | "shut" | "lower" | "retract" | "down" => {
                cues.direction = cues.direction.or(Some(Direction::Down))
            }
            "dim" | "darker" | "dimmer" => {
                cues.direction = Some(Direction::Down);
                cues.brightness_verb = true;
            }
            "brighten" | "brighter" => {
                cues.direction = Some(Direction::Up);
                cues.brightness_verb = true;
            }
            "half" | "halfway" => cues.number = cues.number.or(Some((50.0, Unit::Percent))),
            "fully" | "completely" | "totally" | "max" | "maximum" | "full" => cues.extreme = true,
            "way" if prev == Some("the") && i >= 2 && words[i - 2] == "all" => cues.extreme = true,
            _ => {
                if let Some((n, rest)) = split_number(w) {
                    let unit = unit_of(rest)
                        .or_else(|| words.get(i + 1).and_then(|u| unit_of(u)))
                        .unwrap_or(Unit::None);
                    // An id such as car_03 is not a number.
                    if rest.is_empty() || unit_of(rest).is_some() {
                        cues.number = Some((n, unit));
                    }
                }
            }
        }
    }
    // "as low as it goes", "its lowest setting"; "as high as it goes".
    let after_as = |w: &str| words.windows(2).any(|p| p[0] == "as" && p[1] == w);
    if has("minimum") || has("min") || has("lowest") || after_as("low") {
        cues.extreme = true;
        cues.direction = Some(Direction::Down);
    }
    if has("highest") || after_as("high") {
        cues.extreme = true;
        cues.direction = Some(Direction::Up);
    }
    cues
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(goal: &str) -> bool {
        let words: Vec<String> = normalize(goal)
            .split_whitespace()
            .map(String::from)
            .collect();
        is_question(&words)
    }

    #[test]
    fn a_verb_after_a_determiner_is_part_of_a_name() {
        assert!(one("the open office is really stuffy").cues.is_empty());
        assert!(one("the lower deck is cold").cues.is_empty());
        assert_eq!(
            one("open the open office blinds").cues.direction,
            Some(Direction::Up)
        );
        assert_eq!(
            one("close the blinds").cues.direction,
            Some(Direction::Down)
        );
    }

    #[test]
    fn a_condition_makes_a_standing_rule_not_a_command() {
        let rule = |g: &str| {
            let n = normalize(g);
            is_rule(&n.split_whitespace().map(String::from).collect::<Vec<_>>())
        };
        for g in [
            "if the cellar humidity goes above 70%, switch on the dehumidifier",
            "when the cellar gets damp turn on the dehumidifier plug",
            "whenever the front door opens, turn on the hall light",
            "turn on the porch light if someone rings",
            "as soon as it's dark, close the blinds",
            "once the garage door is open switch on the garage light",
            "should the greenhouse humidity exceed 80%, open the greenhouse vent",
            "set the roof vent to 40% in case the greenhouse humidity goes over 85%",
            "switch the kettle off once it's boiled",
            "close the awning before it rains",
            "switch off the printer after it finishes",
            "the moment the door opens turn on the hall light",
            "turn on the heater until it reaches 21 degrees",
        ] {
            assert!(rule(g), "{g}");
        }
        for g in [
            "turn on the hall light",
            "check if the kitchen light is on",
            "when did the front door open?",
            "turn off the fan if possible",
            "once again, turn on the lamp",
            "could you tell me if the door is locked",
            "if you could, turn on the hall light",
            "if possible, switch off the fan",
            "when you get a chance, close the blinds",
            "turn on the porch light if it isn't already",
            "should i turn on the heating",
            "before i go to bed: is the side door locked?",
            "turn off the heater after 10 minutes",
        ] {
            assert!(!rule(g), "{g}");
        }
    }

    #[test]
    fn questions_are_recognised_anywhere_in_the_sentence() {
        for goal in [
            "could you check whether the kitchen light is on?",
            "please are any lights on",
            "I wonder if the garage door is open",
            "how many lights are on",
            "which doors are unlocked",
            "can you tell me the temperature in the study",
            "is there a window open upstairs",
        ] {
            assert!(q(goal), "{goal}");
        }
        for goal in [
            "turn on the kitchen light",
            "please switch off the lamp",
            "if the cellar gets damp switch on the dehumidifier",
            "tell the tv to turn off",
        ] {
            assert!(!q(goal), "{goal}");
        }
    }

    fn one(goal: &str) -> Clause {
        let c = clauses(&normalize(goal));
        assert_eq!(c.len(), 1, "{c:#?}");
        c.into_iter().next().unwrap()
    }

    #[test]
    fn numbers_carry_their_units() {
        assert_eq!(
            one("dim the hall light to 10%").cues.number,
            Some((10.0, Unit::Percent))
        );
        assert_eq!(
            one("set it to 21.5 degrees").cues.number,
            Some((21.5, Unit::Degrees))
        );
        assert_eq!(
            one("bedroom to 19 °C").cues.number,
            Some((19.0, Unit::Degrees))
        );
        assert_eq!(
            one("lamp to 3000K").cues.number,
            Some((3000.0, Unit::Kelvin))
        );
        assert_eq!(
            one("brightness -10%").cues.number,
            Some((-10.0, Unit::Percent))
        );
        assert_eq!(
            one("blinds at 30 per cent").cues.number,
            Some((30.0, Unit::Percent))
        );
        assert_eq!(one("how fast is car_04 going").cues.number, None);
    }

    #[test]
    fn power_words_are_read_in_context() {
        assert_eq!(one("turn on the light").cues.power, Some(true));
        assert_eq!(one("switch the telly off").cues.power, Some(false));
        assert_eq!(one("start the fan").cues.power, Some(true));
        assert_eq!(one("put the study fan on medium speed").cues.power, None);
    }

    #[test]
    fn goals_split_at_and_and_commas() {
        let c = clauses(&normalize(
            "switch off the desk lamp, the desk fan and the printer plug",
        ));
        assert_eq!(c.len(), 3);
        assert_eq!(c[2].text, "the printer plug");
    }

    #[test]
    fn words_point_to_the_end_of_the_range() {
        let c = one("close the bedroom blinds completely");
        assert_eq!(c.cues.direction, Some(Direction::Down));
        assert!(c.cues.extreme);
        assert!(one("retract the awning all the way").cues.extreme);
        // A degree, not a group.
        assert!(!one("turn the heat all the way up in the living room").plural);
        assert!(one("turn all the lights all the way up").plural);
        assert!(one("all lights off").plural);
        assert_eq!(
            one("open the blinds halfway").cues.number,
            Some((50.0, Unit::Percent))
        );
    }

    #[test]
    fn questions_are_recognised_by_their_first_word() {
        assert!(is_question(&one("is the front door locked?").words));
        assert!(is_question(&one("how humid is the cellar").words));
        assert!(!is_question(&one("could you switch on the light?").words));
    }
}
