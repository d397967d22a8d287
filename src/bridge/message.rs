//! What arrives on `giot/<agent>/goals`, checked before anything else sees
//! it: size, UTF-8, JSON shape, id syntax, and (with a goal key) the HMAC
//! signature. Everything here is data from the network, never instructions.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::types::{Outcome, Status};

/// Largest goal message accepted.
pub const MAX_MESSAGE: usize = 16 * 1024;
/// Longest goal text accepted.
pub const MAX_GOAL: usize = 2_000;

#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    Goal {
        id: String,
        goal: String,
        dry_run: bool,
        /// The room the goal was said in (a registry room id or name).
        room: Option<String>,
        /// The conversation the goal belongs to.
        conversation: Option<String>,
    },
    Confirm {
        id: String,
        token: String,
    },
}

/// What the bridge publishes on `giot/<agent>/results/<id>` (and keeps in
/// its store): the `run --json` object plus the goal's id and, around a
/// confirmation, the token fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoalResult {
    pub id: String,
    #[serde(flatten)]
    pub outcome: Outcome,
    /// For `needs_confirmation`: publish `{"id": "<new id>", "confirm": <this>}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm_token: Option<String>,
    /// Seconds the token stays valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm_expires_s: Option<u64>,
    /// For a confirmation: the id of the goal it confirmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirms: Option<String>,
    /// The bridge instance that answered, when several share the goals
    /// (`--share`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

impl GoalResult {
    pub fn new(id: &str, outcome: Outcome) -> Self {
        Self {
            id: id.to_string(),
            outcome,
            confirm_token: None,
            confirm_expires_s: None,
            confirms: None,
            instance: None,
        }
    }

    /// A goal the bridge will not run, and why.
    pub fn rejected(id: &str, goal: Option<&str>, reason: &str) -> Self {
        Self::new(
            id,
            Outcome::with_reason(goal.unwrap_or_default(), Status::Rejected, reason),
        )
    }
}

/// Why a message is not run; `id` is set when it could be read, so that the
/// sender gets a `rejected` result.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub id: Option<String>,
    pub reason: String,
}

pub fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// The text a goal message's signature covers: the message without `sig`
/// as compact JSON with its keys sorted (every field that changes what
/// happens: `id`, `goal` or `confirm`, `dry_run`, `room`, `conversation`;
/// absent and null fields are left out), strings written as serde_json
/// writes them (UTF-8, `"`, `\` and control characters escaped) — what
/// Python's `json.dumps(m, sort_keys=True, separators=(",", ":"),
/// ensure_ascii=False)` writes too.
pub fn canonical(message: &GoalMessage) -> String {
    let unsigned = GoalMessage {
        sig: None,
        ..message.clone()
    };
    // A Value's map is sorted by key (serde_json without preserve_order).
    serde_json::to_value(&unsigned)
        .map(|v| v.to_string())
        .unwrap_or_default()
}

fn mac(key: &[u8], text: &str) -> Option<Hmac<Sha256>> {
    // HMAC takes keys of any length: this never fails.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).ok()?;
    mac.update(text.as_bytes());
    Some(mac)
}

/// The hex HMAC-SHA256 of the message's [`canonical`] form.
pub fn sign(key: &[u8], message: &GoalMessage) -> String {
    mac(key, &canonical(message))
        .map(|m| hex::encode(m.finalize().into_bytes()))
        .unwrap_or_default()
}

fn verify(key: &[u8], message: &GoalMessage, sig: &str) -> bool {
    let Ok(bytes) = hex::decode(sig) else {
        return false;
    };
    mac(key, &canonical(message)).is_some_and(|m| m.verify_slice(&bytes).is_ok())
}

pub use crate::types::loggable;

/// A message on `giot/<agent>/goals` as senders write it: a goal, or a
/// person's yes to an earlier `needs_confirmation` result (`confirm` holds
/// its token). Read with [`parse`], which checks it; written with
/// [`GoalMessage::goal`], [`GoalMessage::confirm`] and [`GoalMessage::signed`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GoalMessage {
    /// The goal's id, `[A-Za-z0-9_.-]{1,64}`: one result per id, ever.
    pub id: String,
    /// The goal's words, 1 to 2,000 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal: Option<String>,
    /// A confirmation token, instead of `goal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm: Option<String>,
    /// Plan and check, publish nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    /// The room the goal was said in (a registry room id or name), 1 to 64 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// The conversation the goal belongs to, 1 to 64 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<String>,
    /// With a goal key: the hex HMAC-SHA256 of the whole message without
    /// `sig` in its [`canonical`] form, see [`sign`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sig: Option<String>,
}

impl GoalMessage {
    /// A goal to run.
    pub fn goal(id: &str, goal: &str) -> Self {
        Self {
            id: id.to_string(),
            goal: Some(goal.to_string()),
            ..Self::default()
        }
    }

