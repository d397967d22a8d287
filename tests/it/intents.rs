//! Home Assistant's intent data as fetched by `scripts/fetch-intents`: every
//! language loads, and real sentences match in English, German, French and
//! Spanish.

use giot::intents::{Language, Matcher, Vocabulary};
use serde_json::Value;

fn load(code: &str) -> Language {
    Language::load(code, &giot::paths::intents_dirs())
        .unwrap_or_else(|e| panic!("{e:#} (scripts/test runs scripts/fetch-intents)"))
}

#[test]
fn every_fetched_language_loads() {
    let dir = giot::paths::intents_dirs()
        .into_iter()
        .find(|d| d.join("en.json").is_file())
        .expect("intents fetched");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let lang = Language::load_file(&path).unwrap_or_else(|e| panic!("{e:#}"));
            assert!(!lang.sentences.is_empty(), "{}", path.display());
            n += 1;
        }
    }
    assert!(n >= 60, "only {n} languages");
}

fn intent(lang: &Language, vocabulary: &Vocabulary, goal: &str) -> (String, Vec<(String, Value)>) {
    let m = Matcher::new(lang, vocabulary);
    let r = m.recognize(goal);
    let best = r.first().unwrap_or_else(|| panic!("no match for {goal:?}"));
    (
        best.block.intent.clone(),
        best.slots
            .iter()
            .map(|s| (s.name.clone(), s.values[0].clone()))
            .collect(),
    )
}

#[test]
fn real_sentences_match_in_four_languages() {
    /// Language, registry phrases (list, phrase, id), goal, intent, slots.
    type Case<'a> = (
        &'a str,
        &'a [(&'a str, &'a str, &'a str)],
        &'a str,
        &'a str,
        &'a [(&'a str, Value)],
    );
    let cases: &[Case] = &[
        (
            "en",
            &[("area", "Living room", "living_room")],
            "turn off the living room lights",
            "HassTurnOff",
            &[("area", Value::from("living_room"))],
        ),
        (
            "en",
            &[("name", "Hall light", "hall_light")],
            "could you set the hall light brightness to 30%",
            "HassLightSet",
            &[
                ("name", Value::from("hall_light")),
                ("brightness", Value::from(30)),
            ],
        ),
        (
            "de",
            &[("area", "Küche", "kitchen")],
            "Schalte das Licht in der Küche an",
            "HassTurnOn",
            &[("area", Value::from("kitchen"))],
        ),
        (
            "fr",
            &[("area", "cuisine", "kitchen")],
            "allume la lumière de la cuisine",
            "HassTurnOn",
            &[("area", Value::from("kitchen"))],
        ),
        (
            "es",
            &[("area", "cocina", "kitchen")],
            "apaga las luces de la cocina",
            "HassTurnOff",
            &[("area", Value::from("kitchen"))],
        ),
    ];
    for (code, phrases, goal, want, slots) in cases {
        let lang = load(code);
        let mut v = Vocabulary::default();
        for (list, phrase, id) in *phrases {
            v.insert(list, phrase, Value::from(*id));
        }
        let (got, got_slots) = intent(&lang, &v, goal);
        assert_eq!(&got, want, "{code}: {goal}");
        for (name, value) in *slots {
            assert!(
                got_slots.iter().any(|(n, v)| n == name && v == value),
                "{code}: {goal}: {got_slots:?}"
            );
        }
    }
}
