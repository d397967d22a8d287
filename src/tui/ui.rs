//! Drawing the app. Pure: reads [`App`], writes a frame; never waits on
//! anything. The tree is built only as far as it is open, so a broker with
//! tens of thousands of topics costs what is visible, not what exists.

use std::time::SystemTime;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Row, Sparkline, Table, Tabs, Wrap};
use serde_json::Value;
use tui_tree_widget::{Tree, TreeItem};

use super::app::{App, ModelStatus, View};
use super::keymap::{self, Focus};
use crate::market::protocol::Status;
use crate::registry::CapabilityType;
use crate::registry::value::display_value;

const ACCENT: Color = Color::Cyan;

pub fn draw(frame: &mut Frame, app: &mut App) {
    let [tabs, body, goal, status, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(6),
        Constraint::Length(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    draw_tabs(frame, app, tabs);
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(body);
    let [detail, talk] =
        Layout::vertical([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(right);
    match app.view {
        View::Market => draw_market(frame, app, left),
        View::Audit => draw_audit(frame, app, left),
        View::Devices | View::Topics | View::Schedules | View::Rules => draw_tree(frame, app, left),
    }
    draw_detail(frame, app, detail);
    draw_conversation(frame, app, talk);
    draw_goal(frame, app, goal);
    draw_status(frame, app, status);
    draw_footer(frame, app, footer);
    match app.focus {
        Focus::Dialog => draw_dialog(frame, app),
        Focus::Help => draw_help(frame),
        Focus::Form => draw_form(frame, app),
        _ => {}
    }
}

fn draw_tabs(frame: &mut Frame, app: &App, area: Rect) {
    let selected = match app.view {
        View::Devices => 0,
        View::Topics => 1,
        View::Market => 2,
        View::Audit => 3,
        View::Schedules => 4,
        View::Rules => 5,
    };
    let tabs = Tabs::new([
        "Devices",
        "All topics",
        "Market",
        "Audit",
        "Schedules",
        "Rules",
    ])
    .select(selected)
    .highlight_style(Style::new().fg(ACCENT).bold())
    .divider("|");
    frame.render_widget(tabs, area);
}

fn focused(block: Block<'_>, on: bool) -> Block<'_> {
    if on {
        block.border_style(Style::new().fg(ACCENT))
    } else {
        block
    }
}

fn age(t: SystemTime) -> String {
    let secs = SystemTime::now()
        .duration_since(t)
        .map_or(0, |d| d.as_secs());
    match secs {
        0..=59 => format!("{secs}s ago"),
        60..=3599 => format!("{}m ago", secs / 60),
        _ => format!("{}h ago", secs / 3600),
    }
}

fn device_items(app: &App) -> Vec<TreeItem<'static, String>> {
    let registry = app.fleet().registry();
    let filter = app.filter.value().to_lowercase();
    let mut rooms: Vec<Option<&str>> = registry.rooms().into_iter().map(Some).collect();
    rooms.push(None);
    let mut items = Vec::new();
    for room in rooms {
        let mut devices = Vec::new();
        for d in registry
            .devices()
            .iter()
            .filter(|d| d.room.as_deref() == room)
        {
            let hay = format!(
                "{} {} {} {}",
                d.id,
                d.name,
                d.room.as_deref().unwrap_or(""),
                d.kind
            )
            .to_lowercase();
            if !filter.is_empty() && !hay.contains(&filter) {
                continue;
            }
            let state = app.fleet().state(&d.id);
            let changed = app.changed.contains_key(&d.state_topic);
            let caps: Vec<TreeItem<'static, String>> = d
                .capabilities
                .iter()
                .map(|c| {
                    let value = state
                        .as_ref()
                        .and_then(|s| s.get(&c.name))
                        .map_or_else(|| "–".to_string(), |v| display_value(v, c.unit.as_deref()));
                    let mut spans = vec![
                        Span::raw(format!("{:<20} ", c.name)),
                        Span::styled(value, Style::new().bold()),
                    ];
                    if c.readonly {
                        spans.push(Span::styled(" ro", Style::new().dim()));
                    }
                    TreeItem::new_leaf(format!("cap:{}/{}", d.id, c.name), Line::from(spans))
                })
                .collect();
            let mut label = vec![Span::raw(d.name.clone())];
            if d.safety == crate::registry::Safety::Confirm {
                label.push(Span::styled(" [confirm]", Style::new().fg(Color::Yellow)));
            }
            if state.is_none() {
                label.push(Span::styled(" (no state)", Style::new().dim()));
            }
            if changed {
                label.push(Span::styled(" ●", Style::new().fg(Color::Green)));
            }
            if let Ok(item) = TreeItem::new(format!("dev:{}", d.id), Line::from(label), caps) {
                devices.push(item);
            }
        }
        if devices.is_empty() {
            continue;
        }
        let name = room.map_or_else(|| "(no room)".to_string(), |r| r.replace('_', " "));
        if let Ok(item) = TreeItem::new(format!("room:{}", room.unwrap_or("")), name, devices) {
            items.push(item);
        }
    }
    items
}

/// The raw topic tree, built only under opened nodes.
/// One row per schedule, soonest first: when, how often, what.
fn schedule_items(app: &App) -> Vec<TreeItem<'static, String>> {
    app.schedules()
        .into_iter()
        .map(|s| {
            TreeItem::new_leaf(
                format!("sched:{}", s.id),
                format!(
                    "{}  {}  {}  ({})",
                    s.next_local().strftime("%a %d %b %H:%M %Z"),
                    s.timing.describe(),
                    s.goal,
                    s.id
                ),
            )
        })
        .collect()
}

/// One row per standing rule, in the order they were armed.
fn rule_items(app: &App) -> Vec<TreeItem<'static, String>> {
    app.rules()
        .into_iter()
        .map(|r| TreeItem::new_leaf(format!("rule:{}", r.info.id), r.line()))
        .collect()
}

fn topic_items(app: &App) -> Vec<TreeItem<'static, String>> {
    let opened: std::collections::HashSet<String> = app
        .tree
        .opened()
        .iter()
        .filter_map(|path| path.last().cloned())
        .collect();
    let filter = app.filter.value().to_lowercase();
    let topics = app
        .fleet()
        .tree()
        .iter()
        .filter(|(t, _)| filter.is_empty() || t.to_lowercase().contains(&filter))
        .map(|(t, e)| (t.as_str(), e));
    let nodes = super::topics::build(topics, &|id| opened.contains(id));
    tree_items(&nodes, &|e, key| {
        let mut spans = vec![Span::styled(
            format!(" = {}", payload_preview(e, 60)),
            Style::new().dim(),
        )];
        if app.changed.contains_key(key) {
            spans.push(Span::styled(" ●", Style::new().fg(Color::Green)));
        }
        spans
    })
}

/// A payload as shown in the topic view: its start as text, or, for a
/// message too large to take, that it was skipped and its size.
pub(crate) fn payload_preview(e: &crate::mqtt::tree::TopicEntry, max: usize) -> String {
    match e.skipped {
        Some(size) => format!("(skipped: {size} bytes, too large)"),
        None => String::from_utf8_lossy(&e.payload[..e.payload.len().min(max)]).into_owned(),
    }
}

/// The tree widget's items for topic nodes; `own` labels a node that is
/// itself a topic (given its entry and topic).
pub(crate) fn tree_items(
    nodes: &[super::topics::TopicNode<'_>],
    own: &dyn Fn(&crate::mqtt::tree::TopicEntry, &str) -> Vec<Span<'static>>,
) -> Vec<TreeItem<'static, String>> {
    nodes
        .iter()
        .map(|n| {
            let id = n.id();
            let mut label = vec![if n.name.is_empty() {
                Span::styled("(empty)", Style::new().dim().italic())
            } else {
                Span::raw(n.name.to_string())
            }];
            if let Some(e) = n.entry {
                label.extend(own(e, &n.key));
            }
            if n.below > 0 {
                label.push(Span::styled(format!(" ({})", n.below), Style::new().dim()));
            }
            let children = match &n.children {
                Some(children) => tree_items(children, own),
                // Not opened: a placeholder so the node shows as expandable.
                None => vec![TreeItem::new_leaf(format!("{id}/…"), "…")],
            };
            TreeItem::new(id.clone(), Line::from(label), children)
                .unwrap_or_else(|_| TreeItem::new_leaf(id, n.key.clone()))
        })
        .collect()
}

/// The market tab: the last round's summary, the menu with what each item
/// drew and delivered, a proposed menu with its audit while it waits for
/// the operator's yes, and server utility over the last rounds.
fn draw_market(frame: &mut Frame, app: &App, area: Rect) {
    let block = Block::bordered().title(" Market ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(market) = app.fleet().registry().market.as_ref() else {
        frame.render_widget(
            Paragraph::new("No market: devices.yaml has no market: section.").dim(),
            inner,
        );
        return;
    };
    let proposed = app.proposal();
    let topic = format!("giot/market/{}/status", market.id);
    // A retained status that is not the supervisor's reads as none.
    let status = (app.fleet().tree().json_object(&topic))
        .and_then(|s| serde_json::from_value::<Status>(Value::Object(s)).ok());
    let mut lines = Vec::new();
    let mut chart = Vec::new();
    match &status {
        None => lines.push(
            Line::from(format!(
                "{} market: no round seen yet (start one with `giot market run`).",
                market.id
            ))
            .dim(),
        ),
        Some(status) => {
            let flagged = status.flagged.as_deref().unwrap_or_default();
            let silent = status.silent.as_deref().unwrap_or_default();
            let listed = |v: &[String]| {
                if v.is_empty() {
                    "none".to_string()
                } else {
                    v.join(", ")
                }
            };
            let colour = |v: &[String]| {
                if v.is_empty() {
                    Color::Green
                } else {
                    Color::Red
                }
            };
            lines.push(Line::from(Span::styled(
                format!(
                    "{} market, round {} (menu from round {})",
                    market.id, status.round, status.menu_from_round
                ),
                Style::new().bold(),
            )));
            lines.push(Line::from(format!(
                "participation {:.0}%   server utility {:.2}",
                status.participation.unwrap_or(0.0) * 100.0,
                status.server_utility.unwrap_or(0.0),
            )));
            lines.push(Line::from(format!(
                "payments {:.2}",
                status.payments.unwrap_or(0.0)
            )));
            lines.push(Line::from(vec![
                Span::raw("flagged: "),
                Span::styled(listed(flagged), Style::new().fg(colour(flagged))),
                Span::raw("   silent: "),
                Span::styled(listed(silent), Style::new().fg(colour(silent))),
            ]));
            if let Some(p) = &status.proposal {
                lines.push(Line::from(format!(
                    "last proposal: {}{}",
                    p.decision(),
                    p.reason().map(|r| format!(" ({r})")).unwrap_or_default()
                )));
            }
            lines.push(Line::from(""));
            lines.push(Line::from("type  theta  quality q  reward R  chose  got q").dim());
            let items = status.menu.as_ref().map_or(&[][..], |m| &m.items);
            for (i, it) in items.iter().enumerate() {
                let chose = (status.choices.as_ref().and_then(|c| c.get(i)))
                    .map_or("–".into(), |n| n.to_string());
                let got = (status.delivered.as_ref().and_then(|d| d.get(i)))
                    .and_then(|d| d.measured)
                    .map_or("–".into(), |q| format!("{q:.2}"));
                lines.push(Line::from(format!(
                    "{:>4}  {:>5.2}  {:>9.2}  {:>8.2}  {chose:>5}  {got:>5}",
                    i + 1,
                    market.state.theta.get(i).copied().unwrap_or(0.0),
                    it.q,
                    it.r
                )));
            }
            let utility: Vec<f64> = status.history.iter().map(|r| r.server_utility).collect();
            // From zero, so that a 1% change looks like one.
            let top = utility.iter().fold(0.0f64, |m, x| m.max(x.abs())).max(1e-9);
            chart = utility
                .iter()
                .map(|x| (1.0 + x.max(0.0) / top * 99.0) as u64)
                .collect();
        }
    }
    if let Some(p) = proposed {
        lines.push(Line::from(""));
        lines.push(Line::from(Span::styled(
            "Proposed menu, waiting for your yes (y/n):",
            Style::new().fg(Color::Yellow).bold(),
        )));
        lines.push(Line::from("type  theta  quality q  reward R").dim());
        for (i, it) in p.menu.items.iter().enumerate() {
            lines.push(Line::from(format!(
                "{:>4}  {:>5.2}  {:>9.2}  {:>8.2}",
                i + 1,
                market.state.theta.get(i).copied().unwrap_or(0.0),
                it.q,
                it.r
            )));
        }
        lines.push(Line::from(format!("audit: {}", p.audit)));
    }
    let [text, graph] = Layout::vertical([
        Constraint::Length(lines.len() as u16 + 1),
        Constraint::Min(0),
    ])
    .areas(inner);
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), text);
    if status.is_some() {
        let title = format!(" server utility over {} rounds ", chart.len());
        frame.render_widget(
            Sparkline::default()
                .block(Block::new().borders(Borders::TOP).title(title))
                .data(&chart)
                .max(100)
                .style(Style::new().fg(ACCENT)),
            graph,
        );
    }
}

