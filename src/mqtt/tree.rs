//! The live topic tree: the last payload of every topic seen, when it came,
//! and a bounded history, so memory stays bounded however long giot runs.

use std::collections::{BTreeMap, VecDeque};
use std::time::SystemTime;

use bytes::Bytes;

/// Default number of past payloads kept per topic.
pub const DEFAULT_HISTORY: usize = 64;

/// What the tree knows about one topic.
#[derive(Debug, Clone)]
pub struct TopicEntry {
    pub payload: Bytes,
    pub retained: bool,
    pub updated: SystemTime,
    /// Messages seen on this topic since giot started.
    pub count: u64,
    /// Earlier payloads, oldest first, at most the tree's history size.
    pub history: VecDeque<(SystemTime, Bytes)>,
    /// The size of the last message when it was too large to take (its
    /// payload is then empty and never read as state).
    pub skipped: Option<usize>,
}

/// Topics in lexical order, which is also tree order (`a/b` before `a/b/c`).
#[derive(Debug, Clone)]
pub struct TopicTree {
    topics: BTreeMap<String, TopicEntry>,
    history: usize,
    messages: u64,
}

impl Default for TopicTree {
    fn default() -> Self {
        Self::new(DEFAULT_HISTORY)
    }
}

impl TopicTree {
    /// A tree keeping at most `history` past payloads per topic.
    pub fn new(history: usize) -> Self {
        Self {
            topics: BTreeMap::new(),
            history,
            messages: 0,
        }
    }

    /// Records a message. An empty retained payload deletes the topic, as it
    /// does on the broker.
    pub fn insert(&mut self, topic: &str, payload: Bytes, retained: bool, at: SystemTime) {
        self.put(topic, payload, retained, at, None);
    }

    /// Records a message that was too large to take: the topic shows it was
    /// skipped and its size; its last payload is dropped (a stale value
    /// must not pass for the current one).
    pub fn insert_skipped(&mut self, topic: &str, size: usize, retained: bool, at: SystemTime) {
        self.put(topic, Bytes::new(), retained, at, Some(size));
    }

    fn put(
        &mut self,
        topic: &str,
        payload: Bytes,
        retained: bool,
        at: SystemTime,
        skipped: Option<usize>,
    ) {
        self.messages += 1;
        if payload.is_empty() && retained && skipped.is_none() {
            self.topics.remove(topic);
            return;
        }
        let history = self.history;
        match self.topics.get_mut(topic) {
            Some(entry) => {
                if history > 0 {
                    if entry.history.len() == history {
                        entry.history.pop_front();
                    }
                    let old = std::mem::replace(&mut entry.payload, payload);
                    entry.history.push_back((entry.updated, old));
                } else {
                    entry.payload = payload;
                }
                entry.retained = retained;
                entry.skipped = skipped;
                entry.updated = at;
                entry.count += 1;
            }
            None => {
                self.topics.insert(
                    topic.to_string(),
                    TopicEntry {
                        payload,
                        retained,
                        updated: at,
                        count: 1,
                        history: VecDeque::new(),
                        skipped,
                    },
                );
            }
        }
    }

    pub fn get(&self, topic: &str) -> Option<&TopicEntry> {
        self.topics.get(topic)
    }

    /// The last payload on `topic` parsed as a JSON object, if it is one.
    pub fn json_object(&self, topic: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
        let entry = self.topics.get(topic)?;
        match serde_json::from_slice(&entry.payload) {
            Ok(serde_json::Value::Object(map)) => Some(map),
            _ => None,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &TopicEntry)> {
        self.topics.iter()
    }

    pub fn len(&self) -> usize {
        self.topics.len()
    }

    pub fn is_empty(&self) -> bool {
        self.topics.is_empty()
    }

    /// Messages recorded since the tree was made.
    pub fn messages(&self) -> u64 {
        self.messages
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_is_bounded_by_the_configured_size() {
        let mut tree = TopicTree::new(3);
        for i in 0..100 {
            tree.insert("a/b", Bytes::from(i.to_string()), false, SystemTime::now());
        }
        let entry = tree.get("a/b").unwrap();
        assert_eq!(entry.payload, Bytes::from("99"));
        assert_eq!(entry.history.len(), 3);
        assert_eq!(entry.history.back().unwrap().1, Bytes::from("98"));
        assert_eq!(entry.count, 100);
        assert_eq!(tree.messages(), 100);
    }

    #[test]
    fn an_empty_retained_payload_removes_the_topic() {
        let mut tree = TopicTree::default();
        tree.insert("a", Bytes::from("1"), true, SystemTime::now());
        tree.insert("a", Bytes::new(), true, SystemTime::now());
        assert!(tree.get("a").is_none());
    }

    #[test]
    fn topics_iterate_in_tree_order() {
        let mut tree = TopicTree::default();
        for t in ["b", "a/b/c", "a/b", "a"] {
            tree.insert(t, Bytes::from("x"), false, SystemTime::now());
        }
        let order: Vec<_> = tree.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(order, ["a", "a/b", "a/b/c", "b"]);
    }
}
