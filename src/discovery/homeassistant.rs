//! Home Assistant MQTT discovery: retained JSON configs on
//! `homeassistant/<component>/[<node_id>/]<object_id>/config` (one entity
//! each) and `homeassistant/device/<object_id>/config` (a device with a
//! `cmps` map of entities, sharing the top-level options).
//!
//! Keys may be abbreviated (`stat_t`, `cmd_t`, `pl_on`, `dev` ...) and
//! topics may start or end with `~`, the `~` option's base topic; both are
//! expanded before reading. Each entity becomes one registry device. Value
//! templates are only understood in their common form
//! `{{ value_json.key }}` (a key path); an entity whose state needs any
//! other template keeps its commands but shows no state.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{
    Announcement, DiscoveryError, MAX_DESCRIPTION, MAX_NAME, clean_text, default_safety,
    make_unique_id, slug, slug_or,
};
use crate::registry::{
    Capability, CapabilityType, CommandSpec, CommandTemplate, Device, Discovered, PayloadFormat,
    StateSource, jinja,
};

/// Home Assistant's abbreviations of config keys (the subset giot reads).
const ABBREVIATIONS: &[(&str, &str)] = &[
    ("avty_t", "availability_topic"),
    ("bri_cmd_t", "brightness_command_topic"),
    ("bri_cmd_tpl", "brightness_command_template"),
    ("bri_scl", "brightness_scale"),
    ("bri_stat_t", "brightness_state_topic"),
    ("bri_val_tpl", "brightness_value_template"),
    ("clr_temp_cmd_t", "color_temp_command_topic"),
    ("clr_temp_cmd_tpl", "color_temp_command_template"),
    ("clr_temp_stat_t", "color_temp_state_topic"),
    ("clr_temp_val_tpl", "color_temp_value_template"),
    ("clrm", "color_mode"),
    ("cmd_off_tpl", "command_off_template"),
    ("cmd_on_tpl", "command_on_template"),
    ("cmd_t", "command_topic"),
    ("cmd_tpl", "command_template"),
    ("cmps", "components"),
    ("curr_temp_t", "current_temperature_topic"),
    ("curr_temp_tpl", "current_temperature_template"),
    ("dev", "device"),
    ("dev_cla", "device_class"),
    ("max_temp", "max_temp"),
    ("min_temp", "min_temp"),
    ("mode_cmd_t", "mode_command_topic"),
    ("mode_cmd_tpl", "mode_command_template"),
    ("mode_stat_t", "mode_state_topic"),
    ("mode_stat_tpl", "mode_state_template"),
    ("obj_id", "object_id"),
    ("o", "origin"),
    ("opt", "optimistic"),
    ("p", "platform"),
    ("max_mirs", "max_mireds"),
    ("min_mirs", "min_mireds"),
    ("max_klv", "max_kelvin"),
    ("min_klv", "min_kelvin"),
    ("pct_cmd_t", "percentage_command_topic"),
    ("pct_cmd_tpl", "percentage_command_template"),
    ("pct_stat_t", "percentage_state_topic"),
    ("pct_val_tpl", "percentage_value_template"),
    ("pl_arm_away", "payload_arm_away"),
    ("pl_arm_home", "payload_arm_home"),
    ("pl_arm_nite", "payload_arm_night"),
    ("pl_cls", "payload_close"),
    ("pl_disarm", "payload_disarm"),
    ("pl_lock", "payload_lock"),
    ("pl_off", "payload_off"),
    ("pl_on", "payload_on"),
    ("pl_open", "payload_open"),
    ("pl_stop", "payload_stop"),
    ("pl_unlk", "payload_unlock"),
    ("pos_clsd", "position_closed"),
    ("pos_open", "position_open"),
    ("pos_t", "position_topic"),
    ("pos_tpl", "position_template"),
    ("pow_cmd_t", "power_command_topic"),
    ("pr_mode_cmd_t", "preset_mode_command_topic"),
    ("pr_mode_cmd_tpl", "preset_mode_command_template"),
    ("pr_mode_stat_t", "preset_mode_state_topic"),
    ("pr_mode_val_tpl", "preset_mode_value_template"),
    ("pr_modes", "preset_modes"),
    ("set_pos_t", "set_position_topic"),
    ("set_pos_tpl", "set_position_template"),
    ("sup_clrm", "supported_color_modes"),
    ("spd_rng_max", "speed_range_max"),
    ("spd_rng_min", "speed_range_min"),
    ("stat_clsd", "state_closed"),
    ("stat_locked", "state_locked"),
    ("stat_off", "state_off"),
    ("stat_on", "state_on"),
    ("stat_open", "state_open"),
    ("stat_t", "state_topic"),
    ("stat_tpl", "state_template"),
    ("bri_tpl", "brightness_template"),
    ("stat_unlocked", "state_unlocked"),
    ("stat_val_tpl", "state_value_template"),
    ("temp_cmd_t", "temperature_command_topic"),
    ("temp_cmd_tpl", "temperature_command_template"),
    ("temp_stat_t", "temperature_state_topic"),
    ("temp_stat_tpl", "temperature_state_template"),
    ("temp_unit", "temperature_unit"),
    ("uniq_id", "unique_id"),
    ("unit_of_meas", "unit_of_measurement"),
    ("val_tpl", "value_template"),
];

