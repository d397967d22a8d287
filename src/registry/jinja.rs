//! Home Assistant's Jinja templates, rendered with minijinja: command
//! templates (`command_template`, `set_position_template`,
//! `brightness_command_template`, …) turn a value into the payload sent,
//! value templates (`value_template`, `position_template`, …) turn a payload
//! into the value read.
//!
//! The templates come from the broker, so rendering is bounded (fuel) and
//! strict: an undefined variable, a filter that cannot convert its input
//! (`"abc" | int` without a default) or anything else that goes wrong is
//! an error, never an empty or made-up payload. Discovery renders every
//! command template with sample values first ([`check_command`]); one that
//! fails makes its capability read-only, reported.
//!
//! Filters as Home Assistant users write them: `int` and `float` (with an
//! optional default), `round`, `lower`, `upper`, `default`, `tojson`, and
//! Home Assistant's `is_defined` (an error when its input is undefined);
//! the `is defined` test is Jinja's own; Python's string methods
//! (`value.split(',')[0]`) through minijinja-contrib's pycompat.

use std::sync::OnceLock;

use minijinja::value::Value as Jinja;
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior};
use serde_json::Value;

/// Instructions a template may run before it is stopped (loops from the
/// broker cannot hold up the agent).
const FUEL: u64 = 20_000;
/// Longest template text taken.
pub const MAX_TEMPLATE: usize = 4_096;
/// Longest rendered output taken.
const MAX_OUTPUT: usize = 64 * 1024;

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_fuel(Some(FUEL));
        // `value.split(',')`, `value.startswith('x')`: Python's methods, as
        // Home Assistant's (Python) Jinja has them.
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_filter("int", int);
        env.add_filter("float", float);
        env.add_filter("is_defined", is_defined);
        env
    })
}

fn invalid(message: String) -> Error {
    Error::new(ErrorKind::InvalidOperation, message)
}

/// A number from a value: numbers as they are, text parsed, booleans 0/1.
fn number(v: &Jinja) -> Option<f64> {
    if let Some(s) = v.as_str() {
        return s.trim().parse::<f64>().ok().filter(|x| x.is_finite());
    }
    if v.is_undefined() || v.is_none() {
        return None;
    }
    f64::try_from(v.clone()).ok().filter(|x| x.is_finite())
}

/// `int`, `int(default)`: Home Assistant's, an error without a default.
fn int(v: Jinja, default: Option<Jinja>) -> Result<Jinja, Error> {
    match (number(&v), default) {
        (Some(x), _) if x.abs() < 9.0e15 => Ok(Jinja::from(x.trunc() as i64)),
        (_, Some(d)) => Ok(d),
        _ => Err(invalid(format!(
            "int got {v:?}, not a number, and no default"
        ))),
    }
}

/// `float`, `float(default)`: Home Assistant's, an error without a default.
fn float(v: Jinja, default: Option<Jinja>) -> Result<Jinja, Error> {
    match (number(&v), default) {
        (Some(x), _) => Ok(Jinja::from(x)),
        (_, Some(d)) => Ok(d),
        _ => Err(invalid(format!(
            "float got {v:?}, not a number, and no default"
        ))),
    }
}

fn is_defined(v: Jinja) -> Result<Jinja, Error> {
    if v.is_undefined() {
        Err(invalid("is_defined got an undefined value".into()))
    } else {
        Ok(v)
    }
}

/// Why `template` cannot be used at all (its syntax), if it cannot.
pub fn syntax_problem(template: &str) -> Option<String> {
    if template.len() > MAX_TEMPLATE {
        return Some(format!("is longer than {MAX_TEMPLATE} bytes"));
    }
    env()
        .template_from_str(template)
        .err()
        .map(|e| e.to_string())
}

fn render(template: &str, ctx: Jinja) -> Result<String, String> {
    if let Some(why) = syntax_problem(template) {
        return Err(why);
    }
    let out = env().render_str(template, ctx).map_err(|e| e.to_string())?;
    if out.len() > MAX_OUTPUT {
        return Err(format!("renders more than {MAX_OUTPUT} bytes"));
    }
    Ok(out)
}