/// The audit tab: the ledger's verification state and its newest entries.
fn draw_audit(frame: &mut Frame, app: &App, area: Rect) {
    let block = Block::bordered().title(" Audit: ledger, newest first ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(audit) = &app.audit else {
        frame.render_widget(
            Paragraph::new("No ledger checked yet (or --no-ledger).").dim(),
            inner,
        );
        return;
    };
    let mut lines = vec![Line::from(Span::styled(
        audit.verdict.clone(),
        Style::new()
            .fg(if audit.ok { Color::Green } else { Color::Red })
            .bold(),
    ))];
    lines.extend(audit.lines.iter().map(|l| Line::from(l.clone())));
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

fn draw_tree(frame: &mut Frame, app: &mut App, area: Rect) {
    let items = match app.view {
        View::Devices => device_items(app),
        View::Schedules => schedule_items(app),
        View::Rules => rule_items(app),
        _ => topic_items(app),
    };
    let title = match (app.view, app.filter.value()) {
        (View::Schedules, _) => format!(
            " Schedules ({}): x cancels the selected one ",
            app.schedules().len()
        ),
        (View::Rules, _) => format!(
            " Rules ({}): d disables or enables, x removes the selected one ",
            app.rules().len()
        ),
        (View::Devices, "") => format!(" Devices ({}) ", app.fleet().registry().len()),
        (_, "") => format!(" Topics ({}) ", app.fleet().tree().len()),
        (_, f) => format!(" filter: {f} "),
    };
    let block = focused(
        Block::bordered().title(title),
        matches!(app.focus, Focus::Tree | Focus::Filter),
    );
    if let Ok(tree) = Tree::new(&items) {
        let tree = tree
            .block(block)
            .highlight_style(
                Style::new()
                    .bg(Color::DarkGray)
                    .add_modifier(Modifier::BOLD),
            )
            .highlight_symbol("› ");
        frame.render_stateful_widget(tree, area, &mut app.tree);
    }
}

fn history(app: &App, topic: &str, capability: Option<&str>) -> Vec<u64> {
    let Some(entry) = app.fleet().tree().get(topic) else {
        return Vec::new();
    };
    let number = |payload: &[u8]| -> Option<f64> {
        let v: Value = serde_json::from_slice(payload).ok()?;
        match capability {
            Some(c) => v.get(c)?.as_f64(),
            None => v.as_f64(),
        }
    };
    let values: Vec<f64> = entry
        .history
        .iter()
        .map(|(_, p)| p.as_ref())
        .chain(std::iter::once(entry.payload.as_ref()))
        .filter_map(number)
        .collect();
    scaled(&values)
}

/// Values scaled to 1..=100 for a sparkline.
fn scaled(values: &[f64]) -> Vec<u64> {
    let (lo, hi) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        });
    let span = (hi - lo).max(1e-9);
    values
        .iter()
        .map(|x| (1.0 + (x - lo) / span * 99.0) as u64)
        .collect()
}

