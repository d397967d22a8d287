//! The words giot understands without asking the model: synonyms of device
//! kinds, rooms and capabilities, verbs, and the filler words of requests.
//! Everything else must be found in the registry (names, aliases, ids, rooms,
//! enum values), or the goal names something that does not exist.

/// Words that carry no meaning for choosing a device or a value.
pub const FILLER: &[&str] = &[
    "a",
    "about",
    "actually",
    "again",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "anything",
    "are",
    "around",
    "as",
    "at",
    "be",
    "been",
    "bit",
    "both",
    "but",
    "by",
    "can",
    "could",
    "currently",
    "do",
    "does",
    "doing",
    "for",
    "from",
    "get",
    "give",
    "go",
    "going",
    "got",
    "hey",
    "home",
    "house",
    "how",
    "i",
    "i'm",
    "im",
    "in",
    "inside",
    "into",
    "is",
    "it",
    "its",
    "it's",
    "just",
    "kindly",
    "let",
    "let's",
    "level",
    "like",
    "make",
    "me",
    "mode",
    "my",
    "need",
    "now",
    "of",
    "ok",
    "okay",
    "on",
    "off",
    "one",
    "ones",
    "our",
    "out",
    "over",
    "please",
    "pls",
    "put",
    "quick",
    "quickly",
    "reading",
    "right",
    "room",
    "set",
    "setting",
    "should",
    "so",
    "some",
    "that",
    "the",
    "their",
    "them",
    "then",
    "there",
    "these",
    "this",
    "those",
    "thanks",
    "thank",
    "to",
    "too",
    "turn",
    "up",
    "down",
    "us",
    "value",
    "want",
    "was",
    "we",
    "what",
    "what's",
    "whats",
    "when",
    "where",
    "which",
    "while",
    "will",
    "with",
    "would",
    "you",
    "your",
    "every",
    "each",
    "entire",
    "whole",
    "everything",
    "everywhere",
    "change",
    "switch",
    "adjust",
    "bring",
    "keep",
    "have",
    "has",
    "much",
    "many",
    "tell",
    "show",
    "check",
    "whether",
    "if",
    "yet",
    "still",
    "already",
    "way",
    "full",
    "fully",
    "completely",
    "totally",
    "half",
    "halfway",
    "max",
    "maximum",
    "min",
    "minimum",
    "percent",
    "percentage",
    "per",
    "cent",
    "degree",
    "degrees",
    "celsius",
    "kelvin",
    "k",
    "c",
    "°c",
    "°",
    "w",
    "watts",
    "watt",
    "ppm",
    "km/h",
    "kmh",
    "mph",
    "more",
    "less",
    "little",
    "lot",
    "than",
    "very",
    "really",
    "same",
    "other",
    "another",
    "here",
    "mine",
    "home",
    "again",
    "start",
    "stop",
    "power",
    "draw",
    "drawing",
    "using",
    "use",
    "reading",
    "readings",
    "currently",
    "status",
    "state",
    "current",
    "right",
    "now",
    "moment",
    "at",
    "today",
    "tonight",
    "morning",
    "evening",
    "night",
    "before",
    "after",
    "soon",
    "later",
    "level",
    "levels",
    "amount",
    "bump",
    "drop",
    "raise",
    "lower",
    "dim",
    "brighten",
    "open",
    "close",
    "shut",
    "extend",
    "retract",
    "lock",
    "unlock",
    "lift",
    "move",
    "mark",
    "heat",
    "warm",
    "cool",
    "cold",
    "hot",
    "warmer",
    "cooler",
    "hotter",
    "colder",
    "brighter",
    "dimmer",
    "darker",
    "fast",
    "slow",
    "faster",
    "slower",
    "going",
    "high",
    "low",
    "medium",
    "speed",
    "position",
    "there",
    "their",
    "be",
    "being",
    "done",
    "do",
    "did",
    "don't",
    "dont",
];