/// Abbreviations inside the `device` block.
const DEVICE_ABBREVIATIONS: &[(&str, &str)] = &[
    ("cns", "connections"),
    ("ids", "identifiers"),
    ("mf", "manufacturer"),
    ("mdl", "model"),
    ("sa", "suggested_area"),
    ("sw", "sw_version"),
    ("hw", "hw_version"),
];

fn expand_keys(obj: Map<String, Value>, table: &[(&str, &str)]) -> Map<String, Value> {
    obj.into_iter()
        .map(|(k, v)| {
            let full = table
                .iter()
                .find(|(a, _)| *a == k)
                .map_or(k, |(_, f)| f.to_string());
            (full, v)
        })
        .collect()
}

/// Expands abbreviations (also in the `device` block) and the `~` base topic.
pub fn expand(obj: Map<String, Value>) -> Map<String, Value> {
    let mut obj = expand_keys(obj, ABBREVIATIONS);
    if let Some(Value::Object(dev)) = obj.remove("device") {
        obj.insert(
            "device".into(),
            Value::Object(expand_keys(dev, DEVICE_ABBREVIATIONS)),
        );
    }
    if let Some(base) = obj.get("~").and_then(Value::as_str).map(String::from) {
        for (k, v) in obj.iter_mut() {
            if !(k.ends_with("_topic") || k == "topic") {
                continue;
            }
            if let Value::String(t) = v {
                if let Some(rest) = t.strip_prefix('~') {
                    *t = format!("{base}{rest}");
                } else if let Some(rest) = t.strip_suffix('~') {
                    *t = format!("{rest}{base}");
                }
            }
        }
    }
    obj
}

/// Reads one retained config. `Ok(None)` for topics that are not configs
/// (`homeassistant/status`).
pub fn parse(topic: &str, payload: &[u8]) -> Result<Option<Announcement>, DiscoveryError> {
    let parts: Vec<&str> = topic.split('/').collect();
    if parts.last() != Some(&"config") || !(4..=5).contains(&parts.len()) {
        return Ok(None);
    }
    let component = parts[1];
    let object_id = parts[parts.len() - 2];
    let node_id = (parts.len() == 5).then(|| parts[2]);
    if payload.iter().all(u8::is_ascii_whitespace) {
        return Ok(Some(Announcement::new(topic, Vec::new())));
    }
    let text = std::str::from_utf8(payload).map_err(|_| DiscoveryError::Utf8)?;
    let Value::Object(raw) = serde_json::from_str::<Value>(text)? else {
        return Err(DiscoveryError::Invalid(
            "a discovery config must be a JSON object".into(),
        ));
    };
    let config = expand(raw);
    if component == "device" && node_id.is_none() {
        return device_based(topic, object_id, config).map(Some);
    }
    let raw_id = match node_id {
        Some(node) => format!("{node}_{object_id}"),
        None => object_id.to_string(),
    };
    let id = make_unique_id(
        "ha",
        &[
            Some(&raw_id),
            super::homeassistant::text(&config, "unique_id"),
        ],
        topic,
    );
    let mut announcement = Announcement::new(topic, Vec::new());
    match entity(topic, component, &id, &config, &mut announcement.problems)? {
        Some(d) => announcement.devices.push(d),
        None => announcement
            .problems
            .push(format!("giot does not model the {component} component")),
    }
    Ok(Some(announcement))
}