fn draw_detail(frame: &mut Frame, app: &App, area: Rect) {
    let block = Block::bordered().title(" Detail ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let mut lines: Vec<Line> = Vec::new();
    let mut spark: Option<(String, Option<String>)> = None;
    let registry = app.fleet().registry();
    if let (View::Devices, Some((dev, cap))) = (app.view, app.selected_capability())
        && let Some(d) = registry.get(&dev)
    {
        lines.push(Line::from(vec![
            Span::styled(d.name.clone(), Style::new().bold()),
            Span::raw(format!("  ({}, {})", d.id, d.kind)),
        ]));
        lines.push(Line::from(format!("state: {}", d.state_topic)));
        lines.push(Line::from(format!(
            "command: {}",
            d.command_topic.as_deref().unwrap_or("– (read-only)")
        )));
        let entry = app.fleet().tree().get(&d.state_topic);
        if let Some(e) = entry {
            lines.push(Line::from(format!(
                "updated {} · {} messages",
                age(e.updated),
                e.count
            )));
        }
        let state = app.fleet().state(&d.id);
        let rows: Vec<Row> = d
            .capabilities
            .iter()
            .filter(|c| cap.as_deref().is_none_or(|n| n == c.name))
            .map(|c| {
                let range = match &c.kind {
                    CapabilityType::Enum { values } => values.join("|"),
                    CapabilityType::Number { min, max, .. } => {
                        format!("{min}..{max}{}", c.unit.as_deref().unwrap_or(""))
                    }
                    CapabilityType::Bool => "bool".into(),
                    CapabilityType::String => "text".into(),
                };
                let value = state
                    .as_ref()
                    .and_then(|s| s.get(&c.name))
                    .map_or("–".into(), |v| display_value(v, c.unit.as_deref()));
                Row::new([
                    c.name.clone(),
                    value,
                    range,
                    if c.readonly {
                        "ro".into()
                    } else {
                        String::new()
                    },
                ])
            })
            .collect();
        let raw = entry.map(|e| payload_preview(e, 300));
        let numeric = cap
            .as_ref()
            .and_then(|n| d.capability(n))
            .is_some_and(|c| matches!(c.kind, CapabilityType::Number { .. }));
        if numeric {
            spark = Some((d.state_topic.clone(), cap.clone()));
        }
        let [head, table, rest] = Layout::vertical([
            Constraint::Length(lines.len() as u16),
            Constraint::Length(rows.len() as u16 + 1),
            Constraint::Min(0),
        ])
        .areas(inner);
        frame.render_widget(Paragraph::new(lines), head);
        let widths = [
            Constraint::Length(20),
            Constraint::Length(12),
            Constraint::Min(10),
            Constraint::Length(3),
        ];
        frame.render_widget(
            Table::new(rows, widths).header(Row::new(["capability", "value", "range", ""]).dim()),
            table,
        );
        let [payload, graph] =
            Layout::vertical([Constraint::Length(2), Constraint::Min(0)]).areas(rest);
        if let Some(raw) = raw {
            frame.render_widget(
                Paragraph::new(format!("raw: {raw}"))
                    .dim()
                    .wrap(Wrap { trim: true }),
                payload,
            );
        }
        if let Some((topic, cap)) = spark {
            let data = history(app, &topic, cap.as_deref());
            let title = format!(
                " {} history ({} values) ",
                cap.unwrap_or_default(),
                data.len()
            );
            frame.render_widget(
                Sparkline::default()
                    .block(Block::new().borders(Borders::TOP).title(title))
                    .data(&data)
                    .style(Style::new().fg(ACCENT)),
                graph,
            );
        }
        return;
    }
    if app.view == View::Rules {
        let selected = app.tree.selected().last().cloned();
        let rules = app.rules();
        let rule = selected
            .as_deref()
            .and_then(|s| s.strip_prefix("rule:"))
            .and_then(|id| rules.iter().find(|r| r.info.id == id));
        let text = match rule {
            Some(r) => rule_detail(r),
            None => vec![Line::from("Select a rule.").dim()],
        };
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), inner);
        return;
    }
    if let Some(topic) = app.selected_topic()
        && let Some(e) = app.fleet().tree().get(&topic)
    {
        let text = vec![
            Line::from(Span::styled(topic.clone(), Style::new().bold())),
            Line::from(format!(
                "updated {} · {} messages · {}",
                age(e.updated),
                e.count,
                if e.retained { "retained" } else { "live" }
            )),
            Line::from(format!("payload: {}", payload_preview(e, 500))),
        ];
        let [head, graph] =
            Layout::vertical([Constraint::Length(6), Constraint::Min(0)]).areas(inner);
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), head);
        let data = history(app, &topic, None);
        if !data.is_empty() {
            frame.render_widget(
                Sparkline::default()
                    .data(&data)
                    .style(Style::new().fg(ACCENT)),
                graph,
            );
        }
        return;
    }
    frame.render_widget(
        Paragraph::new("Select a device or a capability.").dim(),
        inner,
    );
}

