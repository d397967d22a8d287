//! MQTT's rules for topic names and filters (MQTT 3.1.1 §4.7, 5.0 §4.7):
//! checked before a topic that came from the broker or a file is published
//! to or subscribed to. A broker drops a client whose SUBSCRIBE holds an
//! invalid filter, so one bad announcement must never reach the wire.
//!
//! Topics are UTF-8 by construction here (`&str`); what remains is length,
//! NUL and where the wildcards stand. White space, `-`, `.` and any script
//! are valid in a topic (Zigbee2MQTT publishes on `zigbee2mqtt/Kitchen Lamp`).

/// Longest topic MQTT can carry, in bytes.
pub const MAX_TOPIC: usize = 65_535;

/// Why `topic` is not a valid topic name to publish to, if it is not.
pub fn name_problem(topic: &str) -> Option<&'static str> {
    if topic.is_empty() {
        Some("is empty")
    } else if topic.len() > MAX_TOPIC {
        Some("is longer than MQTT allows (65535 bytes)")
    } else if topic.contains('\0') {
        Some("contains a NUL character")
    } else if topic.contains(['+', '#']) {
        Some("contains a wildcard (+ or #); a topic name names one topic")
    } else {
        None
    }
}

/// Why `filter` is not a valid subscription filter, if it is not: `+` must
/// fill a whole level, `#` must be the whole last level.
pub fn filter_problem(filter: &str) -> Option<&'static str> {
    if filter.is_empty() {
        return Some("is empty");
    }
    if filter.len() > MAX_TOPIC {
        return Some("is longer than MQTT allows (65535 bytes)");
    }
    if filter.contains('\0') {
        return Some("contains a NUL character");
    }
    let levels: Vec<&str> = filter.split('/').collect();
    let last = levels.len() - 1;
    for (i, level) in levels.iter().enumerate() {
        if level.contains('#') && (*level != "#" || i != last) {
            return Some("has '#' other than as the whole last level");
        }
        if level.contains('+') && *level != "+" {
            return Some("has '+' that does not fill a whole level");
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_mqtt_rules() {
        assert_eq!(name_problem("zigbee2mqtt/Kitchen Lamp/set"), None);
        assert_eq!(name_problem("дом/свет"), None);
        assert_eq!(name_problem("/a//b/"), None);
        assert!(name_problem("").is_some());
        assert!(name_problem("a\0b").is_some());
        assert!(name_problem("a/+/b").is_some());
        assert!(name_problem(&"x".repeat(MAX_TOPIC + 1)).is_some());
        assert_eq!(name_problem(&"x".repeat(MAX_TOPIC)), None);
    }

    #[test]
    fn filters_follow_mqtt_wildcard_placement() {
        for ok in ["#", "+", "a/#", "a/+/b", "+/+", "/+", "a b/c", "a//#"] {
            assert_eq!(filter_problem(ok), None, "{ok}");
        }
        for bad in ["", "a#", "a/#/b", "a/b+", "+a/b", "a\0", "#/a", "a/##"] {
            assert!(filter_problem(bad).is_some(), "{bad:?}");
        }
    }
}
