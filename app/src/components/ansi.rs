//! ANSI colours in log lines: SGR escape sequences (`ESC [ … m`) become styled spans, every
//! other escape or control sequence is dropped, and search matches are marked on the text a
//! person sees (so a match may span a colour change and never matches escape bytes).
//!
//! The 16 basic colours are CSS classes (`ansi-fg-1`…), so light and dark themes tune them;
//! 256-colour and true-colour codes become inline colours.

use leptos::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Color {
    /// 0–7 normal, 8–15 bright.
    Basic(u8),
    /// 16–255 of the xterm palette.
    Indexed(u8),
    Rgb(u8, u8, u8),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Style {
    pub fg: Option<Color>,
    pub bg: Option<Color>,
    pub bold: bool,
    pub dim: bool,
    pub italic: bool,
    pub underline: bool,
    pub inverse: bool,
}

/// Text in one style.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    pub style: Style,
    pub text: String,
}

/// Splits a line into styled runs; escape sequences are consumed, never shown.
pub fn parse(input: &str) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    let mut style = Style::default();
    let mut text = String::new();
    let mut chars = input.chars().peekable();
    let flush = |runs: &mut Vec<Run>, text: &mut String, style: Style| {
        if !text.is_empty() {
            runs.push(Run {
                style,
                text: std::mem::take(text),
            });
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.peek() {
                Some('[') => {
                    chars.next();
                    let mut params = String::new();
                    let mut fin = None;
                    for p in chars.by_ref() {
                        if ('\u{40}'..='\u{7e}').contains(&p) {
                            fin = Some(p);
                            break;
                        }
                        params.push(p);
                    }
                    if fin == Some('m') {
                        flush(&mut runs, &mut text, style);
                        apply_sgr(&mut style, &params);
                    }
                }
                Some(']') => {
                    // OSC: up to BEL or ESC \.
                    chars.next();
                    while let Some(p) = chars.next() {
                        if p == '\u{7}' || (p == '\u{1b}' && chars.next_if_eq(&'\\').is_some()) {
                            break;
                        }
                    }
                }
                Some(_) => {
                    chars.next();
                }
                None => {}
            },
            '\t' => text.push(c),
            c if c.is_control() => {}
            c => text.push(c),
        }
    }
    flush(&mut runs, &mut text, style);
    runs
}

fn apply_sgr(style: &mut Style, params: &str) {
    let codes: Vec<u32> = if params.is_empty() {
        vec![0]
    } else {
        params
            .split([';', ':'])
            .map(|p| p.parse().unwrap_or(0))
            .collect()
    };
    let mut i = 0;
    while i < codes.len() {
        let code = codes[i];
        match code {
            0 => *style = Style::default(),
            1 => style.bold = true,
            2 => style.dim = true,
            3 => style.italic = true,
            4 => style.underline = true,
            7 => style.inverse = true,
            22 => {
                style.bold = false;
                style.dim = false;
            }
            23 => style.italic = false,
            24 => style.underline = false,
            27 => style.inverse = false,
            30..=37 => style.fg = Some(Color::Basic((code - 30) as u8)),
            39 => style.fg = None,
            40..=47 => style.bg = Some(Color::Basic((code - 40) as u8)),
            49 => style.bg = None,
            90..=97 => style.fg = Some(Color::Basic((code - 90 + 8) as u8)),
            100..=107 => style.bg = Some(Color::Basic((code - 100 + 8) as u8)),
            38 | 48 => {
                let color = match codes.get(i + 1) {
                    Some(5) => {
                        let c = codes.get(i + 2).map(|&n| n.min(255) as u8);
                        i += 2;
                        c.map(|n| {
                            if n < 16 {
                                Color::Basic(n)
                            } else {
                                Color::Indexed(n)
                            }
                        })
                    }
                    Some(2) => {
                        let ch = |k: usize| codes.get(i + k).map(|&n| n.min(255) as u8);
                        let c = match (ch(2), ch(3), ch(4)) {
                            (Some(r), Some(g), Some(b)) => Some(Color::Rgb(r, g, b)),
                            _ => None,
                        };
                        i += 4;
                        c
                    }
                    _ => None,
                };
                if code == 38 {
                    style.fg = color;
                } else {
                    style.bg = color;
                }
            }
            _ => {}
        }
        i += 1;
    }
}

fn rgb_of_indexed(n: u8) -> (u8, u8, u8) {
    if n >= 232 {
        let v = 8 + (n - 232) * 10;
        return (v, v, v);
    }
    let n = n - 16;
    let level = |x: u8| if x == 0 { 0 } else { 55 + x * 40 };
    (level(n / 36), level((n / 6) % 6), level(n % 6))
}

impl Style {
    /// CSS classes for the basic colours and attributes.
    pub fn class(&self) -> String {
        let (fg, bg) = if self.inverse {
            (self.bg, self.fg)
        } else {
            (self.fg, self.bg)
        };
        let mut out = Vec::new();
        if let Some(Color::Basic(n)) = fg {
            out.push(format!("ansi-fg-{n}"));
        }
        if let Some(Color::Basic(n)) = bg {
            out.push(format!("ansi-bg-{n}"));
        }
        if self.inverse && fg.is_none() {
            out.push("ansi-inverse".into());
        }
        for (on, name) in [
            (self.bold, "ansi-bold"),
            (self.dim, "ansi-dim"),
            (self.italic, "ansi-italic"),
            (self.underline, "ansi-underline"),
        ] {
            if on {
                out.push(name.into());
            }
        }
        out.join(" ")
    }

