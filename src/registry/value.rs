//! Checking a value against a capability: the one rule that the policy, the
//! simulator and the agent all share.

use serde_json::Value;

use super::{Capability, CapabilityType};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ValueError {
    #[error("{capability} is read-only")]
    ReadOnly { capability: String },
    #[error("{capability} takes one of {allowed}, not {got}")]
    NotInEnum {
        capability: String,
        allowed: String,
        got: String,
    },
    #[error("{capability} must be between {min} and {max}{unit}, not {got}")]
    OutOfRange {
        capability: String,
        min: f64,
        max: f64,
        unit: String,
        got: f64,
    },
    #[error("{capability} takes a {expected}, not {got}")]
    WrongType {
        capability: String,
        expected: &'static str,
        got: String,
    },
}

impl Capability {
    /// Checks that `value` may be written to this capability.
    pub fn check_write(&self, value: &Value) -> Result<(), ValueError> {
        if self.readonly {
            return Err(ValueError::ReadOnly {
                capability: self.name.clone(),
            });
        }
        self.check_value(value)
    }

    /// Checks that `value` is of this capability's type and inside its range.
    pub fn check_value(&self, value: &Value) -> Result<(), ValueError> {
        let wrong = |expected| ValueError::WrongType {
            capability: self.name.clone(),
            expected,
            got: value.to_string(),
        };
        match &self.kind {
            CapabilityType::Enum { values } => {
                let got = value.as_str().ok_or_else(|| wrong("string"))?;
                if values.iter().any(|v| v == got) {
                    Ok(())
                } else {
                    Err(ValueError::NotInEnum {
                        capability: self.name.clone(),
                        allowed: values.join("|"),
                        got: got.to_string(),
                    })
                }
            }
            CapabilityType::Number { min, max, .. } => {
                let got = value.as_f64().ok_or_else(|| wrong("number"))?;
                if got.is_finite() && got >= *min && got <= *max {
                    Ok(())
                } else {
                    Err(ValueError::OutOfRange {
                        capability: self.name.clone(),
                        min: *min,
                        max: *max,
                        unit: self.unit.clone().unwrap_or_default(),
                        got,
                    })
                }
            }
            CapabilityType::Bool => value.as_bool().map(|_| ()).ok_or_else(|| wrong("bool")),
            CapabilityType::String => value.as_str().map(|_| ()).ok_or_else(|| wrong("string")),
        }
    }

    /// The range of a numeric capability.
    pub fn range(&self) -> Option<(f64, f64)> {
        match self.kind {
            CapabilityType::Number { min, max, .. } => Some((min, max)),
            _ => None,
        }
    }
}

/// A number as JSON: integral values become JSON integers (`10`, not `10.0`).
pub fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        Value::from(x as i64)
    } else {
        serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
    }
}

/// Whether a reported value is the value that was asked for (numbers within
/// rounding, also inside arrays and objects such as a market's menu).
pub fn same_value(shown: &Value, wanted: &Value) -> bool {
    match (shown, wanted) {
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_value(x, y))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(k, x)| b.get(k).is_some_and(|y| same_value(x, y)))
        }
        _ => match (shown.as_f64(), wanted.as_f64()) {
            (Some(a), Some(b)) => (a - b).abs() <= 1e-6 * b.abs().max(1.0),
            _ => shown == wanted,
        },
    }
}

/// A value as people read it: strings without quotes, units appended.
/// `x` as JSON, whole numbers without a fraction (`70`, not `70.0`):
/// thresholds and readings as people write them. Not finite: `null`.
pub fn number_value(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        Value::from(x as i64)
    } else {
        serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
    }
}

pub fn display_value(value: &Value, unit: Option<&str>) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match unit {
        Some(u) if !matches!(value, Value::String(_)) => {
            if u == "%" {
                format!("{text}%")
            } else {
                format!("{text} {u}")
            }
        }
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn brightness() -> Capability {
        Capability {
            name: "brightness".into(),
            kind: CapabilityType::Number {
                min: 0.0,
                max: 100.0,
                step: None,
            },
            unit: Some("%".into()),
            readonly: false,
            command: None,
            state: Vec::new(),
        }
    }

    #[test]
    fn numbers_inside_the_range_are_accepted_and_outside_refused() {
        let cap = brightness();
        assert!(cap.check_write(&json!(10)).is_ok());
        assert!(cap.check_write(&json!(100.0)).is_ok());
        let err = cap.check_write(&json!(150)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "brightness must be between 0 and 100%, not 150"
        );
        assert!(matches!(
            cap.check_write(&json!("10")),
            Err(ValueError::WrongType { .. })
        ));
    }

    #[test]
    fn readonly_capabilities_refuse_every_write() {
        let mut cap = brightness();
        cap.readonly = true;
        assert!(matches!(
            cap.check_write(&json!(10)),
            Err(ValueError::ReadOnly { .. })
        ));
        assert!(cap.check_value(&json!(10)).is_ok());
    }

    #[test]
    fn enum_values_must_be_listed() {
        let cap = Capability {
            name: "power".into(),
            kind: CapabilityType::Enum {
                values: vec!["on".into(), "off".into()],
            },
            unit: None,
            readonly: false,
            command: None,
            state: Vec::new(),
        };
        assert!(cap.check_write(&json!("on")).is_ok());
        assert!(cap.check_write(&json!("dim")).is_err());
        assert!(cap.check_write(&json!(true)).is_err());
    }

    #[test]
    fn integral_numbers_serialise_as_integers() {
        assert_eq!(number(10.0).to_string(), "10");
        assert_eq!(number(21.5).to_string(), "21.5");
    }
}
