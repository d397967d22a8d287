//! The embedded store: one process, one redb file (the default).

use std::path::Path;

use super::{Record, Stage, StoreError, Token, err, now_ms};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

const GOALS: TableDefinition<&str, &[u8]> = TableDefinition::new("goals");
const TOKENS: TableDefinition<&str, &[u8]> = TableDefinition::new("tokens");
/// Conversation id → (milliseconds since the epoch when last written,
/// the conversation as JSON).
const CONVERSATIONS: TableDefinition<&str, (u64, &[u8])> = TableDefinition::new("conversations");

/// A redb database held by one bridge process (redb locks the file).
pub struct Embedded {
    db: Database,
    /// Records waiting to be committed together (see [`Store::put`]).
    group: std::sync::Mutex<Group>,
    /// Held by the thread that commits a group.
    leader: std::sync::Mutex<()>,
}

/// Group commit: every `put` takes a ticket and queues its record; one
/// thread at a time commits everything queued in one transaction, so goals
/// finishing together share one fsync.
#[derive(Default)]
struct Group {
    queue: Vec<(u64, String, Vec<u8>)>,
    next: u64,
    /// Every ticket up to this one is committed (or failed).
    done: u64,
    /// Tickets whose group failed, with the error.
    failed: std::collections::HashMap<u64, StoreError>,
}