    /// Inline CSS for 256-colour and true-colour codes.
    pub fn inline(&self) -> String {
        let (fg, bg) = if self.inverse {
            (self.bg, self.fg)
        } else {
            (self.fg, self.bg)
        };
        let css = |c: Option<Color>| match c {
            Some(Color::Indexed(n)) => {
                let (r, g, b) = rgb_of_indexed(n);
                Some(format!("#{r:02x}{g:02x}{b:02x}"))
            }
            Some(Color::Rgb(r, g, b)) => Some(format!("#{r:02x}{g:02x}{b:02x}")),
            _ => None,
        };
        let mut out = String::new();
        if let Some(c) = css(fg) {
            out.push_str(&format!("color:{c};"));
        }
        if let Some(c) = css(bg) {
            out.push_str(&format!("background:{c};"));
        }
        out
    }
}

/// A piece of a line to draw: its style, its text, and whether it is part of a search match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Piece {
    pub style: Style,
    pub text: String,
    pub marked: bool,
}

/// The runs of `text`, cut where `pattern`'s matches (on the visible text) begin and end.
pub fn pieces(text: &str, pattern: Option<&regex::Regex>) -> Vec<Piece> {
    let runs = parse(text);
    let Some(re) = pattern else {
        return runs
            .into_iter()
            .map(|r| Piece {
                style: r.style,
                text: r.text,
                marked: false,
            })
            .collect();
    };
    let plain: String = runs.iter().map(|r| r.text.as_str()).collect();
    let matches: Vec<(usize, usize)> = re
        .find_iter(&plain)
        .filter(|m| !m.is_empty())
        .map(|m| (m.start(), m.end()))
        .collect();
    let mut out = Vec::new();
    let mut at = 0;
    for run in runs {
        let (start, end) = (at, at + run.text.len());
        at = end;
        // Cut points inside this run.
        let mut cuts = vec![start, end];
        for &(a, b) in &matches {
            for p in [a, b] {
                if p > start && p < end {
                    cuts.push(p);
                }
            }
        }
        cuts.sort_unstable();
        cuts.dedup();
        for w in cuts.windows(2) {
            let (a, b) = (w[0], w[1]);
            let marked = matches.iter().any(|&(ma, mb)| ma <= a && b <= mb);
            out.push(Piece {
                style: run.style,
                text: run.text[a - start..b - start].to_string(),
                marked,
            });
        }
    }
    out
}

/// A log line with its colours, and its search matches marked (`data-testid="match"`).
#[component]
pub fn AnsiText(
    text: String,
    #[prop(default = None)] pattern: Option<regex::Regex>,
) -> impl IntoView {
    pieces(&text, pattern.as_ref())
        .into_iter()
        .map(|p| {
            let class = p.style.class();
            let style = p.style.inline();
            let plain = class.is_empty() && style.is_empty();
            match (p.marked, plain) {
                (true, _) => {
                    view! { <mark class=class style=style data-testid="match">{p.text}</mark> }
                        .into_any()
                }
                (false, true) => p.text.into_any(),
                (false, false) => {
                    view! { <span class=class style=style>{p.text}</span> }.into_any()
                }
            }
        })
        .collect_view()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_become_styles_and_escapes_vanish() {
        let runs = parse("\u{1b}[1;31mERROR\u{1b}[0m plain \u{1b}[38;5;208morange\u{1b}[39m \u{1b}[38;2;1;2;3mrgb\u{1b}[m\u{1b}[2K\u{7}");
        let texts: Vec<&str> = runs.iter().map(|r| r.text.as_str()).collect();
        assert_eq!(texts, ["ERROR", " plain ", "orange", " ", "rgb"]);
        assert_eq!(runs[0].style.class(), "ansi-fg-1 ansi-bold");
        assert_eq!(runs[1].style, Style::default());
        assert_eq!(runs[2].style.inline(), "color:#ff8700;");
        assert_eq!(runs[4].style.fg, Some(Color::Rgb(1, 2, 3)));
        let osc = parse("\u{1b}[92mok\u{1b}]0;title\u{7}!");
        assert_eq!(osc.len(), 1);
        assert_eq!(
            (osc[0].text.as_str(), osc[0].style.class().as_str()),
            ("ok!", "ansi-fg-10")
        );
    }

    #[test]
    fn matches_are_found_on_the_visible_text_across_colour_changes() {
        let re = regex::Regex::new("world").unwrap();
        let p = pieces("\u{1b}[32mhello wor\u{1b}[0mld or world", Some(&re));
        let marked: Vec<(&str, bool)> = p
            .iter()
            .filter(|p| p.marked)
            .map(|p| (p.text.as_str(), p.style.fg.is_some()))
            .collect();
        assert_eq!(marked, [("wor", true), ("ld", false), ("world", false)]);
        let all: String = p.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(all, "hello world or world");
        // no match inside the escape codes themselves
        let re = regex::Regex::new("32m").unwrap();
        assert!(pieces("\u{1b}[32mgreen", Some(&re))
            .iter()
            .all(|p| !p.marked));
    }
}