    /// A person's yes to the result that carried `token`.
    pub fn confirm(id: &str, token: &str) -> Self {
        Self {
            id: id.to_string(),
            confirm: Some(token.to_string()),
            ..Self::default()
        }
    }

    /// The message signed with `key` (for a bridge started with a goal key).
    pub fn signed(mut self, key: &[u8]) -> Self {
        self.sig = Some(sign(key, &self));
        self
    }

    /// The message as JSON text.
    pub fn to_json(&self) -> String {
        // Strings and booleans only: serializing cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The id of a message that is not a valid [`GoalMessage`], when it has one,
/// so that its sender still gets a `rejected` result.
#[derive(Deserialize)]
struct IdOnly {
    id: Option<String>,
}

/// The `id` of an object read as far as it stands before anything that
/// breaks it (invalid UTF-8, a raw newline in a string, a cut): the id of
/// a message that cannot be read as a whole.
fn salvage_id(payload: &[u8]) -> Option<String> {
    use serde::de::{Deserializer as _, IgnoredAny, MapAccess, Visitor};

    struct Salvage<'a>(&'a mut Option<String>);
    impl<'de> Visitor<'de> for Salvage<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(key) = map.next_key::<String>()? {
                if key == "id" {
                    *self.0 = map.next_value::<String>().ok();
                    return Ok(());
                }
                map.next_value::<IgnoredAny>()?;
            }
            Ok(())
        }
    }
    let mut id = None;
    let mut de = serde_json::Deserializer::from_slice(payload);
    // What follows the id may be broken: the error is of no interest.
    let _ = de.deserialize_map(Salvage(&mut id));
    id
}

/// Reads one message from the goals topic.
pub fn parse(payload: &[u8], key: Option<&[u8]>) -> Result<Incoming, Rejection> {
    let reject = |id: Option<&str>, reason: &str| Rejection {
        id: id.map(String::from),
        reason: reason.to_string(),
    };
    // An id that can still be read (serde_json skips the other strings
    // without checking their UTF-8) gets its `rejected` answer.
    let salvage = || salvage_id(payload).filter(|id| valid_id(id));
    if payload.len() > MAX_MESSAGE {
        return Err(Rejection {
            id: salvage(),
            reason: format!(
                "malformed: message of {} bytes, larger than 16 KiB",
                payload.len()
            ),
        });
    }
    let Ok(text) = std::str::from_utf8(payload) else {
        return Err(Rejection {
            id: salvage(),
            reason: "malformed: not UTF-8".into(),
        });
    };
    let id = match serde_json::from_str::<IdOnly>(text) {
        Ok(IdOnly { id: Some(id) }) if valid_id(&id) => id,
        Ok(IdOnly { id: Some(_) }) => {
            return Err(reject(
                None,
                "malformed: id must match [A-Za-z0-9_.-]{1,64}",
            ));
        }
        Ok(IdOnly { id: None }) => return Err(reject(None, "malformed: no id")),
        Err(_) => {
            return Err(reject(
                None,
                "malformed: not a JSON object with a string id",
            ));
        }
    };
    let id = id.as_str();
    let message: GoalMessage = serde_path_to_error::deserialize(
        &mut serde_json::Deserializer::from_str(text),
    )
    .map_err(|e| {
        let field = e.path().to_string();
        reject(
            Some(id),
            &format!("malformed: {field}: {}", strip_position(e.inner())),
        )
    })?;
    let short_text = |name: &str, value: Option<String>| match value {
        Some(s) if !(1..=64).contains(&s.len()) => Err(reject(
            Some(id),
            &format!("malformed: {name} must be a string of 1 to 64 characters"),
        )),
        v => Ok(v),
    };
    if let Some(key) = key {
        match message.sig.as_deref() {
            None => return Err(reject(Some(id), "bad signature: the goal is not signed")),
            Some(sig) if !verify(key, &message, sig) => {
                return Err(reject(Some(id), "bad signature"));
            }
            Some(_) => {}
        }
    }
    match (message.goal, message.confirm) {
        (Some(goal), None) => {
            if goal.trim().is_empty() || goal.len() > MAX_GOAL {
                return Err(reject(
                    Some(id),
                    "malformed: the goal must be 1 to 2000 characters",
                ));
            }
            let room = short_text("room", message.room)?;
            let conversation = short_text("conversation", message.conversation)?;
            Ok(Incoming::Goal {
                id: id.into(),
                goal,
                dry_run: message.dry_run.unwrap_or(false),
                room,
                conversation,
            })
        }
        (None, Some(token)) => Ok(Incoming::Confirm {
            id: id.into(),
            token,
        }),
        _ => Err(reject(
            Some(id),
            "malformed: give either \"goal\" or \"confirm\" as a string",
        )),
    }
}

