//! The market's own MQTT messages, one type each: what the supervisor, the
//! contributors, the agent, the TUI and `giot market` write and read.
//!
//! Every market message goes through these types, both ways; nothing indexes
//! a `serde_json::Value` by field name. The JSON shapes are the wire format
//! retained messages and other tools already depend on, so a field is only
//! ever added (optional), never renamed. The topics (`<id>` is the market's
//! id, `<vehicle>` a contributor's):
//!
//! | topic                                         | type               | retained |
//! |-----------------------------------------------|--------------------|----------|
//! | `giot/market/<id>/menu`                       | [`MenuAnnouncement`] | yes (empty: closed) |
//! | `giot/market/<id>/contributors/<vehicle>/choice` | [`Choice`]      | no       |
//! | `giot/market/<id>/contributors/<vehicle>/data`   | [`Delivery`]    | no       |
//! | `giot/market/<id>/settlements`                | [`Settlements`]    | no       |
//! | `giot/market/<id>/status`                     | [`Status`]         | yes      |
//! | `giot/market/<id>/proposal`                   | [`Proposal`]       | no       |
//! | `giot/sim/market/<id>/types/<vehicle>`        | [`TypeTruth`]      | yes      |
//!
//! Readers are as tolerant as the wire has always been: a choice whose item
//! is not a non-negative integer opts out, non-numeric readings are dropped,
//! and a status missing a field reads it as empty or zero.

use std::collections::HashMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::planner::model::Menu;
use crate::planner::score::Score;

/// The menu in force for a round, published retained by the supervisor on
/// `giot/market/<id>/menu` when the round opens (an empty retained payload
/// means the market is closed).
///
/// `{"round": 3, "menu": {"items": [{"q": 4.0, "r": 4.0}, ...]}}`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MenuAnnouncement {
    /// The round this menu is offered for, from 1.
    pub round: u64,
    /// One item (quality `q`, reward `r`) per contributor type.
    pub menu: Menu,
}

/// A contributor's answer to a round's menu, on
/// `giot/market/<id>/contributors/<vehicle>/choice`.
///
/// `{"round": 3, "item": 1}`, or `{"round": 3, "item": null}` to opt out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    /// The round answered; an answer to another round is ignored.
    pub round: u64,
    /// The index (from 0) of the item chosen in the round's menu; `None`
    /// (null, missing, or anything but a non-negative integer) opts out.
    #[serde(default, deserialize_with = "index_or_none")]
    pub item: Option<usize>,
}

/// A contributor's delivery for the item it chose, on
/// `giot/market/<id>/contributors/<vehicle>/data`.
///
/// `{"round": 3, "readings": [41.2, 39.8, 40.5]}`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// The round delivered for.
    pub round: u64,
    /// Measurements of the road segment's traffic speed (km/h); entries that
    /// are not numbers are dropped, a missing list is an empty delivery.
    #[serde(default, deserialize_with = "numbers")]
    pub readings: Vec<f64>,
}

/// One contributor's settlement in a round: what it chose, the quality it
/// delivered and what it was paid. Part of [`Settlements`], and of the
/// rounds `giot market run --json` reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContributorRound {
    /// The contributor's vehicle id.
    pub vehicle: String,
    /// Its private type, when the simulation's ground truth is known (in
    /// process, or published by `giot sim`); otherwise the type its choice
    /// reveals.
    #[serde(rename = "type")]
    pub ty: Option<usize>,
    /// The item it chose (index from 0), `None` when it opted out or was
    /// silent.
    pub item: Option<usize>,
    /// The quality measured from its readings against the ground truth
    /// (`None` without a choice).
    pub measured_quality: Option<f64>,
    /// The reward paid: the item's `r`, or 0 when flagged or not taking part.
    pub paid: f64,
    /// Whether its delivery fell short of the contracted quality.
    pub flagged: bool,
    /// Its utility this round: paid minus the cost of what it delivered.
    pub utility: f64,
}