/// A rule in full: what was said, when it acts, what it does, where it is.
fn rule_detail(r: &crate::session::rule::Rule) -> Vec<Line<'static>> {
    let acts = |actions: &[crate::types::RuleAction]| {
        actions
            .iter()
            .map(crate::types::RuleAction::describe)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut lines = vec![
        Line::from(Span::styled(r.info.id.clone(), Style::new().bold())),
        Line::from(format!("said: \"{}\"", r.info.said)),
        Line::from(format!("when: {}", r.info.condition.says)),
        Line::from(format!("does: {}", acts(&r.info.actions))),
    ];
    if let Some(o) = &r.info.otherwise {
        lines.push(Line::from(format!("when: {}", o.condition.says)));
        lines.push(Line::from(format!("does: {}", acts(&o.actions))));
    }
    lines.push(Line::from(format!(
        "{} · {} · rests {} s after acting · last acted {}",
        if r.info.enabled { "armed" } else { "disabled" },
        format!("{:?}", r.phase).to_lowercase(),
        r.info.min_interval_s,
        r.last_fired.map_or("never".to_string(), |t| t
            .strftime("%Y-%m-%d %H:%M:%S UTC")
            .to_string())
    )));
    lines
}

fn draw_conversation(frame: &mut Frame, app: &App, area: Rect) {
    let title = if app.agent_busy {
        " Agent (thinking…) "
    } else {
        " Agent "
    };
    let block = Block::bordered().title(title);
    let height = area.height.saturating_sub(2) as usize;
    let width = area.width.saturating_sub(2).max(1) as usize;
    // The newest lines that fit, counting wrapped rows.
    let mut rows = 0;
    let mut shown = Vec::new();
    for s in app.conversation.iter().rev() {
        let len = 6 + s.text.chars().count();
        rows += len.div_ceil(width).max(1);
        if rows > height && !shown.is_empty() {
            break;
        }
        shown.push(s);
    }
    let lines: Vec<Line> = shown
        .into_iter()
        .rev()
        .map(|s| {
            let style = match s.who {
                "you" => Style::new().fg(ACCENT).bold(),
                "agent" => Style::new().fg(Color::Green),
                _ => Style::new().dim(),
            };
            Line::from(vec![
                Span::styled(format!("{:>5} ", s.who), style),
                Span::raw(s.text.clone()),
            ])
        })
        .collect();
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        area,
    );
}