/// `homeassistant/device/<id>/config`: every component is one entity, with
/// the top-level options (topics, `~`, `device`) shared.
fn device_based(
    topic: &str,
    object_id: &str,
    mut config: Map<String, Value>,
) -> Result<Announcement, DiscoveryError> {
    let Some(Value::Object(components)) = config.remove("components") else {
        return Err(DiscoveryError::Invalid(
            "a device discovery config needs a `cmps` (components) object".into(),
        ));
    };
    config.remove("origin");
    let mut announcement = Announcement::new(topic, Vec::new());
    for (key, component) in components {
        let Value::Object(component) = component else {
            announcement
                .problems
                .push(format!("component {key} is not an object"));
            continue;
        };
        let mut merged = config.clone();
        for (k, v) in expand_keys(component, ABBREVIATIONS) {
            merged.insert(k, v);
        }
        let merged = expand(merged);
        let Some(platform) = merged
            .get("platform")
            .and_then(Value::as_str)
            .map(String::from)
        else {
            announcement
                .problems
                .push(format!("component {key} has no platform (`p`)"));
            continue;
        };
        // A component reduced to its platform is being removed.
        if merged
            .keys()
            .all(|k| k == "platform" || config.contains_key(k))
        {
            continue;
        }
        // Both parts must give an identifier: a device in a non-Latin
        // script would otherwise share `ha_light` with every other.
        let both = format!("{object_id}_{key}");
        let named =
            (!slug(object_id).is_empty() && !slug(&key).is_empty()).then_some(both.as_str());
        let id = make_unique_id(
            "ha",
            &[named, text(&merged, "unique_id")],
            &format!("{topic}#{key}"),
        );
        let mut problems = Vec::new();
        let found = entity(topic, &platform, &id, &merged, &mut problems);
        announcement.problems.extend(
            problems
                .into_iter()
                .map(|p| format!("component {key}: {p}")),
        );
        match found {
            Ok(Some(d)) => announcement.devices.push(d),
            Ok(None) => announcement.problems.push(format!(
                "component {key}: giot does not model the {platform} component"
            )),
            Err(e) => announcement.problems.push(format!("component {key}: {e}")),
        }
    }
    Ok(announcement)
}

fn text<'a>(c: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    c.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// A number option; HA accepts numbers written as strings (`"min_temp": "15"`).
fn num_opt(c: &Map<String, Value>, key: &str) -> Option<f64> {
    let v = c.get(key)?;
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        .filter(|x: &f64| x.is_finite())
}

fn num(c: &Map<String, Value>, key: &str, default: f64) -> f64 {
    num_opt(c, key).unwrap_or(default)
}

/// A payload option: its value, the default when absent, `None` when set
/// to null (HA's way of switching a payload off).
fn payload(c: &Map<String, Value>, key: &str, default: &str) -> Option<Value> {
    match c.get(key) {
        None => Some(Value::from(default)),
        Some(Value::Null) => None,
        Some(v) => Some(v.clone()),
    }
}

/// The key path of a `{{ value_json.a.b }}` template: `Ok(None)` for no
/// template or `{{ value }}`, `Err` for templates giot cannot evaluate.
fn template_key(template: Option<&str>) -> Result<Option<String>, ()> {
    let Some(t) = template else { return Ok(None) };
    let inner = t
        .trim()
        .strip_prefix("{{")
        .and_then(|t| t.strip_suffix("}}"))
        .ok_or(())?;
    // Number and case filters change nothing giot compares; any other
    // expression is rendered instead (see `registry::jinja`).
    let mut parts = inner.split('|');
    let expr = parts.next().unwrap_or("").trim();
    let harmless = |f: &str| {
        let f = f.trim();
        let name = f.split('(').next().unwrap_or("").trim();
        matches!(
            name,
            "float" | "int" | "round" | "lower" | "upper" | "trim" | "string"
        ) && f[name.len()..]
            .trim()
            .trim_start_matches('(')
            .trim_end_matches(')')
            .chars()
            .all(|c| c.is_ascii_digit() || c == ' ' || c == ',')
    };
    if !parts.all(harmless) {
        return Err(());
    }
    if expr == "value" {
        return Ok(None);
    }
    let path = expr.strip_prefix("value_json").ok_or(())?;
    let mut keys = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            keys.push(r[..end].to_string());
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix("['").or_else(|| rest.strip_prefix("[\"")) {
            let end = r.find(['\'', '"']).ok_or(())?;
            keys.push(r[..end].to_string());
            rest = r[end + 1..].strip_prefix(']').ok_or(())?;
        } else {
            return Err(());
        }
    }
    if keys.is_empty() || keys.iter().any(|k| k.is_empty() || k.contains(' ')) {
        return Err(());
    }
    Ok(Some(keys.join(".")))
}

/// Command topics and the template that writes their payload, with the
/// name the template sees the value by.
const COMMAND_TEMPLATES: &[(&str, &str, &str)] = &[
    ("command_topic", "command_template", "value"),
    (
        "brightness_command_topic",
        "brightness_command_template",
        "value",
    ),
    (
        "color_temp_command_topic",
        "color_temp_command_template",
        "value",
    ),
    ("set_position_topic", "set_position_template", "position"),
    (
        "percentage_command_topic",
        "percentage_command_template",
        "value",
    ),
    (
        "preset_mode_command_topic",
        "preset_mode_command_template",
        "value",
    ),
    ("mode_command_topic", "mode_command_template", "value"),
    (
        "temperature_command_topic",
        "temperature_command_template",
        "value",
    ),
    ("power_command_topic", "power_command_template", "value"),
];

/// Builds capabilities from one entity's options.
struct Caps<'a> {
    config: &'a Map<String, Value>,
    caps: Vec<Capability>,
    problems: Vec<String>,
}

