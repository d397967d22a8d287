//! Reading `devices.yaml`: YAML to raw, position-carrying structures, then
//! validation into [`Registry`]. Every problem names the file, the line and
//! the field, and all problems of a file are reported at once.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::{
    Capability, CapabilityType, CommandSpec, Device, PayloadFormat, Registry, Safety, StateSource,
};

/// Why a registry file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", render_problems(path, problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

impl LoadError {
    /// The problems found, empty when the file could not be read at all.
    pub fn problems(&self) -> &[Problem] {
        match self {
            LoadError::Io { .. } => &[],
            LoadError::Invalid { problems, .. } => problems,
        }
    }
}

/// One thing wrong with a registry file, and where.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub line: u64,
    pub column: u64,
    /// The path of the offending field, e.g. `devices[3].capabilities[1].max`.
    pub field: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}: {}",
            self.line, self.column, self.field, self.message
        )
    }
}

fn render_problems(path: &Path, problems: &[Problem]) -> String {
    let mut out = String::new();
    for (i, p) in problems.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!(
            "{}:{}:{}: {}: {}",
            path.display(),
            p.line,
            p.column,
            p.field,
            p.message
        ));
    }
    out
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    devices: Vec<Spanned<RawDevice>>,
    market: Option<Spanned<RawMarket>>,
    /// Changes to devices discovered on the broker, by id.
    #[serde(default)]
    discovered: Vec<Spanned<RawOverride>>,
    #[serde(default)]
    floors: Vec<Spanned<RawFloor>>,
    #[serde(default)]
    rooms: Vec<Spanned<RawRoom>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFloor {
    id: Spanned<String>,
    name: Option<String>,
    #[serde(default)]
    aliases: Vec<String>,
    level: Option<i32>,
    #[serde(default)]
    rooms: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoom {
    id: Spanned<String>,
    name: Option<String>,
    #[serde(default)]
    aliases: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOverride {
    id: Spanned<String>,
    name: Option<String>,
    room: Option<Spanned<String>>,
    #[serde(default)]
    aliases: Vec<String>,
    safety: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMarket {
    id: String,
    theta: Vec<f64>,
    rho: Vec<f64>,
    c: f64,
    omega: f64,
    budget: Option<f64>,
    round_ms: Option<u64>,
    readings: Option<usize>,
    tolerance: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDevice {
    id: Spanned<String>,
    name: Option<Spanned<String>>,
    #[serde(default)]
    aliases: Vec<Spanned<String>>,
    room: Option<Spanned<String>>,
    kind: Spanned<String>,
    safety: Option<Spanned<String>>,
    state_topic: Spanned<String>,
    command_topic: Option<Spanned<String>>,
    capabilities: Spanned<Vec<Spanned<RawCapability>>>,
    /// A market contributor that under-delivers (simulation only).
    cheat: Option<Spanned<bool>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCapability {
    name: Spanned<String>,
    #[serde(rename = "type")]
    ty: Spanned<String>,
    values: Option<Spanned<Vec<Spanned<String>>>>,
    min: Option<Spanned<f64>>,
    max: Option<Spanned<f64>>,
    step: Option<Spanned<f64>>,
    unit: Option<Spanned<String>>,
    readonly: Option<Spanned<bool>>,
    /// Where and how this capability is commanded, when not as a key of the
    /// device's JSON object on `command_topic`.
    command: Option<Spanned<RawCommand>>,
    /// Where its value is read, when not from the device's state object.
    #[serde(default)]
    state: Vec<Spanned<RawState>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCommand {
    topic: Spanned<String>,
    format: Option<Spanned<String>>,
    key: Option<String>,
    #[serde(default)]
    values: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawState {
    topic: Spanned<String>,
    key: Option<String>,
    #[serde(default)]
    values: std::collections::BTreeMap<String, String>,
}

/// Collects problems while walking the raw file.
struct Checker {
    problems: Vec<Problem>,
}

impl Checker {
    fn at<T>(
        &mut self,
        spanned: &Spanned<T>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.problems.push(Problem {
            line: spanned.referenced.line(),
            column: spanned.referenced.column(),
            field: field.into(),
            message: message.into(),
        });
    }
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Why `topic` cannot be published to, if it cannot.
pub(crate) fn topic_problem(topic: &str) -> Option<&'static str> {
    if topic.is_empty() {
        Some("is empty")
    } else if topic.contains(['+', '#']) {
        Some("contains a wildcard (+ or #); a device topic names one topic")
    } else if topic.contains('\0') {
        Some("contains a NUL character")
    } else if topic.len() > 65_535 {
        Some("is longer than MQTT allows (65535 bytes)")
    } else if topic.chars().any(char::is_whitespace) {
        Some("contains white space")
    } else {
        None
    }
}

/// Parses and validates the text of a `devices.yaml`; `path` is only used in
/// error messages.
pub fn parse_str(text: &str, path: &Path) -> Result<Registry, LoadError> {
    let invalid = |problems| LoadError::Invalid {
        path: path.to_path_buf(),
        problems,
    };
    let raw: RawFile =
        serde_saphyr::from_str(text).map_err(|e| invalid(vec![syntax_problem(&e)]))?;
    let mut checker = Checker {
        problems: Vec::new(),
    };
    let mut devices = Vec::with_capacity(raw.devices.len());
    for (i, raw_device) in raw.devices.iter().enumerate() {
        let at = format!("devices[{i}]");
        if let Some(device) = check_device(&mut checker, &at, &raw_device.value) {
            devices.push(device);
        }
    }
    // Ids are unique across the file.
    for (i, raw_device) in raw.devices.iter().enumerate() {
        let id = &raw_device.value.id;
        if let Some(first) = raw.devices[..i]
            .iter()
            .find(|d| d.value.id.value == id.value)
        {
            checker.at(
                id,
                format!("devices[{i}].id"),
                format!(
                    "duplicate id `{}` (first used on line {})",
                    id.value,
                    first.value.id.referenced.line()
                ),
            );
        }
    }
    let market = raw.market.as_ref().and_then(|m| {
        let raw = &m.value;
        let vehicles = devices.iter().filter(|d| d.kind == "vehicle").count();
        let config = super::MarketConfig {
            id: raw.id.clone(),
            state: crate::planner::model::MarketState {
                theta: raw.theta.clone(),
                rho: raw.rho.clone(),
                c: raw.c,
                omega: raw.omega,
                m: vehicles.max(1) as f64,
                budget: raw.budget,
            },
            round: std::time::Duration::from_millis(raw.round_ms.unwrap_or(500)),
            readings: raw.readings.unwrap_or(200),
            tolerance: raw.tolerance.unwrap_or(0.5),
        };
        let problem = if !is_identifier(&config.id) {
            Some(format!(
                "`{}` is not a valid market id: use lowercase letters, digits and _",
                config.id
            ))
        } else if let Err(e) = config.state.validate() {
            Some(e.to_string())
        } else if vehicles == 0 {
            Some("a market needs contributors: devices of kind vehicle".into())
        } else if !(0.0..1.0).contains(&config.tolerance) || config.readings < 10 {
            Some("tolerance must be in [0, 1) and readings at least 10".into())
        } else {
            None
        };
        match problem {
            Some(message) => {
                checker.at(m, "market", message);
                None
            }
            None => Some(config),
        }
    });
    let mut overrides = Vec::new();
    for (i, raw) in raw.discovered.iter().enumerate() {
        let o = &raw.value;
        let at = format!("discovered[{i}]");
        if !is_identifier(&o.id.value) {
            checker.at(
                &o.id,
                format!("{at}.id"),
                format!("`{}` is not a valid id", o.id.value),
            );
        }
        if let Some(room) = &o.room
            && !is_identifier(&room.value)
        {
            checker.at(
                room,
                format!("{at}.room"),
                format!("`{}` is not a valid room", room.value),
            );
        }
        let safety = match o.safety.as_ref().map(|s| s.value.as_str()) {
            None => None,
            Some("normal") => Some(Safety::Normal),
            Some("confirm") => Some(Safety::Confirm),
            Some(other) => {
                let s = o.safety.as_ref().expect("matched Some");
                checker.at(
                    s,
                    format!("{at}.safety"),
                    format!("`{other}` is not a safety level: use normal or confirm"),
                );
                None
            }
        };
        overrides.push(super::Override {
            id: o.id.value.clone(),
            name: o.name.clone(),
            room: o.room.as_ref().map(|r| r.value.clone()),
            aliases: o.aliases.clone(),
            safety,
        });
    }
    let (floors, rooms) = check_places(&mut checker, &raw.floors, &raw.rooms);
    if checker.problems.is_empty() {
        let mut registry = Registry::from_devices(devices);
        registry.market = market;
        registry.overrides = overrides;
        registry.floors = floors;
        registry.declared_rooms = rooms;
        Ok(registry)
    } else {
        checker.problems.sort_by_key(|p| (p.line, p.column));
        Err(invalid(checker.problems))
    }
}

/// Floors and rooms: ids are identifiers, each declared once, and a room is
/// on one floor at most.
fn check_places(
    c: &mut Checker,
    raw_floors: &[Spanned<RawFloor>],
    raw_rooms: &[Spanned<RawRoom>],
) -> (Vec<super::Floor>, Vec<super::Room>) {
    let mut floors: Vec<super::Floor> = Vec::new();
    let mut room_floor: Vec<(String, String)> = Vec::new();
    for (i, f) in raw_floors.iter().enumerate() {
        let f = &f.value;
        let at = format!("floors[{i}]");
        if !is_identifier(&f.id.value) {
            c.at(
                &f.id,
                format!("{at}.id"),
                format!("`{}` is not a valid floor id", f.id.value),
            );
        } else if floors.iter().any(|g| g.id == f.id.value) {
            c.at(
                &f.id,
                format!("{at}.id"),
                format!("duplicate floor `{}`", f.id.value),
            );
        }
        for (j, r) in f.rooms.iter().enumerate() {
            if !is_identifier(&r.value) {
                c.at(
                    r,
                    format!("{at}.rooms[{j}]"),
                    format!("`{}` is not a valid room", r.value),
                );
            } else if let Some((_, other)) = room_floor.iter().find(|(room, _)| *room == r.value) {
                c.at(
                    r,
                    format!("{at}.rooms[{j}]"),
                    format!("room `{}` is already on floor `{other}`", r.value),
                );
            } else {
                room_floor.push((r.value.clone(), f.id.value.clone()));
            }
        }
        floors.push(super::Floor {
            id: f.id.value.clone(),
            name: f
                .name
                .clone()
                .unwrap_or_else(|| f.id.value.replace('_', " ")),
            aliases: f.aliases.clone(),
            level: f.level,
            rooms: f.rooms.iter().map(|r| r.value.clone()).collect(),
        });
    }
    let mut rooms: Vec<super::Room> = Vec::new();
    for (i, r) in raw_rooms.iter().enumerate() {
        let r = &r.value;
        let at = format!("rooms[{i}]");
        if !is_identifier(&r.id.value) {
            c.at(
                &r.id,
                format!("{at}.id"),
                format!("`{}` is not a valid room id", r.id.value),
            );
        } else if rooms.iter().any(|q| q.id == r.id.value) {
            c.at(
                &r.id,
                format!("{at}.id"),
                format!("duplicate room `{}`", r.id.value),
            );
        }
        rooms.push(super::Room {
            id: r.id.value.clone(),
            name: r
                .name
                .clone()
                .unwrap_or_else(|| r.id.value.replace('_', " ")),
            aliases: r.aliases.clone(),
            floor: None,
        });
    }
    (floors, rooms)
}

fn syntax_problem(e: &serde_saphyr::Error) -> Problem {
    let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
    let message = e.without_snippet().to_string();
    // The library appends its own "at line N, column M"; ours leads the line.
    let message = match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message,
    };
    Problem {
        line,
        column,
        field: "yaml".into(),
        message: message.trim().to_string(),
    }
}

fn check_device(c: &mut Checker, at: &str, raw: &RawDevice) -> Option<Device> {
    let before = c.problems.len();
    if !is_identifier(&raw.id.value) {
        c.at(
            &raw.id,
            format!("{at}.id"),
            format!(
                "`{}` is not a valid id: use lowercase letters, digits and _",
                raw.id.value
            ),
        );
    }
    if !is_identifier(&raw.kind.value) {
        c.at(
            &raw.kind,
            format!("{at}.kind"),
            format!(
                "`{}` is not a valid kind: use lowercase letters, digits and _ (light, switch, sensor, vehicle, ...)",
                raw.kind.value
            ),
        );
    }
    let safety = match raw.safety.as_ref().map(|s| s.value.as_str()) {
        None | Some("normal") => Safety::Normal,
        Some("confirm") => Safety::Confirm,
        Some(other) => {
            let s = raw.safety.as_ref().expect("matched Some");
            c.at(
                s,
                format!("{at}.safety"),
                format!("`{other}` is not a safety level: use normal or confirm"),
            );
            Safety::Normal
        }
    };
    if let Some(why) = topic_problem(&raw.state_topic.value) {
        c.at(
            &raw.state_topic,
            format!("{at}.state_topic"),
            format!("topic {why}"),
        );
    }
    if let Some(topic) = &raw.command_topic
        && let Some(why) = topic_problem(&topic.value)
    {
        c.at(topic, format!("{at}.command_topic"), format!("topic {why}"));
    }
    if let Some(room) = &raw.room
        && !is_identifier(&room.value)
    {
        c.at(
            room,
            format!("{at}.room"),
            format!(
                "`{}` is not a valid room: use lowercase letters, digits and _ (living_room)",
                room.value
            ),
        );
    }

    if raw.capabilities.value.is_empty() {
        c.at(
            &raw.capabilities,
            format!("{at}.capabilities"),
            "a device needs at least one capability",
        );
    }
    let mut capabilities = Vec::new();
    for (j, cap) in raw.capabilities.value.iter().enumerate() {
        let cap_at = format!("{at}.capabilities[{j}]");
        if raw.capabilities.value[..j]
            .iter()
            .any(|other| other.value.name.value == cap.value.name.value)
        {
            c.at(
                &cap.value.name,
                format!("{cap_at}.name"),
                format!("duplicate capability `{}`", cap.value.name.value),
            );
        }
        if let Some(cap) = check_capability(c, &cap_at, &cap.value) {
            capabilities.push(cap);
        }
    }

    let readonly = |cap: &RawCapability| cap.readonly.as_ref().is_some_and(|r| r.value);
    let writable: Vec<&str> = raw
        .capabilities
        .value
        .iter()
        .filter(|cap| !readonly(&cap.value) && cap.value.command.is_none())
        .map(|cap| cap.value.name.value.as_str())
        .collect();
    let any_writable = raw
        .capabilities
        .value
        .iter()
        .any(|cap| !readonly(&cap.value));
    match (&raw.command_topic, writable.first()) {
        (Some(_), None) if any_writable => {}
        (Some(topic), None) if !raw.capabilities.value.is_empty() => c.at(
            topic,
            format!("{at}.command_topic"),
            "every capability of this device is read-only, so it cannot take commands: remove command_topic",
        ),
        (None, Some(name)) => c.at(
            &raw.id,
            format!("{at}.command_topic"),
            format!(
                "capability `{name}` is writable but the device has no command_topic: add one, or mark it `readonly: true`"
            ),
        ),
        _ => {}
    }

    if let Some(cheat) = &raw.cheat
        && raw.kind.value != "vehicle"
    {
        c.at(
            cheat,
            format!("{at}.cheat"),
            "`cheat` only applies to vehicles (market contributors)",
        );
    }
    if c.problems.len() > before {
        return None;
    }
    Some(Device {
        id: raw.id.value.clone(),
        name: raw
            .name
            .as_ref()
            .map_or_else(|| raw.id.value.replace('_', " "), |n| n.value.clone()),
        aliases: raw.aliases.iter().map(|a| a.value.clone()).collect(),
        room: raw.room.as_ref().map(|r| r.value.clone()),
        kind: raw.kind.value.clone(),
        safety,
        state_topic: raw.state_topic.value.clone(),
        command_topic: raw.command_topic.as_ref().map(|t| t.value.clone()),
        capabilities,
        cheat: raw.cheat.as_ref().is_some_and(|c| c.value),
        discovered: None,
    })
}

fn check_capability(c: &mut Checker, at: &str, raw: &RawCapability) -> Option<Capability> {
    let before = c.problems.len();
    let name = &raw.name.value;
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        c.at(
            &raw.name,
            format!("{at}.name"),
            format!("`{name}` is not a valid capability name: use letters, digits and _"),
        );
    }
    let not_for = |c: &mut Checker, field: &str, line: Option<&Spanned<f64>>, ty: &str| {
        if let Some(s) = line {
            c.at(
                s,
                format!("{at}.{field}"),
                format!("`{field}` only applies to number capabilities, not {ty}"),
            );
        }
    };
    let ty = raw.ty.value.as_str();
    let kind = match ty {
        "enum" => {
            for (field, v) in [("min", &raw.min), ("max", &raw.max), ("step", &raw.step)] {
                not_for(c, field, v.as_ref(), ty);
            }
            match &raw.values {
                None => {
                    c.at(
                        &raw.ty,
                        format!("{at}.values"),
                        "an enum capability needs `values`: the list of values it accepts",
                    );
                    None
                }
                Some(values) if values.value.is_empty() => {
                    c.at(
                        values,
                        format!("{at}.values"),
                        "an enum needs at least one value",
                    );
                    None
                }
                Some(values) => {
                    for (k, v) in values.value.iter().enumerate() {
                        if values.value[..k].iter().any(|o| o.value == v.value) {
                            c.at(
                                v,
                                format!("{at}.values[{k}]"),
                                format!("duplicate value `{}`", v.value),
                            );
                        }
                    }
                    Some(CapabilityType::Enum {
                        values: values.value.iter().map(|v| v.value.clone()).collect(),
                    })
                }
            }
        }
        "number" => {
            if let Some(values) = &raw.values {
                c.at(
                    values,
                    format!("{at}.values"),
                    "`values` only applies to enum capabilities",
                );
            }
            match (&raw.min, &raw.max) {
                (Some(min), Some(max)) => {
                    if !min.value.is_finite() || !max.value.is_finite() {
                        c.at(
                            min,
                            format!("{at}.min"),
                            "min and max must be finite numbers",
                        );
                    } else if min.value > max.value {
                        c.at(
                            min,
                            format!("{at}.min"),
                            format!("min ({}) is greater than max ({})", min.value, max.value),
                        );
                    }
                    if let Some(step) = &raw.step
                        && !(step.value > 0.0 && step.value.is_finite())
                    {
                        c.at(step, format!("{at}.step"), "step must be a positive number");
                    }
                    Some(CapabilityType::Number {
                        min: min.value,
                        max: max.value,
                        step: raw.step.as_ref().map(|s| s.value),
                    })
                }
                (min, _) => {
                    let field = if min.is_none() { "min" } else { "max" };
                    c.at(
                        &raw.ty,
                        format!("{at}.{field}"),
                        format!("a number capability needs `min` and `max` (`{field}` is missing)"),
                    );
                    None
                }
            }
        }
        "bool" | "string" => {
            if let Some(values) = &raw.values {
                c.at(
                    values,
                    format!("{at}.values"),
                    "`values` only applies to enum capabilities",
                );
            }
            for (field, v) in [("min", &raw.min), ("max", &raw.max), ("step", &raw.step)] {
                not_for(c, field, v.as_ref(), ty);
            }
            Some(if ty == "bool" {
                CapabilityType::Bool
            } else {
                CapabilityType::String
            })
        }
        other => {
            c.at(
                &raw.ty,
                format!("{at}.type"),
                format!("`{other}` is not a capability type: use enum, number, bool or string"),
            );
            None
        }
    };
    let to_values = |m: &std::collections::BTreeMap<String, String>| {
        m.iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::from(v.clone())))
            .collect()
    };
    let readonly = raw.readonly.as_ref().is_some_and(|r| r.value);
    let command = raw.command.as_ref().and_then(|spanned| {
        let cmd = &spanned.value;
        if readonly {
            c.at(
                spanned,
                format!("{at}.command"),
                "a read-only capability takes no command",
            );
        }
        if let Some(why) = topic_problem(&cmd.topic.value) {
            c.at(
                &cmd.topic,
                format!("{at}.command.topic"),
                format!("topic {why}"),
            );
        }
        let format = match cmd.format.as_ref().map(|f| f.value.as_str()) {
            None | Some("json") => PayloadFormat::Json,
            Some("plain") => PayloadFormat::Plain,
            Some(other) => {
                let f = cmd.format.as_ref().expect("matched Some");
                c.at(
                    f,
                    format!("{at}.command.format"),
                    format!("`{other}` is not a payload format: use json or plain"),
                );
                return None;
            }
        };
        if format == PayloadFormat::Plain && cmd.key.is_some() {
            c.at(
                spanned,
                format!("{at}.command.key"),
                "`key` only applies to the json format",
            );
        }
        Some(CommandSpec {
            topic: cmd.topic.value.clone(),
            format,
            key: cmd.key.clone(),
            values: to_values(&cmd.values),
            with: serde_json::Map::new(),
            template: None,
        })
    });
    let mut state = Vec::new();
    for (k, s) in raw.state.iter().enumerate() {
        if let Some(why) = topic_problem(&s.value.topic.value) {
            c.at(
                &s.value.topic,
                format!("{at}.state[{k}].topic"),
                format!("topic {why}"),
            );
        }
        state.push(StateSource {
            topic: s.value.topic.value.clone(),
            key: s.value.key.clone(),
            values: to_values(&s.value.values),
            template: None,
        });
    }
    if c.problems.len() > before {
        return None;
    }
    Some(Capability {
        name: name.clone(),
        kind: kind?,
        unit: raw.unit.as_ref().map(|u| u.value.clone()),
        readonly,
        command,
        state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(yaml: &str) -> Vec<Problem> {
        match parse_str(yaml, Path::new("devices.yaml")) {
            Ok(_) => panic!("expected an error for:\n{yaml}"),
            Err(e) => e.problems().to_vec(),
        }
    }

    /// Asserts exactly one problem, on `line`, naming `field`, whose message contains `text`.
    fn assert_problem(yaml: &str, line: u64, field: &str, text: &str) {
        let found = problems(yaml);
        assert_eq!(found.len(), 1, "{found:#?}");
        let p = &found[0];
        assert_eq!(p.line, line, "{p}");
        assert!(p.field.contains(field), "field of {p}");
        assert!(p.message.contains(text), "message of {p}");
    }

    const LIGHT: &str = "devices:
  - id: hall_light
    kind: light
    state_topic: home/hall/light/state
    command_topic: home/hall/light/set
    capabilities:
      - {name: power, type: enum, values: [\"on\", \"off\"]}
      - {name: brightness, type: number, min: 0, max: 100, unit: \"%\"}
";

    #[test]
    fn a_valid_file_parses_with_defaults() {
        let reg = parse_str(LIGHT, Path::new("d.yaml")).unwrap();
        let d = reg.get("hall_light").unwrap();
        assert_eq!(d.name, "hall light");
        assert_eq!(d.safety, Safety::Normal);
        assert_eq!(
            d.capability("brightness").unwrap().range(),
            Some((0.0, 100.0))
        );
    }

    #[test]
    fn unknown_keys_are_errors_with_their_line() {
        let yaml = LIGHT.replace("    kind: light\n", "    kind: light\n    colour: red\n");
        let found = problems(&yaml);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].line, 4, "{}", found[0]);
        assert!(found[0].message.contains("colour"), "{}", found[0]);
    }

    #[test]
    fn duplicate_ids_name_both_lines() {
        let second = LIGHT.replace("devices:\n", "");
        let yaml = format!("{LIGHT}{second}");
        assert_problem(&yaml, 9, "devices[1].id", "first used on line 2");
    }

    #[test]
    fn an_enum_without_values_is_an_error() {
        let yaml = LIGHT.replace(", values: [\"on\", \"off\"]", "");
        assert_problem(&yaml, 7, "capabilities[0].values", "needs `values`");
    }

    #[test]
    fn min_above_max_is_an_error() {
        let yaml = LIGHT.replace("min: 0, max: 100", "min: 100, max: 0");
        assert_problem(&yaml, 8, "capabilities[1].min", "greater than max");
    }

    #[test]
    fn a_command_topic_on_a_readonly_device_is_an_error() {
        let yaml = "devices:
  - id: cellar_sensor
    kind: sensor
    state_topic: home/cellar/state
    command_topic: home/cellar/set
    capabilities:
      - {name: humidity, type: number, min: 0, max: 100, readonly: true}
";
        assert_problem(yaml, 5, "command_topic", "read-only");
    }

    #[test]
    fn a_writable_capability_without_a_command_topic_is_an_error() {
        let yaml = LIGHT.replace("    command_topic: home/hall/light/set\n", "");
        assert_problem(&yaml, 2, "command_topic", "no command_topic");
    }

    #[test]
    fn wildcards_in_a_command_topic_are_errors() {
        let yaml = LIGHT.replace("home/hall/light/set", "home/+/light/set");
        assert_problem(&yaml, 5, "command_topic", "wildcard");
        let yaml = LIGHT.replace("home/hall/light/set", "home/#");
        assert_problem(&yaml, 5, "command_topic", "wildcard");
    }

    #[test]
    fn bad_ids_types_and_safety_are_errors() {
        assert_problem(
            &LIGHT.replace("id: hall_light", "id: Hall Light"),
            2,
            "id",
            "not a valid id",
        );
        assert_problem(
            &LIGHT.replace("type: number", "type: float"),
            8,
            "type",
            "not a capability type",
        );
        let yaml = LIGHT.replace("    kind: light\n", "    kind: light\n    safety: maybe\n");
        assert_problem(&yaml, 4, "safety", "normal or confirm");
    }

    #[test]
    fn yaml_syntax_errors_carry_a_line() {
        let yaml = LIGHT.replace("[\"on\", \"off\"]}", "[\"on\", \"off\"}");
        let found = problems(&yaml);
        assert!(found[0].line >= 7, "{found:#?}");
    }

    #[test]
    fn all_problems_of_a_file_are_reported_at_once() {
        let yaml = LIGHT
            .replace("min: 0, max: 100", "min: 100, max: 0")
            .replace("id: hall_light", "id: Hall");
        assert_eq!(problems(&yaml).len(), 2);
    }

    #[test]
    fn a_market_section_is_checked_and_cheat_is_only_for_vehicles() {
        let car = "  - {id: car_1, kind: vehicle, state_topic: v/1, capabilities: [{name: speed, type: number, min: 0, max: 200, readonly: true}], cheat: true}\n";
        let market =
            "market:\n  id: traffic\n  theta: [1, 2]\n  rho: [0.5, 0.5]\n  c: 1\n  omega: 10\n";
        let good = format!("{LIGHT}{car}{market}");
        let reg = parse_str(&good, Path::new("d.yaml")).unwrap();
        assert_eq!(reg.market.as_ref().unwrap().state.m, 1.0);
        assert!(reg.get("car_1").unwrap().cheat);
        let bad = good.replace("rho: [0.5, 0.5]", "rho: [0.5, 0.6]");
        assert_problem(&bad, 11, "market", "");
        let cheating_light =
            LIGHT.replace("    kind: light\n", "    kind: light\n    cheat: true\n");
        assert_problem(&cheating_light, 4, "cheat", "only applies to vehicles");
    }

    #[test]
    fn capabilities_may_say_where_and_how_they_are_commanded_and_read() {
        let yaml = r#"
devices:
  - id: shed_plug
    kind: plug
    state_topic: stat/shed/POWER
    capabilities:
      - name: power
        type: enum
        values: ["on", "off"]
        command: {topic: cmnd/shed/POWER, format: plain, values: {"on": "ON", "off": "OFF"}}
        state: [{topic: stat/shed/POWER, values: {"on": "ON", "off": "OFF"}}, {topic: tele/shed/STATE, key: POWER, values: {"on": "ON", "off": "OFF"}}]
"#;
        let reg = parse_str(yaml, Path::new("d.yaml")).unwrap();
        let d = reg.get("shed_plug").unwrap();
        let cap = d.capability("power").unwrap();
        assert_eq!(
            d.encode(cap, &serde_json::json!("on")).unwrap(),
            ("cmnd/shed/POWER".to_string(), "ON".to_string())
        );
        assert_eq!(cap.state.len(), 2);
        assert_eq!(cap.state[1].key.as_deref(), Some("POWER"));
        let bad = yaml.replace("format: plain", "format: xml");
        assert_problem(&bad, 10, "capabilities[0].command.format", "json or plain");
        let readonly = yaml.replace("type: enum", "type: enum\n        readonly: true");
        assert!(parse_str(&readonly, Path::new("d.yaml")).is_err());
    }

    #[test]
    fn floors_and_rooms_give_names_and_each_room_one_floor() {
        let yaml = format!(
            "floors:\n  - {{id: ground, name: Ground floor, aliases: [downstairs], level: 0, rooms: [hallway, kitchen]}}\n  - {{id: upstairs, rooms: [bedroom]}}\nrooms:\n  - {{id: hallway, name: Entrance hall, aliases: [hall]}}\n{LIGHT}"
        );
        let reg = parse_str(&yaml, Path::new("devices.yaml")).unwrap();
        assert_eq!(reg.floors[1].name, "upstairs");
        assert_eq!(reg.floor_of("kitchen").unwrap().id, "ground");
        let rooms = reg.room_list();
        let hall = rooms.iter().find(|r| r.id == "hallway").unwrap();
        assert_eq!(
            (hall.name.as_str(), hall.floor.as_deref()),
            ("Entrance hall", Some("ground"))
        );
        assert!(
            rooms
                .iter()
                .any(|r| r.id == "bedroom" && r.floor.as_deref() == Some("upstairs"))
        );
    }

    #[test]
    fn a_room_on_two_floors_and_bad_floor_ids_are_errors() {
        let yaml = format!(
            "floors:\n  - {{id: ground, rooms: [kitchen]}}\n  - {{id: Up Stairs, rooms: [kitchen]}}\n{LIGHT}"
        );
        let p = problems(&yaml);
        assert!(
            p.iter().any(|p| p.field == "floors[1].id" && p.line == 3),
            "{p:?}"
        );
        assert!(
            p.iter().any(|p| p.field == "floors[1].rooms[0]"
                && p.message.contains("already on floor `ground`")),
            "{p:?}"
        );
    }

    #[test]
    fn the_demo_fleet_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("devices.yaml");
        let reg = crate::registry::Registry::load(&path).unwrap();
        assert!(reg.len() >= 20);
        assert!(reg.rooms().len() >= 5);
        assert!(reg.devices().iter().filter(|d| d.kind == "vehicle").count() >= 6);
    }
}