impl Embedded {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let db = Database::create(path)
            .map_err(|e| StoreError::Backend(format!("{}: {e}", path.display())))?;
        let tx = db.begin_write().map_err(err)?;
        tx.open_table(GOALS).map_err(err)?;
        tx.open_table(TOKENS).map_err(err)?;
        tx.open_table(CONVERSATIONS).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(Self {
            db,
            group: Default::default(),
            leader: Default::default(),
        })
    }

    fn put_json<T: Serialize>(
        &self,
        table: TableDefinition<&str, &[u8]>,
        key: &str,
        value: &T,
    ) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(value).map_err(err)?;
        let tx = self.db.begin_write().map_err(err)?;
        tx.open_table(table)
            .map_err(err)?
            .insert(key, bytes.as_slice())
            .map_err(err)?;
        tx.commit().map_err(err)
    }

    fn get_json<T: for<'de> Deserialize<'de>>(
        &self,
        table: TableDefinition<&str, &[u8]>,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        let tx = self.db.begin_read().map_err(err)?;
        let t = tx.open_table(table).map_err(err)?;
        match t.get(key).map_err(err)? {
            Some(v) => Ok(Some(serde_json::from_slice(v.value()).map_err(err)?)),
            None => Ok(None),
        }
    }

    pub fn get(&self, id: &str) -> Result<Option<Record>, StoreError> {
        self.get_json(GOALS, id)
    }

    /// Records a goal's new stage; durable when this returns. Records put
    /// at the same time from several threads are committed in one
    /// transaction (in the order they were put).
    pub fn put(&self, id: &str, record: &Record) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(record).map_err(err)?;
        let ticket = {
            let mut g = self.group.lock().expect("store group");
            g.next += 1;
            let ticket = g.next;
            g.queue.push((ticket, id.to_string(), bytes));
            ticket
        };
        let _leader = self.leader.lock().expect("store leader");
        let batch = {
            let mut g = self.group.lock().expect("store group");
            if g.done >= ticket {
                // A thread before us committed our record with its own.
                return g.failed.remove(&ticket).map_or(Ok(()), Err);
            }
            std::mem::take(&mut g.queue)
        };
        let last = batch.last().map_or(ticket, |b| b.0);
        let written = self.write_group(&batch);
        let mut g = self.group.lock().expect("store group");
        g.done = last;
        if let Err(e) = &written {
            for (t, ..) in batch.iter().filter(|b| b.0 != ticket) {
                g.failed.insert(*t, e.clone());
            }
        }
        written
    }

    fn write_group(&self, batch: &[(u64, String, Vec<u8>)]) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(err)?;
        {
            let mut t = tx.open_table(GOALS).map_err(err)?;
            for (_, id, bytes) in batch {
                t.insert(id.as_str(), bytes.as_slice()).map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    /// Records several goals in one transaction (one fsync); durable when
    /// this returns, all of them or none.
    pub fn put_many(&self, records: &[(String, Record)]) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(err)?;
        {
            let mut t = tx.open_table(GOALS).map_err(err)?;
            for (id, record) in records {
                let bytes = serde_json::to_vec(record).map_err(err)?;
                t.insert(id.as_str(), bytes.as_slice()).map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    pub fn put_token(&self, token: &str, value: &Token) -> Result<(), StoreError> {
        self.put_json(TOKENS, token, value)
    }

    /// Spends a confirmation token in one write transaction, so that two
    /// confirmations handled at once cannot both spend it. `Ok(Err(why))`
    /// when the token is unknown, used or expired at `now_ms`.
    pub fn spend_token(
        &self,
        token: &str,
        now_ms: u64,
    ) -> Result<Result<Token, &'static str>, StoreError> {
        let tx = self.db.begin_write().map_err(err)?;
        let spent = {
            let mut t = tx.open_table(TOKENS).map_err(err)?;
            let found: Option<Token> = match t.get(token).map_err(err)? {
                Some(v) => Some(serde_json::from_slice(v.value()).map_err(err)?),
                None => None,
            };
            match found {
                None => Err("unknown confirmation token"),
                Some(t) if t.used => Err("duplicate confirmation: the token was already used"),
                Some(t) if t.expires_ms < now_ms => Err("the confirmation token has expired"),
                Some(mut found) => {
                    found.used = true;
                    let bytes = serde_json::to_vec(&found).map_err(err)?;
                    t.insert(token, bytes.as_slice()).map_err(err)?;
                    Ok(found)
                }
            }
        };
        tx.commit().map_err(err)?;
        Ok(spent)
    }

    pub fn conversation(&self, id: &str) -> Result<Option<String>, StoreError> {
        let tx = self.db.begin_read().map_err(err)?;
        let t = tx.open_table(CONVERSATIONS).map_err(err)?;
        let found = t.get(id).map_err(err)?;
        Ok(found.map(|v| String::from_utf8_lossy(v.value().1).into_owned()))
    }

    pub fn put_conversation(&self, id: &str, record: &str) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(err)?;
        tx.open_table(CONVERSATIONS)
            .map_err(err)?
            .insert(id, (now_ms(), record.as_bytes()))
            .map_err(err)?;
        tx.commit().map_err(err)
    }

    /// Every goal, for recovery and statistics.
    pub fn all(&self) -> Result<Vec<(String, Record)>, StoreError> {
        let tx = self.db.begin_read().map_err(err)?;
        let t = tx.open_table(GOALS).map_err(err)?;
        let mut out = Vec::new();
        for row in t.iter().map_err(err)? {
            let (k, v) = row.map_err(err)?;
            let record: Record = serde_json::from_slice(v.value()).map_err(err)?;
            out.push((k.value().to_string(), record));
        }
        out.sort_by_key(|(_, r)| r.received_ms);
        Ok(out)
    }

    /// Forgets finished goals and spent tokens older than `max_age_ms`.
    pub fn prune(&self, max_age_ms: u64) -> Result<usize, StoreError> {
        let cutoff = now_ms().saturating_sub(max_age_ms);
        let old: Vec<String> = self
            .all()?
            .into_iter()
            .filter(|(_, r)| r.stage == Stage::Done && r.received_ms < cutoff)
            .map(|(k, _)| k)
            .collect();
        let tx = self.db.begin_write().map_err(err)?;
        {
            let mut t = tx.open_table(GOALS).map_err(err)?;
            for k in &old {
                t.remove(k.as_str()).map_err(err)?;
            }
            let mut tokens = tx.open_table(TOKENS).map_err(err)?;
            tokens
                .retain(|_, v| {
                    serde_json::from_slice::<Token>(v).is_ok_and(|t| t.expires_ms >= cutoff)
                })
                .map_err(err)?;
            let mut conversations = tx.open_table(CONVERSATIONS).map_err(err)?;
            conversations
                .retain(|_, (written, _)| written >= cutoff)
                .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(old.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(stage: Stage) -> Record {
        Record::new("turn on the light", stage)
    }

    #[test]
    fn records_survive_reopening_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bridge.redb");
        {
            let store = Embedded::open(&path).unwrap();
            store.put("g1", &record(Stage::Executing)).unwrap();
        }
        let store = Embedded::open(&path).unwrap();
        assert_eq!(store.get("g1").unwrap().unwrap().stage, Stage::Executing);
        assert!(store.get("g2").unwrap().is_none());
        assert_eq!(store.all().unwrap().len(), 1);
        store
            .put_many(&[
                ("g2".into(), record(Stage::Accepted)),
                ("g3".into(), record(Stage::Accepted)),
            ])
            .unwrap();
        assert_eq!(store.all().unwrap().len(), 3);
    }

    #[test]
    fn records_put_from_many_threads_at_once_are_all_durable_and_the_last_put_wins() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.redb");
        {
            let store = std::sync::Arc::new(Embedded::open(&path).unwrap());
            let threads: Vec<_> = (0..8)
                .map(|t| {
                    let store = store.clone();
                    std::thread::spawn(move || {
                        for i in 0..25 {
                            store
                                .put(&format!("g{t}-{i}"), &record(Stage::Executing))
                                .unwrap();
                            store
                                .put(&format!("g{t}-{i}"), &record(Stage::Done))
                                .unwrap();
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
        }
        let store = Embedded::open(&path).unwrap();
        let all = store.all().unwrap();
        assert_eq!(all.len(), 200);
        assert!(all.iter().all(|(_, r)| r.stage == Stage::Done));
    }

    #[test]
    fn a_token_is_spent_once_and_not_after_it_expires() {
        let dir = tempfile::tempdir().unwrap();
        let store = Embedded::open(&dir.path().join("b.redb")).unwrap();
        let token = Token {
            goal_id: "g".into(),
            goal: "unlock the front door".into(),
            actions: Vec::new(),
            expires_ms: 1_000,
            used: false,
            rule: None,
        };
        store.put_token("t", &token).unwrap();
        store.put_token("late", &token).unwrap();
        assert_eq!(store.spend_token("t", 500).unwrap().unwrap().goal_id, "g");
        assert!(
            store
                .spend_token("t", 500)
                .unwrap()
                .unwrap_err()
                .contains("already used")
        );
        assert!(
            store
                .spend_token("late", 2_000)
                .unwrap()
                .unwrap_err()
                .contains("expired")
        );
        assert!(
            store
                .spend_token("none", 0)
                .unwrap()
                .unwrap_err()
                .contains("unknown")
        );
    }

    #[test]
    fn a_conversation_is_kept_across_reopening_and_pruned_when_old() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.redb");
        {
            let store = Embedded::open(&path).unwrap();
            assert!(store.conversation("c1").unwrap().is_none());
            store
                .put_conversation("c1", r#"{"devices":["a"]}"#)
                .unwrap();
        }
        let store = Embedded::open(&path).unwrap();
        assert_eq!(
            store.conversation("c1").unwrap().as_deref(),
            Some(r#"{"devices":["a"]}"#)
        );
        store.prune(60_000).unwrap();
        assert!(store.conversation("c1").unwrap().is_some(), "recent");
        std::thread::sleep(std::time::Duration::from_millis(5));
        store.prune(1).unwrap();
        assert!(store.conversation("c1").unwrap().is_none(), "old");
    }

    #[test]
    fn pruning_forgets_only_old_finished_goals() {
        let dir = tempfile::tempdir().unwrap();
        let store = Embedded::open(&dir.path().join("b.redb")).unwrap();
        let mut old = record(Stage::Done);
        old.received_ms = 1;
        store.put("old", &old).unwrap();
        store.put("new", &record(Stage::Done)).unwrap();
        let mut pending = record(Stage::Accepted);
        pending.received_ms = 1;
        store.put("pending", &pending).unwrap();
        assert_eq!(store.prune(60_000).unwrap(), 1);
        assert!(store.get("old").unwrap().is_none());
        assert!(store.get("pending").unwrap().is_some());
    }
}