/// A round's settlements, published (not retained) by the supervisor on
/// `giot/market/<id>/settlements` once the round is settled.
///
/// `{"round": 3, "settlements": [{"vehicle": "taxi_01", "type": 0, "item": 0,
/// "measured_quality": 1.2, "paid": 0.0, "flagged": true, "utility": -1.2}]}`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settlements {
    /// The round settled.
    pub round: u64,
    /// One per vehicle of the fleet, in the registry's order.
    pub settlements: Vec<ContributorRound>,
}

/// An operator's proposed menu, on `giot/market/<id>/proposal` (the agent's
/// `publish_menu`, confirmed by a person). The supervisor adopts a well-formed
/// one from its next round.
///
/// `{"menu": {"items": [{"q": 4.0, "r": 4.0}, ...]}}`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    /// The menu proposed: one item per contributor type.
    pub menu: Menu,
}

/// The simulation's ground truth of a contributor's private type, published
/// retained by each simulated contributor on
/// `giot/sim/market/<id>/types/<vehicle>`; for reports and tests, never used
/// to pay anybody.
///
/// `{"type": 2}`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeTruth {
    /// The type's index (from 0) in the market's θ.
    #[serde(rename = "type")]
    pub ty: usize,
}

/// The market at a glance, published retained by the supervisor on
/// `giot/market/<id>/status` after every round and every proposal: the last
/// round's summary, the menu in force, the rounds before, and the last
/// proposal's fate.
///
/// The last round's fields are absent (`None`) until a round is settled;
/// every field reads as absent when missing.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Status {
    /// The last settled round (0 before the first).
    pub round: u64,
    /// The last round's share of vehicles that chose an item (0 to 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub participation: Option<f64>,
    /// The last round's server utility: value of the data minus payments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_utility: Option<f64>,
    /// The last round's total rewards paid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payments: Option<f64>,
    /// Vehicles flagged for short delivery in the last round.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flagged: Option<Vec<String>>,
    /// Vehicles that sent no choice in the last round.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub silent: Option<Vec<String>>,
    /// Vehicles that answered and opted out in the last round.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opted_out: Option<Vec<String>>,
    /// How many vehicles chose each item of the menu in the last round.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub choices: Option<Vec<usize>>,
    /// What each item's takers delivered in the last round.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered: Option<Vec<Delivered>>,
    /// Mean utility of the contributors of each type (type index as key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contributor_utility: Option<HashMap<usize, f64>>,
    /// The menu in force, or adopted for the next round.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub menu: Option<Menu>,
    /// The round `menu` is (or will be) in force from.
    pub menu_from_round: u64,
    /// The last [`super::supervisor::HISTORY`] rounds, oldest first.
    pub history: Vec<HistoryEntry>,
    /// The menu before the last adopted one, once a menu has been adopted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_menu: Option<Menu>,
    /// What became of the last proposal, once there has been one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proposal: Option<ProposalOutcome>,
}

/// What one item's takers delivered in a round, in [`Status::delivered`].
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Delivered {
    /// The item's contracted quality `q`.
    pub contracted: f64,
    /// The mean measured quality of its takers, `None` when nobody took it.
    pub measured: Option<f64>,
    /// How many took it and delivered.
    pub n: usize,
}

/// One settled round in [`Status::history`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct HistoryEntry {
    pub round: u64,
    /// Share of vehicles that chose an item (0 to 1).
    pub participation: f64,
    pub server_utility: f64,
    pub payments: f64,
    /// Vehicles that sent no choice.
    pub silent: Vec<String>,
    /// Vehicles that answered and opted out.
    pub opted_out: Vec<String>,
    /// Vehicles flagged for short delivery.
    pub flagged: Vec<String>,
    /// Whether a newly adopted menu took effect this round.
    pub menu_changed: bool,
}

/// The fate of the last proposal, in [`Status::proposal`]:
/// `{"decision": "adopted", "from_round": 5, "menu": {...}, "audit": {...}}`
/// or `{"decision": "rejected", "reason": "..."}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "lowercase")]
pub enum ProposalOutcome {
    /// Adopted from round `from_round`, whatever its audit said (the
    /// operator confirmed it having seen the audit).
    Adopted {
        from_round: u64,
        menu: Menu,
        audit: ProposalAudit,
    },
    /// Not a menu, or one that does not fit the market; `reason` says why.
    Rejected { reason: String },
}

