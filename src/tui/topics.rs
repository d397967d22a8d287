//! The topic view's tree: one node per topic level, whatever the levels
//! hold (spaces, `-`, `.`, any script, empty levels from a leading,
//! trailing or doubled `/`).
//!
//! Levels are grouped by their exact text, not by runs of the sorted topic
//! list: `home`, `home-x/y` and `home/z` sort with `home-x/y` between the
//! two `home` topics (`-` sorts before `/`), and grouping by runs made two
//! sibling nodes with one id. A node's id is `topic:` and the topic prefix
//! it stands for (its levels joined by `/`), which names exactly one path
//! of levels. Pure: topics in, nodes out; [`super::ui`] draws them.

use std::collections::BTreeMap;

use crate::mqtt::tree::TopicEntry;

/// One level of the topic tree.
#[derive(Debug)]
pub struct TopicNode<'a> {
    /// The topic prefix this node stands for (its levels joined by `/`).
    pub key: String,
    /// This level's text (no `/`; may be empty).
    pub name: &'a str,
    /// The topic's own entry when `key` is itself a topic.
    pub entry: Option<&'a TopicEntry>,
    /// Topics below this node.
    pub below: usize,
    /// The nodes one level down; `None` when the node is not opened (and
    /// `below` is not 0).
    pub children: Option<Vec<TopicNode<'a>>>,
}

impl TopicNode<'_> {
    /// The tree widget's identifier of this node.
    pub fn id(&self) -> String {
        node_id(&self.key)
    }
}

/// The tree widget's identifier of the node for topic prefix `key`.
pub fn node_id(key: &str) -> String {
    format!("topic:{key}")
}

/// The nodes of the top level for `topics`, built down only under the
/// nodes for which `opened` (given the node's id) says yes.
pub fn build<'a>(
    topics: impl IntoIterator<Item = (&'a str, &'a TopicEntry)>,
    opened: &dyn Fn(&str) -> bool,
) -> Vec<TopicNode<'a>> {
    let rests: Vec<(&'a str, &'a TopicEntry)> = topics.into_iter().collect();
    level(rests, None, opened)
}