/// Device kinds and the words people use for them.
pub const KIND_WORDS: &[(&str, &[&str])] = &[
    (
        "light",
        &[
            "light", "lights", "lamp", "lamps", "lighting", "bulb", "bulbs", "spot", "spots",
            "strip", "led",
        ],
    ),
    (
        "thermostat",
        &[
            "thermostat",
            "thermostats",
            "radiator",
            "radiators",
            "heating",
            "heater",
            "heaters",
            "climate",
        ],
    ),
    ("lock", &["lock", "locks", "door", "doors", "deadbolt"]),
    ("garage_door", &["garage", "door", "gate"]),
    (
        "cover",
        &[
            "blind", "blinds", "shade", "shades", "shutter", "shutters", "curtain", "curtains",
            "cover", "covers", "awning", "awnings", "roller",
        ],
    ),
    ("fan", &["fan", "fans", "ventilator"]),
    (
        "vacuum",
        &[
            "vacuum",
            "vacuums",
            "vacuuming",
            "hoover",
            "hoovering",
            "roomba",
            "robot",
        ],
    ),
    (
        "plug",
        &["plug", "plugs", "socket", "sockets", "outlet", "outlets"],
    ),
    ("switch", &["switch", "switches"]),
    (
        "sensor",
        &[
            "sensor",
            "sensors",
            "meter",
            "monitor",
            "station",
            "thermometer",
        ],
    ),
    (
        "vehicle",
        &[
            "vehicle", "vehicles", "car", "cars", "bus", "buses", "taxi", "cab", "truck",
        ],
    ),
];

/// Rooms by another name.
pub const ROOM_WORDS: &[(&str, &[&str])] = &[
    (
        "hallway",
        &["hall", "hallway", "corridor", "entrance", "entry", "foyer"],
    ),
    ("living_room", &["living", "lounge", "sitting"]),
    ("kitchen", &["kitchen"]),
    ("bedroom", &["bedroom"]),
    ("study", &["study", "office"]),
    ("cellar", &["cellar", "basement"]),
    ("garage", &["garage", "workshop"]),
    (
        "outdoor",
        &[
            "outdoor", "outdoors", "outside", "garden", "patio", "terrace", "yard",
        ],
    ),
    ("bathroom", &["bathroom"]),
];

/// Capabilities by the words that name them; a capability name's own words
/// count too.
pub const CAPABILITY_WORDS: &[(&str, &[&str])] = &[
    (
        "brightness",
        &[
            "brightness",
            "bright",
            "brighter",
            "dim",
            "dimmer",
            "dimmed",
            "darker",
        ],
    ),
    ("color_temp", &["colour", "color", "white", "temp"]),
    (
        "target_temperature",
        &[
            "temperature",
            "temp",
            "degrees",
            "warm",
            "warmer",
            "heat",
            "cool",
            "cooler",
            "setpoint",
        ],
    ),
    (
        "current_temperature",
        &["temperature", "warm", "cold", "hot"],
    ),
    (
        "temperature",
        &["temperature", "warm", "cold", "hot", "degrees"],
    ),
    ("humidity", &["humidity", "humid", "damp", "moisture"]),
    ("co2", &["co2", "carbon", "air"]),
    (
        "position",
        &["position", "open", "opened", "closed", "up", "down"],
    ),
    (
        "power_w",
        &[
            "draw",
            "drawing",
            "consumption",
            "watts",
            "usage",
            "using",
            "consuming",
        ],
    ),
    ("power", &["on", "off", "power"]),
    ("speed", &["speed", "fast", "slow"]),
    ("mode", &["mode"]),
    ("lock", &["lock", "locked", "unlocked"]),
    ("lat", &["latitude", "where", "location", "position"]),
    ("lon", &["longitude", "where", "location"]),
    ("sensing_quality", &["sensing", "quality"]),
    ("open", &["open", "closed", "contact"]),
];

/// Words that start a question.
pub const QUESTION_STARTS: &[&str] = &[
    "is", "are", "what", "what's", "whats", "how", "how's", "where", "which", "does", "do", "did",
    "has", "have", "was", "were", "when", "who", "why", "tell", "show", "any",
];

pub fn kind_of_word(word: &str) -> impl Iterator<Item = &'static str> + '_ {
    KIND_WORDS
        .iter()
        .filter(move |(_, words)| words.contains(&word))
        .map(|(kind, _)| *kind)
}

pub fn capability_words(name: &str) -> impl Iterator<Item = &'static str> + '_ {
    CAPABILITY_WORDS
        .iter()
        .filter(move |(cap, _)| *cap == name)
        .flat_map(|(_, words)| words.iter().copied())
}