fn map(pairs: &[(&str, Option<Value>)]) -> BTreeMap<String, Value> {
    pairs
        .iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k.to_string(), v)))
        .collect()
}

impl Caps<'_> {
    fn source(
        &mut self,
        topic_key: &str,
        template_key_name: &str,
        values: &BTreeMap<String, Value>,
    ) -> Vec<StateSource> {
        let Some(topic) = text(self.config, topic_key) else {
            return Vec::new();
        };
        let template = text(self.config, template_key_name);
        match template_key(template) {
            Ok(key) => vec![StateSource {
                topic: topic.to_string(),
                key,
                values: values.clone(),
                template: None,
            }],
            // Any other template is rendered (minijinja) on each payload.
            Err(()) => match template.and_then(jinja::syntax_problem) {
                None => vec![StateSource {
                    topic: topic.to_string(),
                    key: None,
                    values: values.clone(),
                    template: template.map(String::from),
                }],
                Some(why) => {
                    self.problems.push(format!(
                        "{template_key_name} cannot be used ({}): its state is not read",
                        clean_text(&why, 120)
                    ));
                    Vec::new()
                }
            },
        }
    }

    /// The command template for `command_key`'s topic, checked against
    /// the values the capability can take; `Err` when it cannot render one.
    fn command_template(
        &self,
        command_key: &str,
        kind: &CapabilityType,
        values: &BTreeMap<String, Value>,
    ) -> Result<Option<CommandTemplate>, String> {
        let Some(&(_, template_key, var)) =
            COMMAND_TEMPLATES.iter().find(|(t, ..)| *t == command_key)
        else {
            return Ok(None);
        };
        let Some(source) = text(self.config, template_key) else {
            return Ok(None);
        };
        let samples: Vec<Value> = match kind {
            CapabilityType::Enum { values: names } => names
                .iter()
                .map(|n| {
                    values
                        .get(n)
                        .cloned()
                        .unwrap_or_else(|| Value::from(n.as_str()))
                })
                .collect(),
            CapabilityType::Number { min, max, .. } => [*min, *max, (min + max) / 2.0]
                .iter()
                .map(|x| crate::registry::value::number(x.round()))
                .collect(),
            CapabilityType::Bool => vec![Value::Bool(true), Value::Bool(false)],
            _ => vec![Value::from("x")],
        };
        match jinja::check_command(source, var, &samples) {
            None => Ok(Some(CommandTemplate {
                source: source.to_string(),
                var: var.to_string(),
            })),
            Some(why) => Err(format!(
                "{template_key} cannot be rendered ({})",
                clean_text(&why, 120)
            )),
        }
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one call per capability kind reads best flat"
    )]
    fn add(
        &mut self,
        name: &str,
        kind: CapabilityType,
        unit: Option<String>,
        command_key: &str,
        command_values: BTreeMap<String, Value>,
        state_key: &str,
        template: &str,
        state_values: BTreeMap<String, Value>,
    ) {
        let template_spec = match self.command_template(command_key, &kind, &command_values) {
            Ok(t) => Some(t),
            Err(why) => {
                // Never a wrong payload: without its template the
                // capability is only read (or left out when it has no state).
                let then = if text(self.config, state_key).is_some() {
                    "it is read-only"
                } else {
                    "it is left out"
                };
                self.problems.push(format!("{name}: {why}; {then}"));
                None
            }
        };
        let command = template_spec.and_then(|template| {
            text(self.config, command_key).map(|topic| CommandSpec {
                topic: topic.to_string(),
                format: PayloadFormat::Plain,
                key: None,
                values: command_values,
                with: Map::new(),
                template,
            })
        });
        let state = self.source(state_key, template, &state_values);
        if command.is_none() && text(self.config, state_key).is_none() {
            return;
        }
        self.caps.push(Capability {
            name: name.to_string(),
            kind,
            unit,
            readonly: command.is_none(),
            command,
            state,
        });
    }
}

fn on_off() -> CapabilityType {
    CapabilityType::Enum {
        values: vec!["on".into(), "off".into()],
    }
}

fn number(min: f64, max: f64, step: Option<f64>) -> CapabilityType {
    CapabilityType::Number {
        min: min.min(max),
        max: max.max(min),
        step,
    }
}

/// A plausible range for a reading of this device class (the registry's
/// numbers have ranges; sensors do not announce theirs).
fn reading_range(class: &str, unit: &str) -> (f64, f64) {
    match (class, unit) {
        ("humidity" | "battery" | "moisture", _) | (_, "%") => (0.0, 100.0),
        ("temperature", _) => (-50.0, 150.0),
        _ => (-super::UNBOUNDED, super::UNBOUNDED),
    }
}

