//! Schedules and standing rules shared by the instances of a group
//! (`--share` with a PostgreSQL store).
//!
//! Every instance keeps its schedules and rules in its own files, as one
//! bridge does, and its session holds them all; a mirror keeps each file
//! in step with the shared store (`giot_kept`, one row per schedule or
//! rule, and a version per list):
//!
//! - what changed in the file since the last sync (the session made a
//!   schedule, ran one, moved a rule's phase; `giot schedules cancel`
//!   removed one) is applied to the store row by row: new ones inserted,
//!   changed ones updated (never brought back once another instance
//!   removed them), removed ones deleted;
//! - what changed in the store since (another instance's changes) is
//!   written back to the file and handed to the session.
//!
//! One instance runs them: the keeper, which holds a PostgreSQL advisory
//! lock on its own connection. The others' sessions keep copies and run
//! nothing ([`crate::session::Session::set_fires`]). When the keeper dies
//! its connection closes, the lock is released, and the next instance to
//! try takes it, syncs, and runs what is due (late, once).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tokio_postgres::Client;

use super::store::postgres::{connect, pg};
use super::store::{StoreError, err};
use crate::session::schedule_file;

/// One list kept in a file and in the store.
struct Mirror {
    /// "schedules" or "rules": the `kind` column.
    kind: &'static str,
    path: PathBuf,
    /// The file's list as the session last had it: what the session
    /// changed since is the difference to the file now.
    last: BTreeMap<String, String>,
    /// The store's version of the list when it was last read.
    version: i64,
}

/// A list of the store's that differs from the file: already written to
/// the file, to hand to the session if it still holds `over`.
#[derive(Debug)]
pub struct Stored {
    pub list: Vec<Value>,
    pub over: BTreeMap<String, String>,
}

/// What a sync found, for the session.
#[derive(Debug, Default)]
pub struct Changes {
    pub schedules: Option<Stored>,
    pub rules: Option<Stored>,
}

/// The mirrors of one instance, and its claim to be the keeper.
pub struct Keeper {
    url: String,
    agent: String,
    /// A connection of its own: the advisory lock lives as long as it does.
    client: Option<Client>,
    keeper: bool,
    schedules: Mirror,
    rules: Mirror,
}

/// The longest one sync round may take before this instance stops running
/// the schedules and rules and connects again.
const ROUND_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

/// A list by id, each record as compact JSON (serde_json's maps are
/// sorted, so one record always reads the same).
pub fn by_id(list: &[Value]) -> BTreeMap<String, String> {
    list.iter()
        .filter_map(|v| {
            let id = v.get("id")?.as_str()?.to_string();
            Some((id, v.to_string()))
        })
        .collect()
}

fn load(path: &Path) -> Result<Vec<Value>, StoreError> {
    schedule_file::load::<Value>(path).map_err(err)
}

impl Mirror {
    fn new(kind: &'static str, path: PathBuf) -> Self {
        Self {
            kind,
            path,
            last: BTreeMap::new(),
            version: -1,
        }
    }

    /// Applies what the session changed (`last` → `now`) in one
    /// transaction: new records inserted, changed ones updated (one removed
    /// meanwhile by another instance stays removed), removed ones deleted.
    /// Returns the list's new version and rows.
    async fn write(
        &self,
        client: &mut Client,
        agent: &str,
        now: &BTreeMap<String, String>,
    ) -> Result<(i64, BTreeMap<String, String>), StoreError> {
        let tx = client.transaction().await.map_err(pg)?;
        // The row lock on the version serializes the writers of the list:
        // the rows read at the end are this version's.
        let version: i64 = tx
            .query_one(
                "INSERT INTO giot_kept_versions (agent, kind, version) VALUES ($1, $2, 1)
                 ON CONFLICT (agent, kind)
                     DO UPDATE SET version = giot_kept_versions.version + 1
                 RETURNING version",
                &[&agent, &self.kind],
            )
            .await
            .map_err(pg)?
            .get(0);
        for (id, record) in now {
            match self.last.get(id) {
                None => {
                    tx.execute(
                        "INSERT INTO giot_kept (agent, kind, id, record) VALUES ($1, $2, $3, $4)
                         ON CONFLICT (agent, kind, id) DO UPDATE SET record = EXCLUDED.record",
                        &[&agent, &self.kind, &id.as_str(), &record.as_str()],
                    )
                    .await
                    .map_err(pg)?;
                }
                Some(old) if old != record => {
                    tx.execute(
                        "UPDATE giot_kept SET record = $4
                         WHERE agent = $1 AND kind = $2 AND id = $3",
                        &[&agent, &self.kind, &id.as_str(), &record.as_str()],
                    )
                    .await
                    .map_err(pg)?;
                }
                Some(_) => {}
            }
        }
        for id in self.last.keys().filter(|id| !now.contains_key(*id)) {
            tx.execute(
                "DELETE FROM giot_kept WHERE agent = $1 AND kind = $2 AND id = $3",
                &[&agent, &self.kind, &id.as_str()],
            )
            .await
            .map_err(pg)?;
        }
        let rows = read_rows(&tx, agent, self.kind).await?;
        tx.commit().await.map_err(pg)?;
        Ok((version, rows))
    }