/// `rests` are what follows the parent's prefix and its `/`.
fn level<'a>(
    rests: Vec<(&'a str, &'a TopicEntry)>,
    parent: Option<&str>,
    opened: &dyn Fn(&str) -> bool,
) -> Vec<TopicNode<'a>> {
    type Group<'a> = (Option<&'a TopicEntry>, Vec<(&'a str, &'a TopicEntry)>);
    let mut groups: BTreeMap<&'a str, Group<'a>> = BTreeMap::new();
    for (rest, entry) in rests {
        let (head, tail) = match rest.split_once('/') {
            Some((head, tail)) => (head, Some(tail)),
            None => (rest, None),
        };
        let group = groups.entry(head).or_default();
        match tail {
            Some(tail) => group.1.push((tail, entry)),
            None => group.0 = Some(entry),
        }
    }
    groups
        .into_iter()
        .map(|(name, (entry, deeper))| {
            let key = match parent {
                Some(p) => format!("{p}/{name}"),
                None => name.to_string(),
            };
            let below = deeper.len();
            let children =
                (below == 0 || opened(&node_id(&key))).then(|| level(deeper, Some(&key), opened));
            TopicNode {
                key,
                name,
                entry,
                below,
                children,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashSet};
    use std::time::SystemTime;

    use bytes::Bytes;
    use proptest::prelude::*;

    use super::*;
    use crate::mqtt::TopicTree;

    fn tree(topics: &[&str]) -> TopicTree {
        let mut tree = TopicTree::default();
        for t in topics {
            tree.insert(t, Bytes::from_static(b"1"), false, SystemTime::now());
        }
        tree
    }

    fn all_open(tree: &TopicTree) -> Vec<TopicNode<'_>> {
        build(tree.iter().map(|(t, e)| (t.as_str(), e)), &|_| true)
    }

    /// Checks the invariants below `nodes` and returns the topics found.
    fn check(nodes: &[TopicNode<'_>], parent: Option<&str>, found: &mut Vec<String>) -> usize {
        let ids: HashSet<String> = nodes.iter().map(TopicNode::id).collect();
        assert_eq!(ids.len(), nodes.len(), "sibling ids collide");
        let mut topics = 0;
        for n in nodes {
            assert!(!n.name.contains('/'));
            let key = parent.map_or(n.name.to_string(), |p| format!("{p}/{}", n.name));
            assert_eq!(n.key, key);
            if n.entry.is_some() {
                found.push(n.key.clone());
                topics += 1;
            }
            let children = n.children.as_ref().expect("all open");
            let below = check(children, Some(&n.key), found);
            assert_eq!(n.below, below, "count below {}", n.key);
            assert!(
                n.entry.is_some() || !children.is_empty(),
                "empty leaf {}",
                n.key
            );
            topics += below;
        }
        topics
    }

    fn assert_invariants(topics: &[String]) {
        let t = tree(&topics.iter().map(String::as_str).collect::<Vec<_>>());
        let nodes = all_open(&t);
        let mut found = Vec::new();
        let total = check(&nodes, None, &mut found);
        let distinct: BTreeSet<&str> = topics.iter().map(String::as_str).collect();
        assert_eq!(total, distinct.len());
        found.sort();
        assert_eq!(
            found,
            distinct.iter().map(|s| s.to_string()).collect::<Vec<_>>()
        );
        // One node per distinct prefix of levels.
        let prefixes: BTreeSet<String> = distinct
            .iter()
            .flat_map(|t| {
                let levels: Vec<&str> = t.split('/').collect();
                (1..=levels.len()).map(move |n| levels[..n].join("/"))
            })
            .collect();
        fn count(nodes: &[TopicNode<'_>]) -> usize {
            nodes
                .iter()
                .map(|n| 1 + n.children.as_deref().map_or(0, count))
                .sum()
        }
        assert_eq!(count(&nodes), prefixes.len());
        // The widget accepts the items.
        let items = super::super::ui::tree_items(&nodes, &|_: &TopicEntry, _: &str| Vec::new());
        assert!(tui_tree_widget::Tree::new(&items).is_ok());
    }

    #[test]
    fn kind6_siblings_sharing_a_prefix_each_get_one_node() {
        let t = tree(&[
            "zigbee2mqtt/Kitchen Lamp",
            "zigbee2mqtt/Kitchen Lamp/availability",
            "zigbee2mqtt/Kitchen Lamp 2",
            "zigbee2mqtt/Kitchen Lamp 2/availability",
        ]);
        let nodes = all_open(&t);
        assert_eq!(nodes.len(), 1);
        let lamps = nodes[0].children.as_ref().unwrap();
        let names: Vec<&str> = lamps.iter().map(|n| n.name).collect();
        assert_eq!(names, ["Kitchen Lamp", "Kitchen Lamp 2"]);
        for lamp in lamps {
            assert!(lamp.entry.is_some());
            assert_eq!(lamp.below, 1);
            assert_eq!(lamp.children.as_ref().unwrap()[0].name, "availability");
        }
    }

    #[test]
    fn kind6_a_level_sorting_around_the_slash_does_not_split_its_parent() {
        let t = tree(&["home", "home-x/y", "home/z"]);
        let nodes = all_open(&t);
        let names: Vec<&str> = nodes.iter().map(|n| n.name).collect();
        assert_eq!(names, ["home", "home-x"]);
        assert_eq!(nodes[0].below, 1);
        assert_invariants(&["home".into(), "home-x/y".into(), "home/z".into()]);
    }

    #[test]
    fn kind6_empty_levels_and_leading_or_trailing_slashes_are_levels() {
        let topics = ["/a", "a/", "a//b", "/", "a"].map(String::from);
        assert_invariants(&topics);
        let t = tree(&["/a", "a/"]);
        let nodes = all_open(&t);
        let names: Vec<&str> = nodes.iter().map(|n| n.name).collect();
        assert_eq!(names, ["", "a"]);
    }

    #[test]
    fn kind6_nodes_are_built_only_under_opened_nodes() {
        let t = tree(&["a/b/c", "a/d"]);
        let nodes = build(t.iter().map(|(t, e)| (t.as_str(), e)), &|id| {
            id == "topic:a"
        });
        let a = &nodes[0];
        assert_eq!(a.below, 2);
        let b = &a.children.as_ref().unwrap()[0];
        assert_eq!((b.name, b.below), ("b", 1));
        assert!(b.children.is_none());
    }

    fn level_text() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            Just("home".to_string()),
            Just("home-x".to_string()),
            Just("home.x".to_string()),
            Just("home x".to_string()),
            Just("Kitchen Lamp".to_string()),
            Just("Kitchen Lamp 2".to_string()),
            Just("кухня".to_string()),
            Just("客厅".to_string()),
            "[a-c -.!0_é]{0,4}",
        ]
    }

    fn topic() -> impl Strategy<Value = String> {
        proptest::collection::vec(level_text(), 1..5).prop_map(|levels| levels.join("/"))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2_000, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn kind6_the_topic_tree_has_one_node_per_level_whatever_the_names(
            topics in proptest::collection::vec(topic(), 1..24)
        ) {
            let topics: Vec<String> = topics.into_iter().filter(|t| !t.is_empty()).collect();
            assert_invariants(&topics);
        }
    }
}
