//! Schedules: goals kept to run later ("turn off the hall light in 10
//! minutes", "every day at 7:00 open the blinds"). The session holds them
//! and starts each one's goal when a [`super::Input::Clock`] reaches its
//! time; the face keeps them on disk ([`super::Effect::SaveSchedules`],
//! [`super::schedule_file`]) so that they survive a restart.

use jiff::tz::TimeZone;
use jiff::{Timestamp, ZonedDateTime};
use serde::{Deserialize, Serialize};

use super::when::Timing;
use crate::types::ScheduleInfo;

/// A goal kept to run later.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// Unique within the store: `s` and the creation time in milliseconds,
    /// base 36, and a counter.
    pub id: String,
    /// The goal to run, without its time phrase.
    pub goal: String,
    /// The goal as it was said.
    pub said: String,
    pub timing: Timing,
    /// When it runs next.
    pub next: Timestamp,
    /// The operator's time zone when it was made (IANA name).
    pub time_zone: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    pub created: Timestamp,
}

impl Schedule {
    /// The zone its times are read in (UTC when the name is unknown here).
    pub fn zone(&self) -> TimeZone {
        TimeZone::get(&self.time_zone).unwrap_or(TimeZone::UTC)
    }

    /// Its next run in its zone.
    pub fn next_local(&self) -> ZonedDateTime {
        self.next.to_zoned_datetime(self.zone())
    }

    /// As outcomes show it; `ran` when a one-off schedule has just run.
    pub fn info(&self, ran: bool) -> ScheduleInfo {
        let once = matches!(self.timing, Timing::Once(_));
        ScheduleInfo {
            id: self.id.clone(),
            goal: self.goal.clone(),
            next: (!(ran && once)).then(|| {
                self.next_local()
                    .strftime("%Y-%m-%dT%H:%M:%S%:z")
                    .to_string()
            }),
            time_zone: self.time_zone.clone(),
            repeats: self.timing.describe(),
        }
    }

    /// The schedule after its run at `now`: the next run of a recurring
    /// one (a run missed while giot was down runs once, not once per miss),
    /// `None` for a one-off.
    pub fn after_run(&self, now: &ZonedDateTime) -> Option<Schedule> {
        match self.timing {
            Timing::Once(_) => None,
            Timing::Every { .. } => {
                let now = now.timestamp().to_zoned_datetime(self.zone());
                let next = self.timing.next_after(&now)?;
                Some(Schedule {
                    next,
                    ..self.clone()
                })
            }
        }
    }
}

/// "in 5 min", "late by 2 h 3 min": a duration as a person reads it.
pub fn human_duration(seconds: i64) -> String {
    let s = seconds.abs();
    if s < 60 {
        format!("{s} s")
    } else if s < 3600 {
        format!("{} min", s / 60)
    } else {
        format!("{} h {} min", s / 3600, s % 3600 / 60)
    }
}