    /// One round: the session's changes to the store, the store's to the
    /// file. Returns the store's list when it was written to the file.
    async fn sync(
        &mut self,
        client: &mut Client,
        agent: &str,
    ) -> Result<Option<Stored>, StoreError> {
        let now = by_id(&load(&self.path)?);
        let (version, stored) = if self.version < 0 {
            // The first round: the store's list is the truth, except for a
            // store that never held one, which the file seeds.
            let (version, stored) = read(client, agent, self.kind).await?;
            if version == 0 && !now.is_empty() {
                self.write(client, agent, &now).await?
            } else {
                (version, stored)
            }
        } else if now != self.last {
            self.write(client, agent, &now).await?
        } else {
            let version = read_version(client, agent, self.kind).await?;
            if version == self.version {
                return Ok(None);
            }
            read(client, agent, self.kind).await?
        };
        self.version = version;
        self.last = now.clone();
        if stored == now {
            return Ok(None);
        }
        let list: Vec<Value> = stored
            .values()
            .filter_map(|r| serde_json::from_str(r).ok())
            .collect();
        // Only over the list just read: a change the session wrote since
        // goes to the store in the next round, not lost.
        let written = schedule_file::edit(&self.path, |all: &mut Vec<Value>| {
            if by_id(all) == now {
                *all = list.clone();
                true
            } else {
                false
            }
        })
        .map_err(err)?;
        Ok(written.then_some(Stored { list, over: now }))
    }

    /// The session took the store's list: its changes are now measured
    /// from there.
    fn taken(&mut self, list: &[Value]) {
        self.last = by_id(list);
    }
}

async fn read_version(client: &Client, agent: &str, kind: &str) -> Result<i64, StoreError> {
    Ok(client
        .query_opt(
            "SELECT version FROM giot_kept_versions WHERE agent = $1 AND kind = $2",
            &[&agent, &kind],
        )
        .await
        .map_err(pg)?
        .map_or(0, |r| r.get(0)))
}

async fn read_rows(
    client: &impl tokio_postgres::GenericClient,
    agent: &str,
    kind: &str,
) -> Result<BTreeMap<String, String>, StoreError> {
    let rows = client
        .query(
            "SELECT id, record FROM giot_kept WHERE agent = $1 AND kind = $2",
            &[&agent, &kind],
        )
        .await
        .map_err(pg)?;
    Ok(rows
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)))
        .collect())
}

/// The version and the rows (the version may be older than the rows when
/// a writer commits in between; the next round reads again).
async fn read(
    client: &Client,
    agent: &str,
    kind: &str,
) -> Result<(i64, BTreeMap<String, String>), StoreError> {
    let version = read_version(client, agent, kind).await?;
    Ok((version, read_rows(client, agent, kind).await?))
}

impl Keeper {
    pub fn new(url: &str, agent: &str, schedules: PathBuf, rules: PathBuf) -> Self {
        Self {
            url: url.to_string(),
            agent: agent.to_string(),
            client: None,
            keeper: false,
            schedules: Mirror::new("schedules", schedules),
            rules: Mirror::new("rules", rules),
        }
    }

    /// Whether this instance runs the schedules and rules.
    pub fn is_keeper(&self) -> bool {
        self.keeper
    }

    /// Syncs both lists, then tries to become the keeper if it is not.
    /// On a connection error this instance is no longer the keeper (its
    /// lock went with the connection).
    pub async fn sync(&mut self) -> Result<Changes, StoreError> {
        let round = tokio::time::timeout(ROUND_LIMIT, self.round())
            .await
            .unwrap_or_else(|_| {
                // A connection that hangs is given up: with it the lock.
                self.client = None;
                Err(StoreError::Backend(format!(
                    "no answer from PostgreSQL within {ROUND_LIMIT:?}"
                )))
            });
        match round {
            Ok(changes) => Ok(changes),
            Err(e) => {
                if self.client.as_ref().is_none_or(Client::is_closed) {
                    self.client = None;
                    if self.keeper {
                        tracing::warn!(
                            "this instance no longer runs the schedules and rules: its \
                             connection to PostgreSQL (and with it the keeper's lock) is gone"
                        );
                    }
                    self.keeper = false;
                }
                Err(e)
            }
        }
    }

    async fn round(&mut self) -> Result<Changes, StoreError> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.keeper = false;
            self.client = Some(connect(&self.url).await?);
        }
        let client = self.client.as_mut().expect("connected");
        let changes = Changes {
            schedules: self.schedules.sync(client, &self.agent).await?,
            rules: self.rules.sync(client, &self.agent).await?,
        };
        if !self.keeper {
            self.keeper = client
                .query_one(
                    "SELECT pg_try_advisory_lock(hashtext('giot-keeper'), hashtext($1))",
                    &[&self.agent],
                )
                .await
                .map_err(pg)?
                .get(0);
            if self.keeper {
                tracing::info!("this instance now runs the agent's schedules and rules");
            }
        }
        Ok(changes)
    }

    /// The session took the store's schedules (see [`Stored`]).
    pub fn took_schedules(&mut self, list: &[Value]) {
        self.schedules.taken(list);
    }

    /// The session took the store's rules.
    pub fn took_rules(&mut self, list: &[Value]) {
        self.rules.taken(list);
    }
}
