//! Relative changes: "make the hall light a bit brighter", "turn the heating
//! up by 2 degrees", "dim the desk lamp", "lower the awning by 20%",
//! "toggle the aquarium pump" — a new value computed from the device's
//! current one, never a value read off the words alone.
//!
//! How far a change goes (the README's "Relative changes" table):
//!
//! | said | a number (brightness, position, volume…) | a set point (°C/°F) | an ordered list (fan speed) |
//! |---|---|---|---|
//! | a plain change ("brighter", "turn up", "dim") | 10 % of the range | 1 degree | the next value |
//! | "a bit", "a little", "slightly", "a touch" | 5 % of the range | 0.5 degree | the next value |
//! | "a lot", "much", "way", "far" | 25 % of the range | 2.5 degrees | three values on |
//! | "by N percent" | N % of the range (N points on a % scale) | N % of the range | — |
//! | "by N degrees", "by N" | N in the capability's unit | N degrees | N values on |
//! | "by N steps/notches" | N plain changes | N degrees | N values on |
//!
//! The result is clamped to the capability's range and rounded to its step
//! (to whole numbers on a range wider than 20 without one). "warmer" and
//! "cooler" move a set point up and down, and a light's colour temperature
//! towards lower kelvin (higher mireds) and back. A device whose current
//! value is unknown gets no guess: the goal is refused with that reason.

use serde_json::{Map, Value};

use super::lexicon;
use super::understand::{Cues, Unit};
use crate::registry::value::number;
use crate::registry::{Capability, CapabilityType, Device};

/// A change from the current value, as a clause says it.
#[derive(Debug, Clone, PartialEq)]
pub struct Relative {
    /// Towards the top of the range (brighter, louder, warmer, up).
    pub up: bool,
    /// "by N" with its unit.
    pub by: Option<(f64, Unit)>,
    /// How many plain steps: 0.5 for "a bit", 2.5 for "a lot".
    pub steps: f64,
    /// Which kind of capability the words point to.
    pub affinity: Affinity,
    /// Only a verb said it ("dim the lamp", "lower the awning"): on a cover,
    /// "lower" and "raise" close and open it instead.
    pub implied: bool,
}

/// What a relative word is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Affinity {
    /// brighter, dimmer, dim, brighten, darker
    Brightness,
    /// louder, quieter, softer
    Volume,
    /// warmer, cooler, hotter, colder: a set point, or a light's white
    Warmth,
    /// up, down, increase, decrease, more, less, higher, lower
    Any,
}

/// A plain step: this share of a capability's range.
pub const STEP_SHARE: f64 = 0.10;
/// A plain step of a set point, in degrees.
pub const STEP_DEGREES: f64 = 1.0;