fn draw_goal(frame: &mut Frame, app: &App, area: Rect) {
    let on = app.focus == Focus::Goal;
    let block = focused(Block::bordered().title(" Goal (:) "), on);
    let width = area.width.saturating_sub(3) as usize;
    let scroll = app.goal.visual_scroll(width);
    let text = if app.goal.value().is_empty() && !on {
        Span::styled(
            "press : and type a goal, e.g. dim the hall light to 10%",
            Style::new().dim(),
        )
    } else {
        Span::raw(app.goal.value().to_string())
    };
    frame.render_widget(
        Paragraph::new(text).scroll((0, scroll as u16)).block(block),
        area,
    );
    if on {
        let x = app.goal.visual_cursor().max(scroll) - scroll + 1;
        frame.set_cursor_position((area.x + x as u16, area.y + 1));
    }
}

fn draw_status(frame: &mut Frame, app: &App, area: Rect) {
    let broker = match &app.broker_error {
        None => Span::styled(
            format!("● broker {}", app.broker_url),
            Style::new().fg(Color::Green),
        ),
        Some(e) => Span::styled(
            format!("○ broker {} down: {e}", app.broker_url),
            Style::new().fg(Color::Red),
        ),
    };
    let model = match &app.model {
        ModelStatus::Loading(name) => Span::styled(
            format!("model {name} loading…"),
            Style::new().fg(Color::Yellow),
        ),
        ModelStatus::Ready { name, .. } => Span::raw(format!("model {name}")),
        ModelStatus::Failed(_) => Span::styled("model unavailable", Style::new().fg(Color::Red)),
    };
    let latency = app
        .last_latency_ms
        .map_or("last goal –".into(), |ms| format!("last goal {ms} ms"));
    let line = Line::from(vec![
        broker,
        Span::raw(" │ "),
        model,
        Span::raw(" │ "),
        Span::raw(latency),
        Span::raw(format!(" │ {} topics", app.fleet().tree().len())),
    ]);
    frame.render_widget(
        Paragraph::new(line).style(Style::new().bg(Color::Black)),
        area,
    );
}

