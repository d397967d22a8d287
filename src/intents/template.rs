//! hassil's template syntax, parsed into expressions.
//!
//! Home Assistant's intent sentences are written in the syntax documented by
//! `hassil` (<https://github.com/home-assistant/hassil>, README "Sentence
//! templates"):
//! - `(a|b|c)` an alternative, `[a]` an optional part (an alternative with
//!   the empty text), `(a;b;c)` a permutation (every order, words apart);
//! - `{list}` or `{list:slot}` a slot filled from a list of values, a range
//!   of numbers, a wildcard, or the registry's names, areas and floors;
//! - `<rule>` an expansion rule, defined once per language;
//! - everything else is text, matched case-insensitively; spaces are word
//!   boundaries, and text glued to an optional part (`fan[s]`) is one word.
//!
//! Parsing is separate from matching ([`super::matcher`]) so that a template
//! is parsed once per language and rules are expanded at load time.

use std::fmt;

/// One parsed template.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// Literal text, lowercased, with runs of whitespace folded to one space.
    Text(String),
    /// Parts matched one after the other.
    Seq(Vec<Expr>),
    /// Exactly one of the parts; an optional part is an alternative with an
    /// empty [`Expr::Seq`].
    Alt(Vec<Expr>),
    /// All parts in any order, separated by word boundaries.
    Perm(Vec<Expr>),
    /// `{list}` or `{list:slot}`: `slot` is the name the value is given.
    List { list: String, slot: String },
    /// `<rule>`: replaced by the rule's body when a language is loaded.
    Rule(String),
}

/// A template that does not follow hassil's syntax.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template \"{template}\": {problem} at character {at}")]
pub struct TemplateError {
    pub template: String,
    pub problem: &'static str,
    /// Character offset (0-based) where the problem was found.
    pub at: usize,
}

impl Expr {
    /// The empty sequence: what an optional part matches when it is left out.
    pub fn empty() -> Self {
        Expr::Seq(Vec::new())
    }

    /// Calls `f` on this expression and every expression inside it.
    pub fn walk(&self, f: &mut impl FnMut(&Expr)) {
        f(self);
        if let Expr::Seq(v) | Expr::Alt(v) | Expr::Perm(v) = self {
            for e in v {
                e.walk(f);
            }
        }
    }
}

/// Parses one template.
///
/// # Errors
/// [`TemplateError`] for an unbalanced bracket, an empty `{}` or `<>`, or a
/// `;` outside parentheses.
pub fn parse(template: &str) -> Result<Expr, TemplateError> {
    let chars: Vec<char> = template.chars().collect();
    let mut p = Parser {
        template,
        chars: &chars,
        at: 0,
    };
    // A whole template may be alternatives or a permutation without
    // brackets (`a|b`, `a;b`), as hassil allows.
    let mut items = vec![p.sequence(&['|', ';'])?];
    let mut permutation = false;
    while let Some(&c @ ('|' | ';')) = p.chars.get(p.at) {
        permutation |= c == ';';
        p.at += 1;
        items.push(p.sequence(&['|', ';'])?);
    }
    if p.at < chars.len() {
        return Err(p.error("unbalanced closing bracket"));
    }
    Ok(if items.len() == 1 {
        items.pop().expect("one item")
    } else if permutation {
        Expr::Perm(items)
    } else {
        Expr::Alt(items)
    })
}

struct Parser<'a> {
    template: &'a str,
    chars: &'a [char],
    at: usize,
}

impl Parser<'_> {
    fn error(&self, problem: &'static str) -> TemplateError {
        TemplateError {
            template: self.template.to_string(),
            problem,
            at: self.at,
        }
    }

    /// Parts up to (not including) one of `stops` or the end.
    fn sequence(&mut self, stops: &[char]) -> Result<Expr, TemplateError> {
        let mut parts = Vec::new();
        let mut text = String::new();
        while let Some(&c) = self.chars.get(self.at) {
            if stops.contains(&c) {
                break;
            }
            match c {
                '(' | '[' | '{' | '<' => {
                    flush(&mut text, &mut parts);
                    self.at += 1;
                    parts.push(match c {
                        '(' => self.group(')')?,
                        '[' => self.group(']')?,
                        '{' => self.list()?,
                        _ => self.rule()?,
                    });
                }
                ')' | ']' | '|' | ';' => {
                    return Err(self.error(if c == ';' || c == '|' {
                        "`|` or `;` outside brackets"
                    } else {
                        "unbalanced closing bracket"
                    }));
                }
                '\\' => {
                    self.at += 1;
                    if let Some(&next) = self.chars.get(self.at) {
                        text.push(next);
                        self.at += 1;
                    }
                }
                _ => {
                    text.push(c);
                    self.at += 1;
                }
            }
        }
        flush(&mut text, &mut parts);
        Ok(if parts.len() == 1 {
            parts.pop().expect("one part")
        } else {
            Expr::Seq(parts)
        })
    }

    /// `(…)` or `[…]` after its opening bracket.
    fn group(&mut self, close: char) -> Result<Expr, TemplateError> {
        let mut items = Vec::new();
        let mut permutation = false;
        loop {
            items.push(self.sequence(&[close, '|', ';'])?);
            match self.chars.get(self.at) {
                Some('|') => self.at += 1,
                Some(';') if close == ')' => {
                    permutation = true;
                    self.at += 1;
                }
                Some(&c) if c == close => {
                    self.at += 1;
                    break;
                }
                Some(_) => return Err(self.error("`;` inside an optional part")),
                None => return Err(self.error("unclosed bracket")),
            }
        }
        if close == ']' {
            items.push(Expr::empty());
            return Ok(Expr::Alt(items));
        }
        Ok(if permutation {
            Expr::Perm(items)
        } else if items.len() == 1 {
            items.pop().expect("one item")
        } else {
            Expr::Alt(items)
        })
    }

    fn name_until(&mut self, close: char) -> Result<String, TemplateError> {
        let start = self.at;
        while let Some(&c) = self.chars.get(self.at) {
            if c == close {
                let name: String = self.chars[start..self.at].iter().collect();
                self.at += 1;
                let name = name.trim().to_string();
                if name.is_empty() {
                    return Err(self.error("empty name"));
                }
                return Ok(name);
            }
            self.at += 1;
        }
        Err(self.error("unclosed bracket"))
    }

    fn list(&mut self) -> Result<Expr, TemplateError> {
        let name = self.name_until('}')?;
        let (list, slot) = match name.split_once(':') {
            Some((l, s)) => (l.trim().to_string(), s.trim().to_string()),
            None => (name.clone(), name),
        };
        Ok(Expr::List { list, slot })
    }

    fn rule(&mut self) -> Result<Expr, TemplateError> {
        Ok(Expr::Rule(self.name_until('>')?))
    }
}

