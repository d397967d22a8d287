//! Keys to actions, in one table: the event loop looks keys up here and the
//! help overlay and the footer are generated from it, so neither can lie.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Where the keyboard focus is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Tree,
    Goal,
    Filter,
    Dialog,
    Form,
    Help,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    Up,
    Down,
    Collapse,
    Expand,
    Top,
    Bottom,
    FocusNext,
    GoalLine,
    Filter,
    ToggleTopics,
    SetValue,
    Help,
    Submit,
    Cancel,
    Confirm,
    Reject,
    /// Cancel the selected schedule, remove the selected rule.
    Delete,
    /// Disable (or enable again) the selected rule.
    ToggleRule,
}

pub struct Binding {
    pub keys: &'static str,
    pub focus: &'static [Focus],
    pub action: Action,
    pub help: &'static str,
    matches: fn(&KeyEvent) -> bool,
}

fn ch(e: &KeyEvent, c: char) -> bool {
    e.code == KeyCode::Char(c) && !e.modifiers.contains(KeyModifiers::CONTROL)
}

const TREE: &[Focus] = &[Focus::Tree];
const ANY: &[Focus] = &[
    Focus::Tree,
    Focus::Goal,
    Focus::Filter,
    Focus::Dialog,
    Focus::Form,
    Focus::Help,
];
const TYPING: &[Focus] = &[Focus::Goal, Focus::Filter, Focus::Form];

/// Every binding, in the order the help shows them.
pub const BINDINGS: &[Binding] = &[
    Binding {
        keys: "↑/k",
        focus: TREE,
        action: Action::Up,
        help: "move up",
        matches: |e| e.code == KeyCode::Up || ch(e, 'k'),
    },
    Binding {
        keys: "↓/j",
        focus: TREE,
        action: Action::Down,
        help: "move down",
        matches: |e| e.code == KeyCode::Down || ch(e, 'j'),
    },
    Binding {
        keys: "←/h",
        focus: TREE,
        action: Action::Collapse,
        help: "collapse",
        matches: |e| e.code == KeyCode::Left || ch(e, 'h'),
    },
    Binding {
        keys: "→/l",
        focus: TREE,
        action: Action::Expand,
        help: "expand",
        matches: |e| e.code == KeyCode::Right || ch(e, 'l'),
    },
    Binding {
        keys: "g/G",
        focus: TREE,
        action: Action::Top,
        help: "first / last",
        matches: |e| ch(e, 'g') || e.code == KeyCode::Home,
    },
    Binding {
        keys: "G",
        focus: TREE,
        action: Action::Bottom,
        help: "",
        matches: |e| ch(e, 'G') || e.code == KeyCode::End,
    },
    Binding {
        keys: ":",
        focus: TREE,
        action: Action::GoalLine,
        help: "type a goal",
        matches: |e| ch(e, ':'),
    },
    Binding {
        keys: "/",
        focus: TREE,
        action: Action::Filter,
        help: "filter the tree",
        matches: |e| ch(e, '/'),
    },
    Binding {
        keys: "t",
        focus: TREE,
        action: Action::ToggleTopics,
        help: "next tab (devices … schedules, rules)",
        matches: |e| ch(e, 't'),
    },
    Binding {
        keys: "x",
        focus: TREE,
        action: Action::Delete,
        help: "cancel schedule / remove rule",
        matches: |e| ch(e, 'x') || e.code == KeyCode::Delete,
    },
    Binding {
        keys: "d",
        focus: TREE,
        action: Action::ToggleRule,
        help: "disable / enable rule",
        matches: |e| ch(e, 'd'),
    },
    Binding {
        keys: "s",
        focus: TREE,
        action: Action::SetValue,
        help: "set the selected capability",
        matches: |e| ch(e, 's'),
    },
    Binding {
        keys: "Tab",
        focus: &[Focus::Tree, Focus::Goal],
        action: Action::FocusNext,
        help: "switch focus",
        matches: |e| e.code == KeyCode::Tab,
    },
    Binding {
        keys: "Enter",
        focus: TYPING,
        action: Action::Submit,
        help: "run / apply",
        matches: |e| e.code == KeyCode::Enter,
    },
    Binding {
        keys: "Esc",
        focus: &[
            Focus::Goal,
            Focus::Filter,
            Focus::Form,
            Focus::Help,
            Focus::Dialog,
        ],
        action: Action::Cancel,
        help: "back",
        matches: |e| e.code == KeyCode::Esc,
    },
    Binding {
        keys: "y",
        focus: &[Focus::Dialog],
        action: Action::Confirm,
        help: "yes, go ahead",
        matches: |e| ch(e, 'y') || ch(e, 'Y'),
    },
    Binding {
        keys: "n",
        focus: &[Focus::Dialog],
        action: Action::Reject,
        help: "no, do nothing",
        matches: |e| ch(e, 'n') || ch(e, 'N'),
    },
    Binding {
        keys: "?",
        focus: &[Focus::Tree, Focus::Help],
        action: Action::Help,
        help: "this help",
        matches: |e| ch(e, '?'),
    },
    Binding {
        keys: "q",
        focus: TREE,
        action: Action::Quit,
        help: "quit",
        matches: |e| ch(e, 'q'),
    },
    Binding {
        keys: "Ctrl-C",
        focus: ANY,
        action: Action::Quit,
        help: "quit",
        matches: |e| e.code == KeyCode::Char('c') && e.modifiers.contains(KeyModifiers::CONTROL),
    },
];

/// The action a key has where the focus is, if any.
pub fn lookup(focus: Focus, key: &KeyEvent) -> Option<Action> {
    BINDINGS
        .iter()
        .find(|b| b.focus.contains(&focus) && (b.matches)(key))
        .map(|b| b.action)
}

/// Bindings shown for a focus (in the footer), from the same table.
pub fn shown(focus: Focus) -> impl Iterator<Item = &'static Binding> {
    BINDINGS
        .iter()
        .filter(move |b| b.focus.contains(&focus) && !b.help.is_empty())
}