fn draw_footer(frame: &mut Frame, app: &App, area: Rect) {
    let spans: Vec<Span> = keymap::shown(app.focus)
        .flat_map(|b| {
            [
                Span::styled(b.keys, Style::new().fg(ACCENT)),
                Span::raw(format!(" {}  ", b.help)),
            ]
        })
        .collect();
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn popup(frame: &mut Frame, width: u16, height: u16) -> Rect {
    let area = frame.area();
    let w = width.min(area.width);
    let h = height.min(area.height);
    let rect = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    );
    frame.render_widget(Clear, rect);
    rect
}

fn draw_dialog(frame: &mut Frame, app: &App) {
    let Some(outcome) = &app.dialog else { return };
    // A standing rule to arm: nothing is published now.
    if let Some(rule) = &outcome.rule {
        let mut lines = vec![
            Line::from("Arm this standing rule? Nothing is published now."),
            Line::from(""),
        ];
        let halves = std::iter::once((&rule.condition, &rule.actions))
            .chain(rule.otherwise.iter().map(|o| (&o.condition, &o.actions)));
        for (condition, actions) in halves {
            lines.push(Line::from(format!("  when {}:", condition.says)));
            lines.extend(
                actions
                    .iter()
                    .map(|a| Line::from(format!("    {}", a.describe()))),
            );
        }
        lines.push(Line::from(""));
        lines.push(Line::from(format!(
            "It acts when its condition starts to hold, at most once every {} s, checked by the policy each time.",
            app.session_rule_interval()
        )));
        draw_question(frame, lines, " Standing rule ", " yes, arm it   ");
        return;
    }
    let mut lines = vec![
        Line::from("These devices need your confirmation. giot will publish:"),
        Line::from(""),
    ];
    if let (Some(p), Some(market)) = (app.proposal(), &app.fleet().registry().market) {
        lines[0] = Line::from(format!(
            "Propose this menu to the {} market? Its supervisor adopts it next round.",
            market.id
        ));
        for (i, it) in p.menu.items.iter().enumerate() {
            lines.push(Line::from(format!(
                "  type {}: quality {:.2} for reward {:.2}",
                i + 1,
                it.q,
                it.r
            )));
        }
        lines.push(Line::from(format!("  {}", p.audit)));
        lines.push(Line::from(""));
    }
    for a in &outcome.actions {
        // A menu's payload is the menu above; a device's is short.
        let payload = if crate::types::market_of(&a.device).is_some() {
            String::new()
        } else {
            a.payload.clone()
        };
        lines.push(Line::from(vec![
            Span::styled(format!("  {} ", a.topic), Style::new().bold()),
            Span::raw(payload),
        ]));
    }
    draw_question(frame, lines, " Confirm ", " yes, publish   ");
}