/// Reads the relative change a clause asks for, if any: a comparative
/// ("brighter"), a size ("a bit"), "by N", or a verb that moves a value
/// without saying where to ("dim", "turn up", "increase"). A target ("to
/// 30%", "to the max") makes the change absolute: `None`. A word for
/// which `is_name(words, i)` holds is part of a device's name ("the wine
/// *cooler*", "the hall *dimmer*") and says nothing about a change.
pub fn read(
    words: &[String],
    cues: &Cues,
    is_name: &dyn Fn(&[String], usize) -> bool,
) -> Option<Relative> {
    let has = |w: &str| words.iter().any(|x| x == w);
    // "by 10 percent", "by another 5 degrees", "up 2 notches" (number
    // words are digits by now).
    let is_number = |w: &str| {
        w.chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || c == '.')
    };
    let by_number = words.iter().enumerate().any(|(i, w)| {
        let before = |k: usize| i.checked_sub(k).map(|j| words[j].as_str());
        is_number(w)
            && (before(1) == Some("by")
                || before(2) == Some("by")
                    && matches!(
                        before(1),
                        Some("another" | "further" | "extra" | "additional")
                    )
                || words
                    .get(i + 1)
                    .is_some_and(|n| lexicon::STEP_WORDS.contains(&n.as_str())))
    });
    // "turn the heat down six degrees", "turn the tv down 10": a number
    // after "up" or "down" with no "to" is how far, not where.
    let mover = words
        .iter()
        .any(|w| lexicon::RELATIVE_MOVERS.contains(&w.as_str()));
    let moved_by = mover
        && words.iter().enumerate().any(|(i, w)| {
            is_number(w)
                && i > 0
                && matches!(words[i - 1].as_str(), "up" | "down")
                && !words[..i].iter().any(|x| x == "to")
        });
    let by_number = by_number || moved_by;
    if cues.number.is_some() && !by_number || cues.extreme {
        return None;
    }
    let mut up = None;
    let mut affinity = Affinity::Any;
    let mut comparative = false;
    let sized_or_by = by_number
        || words.iter().any(|w| {
            lexicon::RELATIVE_SMALL.contains(&w.as_str())
                || lexicon::RELATIVE_LARGE.contains(&w.as_str())
        });
    for (list, dir, aff) in lexicon::RELATIVE_WORDS {
        // "open", "close": a change only with a size or "by N" ("open the
        // skylight by another 25%"); else they open and close (or name
        // "the open office").
        if !sized_or_by && list.iter().any(|w| lexicon::OPENING_WORDS.contains(w)) {
            continue;
        }
        if let Some(w) = words
            .iter()
            .enumerate()
            .find(|&(i, w)| list.contains(&w.as_str()) && !is_name(words, i))
            .map(|(_, w)| w)
        {
            up = Some(*dir);
            affinity = *aff;
            // A comparative says "more than now" by itself; a verb does
            // only with a size or a number.
            comparative = w.ends_with("er") && !matches!(w.as_str(), "lower" | "raise");
            break;
        }
    }
    // "turn up the heating", "turn the volume down", "crank it up".
    if up.is_none() {
        let mover = words
            .iter()
            .any(|w| lexicon::RELATIVE_MOVERS.contains(&w.as_str()));
        if mover && has("up") {
            up = Some(true);
        } else if mover && has("down") {
            up = Some(false);
        }
    }
    let up = up?;
    // "turn the heat up", "lower the temperature": a set point.
    if affinity == Affinity::Any
        && words.iter().any(|w| {
            matches!(
                w.as_str(),
                "heat" | "heating" | "temperature" | "temp" | "thermostat" | "warmth"
            )
        })
    {
        affinity = Affinity::Warmth;
    }
    let steps = if words
        .iter()
        .any(|w| lexicon::RELATIVE_SMALL.contains(&w.as_str()))
    {
        0.5
    } else if words
        .iter()
        .any(|w| lexicon::RELATIVE_LARGE.contains(&w.as_str()))
    {
        2.5
    } else {
        1.0
    };
    let sized = steps != 1.0;
    let by = by_number.then_some(cues.number).flatten();
    Some(Relative {
        up,
        by,
        steps,
        affinity,
        implied: !(comparative || sized || by.is_some()),
    })
}

/// Whether the clause says "toggle" (or "flip" with no on/off).
pub fn toggles(words: &[String], cues: &Cues) -> bool {
    words.iter().any(|w| w == "toggle")
        || cues.power.is_none() && cues.lock.is_none() && words.iter().any(|w| w == "flip")
}

/// Whether `device` has something `relative` can move (for choosing among
/// devices the words do not name).
/// 0 when nothing fits; "warmer" fits a set point (2) better than a
/// light's white (1): "make it warmer in the bedroom" is the heating.
pub fn fitness(device: &Device, relative: &Relative) -> u8 {
    match capability(device, relative, &[]) {
        None => 0,
        Some((c, _)) if relative.affinity == Affinity::Warmth && is_white(c) => 1,
        Some(_) => 2,
    }
}

/// Whether `device` has a state toggling can flip.
pub fn can_toggle(device: &Device) -> bool {
    device
        .capabilities
        .iter()
        .any(|c| !c.readonly && flipped(c, None).is_some())
}