impl ProposalOutcome {
    /// `"adopted"` or `"rejected"`, as on the wire.
    pub fn decision(&self) -> &'static str {
        match self {
            Self::Adopted { .. } => "adopted",
            Self::Rejected { .. } => "rejected",
        }
    }

    /// Why it was rejected, if it was.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Adopted { .. } => None,
            Self::Rejected { reason } => Some(reason),
        }
    }
}

/// An adopted menu's audit against the optimum (see [`Score`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProposalAudit {
    /// Expected utility as a share of the optimum's.
    pub ratio: Option<f64>,
    /// Types the menu leaves worse off than opting out.
    pub ir_violations: Vec<usize>,
    /// Pairs (i, j): type i prefers item j to its own.
    pub ic_violations: Vec<(usize, usize)>,
    /// The item each type picks, `None` when it opts out.
    pub choices: Vec<Option<usize>>,
}

impl From<&Score> for ProposalAudit {
    fn from(a: &Score) -> Self {
        Self {
            ratio: a.ratio,
            ir_violations: a.ir_violations.clone(),
            ic_violations: a.ic_violations.clone(),
            choices: a.choices.clone(),
        }
    }
}

/// A message's JSON payload.
pub fn encode<T: Serialize>(message: &T) -> String {
    serde_json::to_string(message).expect("market messages serialize")
}

/// An item index as the wire has always read it: anything but a non-negative
/// integer is none.
fn index_or_none<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    Ok(Value::deserialize(d)?.as_u64().map(|i| i as usize))
}