/// One entity as a registry device; `Ok(None)` for components giot does not
/// model (buttons, scenes, ...).
fn entity(
    topic: &str,
    component: &str,
    id: &str,
    c: &Map<String, Value>,
    problems: &mut Vec<String>,
) -> Result<Option<Device>, DiscoveryError> {
    let mut b = Caps {
        config: c,
        caps: Vec::new(),
        problems: Vec::new(),
    };
    let class = text(c, "device_class").unwrap_or("").to_string();
    let on = payload(c, "payload_on", "ON");
    let off = payload(c, "payload_off", "OFF");
    let power_command = map(&[("on", on.clone()), ("off", off.clone())]);
    let power_state = map(&[
        ("on", c.get("state_on").cloned().or(on.clone())),
        ("off", c.get("state_off").cloned().or(off.clone())),
    ]);
    let kind = match component {
        "light" => {
            match text(c, "schema").unwrap_or("default") {
                "json" => json_light(c, &mut b),
                "template" => template_light(c, &mut b),
                "default" | "basic" => {
                    b.add(
                        "power",
                        on_off(),
                        None,
                        "command_topic",
                        power_command,
                        "state_topic",
                        "state_value_template",
                        power_state,
                    );
                    let scale = num(c, "brightness_scale", 255.0);
                    b.add(
                        "brightness",
                        number(0.0, scale, Some(1.0)),
                        None,
                        "brightness_command_topic",
                        BTreeMap::new(),
                        "brightness_state_topic",
                        "brightness_value_template",
                        BTreeMap::new(),
                    );
                    let (range, unit) = color_temp_range(c);
                    b.add(
                        "color_temp",
                        range,
                        Some(unit.into()),
                        "color_temp_command_topic",
                        BTreeMap::new(),
                        "color_temp_state_topic",
                        "color_temp_value_template",
                        BTreeMap::new(),
                    );
                }
                other => {
                    return Err(DiscoveryError::Invalid(format!(
                        "light schema `{other}` is not supported (default, json and template are)"
                    )));
                }
            }
            "light"
        }
        "switch" => {
            b.add(
                "power",
                on_off(),
                None,
                "command_topic",
                power_command,
                "state_topic",
                "value_template",
                power_state,
            );
            if class == "outlet" { "plug" } else { "switch" }
        }
        "fan" => {
            b.add(
                "power",
                on_off(),
                None,
                "command_topic",
                power_command,
                "state_topic",
                "state_value_template",
                power_state,
            );
            let (lo, hi) = (
                num(c, "speed_range_min", 1.0),
                num(c, "speed_range_max", 100.0),
            );
            b.add(
                "speed",
                number(lo, hi, Some(1.0)),
                None,
                "percentage_command_topic",
                BTreeMap::new(),
                "percentage_state_topic",
                "percentage_value_template",
                BTreeMap::new(),
            );
            if let Some(modes) = strings(c, "preset_modes") {
                b.add(
                    "preset",
                    CapabilityType::Enum { values: modes },
                    None,
                    "preset_mode_command_topic",
                    BTreeMap::new(),
                    "preset_mode_state_topic",
                    "preset_mode_value_template",
                    BTreeMap::new(),
                );
            }
            "fan"
        }
        "climate" => {
            let modes = strings(c, "modes").unwrap_or_else(|| {
                ["auto", "off", "cool", "heat", "dry", "fan_only"]
                    .map(String::from)
                    .to_vec()
            });
            b.add(
                "mode",
                CapabilityType::Enum { values: modes },
                None,
                "mode_command_topic",
                BTreeMap::new(),
                "mode_state_topic",
                "mode_state_template",
                BTreeMap::new(),
            );
            let unit = match text(c, "temperature_unit") {
                Some("F") => "°F",
                _ => "°C",
            };
            let step = num_opt(c, "temp_step")
                .or(num_opt(c, "precision"))
                .filter(|s| *s > 0.0);
            b.add(
                "target_temperature",
                number(num(c, "min_temp", 7.0), num(c, "max_temp", 35.0), step),
                Some(unit.into()),
                "temperature_command_topic",
                BTreeMap::new(),
                "temperature_state_topic",
                "temperature_state_template",
                BTreeMap::new(),
            );
            b.add(
                "current_temperature",
                number(-50.0, 150.0, None),
                Some(unit.into()),
                "",
                BTreeMap::new(),
                "current_temperature_topic",
                "current_temperature_template",
                BTreeMap::new(),
            );
            b.add(
                "power",
                on_off(),
                None,
                "power_command_topic",
                power_command,
                "",
                "",
                BTreeMap::new(),
            );
            "thermostat"
        }
        "cover" | "valve" => {
            let stop = payload(c, "payload_stop", "STOP");
            let mut values = vec!["open".to_string(), "closed".to_string()];
            if stop.is_some() {
                values.push("stop".into());
            }
            let command = map(&[
                ("open", payload(c, "payload_open", "OPEN")),
                ("closed", payload(c, "payload_close", "CLOSE")),
                ("stop", stop),
            ]);
            let state = map(&[
                ("open", payload(c, "state_open", "open")),
                ("closed", payload(c, "state_closed", "closed")),
            ]);
            b.add(
                component,
                CapabilityType::Enum { values },
                None,
                "command_topic",
                command,
                "state_topic",
                "value_template",
                state,
            );
            let (closed, open) = (
                num(c, "position_closed", 0.0),
                num(c, "position_open", 100.0),
            );
            b.add(
                "position",
                number(closed, open, Some(1.0)),
                Some("%".into()),
                "set_position_topic",
                BTreeMap::new(),
                "position_topic",
                "position_template",
                BTreeMap::new(),
            );
            match (component, class.as_str()) {
                ("valve", _) => "valve",
                (_, "garage") => "garage_door",
                (_, "gate") => "gate",
                (_, "door") => "door",
                _ => "cover",
            }
        }
        "lock" => {
            let command = map(&[
                ("locked", payload(c, "payload_lock", "LOCK")),
                ("unlocked", payload(c, "payload_unlock", "UNLOCK")),
            ]);
            let state = map(&[
                ("locked", payload(c, "state_locked", "LOCKED")),
                ("unlocked", payload(c, "state_unlocked", "UNLOCKED")),
            ]);
            b.add(
                "lock",
                CapabilityType::Enum {
                    values: vec!["locked".into(), "unlocked".into()],
                },
                None,
                "command_topic",
                command,
                "state_topic",
                "value_template",
                state,
            );
            "lock"
        }
        "scene" => {
            // Home Assistant's MQTT scene: activating it publishes
            // `payload_on` (default "ON") to `command_topic`; it has no state.
            b.add(
                "power",
                CapabilityType::Enum {
                    values: vec!["on".into()],
                },
                None,
                "command_topic",
                map(&[("on", payload(c, "payload_on", "ON"))]),
                "",
                "",
                BTreeMap::new(),
            );
            "scene"
        }
        "vacuum" => {
            // Home Assistant's MQTT vacuum (the state schema): commands are
            // payloads on `command_topic`, the state is `{"state": ...}` on
            // `state_topic`.
            let states = ["cleaning", "docked", "returning", "paused", "idle"];
            let command = map(&[
                ("cleaning", payload(c, "payload_start", "start")),
                ("paused", payload(c, "payload_pause", "pause")),
                ("idle", payload(c, "payload_stop", "stop")),
                (
                    "returning",
                    payload(c, "payload_return_to_base", "return_to_base"),
                ),
            ]);
            let state = states
                .iter()
                .map(|s| (s.to_string(), Value::from(*s)))
                .collect();
            b.add(
                "state",
                CapabilityType::Enum {
                    values: states.iter().map(|s| s.to_string()).collect(),
                },
                None,
                "command_topic",
                command,
                "state_topic",
                "value_template",
                state,
            );
            if let Some(cap) = b.caps.last_mut() {
                for source in &mut cap.state {
                    if source.key.is_none() && source.template.is_none() {
                        source.key = Some("state".into());
                    }
                }
            }
            "vacuum"
        }
        "alarm_control_panel" => {
            let states = ["disarmed", "armed_home", "armed_away", "armed_night"];
            let command = map(&[
                ("disarmed", payload(c, "payload_disarm", "DISARM")),
                ("armed_home", payload(c, "payload_arm_home", "ARM_HOME")),
                ("armed_away", payload(c, "payload_arm_away", "ARM_AWAY")),
                ("armed_night", payload(c, "payload_arm_night", "ARM_NIGHT")),
            ]);
            b.add(
                "alarm",
                CapabilityType::Enum {
                    values: states.map(String::from).to_vec(),
                },
                None,
                "command_topic",
                command,
                "state_topic",
                "value_template",
                BTreeMap::new(),
            );
            "alarm"
        }
        "number" => {
            let unit = text(c, "unit_of_measurement").map(String::from);
            let step = num_opt(c, "step").filter(|s| *s > 0.0);
            b.add(
                "value",
                number(num(c, "min", 1.0), num(c, "max", 100.0), step),
                unit,
                "command_topic",
                BTreeMap::new(),
                "state_topic",
                "value_template",
                BTreeMap::new(),
            );
            "number"
        }
        "select" => {
            let Some(options) = strings(c, "options") else {
                return Err(DiscoveryError::Invalid("a select needs `options`".into()));
            };
            b.add(
                "option",
                CapabilityType::Enum { values: options },
                None,
                "command_topic",
                BTreeMap::new(),
                "state_topic",
                "value_template",
                BTreeMap::new(),
            );
            "select"
        }
        "sensor" => {
            let unit = text(c, "unit_of_measurement").map(String::from);
            let numeric = unit.is_some() || c.contains_key("state_class");
            let kind = if numeric {
                let (lo, hi) = reading_range(&class, unit.as_deref().unwrap_or(""));
                number(lo, hi, None)
            } else {
                CapabilityType::String
            };
            let name = slug_or(&class, "value");
            b.add(
                &name,
                kind,
                unit,
                "",
                BTreeMap::new(),
                "state_topic",
                "value_template",
                BTreeMap::new(),
            );
            "sensor"
        }
        "binary_sensor" => {
            let name = slug_or(&class, "state");
            b.add(
                &name,
                on_off(),
                None,
                "",
                BTreeMap::new(),
                "state_topic",
                "value_template",
                map(&[("on", on), ("off", off)]),
            );
            "sensor"
        }
        _ => return Ok(None),
    };
    if b.caps.is_empty() {
        if !b.problems.is_empty() {
            return Err(DiscoveryError::Invalid(b.problems.join("; ")));
        }
        return Err(DiscoveryError::Invalid(format!(
            "the {component} announces no topic giot can command or read (command_topic, state_topic, ...)"
        )));
    }
    let dev = c.get("device").and_then(Value::as_object);
    let dev_text = |k: &str| {
        dev.and_then(|d| text(d, k))
            .map(|s| clean_text(s, MAX_NAME))
    };
    let entity_name = text(c, "name").map(|s| clean_text(s, MAX_NAME));
    let name = match (dev_text("name"), entity_name) {
        (Some(d), Some(e)) if !e.to_lowercase().starts_with(&d.to_lowercase()) => {
            clean_text(&format!("{d} {e}"), MAX_NAME)
        }
        (_, Some(e)) => e,
        (Some(d), None) => d,
        (None, None) => id.trim_start_matches("ha_").replace('_', " "),
    };
    let description = [dev_text("manufacturer"), dev_text("model")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let description = (!description.is_empty()).then(|| clean_text(&description, MAX_DESCRIPTION));
    let room = dev_text("suggested_area")
        .map(|a| slug(&a))
        .filter(|r| !r.is_empty());
    problems.append(&mut b.problems);
    let state_topic = b
        .caps
        .iter()
        .flat_map(|c| &c.state)
        .map(|s| s.topic.clone())
        .next()
        .unwrap_or_default();
    Ok(Some(Device {
        id: id.to_string(),
        safety: default_safety(kind, &[&name, description.as_deref().unwrap_or("")]),
        name,
        aliases: Vec::new(),
        room,
        kind: kind.to_string(),
        state_topic,
        command_topic: None,
        capabilities: b.caps,
        cheat: false,
        discovered: Some(Discovered {
            convention: "homeassistant".into(),
            topic: topic.to_string(),
            description,
        }),
    }))
}

fn strings(c: &Map<String, Value>, key: &str) -> Option<Vec<String>> {
    let list: Vec<String> = c
        .get(key)?
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .map(String::from)
        .collect();
    (!list.is_empty()).then_some(list)
}

/// A light of `schema: json`: commands and state are JSON objects with
/// `state` ("ON"/"OFF") and `brightness`.
fn json_light(c: &Map<String, Value>, b: &mut Caps<'_>) {
    let Some(command_topic) = text(c, "command_topic") else {
        return;
    };
    let state_topic = text(c, "state_topic");
    let on_off_map = map(&[("on", Some("ON".into())), ("off", Some("OFF".into()))]);
    let spec = |key: &str, values: BTreeMap<String, Value>, with: Map<String, Value>| CommandSpec {
        topic: command_topic.to_string(),
        format: PayloadFormat::Json,
        key: Some(key.to_string()),
        values,
        with,
        template: None,
    };
    let source = |key: &str, values: BTreeMap<String, Value>| {
        state_topic
            .map(|t| StateSource {
                topic: t.to_string(),
                key: Some(key.to_string()),
                values,
                template: None,
            })
            .into_iter()
            .collect()
    };
    b.caps.push(Capability {
        name: "power".into(),
        kind: on_off(),
        unit: None,
        readonly: false,
        command: Some(spec("state", on_off_map.clone(), Map::new())),
        state: source("state", on_off_map),
    });
    let modes = strings(c, "supported_color_modes").unwrap_or_default();
    // Since 2024 the colour modes imply brightness (every mode but `onoff`);
    // the `brightness: true` flag they replace (removed in 2025) still counts.
    let dims = modes.iter().any(|m| m != "onoff")
        || c.get("brightness").and_then(Value::as_bool) == Some(true);
    let mut with = Map::new();
    with.insert("state".into(), "ON".into());
    if dims {
        b.caps.push(Capability {
            name: "brightness".into(),
            kind: number(0.0, num(c, "brightness_scale", 255.0), Some(1.0)),
            unit: None,
            readonly: false,
            command: Some(spec("brightness", BTreeMap::new(), with.clone())),
            state: source("brightness", BTreeMap::new()),
        });
    }
    if modes.iter().any(|m| m == "color_temp")
        || c.get("color_temp").and_then(Value::as_bool) == Some(true)
    {
        let (range, unit) = color_temp_range(c);
        b.caps.push(Capability {
            name: "color_temp".into(),
            kind: range,
            unit: Some(unit.into()),
            readonly: false,
            command: Some(spec("color_temp", BTreeMap::new(), with)),
            state: source("color_temp", BTreeMap::new()),
        });
    }
}

/// A light of `schema: template`: `command_on_template` and
/// `command_off_template` write every command on `command_topic` (the on
/// template also sets the brightness, which it sees as `brightness`);
/// `state_template` and `brightness_template` read the state topic.
fn template_light(c: &Map<String, Value>, b: &mut Caps<'_>) {
    let (Some(topic), Some(on), Some(off)) = (
        text(c, "command_topic"),
        text(c, "command_on_template"),
        text(c, "command_off_template"),
    ) else {
        b.problems.push(
            "a template light needs command_topic, command_on_template and command_off_template"
                .into(),
        );
        return;
    };
    let state_topic = text(c, "state_topic");
    let source = |template: Option<&str>, b: &mut Caps<'_>, name: &str| -> Vec<StateSource> {
        match (state_topic, template) {
            (Some(t), Some(tpl)) => match jinja::syntax_problem(tpl) {
                None => vec![StateSource {
                    topic: t.to_string(),
                    key: None,
                    values: BTreeMap::new(),
                    template: Some(tpl.to_string()),
                }],
                Some(why) => {
                    b.problems.push(format!(
                        "{name}_template cannot be used ({}): its state is not read",
                        clean_text(&why, 120)
                    ));
                    Vec::new()
                }
            },
            _ => Vec::new(),
        }
    };
    // One template for both values: the on template for `on`, the off
    // template for `off` (both see `state`).
    let power = format!("{{% if state == 'on' %}}{on}{{% else %}}{off}{{% endif %}}");
    let command =
        |source: String, var: &str, kind: &CapabilityType, b: &mut Caps<'_>, name: &str| {
            let samples: Vec<Value> = match kind {
                CapabilityType::Number { min, max, .. } => {
                    vec![
                        crate::registry::value::number(*min),
                        crate::registry::value::number(*max),
                    ]
                }
                _ => vec![Value::from("on"), Value::from("off")],
            };
            match jinja::check_command(&source, var, &samples) {
                None => Some(CommandSpec {
                    topic: topic.to_string(),
                    format: PayloadFormat::Plain,
                    key: None,
                    values: BTreeMap::new(),
                    with: Map::new(),
                    template: Some(CommandTemplate {
                        source,
                        var: var.to_string(),
                    }),
                }),
                Some(why) => {
                    b.problems.push(format!(
                        "{name}: the command template cannot be rendered ({}); it is read-only",
                        clean_text(&why, 120)
                    ));
                    None
                }
            }
        };
    let kind = on_off();
    let power_command = command(power, "state", &kind, b, "power");
    let power_state = source(text(c, "state_template"), b, "state");
    b.caps.push(Capability {
        name: "power".into(),
        kind,
        unit: None,
        readonly: power_command.is_none(),
        command: power_command,
        state: power_state,
    });
    // Brightness only when the on template or the state reads it.
    if on.contains("brightness") || text(c, "brightness_template").is_some() {
        let kind = number(0.0, 255.0, Some(1.0));
        let bri = command(
            format!("{{% set state = 'on' %}}{on}"),
            "brightness",
            &kind,
            b,
            "brightness",
        );
        let state = source(text(c, "brightness_template"), b, "brightness");
        if bri.is_some() || !state.is_empty() {
            b.caps.push(Capability {
                name: "brightness".into(),
                kind,
                unit: None,
                readonly: bri.is_none(),
                command: bri,
                state,
            });
        }
    }
}

/// The colour temperature range and unit of a light: kelvin when
/// `color_temp_kelvin` is true (`min_kelvin`..`max_kelvin`, 2000..6535 by
/// default), else mireds (`min_mireds`..`max_mireds`, 153..500).
fn color_temp_range(c: &Map<String, Value>) -> (CapabilityType, &'static str) {
    if c.get("color_temp_kelvin").and_then(Value::as_bool) == Some(true) {
        (
            number(
                num(c, "min_kelvin", 2000.0),
                num(c, "max_kelvin", 6535.0),
                Some(1.0),
            ),
            "K",
        )
    } else {
        (
            number(
                num(c, "min_mireds", 153.0),
                num(c, "max_mireds", 500.0),
                Some(1.0),
            ),
            "mired",
        )
    }
}

#[cfg(test)]
mod tests;