/// What a statement about how things are asks for, in Home Assistant's
/// domains: `light:on` (turn lights on), `cover:close`, `climate:heat`,
/// `heater:on` (a switch or plug whose name says it heats, as a towel warmer
/// or a radiator), `dehumidifier:on` (a humidifier-domain device, or a
/// switch whose name says it dehumidifies), `fan:on`, `valve:on` (sprinklers, irrigation), `vacuum:start`,
/// `named:on` (whatever device the statement names, turned on).
///
/// `triggers` are words or phrases (matched on whole words) that state the
/// situation; `about` are things a statement of it may name that are not
/// devices ("the *lawn* is dry"), so they do not count as a missing device.
pub struct Situation {
    pub triggers: &'static [&'static str],
    pub about: &'static [&'static str],
    pub effects: &'static [&'static str],
}

/// Situations giot reads in English statements (the model then ranks the
/// actions they allow when more than one fits).
pub const SITUATIONS: &[Situation] = &[
    Situation {
        triggers: &[
            "dark",
            "darker",
            "pitch black",
            "gloomy",
            "can't see",
            "cannot see",
            "cant see",
            "see a thing",
            "see anything",
            "too dim",
        ],
        about: &["thing", "anything", "pitch"],
        effects: &["light:on"],
    },
    Situation {
        triggers: &["too bright", "glare", "glaring", "blinding", "dazzling"],
        about: &["sun", "screen", "eyes"],
        effects: &["light:off", "cover:close"],
    },
    Situation {
        triggers: &[
            "cold",
            "freezing",
            "chilly",
            "frozen",
            "shivering",
            "brr",
            "icy",
        ],
        about: &["hands", "feet", "toes", "bones"],
        effects: &["climate:heat", "heater:on"],
    },
    Situation {
        triggers: &[
            "too hot",
            "too warm",
            "boiling",
            "sweltering",
            "roasting",
            "sweating",
            "baking",
        ],
        about: &[],
        effects: &["fan:on", "climate:cool"],
    },
    Situation {
        triggers: &[
            "stuffy",
            "steamy",
            "steam",
            "humid",
            "muggy",
            "smells",
            "smelly",
            "stinks",
            "smoke",
            "smoky",
            "burning",
            "musty",
            "clear the air",
            "fresh air",
        ],
        about: &[
            "stove",
            "oven",
            "toast",
            "food",
            "cooking",
            "shower",
            "air",
            "something",
            "something's",
        ],
        effects: &["fan:on"],
    },
    Situation {
        triggers: &[
            "damp",
            "moist",
            "mould",
            "mold",
            "mouldy",
            "moldy",
            "condensation",
            "humidity",
            "clammy",
            "too humid",
        ],
        about: &["walls", "wall", "windows", "air", "ceiling", "corner"],
        effects: &["dehumidifier:on", "fan:on"],
    },
    Situation {
        triggers: &["dry", "thirsty", "parched", "wilting", "water", "irrigate"],
        about: &[
            "lawn",
            "grass",
            "plants",
            "flowers",
            "beds",
            "vegetables",
            "hedge",
            "soil",
        ],
        effects: &["valve:on"],
    },
    Situation {
        triggers: &[
            "dust",
            "dusty",
            "dirty",
            "crumbs",
            "mess",
            "messy",
            "filthy",
            "needs cleaning",
            "needs a clean",
        ],
        about: &[
            "floor",
            "floors",
            "carpet",
            "carpets",
            "rug",
            "rugs",
            "crumbs",
            "dust",
            "hair",
            "everywhere",
        ],
        effects: &["vacuum:start"],
    },
    Situation {
        triggers: &[
            "need",
            "needs",
            "want",
            "could use",
            "would like",
            "i'd like",
            "craving",
            "fancy",
            "in the mood for",
        ],
        about: &[],
        effects: &["named:on"],
    },
];

/// Words in a switch's name that say it waters (a plug driving an
/// irrigation pump counts as a valve for `valve:on`).
pub const WATERING_WORDS: &[&str] = &["sprinkler", "irrigation", "watering", "drip", "soaker"];

/// Words in a switch's name that say it heats.
pub const HEATER_WORDS: &[&str] = &[
    "heater", "warmer", "heating", "radiator", "heated", "boiler",
];

/// Words of device names that only tell devices apart ("the *right* bedside
/// lamp"); alone, they name nothing ("right now").
pub const DESCRIBING_WORDS: &[&str] = &[
    "left", "right", "top", "bottom", "front", "back", "main", "big", "small", "upper", "lower",
    "old", "new", "first", "second", "third", "north", "south", "east", "west", "inner", "outer",
    "middle", "center", "centre", "side", "rear", "little", "large", "tall", "short",
];