/// Readings as the wire has always read them: the numbers of a list.
fn numbers<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Array(a) => a.iter().filter_map(Value::as_f64).collect(),
        _ => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::model::Item;
    use serde::de::DeserializeOwned;

    fn menu() -> Menu {
        Menu {
            items: vec![
                Item { q: 4.0, r: 4.0 },
                Item { q: 14.25, r: 9.5 },
                Item { q: 29.0, r: 14.0 },
            ],
        }
    }

    /// struct → JSON → struct gives the struct back.
    fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(m: &T) {
        let text = encode(m);
        let back: T = serde_json::from_str(&text).unwrap();
        assert_eq!(&back, m, "{text}");
    }

    fn parse<T: DeserializeOwned>(text: &str) -> T {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn a_menu_announcement_round_trips_and_reads_todays_wire_format() {
        let m = MenuAnnouncement {
            round: 3,
            menu: menu(),
        };
        round_trip(&m);
        let wire = r#"{"round":3,"menu":{"items":[{"q":4.0,"r":4.0},{"q":14.25,"r":9.5},{"q":29.0,"r":14.0}]}}"#;
        assert_eq!(parse::<MenuAnnouncement>(wire), m);
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            serde_json::from_str::<Value>(wire).unwrap()
        );
        assert!(
            serde_json::from_str::<MenuAnnouncement>("").is_err(),
            "closed"
        );
        assert!(serde_json::from_str::<MenuAnnouncement>(r#"{"round":3}"#).is_err());
    }

    #[test]
    fn a_choice_round_trips_and_anything_but_an_index_opts_out() {
        round_trip(&Choice {
            round: 2,
            item: Some(1),
        });
        round_trip(&Choice {
            round: 2,
            item: None,
        });
        assert_eq!(
            parse::<Choice>(r#"{"round":2,"item":1}"#),
            Choice {
                round: 2,
                item: Some(1)
            }
        );
        for opted_out in [
            r#"{"round":2,"item":null}"#,
            r#"{"round":2}"#,
            r#"{"round":2,"item":-1}"#,
            r#"{"round":2,"item":"one"}"#,
            r#"{"round":2,"item":1.5}"#,
        ] {
            assert_eq!(parse::<Choice>(opted_out).item, None, "{opted_out}");
        }
        for skipped in [r#"{"item":1}"#, r#"{"round":"2","item":1}"#, "[]", "7"] {
            assert!(
                serde_json::from_str::<Choice>(skipped).is_err(),
                "{skipped}"
            );
        }
    }

    #[test]
    fn a_delivery_round_trips_and_keeps_only_the_numbers() {
        let d = Delivery {
            round: 4,
            readings: vec![41.25, 39.5, 40.0],
        };
        round_trip(&d);
        assert_eq!(
            parse::<Delivery>(r#"{"round":4,"readings":[41.25,39.5,40.0]}"#),
            d
        );
        assert_eq!(
            parse::<Delivery>(r#"{"round":4,"readings":[41.25,"x",null,39.5]}"#).readings,
            [41.25, 39.5]
        );
        assert!(parse::<Delivery>(r#"{"round":4}"#).readings.is_empty());
        assert!(
            parse::<Delivery>(r#"{"round":4,"readings":"fast"}"#)
                .readings
                .is_empty()
        );
        assert!(serde_json::from_str::<Delivery>(r#"{"readings":[1.0]}"#).is_err());
    }

    #[test]
    fn settlements_round_trip_and_read_todays_wire_format() {
        let s = Settlements {
            round: 3,
            settlements: vec![
                ContributorRound {
                    vehicle: "taxi_01".into(),
                    ty: Some(0),
                    item: Some(0),
                    measured_quality: Some(1.25),
                    paid: 0.0,
                    flagged: true,
                    utility: -1.25,
                },
                ContributorRound {
                    vehicle: "bus_01".into(),
                    ty: None,
                    item: None,
                    measured_quality: None,
                    paid: 0.0,
                    flagged: false,
                    utility: 0.0,
                },
            ],
        };
        round_trip(&s);
        let wire = r#"{"round":3,"settlements":[
            {"vehicle":"taxi_01","type":0,"item":0,"measured_quality":1.25,"paid":0.0,"flagged":true,"utility":-1.25},
            {"vehicle":"bus_01","type":null,"item":null,"measured_quality":null,"paid":0.0,"flagged":false,"utility":0.0}]}"#;
        assert_eq!(parse::<Settlements>(wire), s);
    }

    #[test]
    fn a_proposal_and_a_type_truth_round_trip_and_read_todays_wire_format() {
        let p = Proposal { menu: menu() };
        round_trip(&p);
        let wire =
            r#"{"menu":{"items":[{"q":4.0,"r":4.0},{"q":14.25,"r":9.5},{"q":29.0,"r":14.0}]}}"#;
        assert_eq!(parse::<Proposal>(wire), p);
        assert_eq!(encode(&p), wire);
        assert!(serde_json::from_str::<Proposal>(r#"{"menu":{"items":"x"}}"#).is_err());
        assert!(serde_json::from_str::<Proposal>(r#"{"budget":3}"#).is_err());

        round_trip(&TypeTruth { ty: 2 });
        assert_eq!(parse::<TypeTruth>(r#"{"type":2}"#), TypeTruth { ty: 2 });
        assert!(serde_json::from_str::<TypeTruth>(r#"{"type":"fast"}"#).is_err());
    }

    fn status() -> Status {
        Status {
            round: 5,
            participation: Some(0.5),
            server_utility: Some(12.5),
            payments: Some(30.0),
            flagged: Some(vec!["taxi_01".into()]),
            silent: Some(vec!["car_01".into()]),
            opted_out: Some(vec![]),
            choices: Some(vec![1, 2, 0]),
            delivered: Some(vec![
                Delivered {
                    contracted: 4.0,
                    measured: Some(3.91),
                    n: 1,
                },
                Delivered {
                    contracted: 29.0,
                    measured: None,
                    n: 0,
                },
            ]),
            contributor_utility: Some(HashMap::from([(0, 0.0), (2, 1.5)])),
            menu: Some(menu()),
            menu_from_round: 5,
            history: vec![
                HistoryEntry {
                    round: 4,
                    participation: 1.0,
                    server_utility: 14.0,
                    payments: 28.0,
                    silent: vec![],
                    opted_out: vec![],
                    flagged: vec!["taxi_01".into()],
                    menu_changed: false,
                },
                HistoryEntry {
                    round: 5,
                    participation: 0.5,
                    server_utility: 12.5,
                    payments: 30.0,
                    silent: vec!["car_01".into()],
                    opted_out: vec![],
                    flagged: vec!["taxi_01".into()],
                    menu_changed: true,
                },
            ],
            previous_menu: Some(Menu {
                items: vec![Item { q: 1.0, r: 2.0 }],
            }),
            proposal: Some(ProposalOutcome::Adopted {
                from_round: 5,
                menu: menu(),
                audit: ProposalAudit {
                    ratio: Some(0.97),
                    ir_violations: vec![0],
                    ic_violations: vec![(1, 2)],
                    choices: vec![None, Some(1), Some(2)],
                },
            }),
        }
    }

    #[test]
    fn a_status_round_trips_and_reads_todays_wire_format() {
        let s = status();
        round_trip(&s);
        let wire = r#"{"round":5,"participation":0.5,"server_utility":12.5,"payments":30.0,
            "flagged":["taxi_01"],"silent":["car_01"],"opted_out":[],"choices":[1,2,0],
            "delivered":[{"contracted":4.0,"measured":3.91,"n":1},{"contracted":29.0,"measured":null,"n":0}],
            "contributor_utility":{"0":0.0,"2":1.5},
            "menu":{"items":[{"q":4.0,"r":4.0},{"q":14.25,"r":9.5},{"q":29.0,"r":14.0}]},
            "menu_from_round":5,
            "history":[
              {"round":4,"participation":1.0,"server_utility":14.0,"payments":28.0,"silent":[],"opted_out":[],"flagged":["taxi_01"],"menu_changed":false},
              {"round":5,"participation":0.5,"server_utility":12.5,"payments":30.0,"silent":["car_01"],"opted_out":[],"flagged":["taxi_01"],"menu_changed":true}],
            "previous_menu":{"items":[{"q":1.0,"r":2.0}]},
            "proposal":{"decision":"adopted","from_round":5,
              "menu":{"items":[{"q":4.0,"r":4.0},{"q":14.25,"r":9.5},{"q":29.0,"r":14.0}]},
              "audit":{"ratio":0.97,"ir_violations":[0],"ic_violations":[[1,2]],"choices":[null,1,2]}}}"#;
        assert_eq!(parse::<Status>(wire), s);
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            serde_json::from_str::<Value>(wire).unwrap()
        );
    }

    #[test]
    fn a_status_before_the_first_round_has_no_summary_and_a_rejection_its_reason() {
        let s = Status {
            menu: Some(menu()),
            menu_from_round: 1,
            proposal: Some(ProposalOutcome::Rejected {
                reason: "not a menu: missing field `menu`".into(),
            }),
            ..Status::default()
        };
        round_trip(&s);
        let wire = r#"{"round":0,"menu":{"items":[{"q":4.0,"r":4.0},{"q":14.25,"r":9.5},{"q":29.0,"r":14.0}]},
            "menu_from_round":1,"history":[],
            "proposal":{"decision":"rejected","reason":"not a menu: missing field `menu`"}}"#;
        assert_eq!(parse::<Status>(wire), s);
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            serde_json::from_str::<Value>(wire).unwrap()
        );
        let p = s.proposal.unwrap();
        assert_eq!(
            (p.decision(), p.reason()),
            ("rejected", Some("not a menu: missing field `menu`"))
        );
    }

    #[test]
    fn a_partial_status_reads_its_missing_fields_as_absent() {
        let s: Status = parse(
            r#"{"round":7,"participation":0.5,"delivered":[{"measured":3.91}],
                "history":[{"server_utility":70.0}]}"#,
        );
        assert_eq!((s.round, s.participation, s.payments), (7, Some(0.5), None));
        assert_eq!(s.delivered.unwrap()[0].measured, Some(3.91));
        assert_eq!(s.history[0].server_utility, 70.0);
        assert!(s.menu.is_none() && s.proposal.is_none());
        assert_eq!(parse::<Status>("{}"), Status::default());
        assert!(serde_json::from_str::<Status>(r#"{"proposal":{"decision":"maybe"}}"#).is_err());
    }
}