/// The capability of `device` a relative change moves: one the words name,
/// else one the words point to, else the first writable number of the
/// device's main kinds (brightness, volume, position, set point, speed).
fn capability<'d>(
    device: &'d Device,
    relative: &Relative,
    words: &[String],
) -> Option<(&'d Capability, bool)> {
    let movable = |c: &&Capability| {
        !c.readonly
            && match &c.kind {
                CapabilityType::Number { .. } => true,
                CapabilityType::Enum { values } => ordered(values).is_some(),
                _ => false,
            }
    };
    let named = super::resolve::mentions(device, words)
        .into_iter()
        .filter(|&(_, hits)| hits > 0)
        .max_by_key(|&(i, hits)| (hits, std::cmp::Reverse(i)))
        .map(|(i, _)| &device.capabilities[i])
        .filter(movable);
    let name_has =
        |c: &Capability, parts: &[&str]| parts.iter().any(|p| c.name.to_lowercase().contains(p));
    let set_point = |c: &Capability| {
        c.unit
            .as_deref()
            .is_some_and(|u| u.contains('°') || u.eq_ignore_ascii_case("c"))
            || name_has(c, &["setpoint", "set_point", "target_temp"])
    };
    let white = is_white;
    let find = |pred: &dyn Fn(&Capability) -> bool| {
        device.capabilities.iter().filter(movable).find(|c| pred(c))
    };
    if let Some(c) = named {
        // A light's colour temperature gets warmer downwards in kelvin.
        let inverted = relative.affinity == Affinity::Warmth && white(c) && !mireds(c);
        return Some((c, inverted));
    }
    match relative.affinity {
        Affinity::Brightness => {
            find(&|c| name_has(c, &["bright", "level", "dim"])).map(|c| (c, false))
        }
        Affinity::Volume => find(&|c| name_has(c, &["volume"])).map(|c| (c, false)),
        Affinity::Warmth => find(&set_point)
            .map(|c| (c, false))
            .or_else(|| find(&white).map(|c| (c, !mireds(c)))),
        Affinity::Any => {
            let order: [&dyn Fn(&Capability) -> bool; 6] = [
                &|c| name_has(c, &["bright", "level"]),
                &|c| name_has(c, &["volume"]),
                &|c| name_has(c, &["position", "tilt"]),
                &set_point,
                &|c| name_has(c, &["speed", "percentage", "fan"]),
                &|_| true,
            ];
            order.iter().find_map(|p| find(*p)).map(|c| (c, false))
        }
    }
}

fn is_white(c: &Capability) -> bool {
    let name = c.name.to_lowercase();
    ["color_temp", "colour_temp", "white"]
        .iter()
        .any(|p| name.contains(p))
        || c.unit
            .as_deref()
            .is_some_and(|u| u.eq_ignore_ascii_case("k") || u.to_lowercase().starts_with("mired"))
}

fn mireds(c: &Capability) -> bool {
    c.unit
        .as_deref()
        .is_some_and(|u| u.to_lowercase().starts_with("mired"))
        || c.name.contains("mired")
}

/// An enum whose values are levels in order ("low", "medium", "high"), as
/// that order; `None` for on/off, open/closed and other unordered sets.
fn ordered(values: &[String]) -> Option<Vec<&str>> {
    let rank = |v: &str| {
        lexicon::ORDERED_LEVELS
            .iter()
            .position(|l| l.eq_ignore_ascii_case(v))
    };
    // Every value a level ("auto" aside): on/off or open/closed are not.
    let mut levels: Vec<(usize, &str)> = Vec::new();
    for v in values.iter().filter(|v| *v != "auto") {
        levels.push((rank(v)?, v.as_str()));
    }
    if levels.iter().filter(|(_, v)| *v != "off").count() < 2 {
        return None;
    }
    levels.sort();
    Some(levels.into_iter().map(|(_, v)| v).collect())
}

/// Why a relative change cannot be made.
#[derive(Debug, Clone, PartialEq)]
pub enum NoChange {
    /// Nothing on the device moves that way: the resolver's absolute
    /// reading applies (a cover "lowered" closes).
    NotRelative,
    /// The change cannot be made; the reason.
    Refuse(String),
}