/// The payload a command template gives for `value`, which it sees as
/// `value` and as `var` (`position` for `set_position_template`).
pub fn render_command(template: &str, var: &str, value: &Value) -> Result<String, String> {
    let v = Jinja::from(minijinja::value::Serde(value));
    let ctx = if var == "value" {
        minijinja::context! { value => v }
    } else {
        let mut map = std::collections::BTreeMap::new();
        map.insert("value".to_string(), v.clone());
        map.insert(var.to_string(), v);
        Jinja::from(minijinja::value::Serde(&map))
    };
    render(template, ctx)
}

/// The value a value template reads from `payload`: it sees the payload
/// as text in `value` and, when it is JSON, parsed in `value_json`.
pub fn render_value(template: &str, payload: &[u8]) -> Result<String, String> {
    let text = std::str::from_utf8(payload).map_err(|_| "the payload is not UTF-8".to_string())?;
    let ctx = match serde_json::from_str::<Value>(text) {
        Ok(json) => {
            minijinja::context! { value => text, value_json => Jinja::from(minijinja::value::Serde(&json)) }
        }
        Err(_) => minijinja::context! { value => text },
    };
    render(template, ctx).map(|s| s.trim().to_string())
}

/// Why a command template fails for the capability's values, if it does:
/// rendered once with each of `samples` before the capability is trusted.
pub fn check_command(template: &str, var: &str, samples: &[Value]) -> Option<String> {
    if let Some(why) = syntax_problem(template) {
        return Some(why);
    }
    samples
        .iter()
        .find_map(|v| render_command(template, var, v).err())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn kind3_command_templates_render_the_form_zigbee2mqtt_publishes() {
        assert_eq!(
            render_command(r#"{ "position": {{ position }} }"#, "position", &json!(40)).unwrap(),
            r#"{ "position": 40 }"#
        );
        assert_eq!(
            render_command(
                r#"{"brightness": {{ value | int }}}"#,
                "value",
                &json!(76.6)
            )
            .unwrap(),
            r#"{"brightness": 76}"#
        );
        assert_eq!(
            render_command("{{ value | upper }}", "value", &json!("heat")).unwrap(),
            "HEAT"
        );
        assert_eq!(
            render_command(r#"{{ {"mode": value} | tojson }}"#, "value", &json!("cool")).unwrap(),
            r#"{"mode": "cool"}"#
        );
    }

    #[test]
    fn kind3_value_templates_read_value_json_value_and_the_common_filters() {
        let payload = br#"{"temperature": "21.66", "state": "ON", "pos": 40}"#;
        let cases = [
            ("{{ value_json.temperature | float | round(1) }}", "21.7"),
            ("{{ value_json.temperature | int }}", "21"),
            ("{{ value_json.state | lower }}", "on"),
            ("{{ value_json['pos'] }}", "40"),
            ("{{ value_json.missing | default(7) }}", "7"),
            ("{{ 'yes' if value_json.pos is defined else 'no' }}", "yes"),
            ("{{ value_json.pos | is_defined }}", "40"),
            ("{{ (value_json.pos | int) * 2 }}", "80"),
        ];
        for (t, want) in cases {
            assert_eq!(render_value(t, payload).unwrap(), want, "{t}");
        }
        assert_eq!(render_value("{{ value | upper }}", b"on").unwrap(), "ON");
        assert_eq!(render_value("{{ value | float(0) }}", b"abc").unwrap(), "0");
    }

    #[test]
    fn kind3_a_template_that_cannot_be_rendered_is_an_error_never_a_guess() {
        let payload = br#"{"a": "x"}"#;
        for t in [
            "{{ value_json.missing }}",
            "{{ value_json.a | int }}",
            "{{ value_json.missing | is_defined }}",
            "{{ states('sensor.x') }}",
            "{{ value_json.a",
            "{% for i in range(100000000) %}{{ i }}{% endfor %}",
        ] {
            assert!(render_value(t, payload).is_err(), "{t}");
        }
        assert!(check_command("{{ value | int }}", "value", &[json!("on")]).is_some());
        assert!(check_command("{{ position }}", "position", &[json!(0), json!(100)]).is_none());
        assert!(check_command("{{ position }}", "value", &[json!(0)]).is_some());
    }
}
