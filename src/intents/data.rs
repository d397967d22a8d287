//! One language of Home Assistant's intent data, loaded and compiled.
//!
//! The PyPI package `home-assistant-intents` ships one JSON file per
//! language (`home_assistant_intents/data/<lang>.json`, CC BY 4.0, from
//! <https://github.com/home-assistant/intents>): `intents` (each with
//! `data` blocks of `sentences`, fixed `slots`, `requires_context`,
//! `excludes_context`, `metadata`), `lists` (values, numeric ranges,
//! wildcards), `expansion_rules` and `skip_words`. `scripts/fetch-intents`
//! puts those files in the intents folder ([`crate::paths::intents_dirs`]).
//! Loading parses every template once and expands every rule, so matching
//! ([`super::matcher`]) never looks a rule up.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};

use super::template::{self, Expr, TemplateError};

/// Why a language's intent data could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum IntentsError {
    /// No intents file for the language in any intents folder.
    #[error(
        "no intent templates for language `{language}` (looked in {}); run scripts/fetch-intents",
        .looked.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    Missing {
        language: String,
        looked: Vec<PathBuf>,
    },
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not Home Assistant intent data")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{intent}: {source}")]
    Template {
        intent: String,
        #[source]
        source: TemplateError,
    },
    /// An expansion rule that is used but not defined, or that expands into
    /// itself.
    #[error("{intent}: expansion rule <{rule}> is {problem}")]
    Rule {
        intent: String,
        rule: String,
        problem: &'static str,
    },
}