/// The capability and new value a relative change sets on `device`, from
/// its current `state` (the device's state object, or `None` when nothing
/// was heard from it).
pub fn derive(
    device: &Device,
    relative: &Relative,
    words: &[String],
    state: Option<&Map<String, Value>>,
) -> Result<(String, Value), NoChange> {
    let Some((cap, inverted)) = capability(device, relative, words) else {
        return Err(if relative.implied {
            NoChange::NotRelative
        } else {
            NoChange::Refuse(format!(
                "{} has nothing that goes {}",
                device.name,
                if relative.up { "up" } else { "down" }
            ))
        });
    };
    // "lower the awning", "raise the blinds": a cover's verbs close and open it.
    if relative.implied && cap.name.contains("position") {
        return Err(NoChange::NotRelative);
    }
    let current = state.and_then(|s| s.get(&cap.name));
    let up = relative.up != inverted;
    match &cap.kind {
        CapabilityType::Number { min, max, step } => {
            let (min, max) = (*min, *max);
            let Some(now) = current.and_then(Value::as_f64) else {
                return Err(NoChange::Refuse(format!(
                    "the current {} of {} is not known, so there is nothing to change it from",
                    cap.name.replace('_', " "),
                    device.name
                )));
            };
            let degrees = cap
                .unit
                .as_deref()
                .is_some_and(|u| u.contains('°') || u.eq_ignore_ascii_case("c"));
            let plain = if degrees {
                STEP_DEGREES
            } else {
                STEP_SHARE * (max - min)
            };
            let delta = match relative.by {
                Some((n, Unit::Percent)) if cap.unit.as_deref() == Some("%") => n,
                Some((n, Unit::Percent)) => n / 100.0 * (max - min),
                Some((n, _))
                    if words
                        .iter()
                        .any(|w| lexicon::STEP_WORDS.contains(&w.as_str())) =>
                {
                    n * plain
                }
                Some((n, _)) => n,
                None => relative.steps * plain,
            };
            let wanted = if up { now + delta } else { now - delta };
            let mut v = wanted.clamp(min, max);
            v = match step {
                Some(s) if *s > 0.0 => min + ((v - min) / s).round() * s,
                _ if max - min > 20.0 => v.round(),
                _ => (v * 10.0).round() / 10.0,
            };
            v = v.clamp(min, max);
            // Dimming a light that is on never switches it off.
            if !up
                && v <= min
                && relative.affinity != Affinity::Any
                && let Some(low) = super::roles::lowest_on(cap)
                && name_has_bright(cap)
                && now > low
            {
                v = low;
            }
            Ok((cap.name.clone(), number((v * 1000.0).round() / 1000.0)))
        }
        CapabilityType::Enum { values } => {
            let levels = ordered(values).ok_or(NoChange::NotRelative)?;
            // "the fan up to high", "on quiet": a level the words name.
            if words.iter().any(|w| values.iter().any(|v| v == w)) {
                return Err(NoChange::NotRelative);
            }
            let Some(now) = current.and_then(Value::as_str) else {
                return Err(NoChange::Refuse(format!(
                    "the current {} of {} is not known, so there is nothing to change it from",
                    cap.name.replace('_', " "),
                    device.name
                )));
            };
            let i = levels
                .iter()
                .position(|l| l.eq_ignore_ascii_case(now))
                .unwrap_or(0);
            let n = relative
                .by
                .map_or(relative.steps.ceil(), |(n, _)| n.round()) as usize;
            let j = if up {
                (i + n.max(1)).min(levels.len() - 1)
            } else {
                i.saturating_sub(n.max(1))
            };
            Ok((cap.name.clone(), Value::from(levels[j])))
        }
        _ => Err(NoChange::NotRelative),
    }
}

fn name_has_bright(c: &Capability) -> bool {
    c.name.contains("bright") || c.name == "level"
}

/// The other state of a two-state capability: on ↔ off, locked ↔ unlocked,
/// open ↔ closed, true ↔ false. `now` is the current value; with `None`,
/// whether the capability has two states at all (`Some(Null)`).
pub(super) fn flipped(cap: &Capability, now: Option<&Value>) -> Option<Value> {
    const PAIRS: &[(&str, &str)] = &[
        ("on", "off"),
        ("locked", "unlocked"),
        ("open", "closed"),
        ("playing", "paused"),
    ];
    match &cap.kind {
        CapabilityType::Bool => Some(match now {
            None => Value::Null,
            Some(v) => Value::Bool(!v.as_bool()?),
        }),
        CapabilityType::Enum { values } => {
            let (a, b) = PAIRS
                .iter()
                .find(|(a, b)| values.iter().any(|v| v == a) && values.iter().any(|v| v == b))?;
            match now.map(|v| v.as_str()) {
                None => Some(Value::Null),
                Some(Some(v)) if v == *a => Some(Value::from(*b)),
                Some(Some(v)) if v == *b => Some(Value::from(*a)),
                // "opening", "unknown": no other state to go to.
                _ => None,
            }
        }
        _ => None,
    }
}