/// serde_json's message without its "at line 1 column 30" (the field is named).
fn strip_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_round_trips_through_json_in_the_run_json_shape() {
        let mut result = GoalResult::rejected("g1", None, "overloaded");
        result.confirms = Some("g0".into());
        let text = serde_json::to_string(&result).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["status"], "rejected");
        assert_eq!(v["id"], "g1");
        assert_eq!(v["timing_ms"]["total"], 0.0);
        assert!(v.get("confirm_token").is_none());
        assert_eq!(serde_json::from_str::<GoalResult>(&text).unwrap(), result);
        // Records written before results were typed had `"goal": null`.
        let old = r#"{"id":"g2","goal":null,"status":"rejected","actions":[],"answer":null,"reason":"bad signature","timing_ms":{"total":0.0,"llm":0.0}}"#;
        let old: GoalResult = serde_json::from_str(old).unwrap();
        assert_eq!(old.outcome.goal, "");
    }

    #[test]
    fn a_goal_message_round_trips_and_is_read_as_written() {
        let mut message = GoalMessage::goal("g7", "dim the hall light to 30%");
        message.room = Some("hall".into());
        message.dry_run = Some(true);
        let message = message.signed(b"key");
        let text = message.to_json();
        assert_eq!(serde_json::from_str::<GoalMessage>(&text).unwrap(), message);
        assert_eq!(
            parse(text.as_bytes(), Some(b"key")),
            Ok(Incoming::Goal {
                id: "g7".into(),
                goal: "dim the hall light to 30%".into(),
                dry_run: true,
                room: Some("hall".into()),
                conversation: None,
            })
        );
        let yes = GoalMessage::confirm("c7", "tok").signed(b"key").to_json();
        assert!(!yes.contains("goal"));
        assert_eq!(
            parse(yes.as_bytes(), Some(b"key")),
            Ok(Incoming::Confirm {
                id: "c7".into(),
                token: "tok".into()
            })
        );
    }

    #[test]
    fn a_field_of_the_wrong_type_is_named_in_the_rejection() {
        let e = parse(br#"{"id":"a5","goal":"x","dry_run":"yes"}"#, None).unwrap_err();
        assert_eq!(e.id.as_deref(), Some("a5"));
        assert!(
            e.reason.starts_with("malformed: dry_run: invalid type"),
            "{}",
            e.reason
        );
        assert!(!e.reason.contains("line 1"), "{}", e.reason);
        let e = parse(br#"{"id":"a6","goal":"x","room":""}"#, None).unwrap_err();
        assert_eq!(
            e.reason,
            "malformed: room must be a string of 1 to 64 characters"
        );
        assert_eq!(parse(br#"{"id":7,"goal":"x"}"#, None).unwrap_err().id, None);
        assert_eq!(parse(br#"[1,2]"#, None).unwrap_err().id, None);
    }

    #[test]
    fn goals_and_confirmations_are_read() {
        assert_eq!(
            parse(br#"{"id":"a1","goal":"turn on the light"}"#, None),
            Ok(Incoming::Goal {
                id: "a1".into(),
                goal: "turn on the light".into(),
                dry_run: false,
                room: None,
                conversation: None,
            })
        );
        assert_eq!(
            parse(
                br#"{"id":"a3","goal":"lights off","room":"kitchen","conversation":"c1"}"#,
                None
            ),
            Ok(Incoming::Goal {
                id: "a3".into(),
                goal: "lights off".into(),
                dry_run: false,
                room: Some("kitchen".into()),
                conversation: Some("c1".into()),
            })
        );
        assert!(parse(br#"{"id":"a4","goal":"x","room":7}"#, None).is_err());
        assert_eq!(
            parse(br#"{"id":"a2","confirm":"tok"}"#, None),
            Ok(Incoming::Confirm {
                id: "a2".into(),
                token: "tok".into()
            })
        );
    }

    #[test]
    fn malformed_messages_are_rejected_with_the_id_when_there_is_one() {
        assert_eq!(parse(b"\xff\xfe", None).unwrap_err().id, None);
        assert_eq!(parse(b"{not json", None).unwrap_err().id, None);
        assert_eq!(parse(br#"{"goal":"x"}"#, None).unwrap_err().id, None);
        assert_eq!(
            parse(br#"{"id":"bad id!","goal":"x"}"#, None)
                .unwrap_err()
                .id,
            None
        );
        assert_eq!(
            parse(br#"{"id":"ok","goal":""}"#, None)
                .unwrap_err()
                .id
                .as_deref(),
            Some("ok")
        );
        assert_eq!(
            parse(br#"{"id":"ok","goal":"x","confirm":"y"}"#, None)
                .unwrap_err()
                .id
                .as_deref(),
            Some("ok")
        );
        let big = format!(r#"{{"id":"ok","goal":"{}"}}"#, "x".repeat(1 << 20));
        assert!(
            parse(big.as_bytes(), None)
                .unwrap_err()
                .reason
                .contains("16 KiB")
        );
    }

    #[test]
    fn signatures_cover_the_id_and_the_text() {
        let key = [7u8; 32];
        let good = GoalMessage::goal("g1", "unlock the door").signed(&key);
        assert!(parse(good.to_json().as_bytes(), Some(&key)).is_ok());
        let replayed = GoalMessage {
            id: "g2".into(),
            ..good.clone()
        };
        assert_eq!(
            parse(replayed.to_json().as_bytes(), Some(&key))
                .unwrap_err()
                .reason,
            "bad signature"
        );
        let unsigned = br#"{"id":"g1","goal":"unlock the door"}"#;
        assert!(
            parse(unsigned, Some(&key))
                .unwrap_err()
                .reason
                .contains("not signed")
        );
        let confirm = GoalMessage::confirm("c1", "tok").signed(&key);
        assert!(parse(confirm.to_json().as_bytes(), Some(&key)).is_ok());
    }

    #[test]
    fn kind9_the_signature_covers_every_field_that_changes_what_happens() {
        let key = [9u8; 32];
        let mut plan_only = GoalMessage::goal("g9", "unlock the door");
        plan_only.dry_run = Some(true);
        plan_only.room = Some("hall".into());
        plan_only.conversation = Some("c".into());
        let signed = plan_only.signed(&key);
        assert!(parse(signed.to_json().as_bytes(), Some(&key)).is_ok());
        let tampered: [fn(&mut GoalMessage); 5] = [
            |m| m.dry_run = Some(false),
            |m| m.dry_run = None,
            |m| m.room = Some("garage".into()),
            |m| m.conversation = None,
            |m| m.goal = Some("unlock the door now".into()),
        ];
        for change in tampered {
            let mut m = signed.clone();
            change(&mut m);
            assert_eq!(
                parse(m.to_json().as_bytes(), Some(&key))
                    .unwrap_err()
                    .reason,
                "bad signature",
                "{m:?}"
            );
        }
        // The key order and spacing of the sent JSON do not matter: the
        // canonical form is signed.
        let sig = signed.sig.clone().unwrap();
        let reordered = format!(
            r#"{{ "sig": "{sig}", "conversation": "c", "room": "hall", "dry_run": true, "goal": "unlock the door", "id": "g9" }}"#
        );
        assert!(parse(reordered.as_bytes(), Some(&key)).is_ok());
        assert_eq!(
            canonical(&signed),
            r#"{"conversation":"c","dry_run":true,"goal":"unlock the door","id":"g9","room":"hall"}"#
        );
    }

    #[test]
    fn kind10_oversized_or_unreadable_goals_with_a_readable_id_are_rejected_on_that_id() {
        let big = format!(r#"{{"id":"big1","goal":"{}"}}"#, "x".repeat(1 << 20));
        let e = parse(big.as_bytes(), None).unwrap_err();
        assert_eq!(e.id.as_deref(), Some("big1"));
        assert!(e.reason.contains("larger than 16 KiB"), "{}", e.reason);
        let mut bad = br#"{"id":"utf1","goal":"turn on the "#.to_vec();
        bad.extend_from_slice(b"\xff\xfe lamp\n[forged]\"}");
        let e = parse(&bad, None).unwrap_err();
        assert_eq!(e.id.as_deref(), Some("utf1"));
        assert_eq!(e.reason, "malformed: not UTF-8");
        // The id after the unreadable goal text is read too.
        let mut after = br#"{"goal":"turn on the "#.to_vec();
        after.extend_from_slice(b"\xff lamp\",\"id\":\"utf2\"}");
        assert_eq!(parse(&after, None).unwrap_err().id.as_deref(), Some("utf2"));
        let big_first = format!(r#"{{"goal":"{}","id":"big2"}}"#, "x".repeat(1 << 20));
        assert_eq!(
            parse(big_first.as_bytes(), None).unwrap_err().id.as_deref(),
            Some("big2")
        );
        // No readable id: nothing to answer.
        assert_eq!(parse(b"\xff{", None).unwrap_err().id, None);
    }

    #[test]
    fn kind10_goal_text_in_logs_cannot_forge_lines() {
        let text = "lamp\n2026-01-01T00:00:00Z  INFO forged\r\u{1b}[31m\u{202e}x\u{2028}";
        let shown = loggable(text, 200);
        assert!(
            !shown.contains(['\n', '\r', '\u{1b}', '\u{202e}', '\u{2028}']),
            "{shown}"
        );
        assert!(shown.starts_with("lamp\\n2026"), "{shown}");
        assert_eq!(loggable("abc", 2), "ab…");
    }
}