#[derive(Debug, Deserialize)]
struct FileData {
    language: String,
    #[serde(default)]
    skip_words: Vec<String>,
    intents: BTreeMap<String, FileIntent>,
    #[serde(default)]
    lists: BTreeMap<String, FileList>,
    #[serde(default)]
    expansion_rules: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct FileIntent {
    data: Vec<FileBlock>,
}

#[derive(Debug, Deserialize)]
struct FileBlock {
    sentences: Vec<String>,
    #[serde(default)]
    slots: Map<String, Value>,
    #[serde(default)]
    requires_context: Map<String, Value>,
    #[serde(default)]
    excludes_context: Map<String, Value>,
    #[serde(default)]
    metadata: Map<String, Value>,
    #[serde(default)]
    expansion_rules: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum FileList {
    Values(Vec<FileValue>),
    Range(FileRange),
    Wildcard(serde::de::IgnoredAny),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum FileValue {
    Plain(String),
    Mapped {
        #[serde(rename = "in")]
        text: String,
        #[serde(default)]
        out: Option<Value>,
    },
}

#[derive(Debug, Deserialize)]
struct FileRange {
    from: f64,
    to: f64,
    #[serde(default)]
    step: Option<f64>,
    #[serde(default)]
    multiplier: Option<f64>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    fractions: Option<String>,
}

/// What a `{list}` in a template matches.
#[derive(Debug, Clone)]
pub enum SlotList {
    /// Phrases (themselves templates), each with the value it stands for.
    Values(Vec<(Expr, Value)>),
    /// A number in `from..=to`; `multiplier` scales the value the slot gets.
    Range {
        from: f64,
        to: f64,
        /// Whether halves (21.5) are allowed, not only whole numbers.
        fractions: bool,
        multiplier: f64,
        /// `percentage`, `temperature`, … when the data says.
        kind: Option<String>,
    },
    /// Any text of one or more words.
    Wildcard,
}

/// One `data` block of an intent: its sentences share these.
#[derive(Debug, Clone)]
pub struct Block {
    pub intent: String,
    /// Fixed slots the block gives every match (`domain: light`).
    pub slots: Map<String, Value>,
    pub requires_context: Map<String, Value>,
    pub excludes_context: Map<String, Value>,
    /// `metadata.slot_combination` (`area_domain`, `name_only`, …).
    pub slot_combination: Option<String>,
}

/// One sentence template, rules expanded.
#[derive(Debug, Clone)]
pub struct Sentence {
    /// Index into [`Language::blocks`].
    pub block: usize,
    pub expr: Expr,
    /// Text every match must contain, to skip the sentence cheaply.
    pub required: Vec<String>,
}

/// One language's intents, ready to match.
#[derive(Debug, Clone)]
pub struct Language {
    /// The language code (`en`, `de`, `fr`, …).
    pub code: String,
    /// Phrases dropped from a goal before matching ("please", "can you").
    pub skip_words: Vec<String>,
    pub blocks: Vec<Block>,
    pub sentences: Vec<Sentence>,
    pub lists: HashMap<String, SlotList>,
}

impl Language {
    /// Loads `<code>.json` from the first folder of `dirs` that has it.
    ///
    /// # Errors
    /// [`IntentsError::Missing`] when no folder has it; the other variants
    /// for a file that cannot be read, is not intent data, or holds a
    /// template or rule giot cannot parse.
    pub fn load(code: &str, dirs: &[PathBuf]) -> Result<Self, IntentsError> {
        let file = format!("{code}.json");
        let Some(path) = dirs.iter().map(|d| d.join(&file)).find(|p| p.is_file()) else {
            return Err(IntentsError::Missing {
                language: code.to_string(),
                looked: dirs.to_vec(),
            });
        };
        Self::load_file(&path)
    }

    /// Loads one language file.
    ///
    /// # Errors
    /// As [`Language::load`], less `Missing`.
    pub fn load_file(path: &Path) -> Result<Self, IntentsError> {
        let text = std::fs::read_to_string(path).map_err(|source| IntentsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json(&text).map_err(|e| match e {
            IntentsError::Json { source, .. } => IntentsError::Json {
                path: path.to_path_buf(),
                source,
            },
            other => other,
        })
    }

    /// Parses a language file's text.
    ///
    /// # Errors
    /// As [`Language::load_file`].
    pub fn from_json(text: &str) -> Result<Self, IntentsError> {
        let file: FileData = serde_json::from_str(text).map_err(|source| IntentsError::Json {
            path: PathBuf::new(),
            source,
        })?;
        let parse_rules = |intent: &str, rules: &BTreeMap<String, String>| {
            rules
                .iter()
                .map(|(name, body)| {
                    template::parse(body)
                        .map(|e| (name.clone(), e))
                        .map_err(|source| IntentsError::Template {
                            intent: intent.to_string(),
                            source,
                        })
                })
                .collect::<Result<HashMap<_, _>, _>>()
        };
        let rules = parse_rules("expansion_rules", &file.expansion_rules)?;
        let mut lists = HashMap::new();
        for (name, list) in file.lists {
            let list = match list {
                FileList::Values(values) => SlotList::Values(
                    values
                        .into_iter()
                        .map(|v| {
                            let (text, out) = match v {
                                FileValue::Plain(t) => (t.clone(), Value::String(t)),
                                FileValue::Mapped { text, out } => {
                                    let out = out.unwrap_or_else(|| Value::String(text.clone()));
                                    (text, out)
                                }
                            };
                            let expr = template::parse(&text).map_err(|source| {
                                IntentsError::Template {
                                    intent: format!("list {name}"),
                                    source,
                                }
                            })?;
                            let expr = expand(&expr, &rules, &name, 0)?;
                            Ok((expr, out))
                        })
                        .collect::<Result<_, IntentsError>>()?,
                ),
                FileList::Range(r) => SlotList::Range {
                    from: r.from,
                    to: r.to,
                    fractions: r.fractions.is_some() || r.step.is_some_and(|s| s.fract() != 0.0),
                    multiplier: r.multiplier.unwrap_or(1.0),
                    kind: r.kind,
                },
                FileList::Wildcard(_) => SlotList::Wildcard,
            };
            lists.insert(name, list);
        }
        let mut blocks = Vec::new();
        let mut sentences = Vec::new();
        for (intent, data) in file.intents {
            for block in data.data {
                let mut local = rules.clone();
                local.extend(parse_rules(&intent, &block.expansion_rules)?);
                let index = blocks.len();
                blocks.push(Block {
                    intent: intent.clone(),
                    slots: block.slots,
                    requires_context: block.requires_context,
                    excludes_context: block.excludes_context,
                    slot_combination: block
                        .metadata
                        .get("slot_combination")
                        .and_then(Value::as_str)
                        .map(String::from),
                });
                for s in &block.sentences {
                    let expr = template::parse(s).map_err(|source| IntentsError::Template {
                        intent: intent.clone(),
                        source,
                    })?;
                    let expr = expand(&expr, &local, &intent, 0)?;
                    let required = required(&expr);
                    sentences.push(Sentence {
                        block: index,
                        expr,
                        required,
                    });
                }
            }
        }
        Ok(Self {
            code: file.language,
            skip_words: file.skip_words.iter().map(|w| w.to_lowercase()).collect(),
            blocks,
            sentences,
            lists,
        })
    }

    /// Every word of literal text in the sentences and value lists.
    pub fn words(&self) -> std::collections::HashSet<String> {
        let mut words = std::collections::HashSet::new();
        let mut add = |e: &Expr| {
            e.walk(&mut |x| {
                if let Expr::Text(t) = x {
                    words.extend(t.split(' ').filter(|w| !w.is_empty()).map(String::from));
                }
            });
        };
        for s in &self.sentences {
            add(&s.expr);
        }
        for list in self.lists.values() {
            if let SlotList::Values(values) = list {
                for (e, _) in values {
                    add(e);
                }
            }
        }
        words
    }

    /// The intents this language has, each once, sorted.
    pub fn intent_names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.blocks.iter().map(|b| b.intent.as_str()).collect();
        v.dedup();
        v
    }
}

/// Replaces every rule by its body and every permutation by the
/// alternatives of its orders (words apart), so matching meets neither.
fn expand(
    e: &Expr,
    rules: &HashMap<String, Expr>,
    intent: &str,
    depth: usize,
) -> Result<Expr, IntentsError> {
    if depth > 32 {
        return Err(IntentsError::Rule {
            intent: intent.to_string(),
            rule: e.to_string(),
            problem: "recursive",
        });
    }
    let all = |v: &[Expr]| {
        v.iter()
            .map(|x| expand(x, rules, intent, depth + 1))
            .collect::<Result<Vec<_>, _>>()
    };
    Ok(match e {
        Expr::Text(_) | Expr::List { .. } => e.clone(),
        Expr::Seq(v) => Expr::Seq(all(v)?),
        Expr::Alt(v) => Expr::Alt(all(v)?),
        Expr::Perm(v) => {
            let items = all(v)?;
            let mut orders = Vec::new();
            permutations(&mut (0..items.len()).collect::<Vec<_>>(), 0, &mut |order| {
                let mut seq = Vec::new();
                for (k, &i) in order.iter().enumerate() {
                    if k > 0 {
                        seq.push(Expr::Text(" ".into()));
                    }
                    seq.push(items[i].clone());
                }
                orders.push(Expr::Seq(seq));
            });
            Expr::Alt(orders)
        }
        Expr::Rule(name) => {
            let body = rules.get(name).ok_or_else(|| IntentsError::Rule {
                intent: intent.to_string(),
                rule: name.clone(),
                problem: "not defined",
            })?;
            expand(body, rules, intent, depth + 1)?
        }
    })
}

fn permutations(v: &mut Vec<usize>, k: usize, f: &mut impl FnMut(&[usize])) {
    if k == v.len() {
        f(v);
        return;
    }
    for i in k..v.len() {
        v.swap(k, i);
        permutations(v, k + 1, f);
        v.swap(k, i);
    }
}

/// Words of literal text that every match of `e` contains.
fn required(e: &Expr) -> Vec<String> {
    fn go(e: &Expr) -> Vec<String> {
        match e {
            Expr::Text(t) => t
                .split(' ')
                .filter(|w| !w.is_empty())
                .map(String::from)
                .collect(),
            Expr::Seq(v) | Expr::Perm(v) => v.iter().flat_map(go).collect(),
            Expr::Alt(v) => {
                let mut sets = v.iter().map(go);
                let first = sets.next().unwrap_or_default();
                sets.fold(first, |acc, s| {
                    acc.into_iter().filter(|w| s.contains(w)).collect()
                })
            }
            Expr::List { .. } | Expr::Rule(_) => Vec::new(),
        }
    }
    let mut v = go(e);
    v.sort();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"{
      "language": "en",
      "skip_words": ["please", "can you"],
      "expansion_rules": {"the": "(the|my)", "turn": "(turn|switch)", "name_the": "[<the>] {name}"},
      "lists": {
        "brightness": {"range": {"type": "percentage", "from": 0, "to": 100}},
        "temperature": {"range": {"type": "temperature", "from": 0, "to": 100, "fractions": "halves"}},
        "on_off": {"values": [{"in": "on", "out": "on"}, {"in": "(off|out)", "out": "off"}, "plain"]},
        "query": {"wildcard": true}
      },
      "intents": {
        "HassTurnOn": {"data": [{"sentences": ["<turn> on <name_the>", "(<turn>;on) {name}"],
                                  "requires_context": {"domain": ["light"]},
                                  "metadata": {"slot_combination": "name_only"}}]},
        "HassLightSet": {"data": [{"sentences": ["set <name_the> to {brightness}[%]"], "slots": {"domain": "light"}}]}
      },
      "responses": {}
    }"#;

    #[test]
    fn rules_are_expanded_and_permutations_unfolded_at_load() {
        let lang = Language::from_json(SMALL).unwrap();
        assert_eq!(lang.code, "en");
        assert_eq!(lang.sentences.len(), 3);
        let mut rules = 0;
        let mut perms = 0;
        for s in &lang.sentences {
            s.expr.walk(&mut |e| match e {
                Expr::Rule(_) => rules += 1,
                Expr::Perm(_) => perms += 1,
                _ => {}
            });
        }
        assert_eq!((rules, perms), (0, 0));
        assert_eq!(lang.blocks[lang.sentences[0].block].intent, "HassLightSet");
        assert_eq!(
            lang.blocks[1].slot_combination.as_deref(),
            Some("name_only")
        );
        assert_eq!(lang.intent_names(), ["HassLightSet", "HassTurnOn"]);
    }

    #[test]
    fn required_words_come_from_text_every_branch_has() {
        let lang = Language::from_json(SMALL).unwrap();
        let turn_on = &lang.sentences[1];
        assert_eq!(turn_on.required, ["on"]);
        assert_eq!(lang.sentences[0].required, ["set", "to"]);
    }

    #[test]
    fn lists_keep_their_values_ranges_and_wildcards() {
        let lang = Language::from_json(SMALL).unwrap();
        assert!(matches!(
            lang.lists["temperature"],
            SlotList::Range {
                fractions: true,
                ..
            }
        ));
        let SlotList::Values(v) = &lang.lists["on_off"] else {
            panic!()
        };
        assert_eq!(v[1].1, Value::from("off"));
        assert_eq!(v[2].1, Value::from("plain"));
        assert!(matches!(lang.lists["query"], SlotList::Wildcard));
    }

    #[test]
    fn an_undefined_rule_is_an_error_naming_it() {
        let bad = SMALL.replace("<turn> on <name_the>", "<spin> on");
        let e = Language::from_json(&bad).unwrap_err();
        assert_eq!(
            e.to_string(),
            "HassTurnOn: expansion rule <spin> is not defined"
        );
    }

    #[test]
    fn a_missing_language_says_where_it_looked_and_what_to_run() {
        let e = Language::load("xx", &[PathBuf::from("/nonexistent")]).unwrap_err();
        assert!(e.to_string().contains("/nonexistent"), "{e}");
        assert!(e.to_string().contains("scripts/fetch-intents"), "{e}");
    }
}