/// The capability and value "toggle" sets on `device`: the other state of
/// its first two-state capability (a named one first).
pub fn toggle(
    device: &Device,
    words: &[String],
    state: Option<&Map<String, Value>>,
) -> Result<(String, Value), String> {
    let named: Vec<usize> = super::resolve::mentions(device, words)
        .into_iter()
        .filter(|&(_, hits)| hits > 0)
        .map(|(i, _)| i)
        .collect();
    let cap = named
        .iter()
        .map(|&i| &device.capabilities[i])
        .chain(&device.capabilities)
        .find(|c| !c.readonly && flipped(c, None).is_some())
        .ok_or_else(|| format!("{} has no on/off state to toggle", device.name))?;
    let now = state.and_then(|s| s.get(&cap.name));
    match now.and_then(|v| flipped(cap, Some(v))) {
        Some(v) => Ok((cap.name.clone(), v)),
        None => Err(format!(
            "the current {} of {} is {}, so there is no other state to toggle to",
            cap.name.replace('_', " "),
            device.name,
            now.map_or("not known".to_string(), |v| format!(
                "\"{}\"",
                crate::registry::value::display_value(v, cap.unit.as_deref())
            ))
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::understand;
    use crate::registry::parse_str;
    use serde_json::json;
    use std::path::Path;

    fn device(caps: &str) -> Device {
        let yaml = format!(
            "devices:\n  - id: x\n    name: X\n    kind: light\n    state_topic: s\n    command_topic: c\n    capabilities:\n{caps}"
        );
        parse_str(&yaml, Path::new("d.yaml")).unwrap().devices()[0].clone()
    }

    fn rel(goal: &str) -> Option<Relative> {
        let c = &understand::clauses(&understand::normalize(goal))[0];
        read(&c.words, &c.cues, &|_, _| false)
    }

    fn moved(caps: &str, goal: &str, state: Value) -> Result<(String, Value), NoChange> {
        let c = &understand::clauses(&understand::normalize(goal))[0];
        let r = read(&c.words, &c.cues, &|_, _| false).expect("relative");
        derive(&device(caps), &r, &c.words, state.as_object())
    }

    const LIGHT: &str = "      - {name: power, type: enum, values: [on, off]}\n      - {name: brightness, type: number, min: 0, max: 100, unit: \"%\"}\n      - {name: color_temp, type: number, min: 2200, max: 6500, unit: K}\n";
    const THERMOSTAT: &str = "      - {name: target_temperature, type: number, min: 5, max: 30, step: 0.5, unit: \"°C\"}\n      - {name: mode, type: enum, values: [heat, cool, auto, off]}\n";

    #[test]
    fn a_target_makes_a_change_absolute() {
        assert_eq!(rel("dim the hall light to 20%"), None);
        assert_eq!(rel("turn the heating up to the max"), None);
        assert_eq!(rel("turn on the hall light"), None);
        assert!(rel("dim the hall light by 10%").is_some());
        assert!(rel("make the hall light a bit brighter").is_some_and(|r| r.up && r.steps == 0.5));
        assert!(rel("dim the desk lamp").is_some_and(|r| !r.up && r.implied));
        assert!(rel("turn the heating up").is_some_and(|r| r.up));
        assert!(rel("turn down the volume").is_some_and(|r| !r.up));
    }

    #[test]
    fn brightness_moves_by_a_share_of_the_range_and_stops_at_its_ends() {
        let s = json!({"power": "on", "brightness": 60});
        assert_eq!(
            moved(LIGHT, "a bit brighter", s.clone()).unwrap().1,
            json!(65)
        );
        assert_eq!(moved(LIGHT, "brighter", s.clone()).unwrap().1, json!(70));
        assert_eq!(
            moved(LIGHT, "dim it by 10%", s.clone()).unwrap().1,
            json!(50)
        );
        assert_eq!(
            moved(LIGHT, "much brighter", s.clone()).unwrap().1,
            json!(85)
        );
        assert_eq!(moved(LIGHT, "brighter by 70%", s).unwrap().1, json!(100));
        // Dimming as far as it goes leaves the light on at its lowest level.
        let low = json!({"brightness": 5});
        assert_eq!(moved(LIGHT, "dim by 50 percent", low).unwrap().1, json!(1));
    }

    #[test]
    fn set_points_move_in_degrees() {
        let s = json!({"target_temperature": 20.5, "mode": "heat"});
        let (cap, v) = moved(THERMOSTAT, "turn the heating up by 2 degrees", s.clone()).unwrap();
        assert_eq!((cap.as_str(), v), ("target_temperature", json!(22.5)));
        assert_eq!(
            moved(THERMOSTAT, "a little cooler", s.clone()).unwrap().1,
            json!(20)
        );
        assert_eq!(
            moved(THERMOSTAT, "warmer", s.clone()).unwrap().1,
            json!(21.5)
        );
        // "down six degrees" is how far: no "by" needed; "down to 18" is
        // where.
        assert_eq!(
            moved(THERMOSTAT, "turn the heat down 6 degrees", s.clone())
                .unwrap()
                .1,
            json!(14.5)
        );
        assert_eq!(rel("turn the heat down to 18 degrees"), None);
        assert_eq!(
            moved(THERMOSTAT, "turn the heat up 2 degrees", s)
                .unwrap()
                .1,
            json!(22.5)
        );
    }

    #[test]
    fn a_warmer_white_is_fewer_kelvin() {
        let s = json!({"color_temp": 4000, "brightness": 50});
        let (cap, v) = moved(LIGHT, "make the colour temperature warmer", s).unwrap();
        assert_eq!((cap.as_str(), v), ("color_temp", json!(3570)));
    }

    #[test]
    fn an_unknown_current_value_is_refused_not_guessed() {
        let err = moved(LIGHT, "a bit brighter", json!({"power": "on"})).unwrap_err();
        assert!(matches!(err, NoChange::Refuse(r) if r.contains("not known")));
    }

    #[test]
    fn a_cover_lowered_without_a_size_is_closed_not_moved() {
        let cover = "      - {name: position, type: number, min: 0, max: 100, unit: \"%\"}\n";
        let s = json!({"position": 60});
        assert_eq!(
            moved(cover, "lower the awning", s.clone()),
            Err(NoChange::NotRelative)
        );
        assert_eq!(
            moved(cover, "lower the awning by 20%", s).unwrap().1,
            json!(40)
        );
    }

    #[test]
    fn ordered_levels_step_to_the_next() {
        let fan = "      - {name: speed, type: enum, values: [off, low, medium, high]}\n";
        assert_eq!(
            moved(fan, "turn the fan up", json!({"speed": "low"}))
                .unwrap()
                .1,
            json!("medium")
        );
        assert_eq!(
            moved(fan, "turn the fan up a lot", json!({"speed": "low"}))
                .unwrap()
                .1,
            json!("high")
        );
        assert_eq!(
            moved(fan, "turn the fan down", json!({"speed": "low"}))
                .unwrap()
                .1,
            json!("off")
        );
    }

    #[test]
    fn opening_words_and_named_levels_are_not_changes() {
        let fan = "      - {name: speed, type: enum, values: [quiet, normal, boost]}\n";
        assert_eq!(rel("open office pedestal fan on quiet, please"), None);
        assert_eq!(rel("open the blinds"), None);
        assert!(rel("open the skylight by another 25 percent").is_some());
        let c = &understand::clauses(&understand::normalize("turn the fan up to boost"))[0];
        let r = read(&c.words, &c.cues, &|_, _| false).expect("relative");
        assert_eq!(
            derive(
                &device(fan),
                &r,
                &c.words,
                json!({"speed": "quiet"}).as_object()
            ),
            Err(NoChange::NotRelative)
        );
    }

    #[test]
    fn toggle_flips_the_current_state_and_refuses_without_one() {
        let d = device(LIGHT);
        let w = vec!["toggle".to_string()];
        assert_eq!(
            toggle(&d, &w, json!({"power": "on"}).as_object())
                .unwrap()
                .1,
            json!("off")
        );
        assert_eq!(
            toggle(&d, &w, json!({"power": "off"}).as_object())
                .unwrap()
                .1,
            json!("on")
        );
        assert!(toggle(&d, &w, None).unwrap_err().contains("not known"));
    }
}