/// A yes-or-no dialog: `lines`, then the keys, in a popup sized to them
/// (long lines, an audit, wrap).
fn draw_question(frame: &mut Frame, mut lines: Vec<Line<'_>>, title: &str, yes: &str) {
    lines.push(Line::from(""));
    lines.push(Line::from(vec![
        Span::styled("y", Style::new().fg(ACCENT).bold()),
        Span::raw(yes.to_string()),
        Span::styled("n", Style::new().fg(ACCENT).bold()),
        Span::raw(" no"),
    ]));
    let rows: u16 = lines
        .iter()
        .map(|l| (l.width() as u16).div_ceil(70).max(1))
        .sum();
    let area = popup(frame, 72, rows + 2);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::bordered()
                .title(title)
                .border_style(Style::new().fg(Color::Yellow)),
        ),
        area,
    );
}

fn draw_form(frame: &mut Frame, app: &App) {
    let Some(form) = &app.form else { return };
    let range = app
        .fleet()
        .registry()
        .get(&form.device)
        .and_then(|d| d.capability(&form.capability))
        .map(|c| match &c.kind {
            CapabilityType::Enum { values } => values.join("|"),
            CapabilityType::Number { min, max, .. } => format!("{min}..{max}"),
            _ => String::new(),
        })
        .unwrap_or_default();
    let mut lines = vec![
        Line::from(format!("{}.{} ({range})", form.device, form.capability)),
        Line::from(format!("> {}", form.input.value())),
    ];
    if let Some(e) = &form.error {
        lines.push(Line::from(Span::styled(
            e.clone(),
            Style::new().fg(Color::Red),
        )));
    }
    let area = popup(frame, 60, 5);
    frame.render_widget(
        Paragraph::new(lines)
            .block(Block::bordered().title(" Set value (Enter to publish, Esc to cancel) ")),
        area,
    );
}

fn draw_help(frame: &mut Frame) {
    let rows: Vec<Row> = keymap::BINDINGS
        .iter()
        .filter(|b| !b.help.is_empty())
        .map(|b| Row::new([b.keys.to_string(), b.help.to_string()]))
        .collect();
    let area = popup(frame, 50, rows.len() as u16 + 2);
    let table = Table::new(rows, [Constraint::Length(10), Constraint::Min(10)])
        .block(Block::bordered().title(" Keys (Esc to close) "));
    frame.render_widget(table, area);
}
