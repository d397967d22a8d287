//! Time phrases in goals: "in 10 minutes", "after half an hour", "at 7 pm",
//! "tonight at 23:00", "tomorrow at 6:30", "every day at 7:00", "on
//! weekdays at 6:30", "every night at eleven" — split off the goal, which
//! is then planned on its own when the time comes.
//!
//! Times of day are read in the operator's time zone (`--time-zone`, else
//! the system's). A clock time without am/pm ("at 7") means the next of
//! 7:00 and 19:00 unless a part of the day says which ("tonight",
//! "in the morning"). A bare number after "at" is a time only first in the
//! goal ("at 9 turn on the lights"), last after a verb that takes no
//! number ("turn on the lights at 9"), or with a day word ("tomorrow at
//! 6"); "set the thermostat at 21" is a set point.

use jiff::civil::{Time, Weekday};
use jiff::{Span, Timestamp, ZonedDateTime as Zoned};
use serde::{Deserialize, Serialize};

/// Days of the week a recurring goal runs on (bit 0 = Monday).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Days(pub u8);

impl Days {
    pub const EVERY: Days = Days(0b111_1111);
    pub const WEEKDAYS: Days = Days(0b001_1111);
    pub const WEEKENDS: Days = Days(0b110_0000);

    fn of(day: Weekday) -> Days {
        Days(1 << day.to_monday_zero_offset())
    }

    pub fn contains(self, day: Weekday) -> bool {
        self.0 & Days::of(day).0 != 0
    }

    /// "every day", "weekdays", "Mondays and Fridays".
    pub fn describe(self) -> String {
        match self {
            Days::EVERY => "every day".into(),
            Days::WEEKDAYS => "on weekdays".into(),
            Days::WEEKENDS => "on weekends".into(),
            _ => {
                let names: Vec<&str> = WEEKDAYS
                    .iter()
                    .filter(|(_, d)| self.contains(*d))
                    .map(|(n, _)| *n)
                    .collect();
                format!("every {}", names.join(" and "))
            }
        }
    }
}

const WEEKDAYS: &[(&str, Weekday)] = &[
    ("monday", Weekday::Monday),
    ("tuesday", Weekday::Tuesday),
    ("wednesday", Weekday::Wednesday),
    ("thursday", Weekday::Thursday),
    ("friday", Weekday::Friday),
    ("saturday", Weekday::Saturday),
    ("sunday", Weekday::Sunday),
];

/// When a goal runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Timing {
    /// Once, at this moment.
    Once(Timestamp),
    /// On these days, at this time of day in the operator's time zone.
    Every { days: Days, time: Time },
}

impl Timing {
    /// The first run strictly after `now` (for `Once`, its moment).
    pub fn next_after(&self, now: &Zoned) -> Option<Timestamp> {
        match self {
            Timing::Once(t) => Some(*t),
            Timing::Every { days, time } => {
                let mut date = now.date();
                for _ in 0..8 {
                    if days.contains(date.weekday())
                        && let Ok(at) = date
                            .to_datetime(*time)
                            .to_zoned_datetime(now.time_zone().clone())
                        && at.timestamp() > now.timestamp()
                    {
                        return Some(at.timestamp());
                    }
                    date = date.tomorrow().ok()?;
                }
                None
            }
        }
    }

    /// "once", "every day at 07:00".
    pub fn describe(&self) -> String {
        match self {
            Timing::Once(_) => "once".into(),
            Timing::Every { days, time } => {
                format!("{} at {}", days.describe(), time.strftime("%H:%M"))
            }
        }
    }
}

/// A time phrase that cannot be read as a time ("at 25:00").
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct BadTime(pub String);