/// Pushes accumulated text as one [`Expr::Text`], lowercased, whitespace folded.
fn flush(text: &mut String, parts: &mut Vec<Expr>) {
    if text.is_empty() {
        return;
    }
    let mut folded = String::with_capacity(text.len());
    let mut space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            space = true;
        } else {
            if space {
                folded.push(' ');
            }
            space = false;
            folded.extend(c.to_lowercase());
        }
    }
    if space {
        folded.push(' ');
    }
    parts.push(Expr::Text(folded));
    text.clear();
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Text(t) => f.write_str(t),
            Expr::Seq(v) => v.iter().try_for_each(|e| write!(f, "{e}")),
            Expr::Alt(v) => {
                f.write_str("(")?;
                for (i, e) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str("|")?;
                    }
                    write!(f, "{e}")?;
                }
                f.write_str(")")
            }
            Expr::Perm(v) => {
                f.write_str("(")?;
                for (i, e) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(";")?;
                    }
                    write!(f, "{e}")?;
                }
                f.write_str(")")
            }
            Expr::List { list, slot } if list == slot => write!(f, "{{{list}}}"),
            Expr::List { list, slot } => write!(f, "{{{list}:{slot}}}"),
            Expr::Rule(r) => write!(f, "<{r}>"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Expr {
        Expr::Text(s.into())
    }

    #[test]
    fn optional_parts_are_alternatives_with_the_empty_text() {
        assert_eq!(
            parse("turn on [the] light").unwrap(),
            Expr::Seq(vec![
                t("turn on "),
                Expr::Alt(vec![t("the"), Expr::empty()]),
                t(" light"),
            ])
        );
    }

    #[test]
    fn alternatives_permutations_lists_and_rules_are_recognised() {
        let e = parse("<turn> (on;[in] here) {area} {brightness_level:brightness}").unwrap();
        let Expr::Seq(parts) = e else { panic!() };
        assert_eq!(parts[0], Expr::Rule("turn".into()));
        assert!(matches!(&parts[2], Expr::Perm(v) if v.len() == 2));
        assert_eq!(
            parts[4],
            Expr::List {
                list: "area".into(),
                slot: "area".into()
            }
        );
        assert_eq!(
            parts[6],
            Expr::List {
                list: "brightness_level".into(),
                slot: "brightness".into()
            }
        );
        assert_eq!(
            parse("(a|b|c)").unwrap(),
            Expr::Alt(vec![t("a"), t("b"), t("c")])
        );
    }

    #[test]
    fn text_is_lowercased_and_whitespace_folded() {
        assert_eq!(parse("Turn   ON").unwrap(), t("turn on"));
    }

    #[test]
    fn glued_optional_text_stays_glued() {
        assert_eq!(
            parse("fan[s]").unwrap(),
            Expr::Seq(vec![t("fan"), Expr::Alt(vec![t("s"), Expr::empty()])])
        );
    }

    #[test]
    fn unbalanced_templates_are_errors_with_the_position() {
        assert_eq!(parse("turn (on").unwrap_err().problem, "unclosed bracket");
        assert_eq!(parse("turn on)").unwrap_err().at, 7);
        assert_eq!(parse("a|b").unwrap(), Expr::Alt(vec![t("a"), t("b")]));
        assert_eq!(parse("a;b").unwrap(), Expr::Perm(vec![t("a"), t("b")]));
        assert!(parse("{}").is_err());
        assert!(parse("[a;b]").is_err());
    }

    #[test]
    fn display_round_trips_the_syntax() {
        for s in ["turn on (the|my) {name}", "(on;<here>)", "{a:b}[s]"] {
            let e = parse(s).unwrap();
            assert_eq!(parse(&e.to_string()).unwrap(), e, "{s}");
        }
    }
}