/// Verbs that make a goal a command even when a typo hides its value word
/// ("turn *of* the fan"): only a command's words are corrected as typos.
pub const COMMAND_VERBS: &[&str] = &[
    "turn",
    "switch",
    "set",
    "start",
    "stop",
    "open",
    "close",
    "pause",
    "play",
    "resume",
    "lock",
    "unlock",
    "dim",
    "brighten",
    "raise",
    "lower",
    "mute",
    "unmute",
    "activate",
    "deactivate",
    "put",
    "make",
    "change",
    "adjust",
    "send",
    "return",
    "skip",
];

/// A vacuum's commands, by the words that say them: the state values each
/// may be written as, in order of preference (Home Assistant's `vacuum`
/// states and the MQTT state schema's commands).
pub const VACUUM_WORDS: &[(&[&str], &[&str])] = &[
    (
        &[
            "dock", "base", "home", "charger", "charging", "return", "back",
        ],
        &["returning", "return_to_base", "docked", "dock"],
    ),
    (&["pause"], &["paused", "pause"]),
    (&["stop", "halt"], &["idle", "stopped", "stop"]),
    (
        &[
            "start",
            "clean",
            "vacuum",
            "vacuuming",
            "hoover",
            "hoovering",
            "resume",
        ],
        &["cleaning", "start"],
    ),
];

/// Words that move a value from where it is, first match wins: the
/// direction (up = towards the top of the range) and what they are about
/// ([`super::relative`]).
pub const RELATIVE_WORDS: &[(&[&str], bool, super::relative::Affinity)] = {
    use super::relative::Affinity::*;
    &[
        (&["brighter", "brighten", "lighter"], true, Brightness),
        (&["dimmer", "dim", "darker"], false, Brightness),
        (&["louder"], true, Volume),
        (&["quieter", "softer"], false, Volume),
        (&["warmer", "hotter"], true, Warmth),
        (&["cooler", "colder"], false, Warmth),
        (&["increase", "raise", "higher", "boost"], true, Any),
        (&["decrease", "reduce", "lower"], false, Any),
        // Only with a size or "by N": "open the skylight by another 25%".
        (&["open", "extend"], true, Any),
        (&["close", "shut", "retract"], false, Any),
    ]
};

/// Verbs that open and close, and move a value only with a size or "by N".
pub const OPENING_WORDS: &[&str] = &["open", "extend", "close", "shut", "retract"];

/// Verbs that move a value with "up" or "down": "turn the heating up",
/// "crank up the volume".
pub const RELATIVE_MOVERS: &[&str] = &[
    "turn", "crank", "bump", "nudge", "push", "knock", "bring", "put", "move", "pump", "ramp",
    "notch", "volume",
];

/// Sizes of a relative change: half a step, and two and a half.
pub const RELATIVE_SMALL: &[&str] = &["bit", "little", "slightly", "touch", "tad", "smidge"];
pub const RELATIVE_LARGE: &[&str] = &["lot", "much", "way", "far", "lots", "significantly"];

/// "by 2 steps": a count of plain steps.
pub const STEP_WORDS: &[&str] = &[
    "step", "steps", "notch", "notches", "level", "levels", "click", "clicks",
];

/// Levels of an ordered setting, lowest first (fan speeds, modes that are
/// levels): a relative change moves along them.
pub const ORDERED_LEVELS: &[&str] = &[
    "off",
    "lowest",
    "silent",
    "quiet",
    "low",
    "medium_low",
    "medium",
    "mid",
    "normal",
    "medium_high",
    "high",
    "highest",
    "max",
    "turbo",
    "boost",
];

/// Every word of a relative change or a toggle, for the resolver's
/// vocabulary (so that "a bit brighter" names nothing unknown).
pub fn relative_vocabulary() -> impl Iterator<Item = &'static str> {
    RELATIVE_WORDS
        .iter()
        .flat_map(|(words, _, _)| words.iter().copied())
        .chain(RELATIVE_MOVERS.iter().copied())
        .chain(RELATIVE_SMALL.iter().copied())
        .chain(RELATIVE_LARGE.iter().copied())
        .chain(STEP_WORDS.iter().copied())
        .chain([
            "toggle",
            "flip",
            "up",
            "down",
            "by",
            "another",
            "further",
            "extra",
            "additional",
        ])
}