/// The goal without its time phrase, and when it runs; `Ok(None)` when the
/// goal says no time.
pub fn split(goal: &str, now: &Zoned) -> Result<Option<(Timing, String)>, BadTime> {
    let words = tokens(goal);
    let mut used = vec![false; words.len()];
    let w = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    let mut delay: Option<Span> = None;
    let mut clock: Option<(i8, i8, Option<bool>)> = None; // hour, minute, pm
    let mut days: Option<Days> = None;
    let mut day_offset: Option<i64> = None; // today 0, tomorrow 1
    let mut weekday: Option<Weekday> = None;
    let mut part: Option<bool> = None; // pm?
    let mut clock_words = (0, 0);
    let mut clock_explicit = false;
    let mut i = 0;
    while i < words.len() {
        match w(i) {
            // "in 10 minutes", "after half an hour", "in an hour and a half"
            "in" | "after" | "within" => {
                if let Some((span, n)) = duration(&words[i + 1..]) {
                    delay = Some(span);
                    used[i..=i + n].iter_mut().for_each(|u| *u = true);
                    i += n + 1;
                    continue;
                }
                // "in the morning", "in the evening"
                if w(i + 1) == "the"
                    && let Some(pm) = part_of_day(w(i + 2))
                {
                    part = Some(pm);
                    used[i..=i + 2].iter_mut().for_each(|u| *u = true);
                    i += 3;
                    continue;
                }
            }
            "at" => {
                if let Some((h, m, pm, n, explicit)) = clock_time(&words[i + 1..]) {
                    clock = Some((h, m, pm));
                    clock_words = (i, i + n);
                    clock_explicit = explicit;
                    used[i..=i + n].iter_mut().for_each(|u| *u = true);
                    i += n + 1;
                    continue;
                }
            }
            "tonight" => {
                day_offset = Some(0);
                part = Some(true);
                used[i] = true;
            }
            "today" => {
                day_offset = Some(0);
                used[i] = true;
            }
            "tomorrow" => {
                day_offset = Some(1);
                used[i] = true;
                if let Some(pm) = part_of_day(w(i + 1)) {
                    part = Some(pm);
                    used[i + 1] = true;
                    i += 1;
                }
            }
            "this" if part_of_day(w(i + 1)).is_some() => {
                day_offset = Some(0);
                part = part_of_day(w(i + 1));
                used[i] = true;
                used[i + 1] = true;
                i += 1;
            }
            "daily" => {
                days = Some(Days::EVERY);
                used[i] = true;
            }
            "nightly" => {
                days = Some(Days::EVERY);
                part = Some(true);
                used[i] = true;
            }
            "every" | "each" | "on" => {
                let next = w(i + 1);
                let (d, pm) = match next {
                    "day" => (Some(Days::EVERY), None),
                    "night" | "evening" => (Some(Days::EVERY), Some(true)),
                    "morning" => (Some(Days::EVERY), Some(false)),
                    "weekday" | "weekdays" => (Some(Days::WEEKDAYS), None),
                    "weekend" | "weekends" => (Some(Days::WEEKENDS), None),
                    _ => (weekday_of(next).map(Days::of), None),
                };
                if let Some(mut d) = d {
                    let recurring = w(i) != "on" || next.ends_with('s');
                    used[i] = true;
                    used[i + 1] = true;
                    i += 2;
                    // "every monday and friday"
                    while w(i) == "and" && weekday_of(w(i + 1)).is_some() {
                        d = Days(d.0 | Days::of(weekday_of(w(i + 1)).expect("checked")).0);
                        used[i] = true;
                        used[i + 1] = true;
                        i += 2;
                    }
                    if let Some(pm) = pm {
                        part = Some(pm);
                    }
                    if recurring {
                        days = Some(d);
                    } else if let Some(day) = weekday_of(next) {
                        weekday = Some(day);
                    }
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    let day_word = days.is_some() || day_offset.is_some() || weekday.is_some() || part.is_some();
    // A bare "at 7" with no day word: not a time ("set the fan at 7").
    // A bare "at 9" is a time first in a goal ("at 9 turn on the
    // lights"), or last after a verb that takes no number ("turn on the
    // lights at 9"); otherwise it is a value ("set the thermostat at 21").
    let bare_time = clock_words.0 == 0
        || clock_words.1 + 1 == words.len()
            && clock.is_some_and(|(h, _, _)| (1..=12).contains(&h))
            && words.iter().any(|w| {
                matches!(
                    w.as_str(),
                    "on" | "off" | "open" | "close" | "lock" | "unlock" | "start" | "stop"
                )
            });
    if clock.is_some() && !clock_explicit && !day_word && !bare_time {
        clock = None;
        used[clock_words.0..=clock_words.1]
            .iter_mut()
            .for_each(|u| *u = false);
    }
    if delay.is_none() && clock.is_none() && !day_word {
        // A time giot cannot read ("at sunset", "later", "in a while",
        // "at quarter to") is refused: a goal for later never runs now.
        let vague = words.iter().enumerate().find(|(i, w)| {
            VAGUE_TIMES.contains(&w.as_str())
                || matches!(w.as_str(), "while" | "bit")
                    && *i >= 2
                    && words[i - 2] == "in"
                    && words[i - 1] == "a"
                || UNIT_WORDS.contains(&w.as_str())
        });
        if let Some((_, w)) = vague {
            return Err(BadTime(format!(
                "\"{w}\" says when, and giot cannot read that time: say it as \"in 10 minutes\", \"at 7:30 pm\" or \"every day at 7\""
            )));
        }
        return Ok(None);
    }
    let rest: String = words
        .iter()
        .zip(&used)
        .filter(|(_, u)| !**u)
        .map(|(w, _)| w.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    if let Some(span) = delay {
        if clock.is_some() || days.is_some() {
            return Err(BadTime(
                "say either a delay (\"in 10 minutes\") or a time (\"at 7 pm\"), not both".into(),
            ));
        }
        let at = now
            .checked_add(span)
            .map_err(|e| BadTime(format!("that delay is too long: {e}")))?;
        return Ok(Some((Timing::Once(at.timestamp()), rest)));
    }
    // "every night" with no time, "tomorrow" with no time: ask for one.
    let Some((hour, minute, pm)) = clock else {
        return Err(BadTime(
            "at what time? say it with the day, e.g. \"every day at 7:00\" or \"tomorrow at 6 pm\""
                .into(),
        ));
    };
    let pm = pm.or(part);
    let hours: Vec<i8> = match pm {
        Some(true) if hour < 12 => vec![hour + 12],
        Some(false) if hour == 12 => vec![0],
        Some(_) => vec![hour],
        None if (1..=12).contains(&hour) && !explicit_24h(&words) => {
            vec![hour % 12, hour % 12 + 12]
        }
        None => vec![hour],
    };
    let times: Vec<Time> = hours
        .iter()
        .filter_map(|&h| Time::new(h, minute, 0, 0).ok())
        .collect();
    if times.is_empty() {
        return Err(BadTime(format!("{hour}:{minute:02} is not a time of day")));
    }
    if let Some(days) = days {
        // A recurring time with no am/pm: the later reading for a night,
        // else the first (every day at 7 is 7:00).
        let time = times[0];
        return Ok(Some((Timing::Every { days, time }, rest)));
    }
    let tz = now.time_zone().clone();
    let mut best: Option<Zoned> = None;
    for t in times {
        let start = now.date();
        for k in 0..8 {
            let date = start
                .checked_add(Span::new().days(k))
                .map_err(|e| BadTime(e.to_string()))?;
            if let Some(off) = day_offset
                && k != off
            {
                continue;
            }
            if let Some(day) = weekday
                && date.weekday() != day
            {
                continue;
            }
            let Ok(at) = date.to_datetime(t).to_zoned_datetime(tz.clone()) else {
                continue;
            };
            if at.timestamp() > now.timestamp() {
                if best.as_ref().is_none_or(|b| at.timestamp() < b.timestamp()) {
                    best = Some(at);
                }
                break;
            }
        }
    }
    match best {
        Some(at) => Ok(Some((Timing::Once(at.timestamp()), rest))),
        None => Err(BadTime(format!(
            "{hour}:{minute:02} {} has already passed",
            if day_offset == Some(0) {
                "today"
            } else {
                "then"
            }
        ))),
    }
}

/// Words that say when, in ways giot does not turn into a time.
const VAGUE_TIMES: &[&str] = &[
    "later",
    "soon",
    "shortly",
    "afterwards",
    "eventually",
    "sunset",
    "sunrise",
    "dawn",
    "dusk",
    "sundown",
    "sunup",
    "oclock",
];

/// Units of a delay; left over after parsing, they mean a delay giot did
/// not read ("in ten or so minutes").
/// German, French and Spanish units too: those goals are read by their
/// templates, and "in 10 Minuten" must not run now.
const UNIT_WORDS: &[&str] = &[
    "minute", "minutes", "mins", "hour", "hours", "hrs", "seconds", "secs", "minuten", "stunde",
    "stunden", "sekunden", "heure", "heures", "secondes", "minuto", "minutos", "hora", "horas",
    "segundos",
];

/// Lowercase words, with "7pm" split into "7 pm" and "a.m." read as "am".
fn tokens(goal: &str) -> Vec<String> {
    let lower = goal
        .to_lowercase()
        .replace("a.m.", "am")
        .replace("p.m.", "pm")
        .replace("o'clock", "oclock")
        .replace("o’clock", "oclock");
    let mut out = Vec::new();
    for raw in lower.split(|c: char| c.is_whitespace() || c == ',' || c == ';' || c == '!') {
        let word = raw.trim_matches(|c: char| matches!(c, '.' | '?' | '"' | '(' | ')'));
        if word.is_empty() {
            continue;
        }
        // "7pm", "6:30am"
        if let Some(stem) = word.strip_suffix("pm").or_else(|| word.strip_suffix("am"))
            && !stem.is_empty()
            && stem
                .chars()
                .all(|c| c.is_ascii_digit() || c == ':' || c == '.')
        {
            out.push(stem.to_string());
            out.push(word[stem.len()..].to_string());
            continue;
        }
        out.push(word.to_string());
    }
    out
}

fn part_of_day(word: &str) -> Option<bool> {
    match word {
        "morning" => Some(false),
        "afternoon" | "evening" | "night" | "tonight" => Some(true),
        _ => None,
    }
}

fn weekday_of(word: &str) -> Option<Weekday> {
    let word = word.strip_suffix('s').unwrap_or(word);
    WEEKDAYS.iter().find(|(n, _)| *n == word).map(|(_, d)| *d)
}

/// "19:00", "07:30": a 24-hour time (two digits before the colon).
fn explicit_24h(words: &[String]) -> bool {
    words
        .iter()
        .any(|w| w.len() == 5 && w.as_bytes()[2] == b':' && w.starts_with('0'))
}

/// A number written as digits or in words ("ten", "twenty five", "a").
fn number(words: &[String]) -> Option<(f64, usize)> {
    let first = words.first()?.as_str();
    if let Ok(n) = first.parse::<f64>() {
        return Some((n, 1));
    }
    let small = |w: &str| -> Option<f64> {
        const ONES: &[&str] = &[
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
        ];
        const TENS: &[&str] = &["twenty", "thirty", "forty", "fifty"];
        ONES.iter()
            .position(|o| *o == w)
            .map(|n| n as f64)
            .or_else(|| {
                TENS.iter()
                    .position(|t| *t == w)
                    .map(|n| 20.0 + 10.0 * n as f64)
            })
    };
    if matches!(first, "a" | "an" | "one") {
        return Some((1.0, 1));
    }
    let (n, used) = if let Some((tens, ones)) = first.split_once('-') {
        (small(tens)? + small(ones)?, 1)
    } else {
        let n = small(first)?;
        match words.get(1).and_then(|w| small(w)) {
            Some(ones) if n >= 20.0 && ones < 10.0 => (n + ones, 2),
            _ => (n, 1),
        }
    };
    Some((n, used))
}

/// "10 minutes", "half an hour", "an hour and a half", "1.5 hours",
/// "a couple of minutes": the span and the number of words it took.
fn duration(words: &[String]) -> Option<(Span, usize)> {
    let w = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    let unit_seconds = |u: &str| -> Option<f64> {
        Some(match u {
            "second" | "seconds" | "sec" | "secs" | "s" => 1.0,
            "minute" | "minutes" | "min" | "mins" | "m" => 60.0,
            "hour" | "hours" | "hr" | "hrs" | "h" => 3600.0,
            "day" | "days" => 86_400.0,
            _ => return None,
        })
    };
    // "half an hour", "a quarter of an hour", "a quarter hour"
    let (mut seconds, mut n) = if w(0) == "half" && matches!(w(1), "an" | "a") {
        (unit_seconds(w(2))? / 2.0, 3)
    } else if w(0) == "a" && w(1) == "quarter" {
        let skip = if w(2) == "of" { 3 } else { 2 };
        let skip = if matches!(w(skip), "an" | "a") {
            skip + 1
        } else {
            skip
        };
        (unit_seconds(w(skip))? / 4.0, skip + 1)
    } else if w(0) == "a" && w(1) == "couple" && w(2) == "of" {
        (2.0 * unit_seconds(w(3))?, 4)
    } else {
        let (count, used) = number(words)?;
        let unit = unit_seconds(w(used))?;
        (count * unit, used + 1)
    };
    // "an hour and a half", "1 hour and 30 minutes", "an hour and ten minutes"
    if w(n) == "and" {
        if w(n + 1) == "a" && w(n + 2) == "half" {
            let last = unit_seconds(w(n - 1)).unwrap_or(0.0);
            seconds += last / 2.0;
            n += 3;
        } else if let Some((more, k)) = number(&words[n + 1..])
            && let Some(unit) = unit_seconds(w(n + 1 + k))
        {
            seconds += more * unit;
            n += k + 2;
        }
    }
    if !(seconds > 0.0 && seconds.is_finite()) {
        return None;
    }
    Some((Span::new().seconds(seconds.round() as i64), n))
}

/// "7", "7:30", "19:00", "7 pm", "seven", "seven thirty", "noon",
/// "midnight", "7 o'clock": hour, minute, pm if said, words used, and
/// whether it says itself that it is a time.
fn clock_time(words: &[String]) -> Option<(i8, i8, Option<bool>, usize, bool)> {
    let w = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    match w(0) {
        "noon" | "midday" => return Some((12, 0, None, 1, true)),
        "midnight" => return Some((0, 0, None, 1, true)),
        // "half past seven", "quarter to eight", "a quarter past 6"
        "half" | "quarter" | "a" => {
            let skip = usize::from(w(0) == "a");
            let minutes: i8 = match w(skip) {
                "half" => 30,
                "quarter" => 15,
                _ => return None,
            };
            let to = match w(skip + 1) {
                "past" | "after" => false,
                "to" | "before" if minutes == 15 => true,
                _ => return None,
            };
            let (h, k) = number(&words[skip + 2..])?;
            if h.fract() != 0.0 || !(0.0..=23.0).contains(&h) {
                return None;
            }
            let h = h as i8;
            let (hour, minute) = if to {
                ((h + 23) % 24, 60 - minutes)
            } else {
                (h, minutes)
            };
            return Some((hour, minute, None, skip + 2 + k, true));
        }
        _ => {}
    }
    let (hour, minute, mut used, mut explicit) =
        if let Some((h, m)) = w(0).split_once(':').or_else(|| w(0).split_once('.')) {
            (h.parse::<i8>().ok()?, m.parse::<i8>().ok()?, 1, true)
        } else {
            let (h, used) = number(words)?;
            if h.fract() != 0.0 || !(0.0..=24.0).contains(&h) || matches!(w(0), "a" | "an") {
                return None;
            }
            // "seven thirty", "seven fifteen"
            match number(&words[used..]) {
                Some((m, k))
                    if (10.0..60.0).contains(&m)
                        && m.fract() == 0.0
                        && !words[used].chars().next()?.is_ascii_digit() =>
                {
                    (h as i8, m as i8, used + k, true)
                }
                _ => (h as i8, 0, used, false),
            }
        };
    // "20%", "21 degrees": a value, not a time.
    if matches!(
        w(used),
        "%" | "percent" | "degrees" | "degree" | "°" | "°c" | "k" | "kelvin"
    ) {
        return None;
    }
    let mut pm = None;
    match w(used) {
        "pm" => {
            pm = Some(true);
            used += 1;
            explicit = true;
        }
        "am" => {
            pm = Some(false);
            used += 1;
            explicit = true;
        }
        "oclock" => {
            used += 1;
            explicit = true;
        }
        _ => {}
    }
    if !(0..=24).contains(&hour) || !(0..60).contains(&minute) || pm.is_some() && hour > 12 {
        return None;
    }
    Some((hour % 24, minute, pm, used, explicit))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Monday 30 November 2026, 20:00 in Berlin.
    fn now() -> Zoned {
        "2026-11-30T20:00:00[Europe/Berlin]".parse().unwrap()
    }

    fn at(goal: &str) -> (String, String) {
        let (timing, rest) = split(goal, &now()).unwrap().unwrap();
        let when = match timing {
            Timing::Once(t) => t
                .to_zoned_datetime(now().time_zone().clone())
                .strftime("%a %H:%M")
                .to_string(),
            every => every.describe(),
        };
        (when, rest)
    }

    #[test]
    fn delays_run_once_after_them() {
        assert_eq!(
            at("turn off the hall light in 10 minutes"),
            ("Mon 20:10".into(), "turn off the hall light".into())
        );
        assert_eq!(
            at("in 5 minutes, turn on the kitchen light").1,
            "turn on the kitchen light"
        );
        assert_eq!(at("after half an hour switch off the fan").0, "Mon 20:30");
        assert_eq!(at("in an hour and a half close the blinds").0, "Mon 21:30");
        assert_eq!(
            at("dim the hall light to 20% in fifteen minutes"),
            ("Mon 20:15".into(), "dim the hall light to 20%".into())
        );
        assert_eq!(at("in a couple of minutes turn it off").0, "Mon 20:02");
    }

    #[test]
    fn clock_times_are_the_next_such_time_in_the_zone() {
        assert_eq!(at("turn on the porch light at 7 pm").0, "Tue 19:00");
        assert_eq!(at("tonight at 23:00 lock the door").0, "Mon 23:00");
        assert_eq!(at("turn on the heating tomorrow at 6:30").0, "Tue 06:30");
        assert_eq!(at("at 9 turn on the bedroom lights").0, "Mon 21:00");
        assert_eq!(at("turn on the bedroom lights at 9 AM").0, "Tue 09:00");
        assert_eq!(at("at midnight switch off the tv").0, "Tue 00:00");
        assert_eq!(
            at("tomorrow morning at seven open the blinds").0,
            "Tue 07:00"
        );
        assert_eq!(
            at("on friday at 8 pm turn on the garden lights").0,
            "Fri 20:00"
        );
    }

    #[test]
    fn recurring_goals_name_their_days() {
        assert_eq!(
            at("every day at 7:00 open the bedroom blinds"),
            (
                "every day at 07:00".into(),
                "open the bedroom blinds".into()
            )
        );
        assert_eq!(
            at("on weekdays at 6:30 turn on the kitchen light").0,
            "on weekdays at 06:30"
        );
        assert_eq!(
            at("every night at eleven lock the front door").0,
            "every day at 23:00"
        );
        assert_eq!(
            at("every monday and friday at 8 water the garden").0,
            "every monday and friday at 08:00"
        );
    }

    #[test]
    fn values_and_rooms_are_not_times() {
        for goal in [
            "set the thermostat at 21",
            "put the blinds at 30 percent",
            "turn off the lights in the kitchen",
            "set the living room thermostat to 21 degrees",
            "dim the hall light to 20%",
        ] {
            assert_eq!(split(goal, &now()), Ok(None), "{goal}");
        }
    }

    #[test]
    fn a_time_giot_cannot_read_is_refused_not_acted_on_now() {
        for goal in [
            "turn off the hall light at sunset",
            "turn off the hall light later",
            "turn off the hall light in a while",
            "switch the fan off in ten or so minutes",
            "schalte das Licht in 10 Minuten aus",
            "éteins la lumière dans 10 minutes",
            "apaga la luz en 10 minutos",
        ] {
            assert!(split(goal, &now()).is_err(), "{goal}");
        }
        // "a bit" without "in" is a size, not a time.
        assert_eq!(split("make the lamp a bit brighter", &now()), Ok(None));
    }

    #[test]
    fn an_impossible_or_incomplete_time_is_refused_with_the_reason() {
        assert!(split("every night turn off the lights", &now()).is_err());
        assert!(
            split("turn on the light at 25:00 tomorrow", &now()).is_err()
                || split("turn on the light at 25:00 tomorrow", &now()).is_ok_and(|s| s.is_none())
        );
    }

    #[test]
    fn the_next_run_of_a_recurring_goal_skips_to_its_days() {
        let t = Timing::Every {
            days: Days::WEEKENDS,
            time: Time::new(9, 0, 0, 0).unwrap(),
        };
        let next = t
            .next_after(&now())
            .unwrap()
            .to_zoned_datetime(now().time_zone().clone());
        assert_eq!(next.strftime("%a %d %H:%M").to_string(), "Sat 05 09:00");
    }
}
