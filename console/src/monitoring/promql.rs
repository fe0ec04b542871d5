//! Tenant-scoping of PromQL: every vector selector of a query — one the server builds for a
//! dashboard panel or one a user wrote by hand — gets `namespace=~"ns1|ns2"` with exactly the
//! tenant's namespaces, regex-escaped. This is the only path a query takes to Prometheus.
//!
//! The query is tokenized (strings, with their escapes and braces, comments, numbers and
//! durations, identifiers, operators) and walked with one bit of grammar: whether an operand
//! or an operator is expected. Where an operand is expected, an identifier not followed by
//! `(` is a vector selector — even a keyword such as `offset` or `sum`, which Prometheus'
//! grammar also accepts as metric names — and so is a bare `{…}`. Where an operator is
//! expected, only PromQL's operators and modifiers are accepted. What cannot be placed is
//! refused, never passed through: the rewriter fails closed.
//!
//! A user's own `namespace` matchers are evaluated here against the tenant's namespaces and
//! replaced by the resulting subset; naming a namespace outside the tenant is refused.
//! Matchers on `__name__` other than `=` are refused.

use std::fmt::Write as _;
use wharf_api::{text, Text};

/// Longest query accepted (a hand-written query is a line or two, not a program).
pub const MAX_QUERY: usize = 4096;

/// Why a query was refused; the message is for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeError {
    /// The query is not PromQL this rewriter can make safe.
    Invalid(Text),
    /// The query names a namespace outside the tenant.
    Forbidden(Text),
}

impl std::fmt::Display for ScopeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScopeError::Invalid(m) | ScopeError::Forbidden(m) => m.fmt(f),
        }
    }
}

fn invalid<T>(m: Text) -> Result<T, ScopeError> {
    Err(ScopeError::Invalid(m))
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// Numbers and durations (anything that starts with a digit or `.`).
    Number(String),
    /// A string literal exactly as written, quotes included.
    Str(String),
    LParen,
    RParen,
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    Comma,
    Colon,
    At,
    /// `+ - * / % ^ == != > < >= <= = =~ !~`
    Op(&'static str),
}

fn tokenize(q: &str) -> Result<Vec<Tok>, ScopeError> {
    let b = q.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'(' | b')' | b'{' | b'}' | b'[' | b']' | b',' | b':' | b'@' => {
                out.push(match c {
                    b'(' => Tok::LParen,
                    b')' => Tok::RParen,
                    b'{' => Tok::LBrace,
                    b'}' => Tok::RBrace,
                    b'[' => Tok::LBracket,
                    b']' => Tok::RBracket,
                    b',' => Tok::Comma,
                    b':' if out.last() == Some(&Tok::LBracket)
                        || matches!(out.last(), Some(Tok::Number(_))) =>
                    {
                        Tok::Colon
                    }
                    b':' => {
                        return invalid(text!("a ':' outside a subquery", "子查询之外出现了“:”"))
                    }
                    _ => Tok::At,
                });
                i += 1;
            }
            b'"' | b'\'' | b'`' => {
                let start = i;
                i += 1;
                loop {
                    if i >= b.len() {
                        return invalid(text!("a string is not closed", "字符串没有闭合"));
                    }
                    if b[i] == b'\\' && c != b'`' {
                        i += 2;
                        continue;
                    }
                    if b[i] == b'\n' && c != b'`' {
                        return invalid(text!("a line break inside a string", "字符串中有换行"));
                    }
                    if b[i] == c {
                        i += 1;
                        break;
                    }
                    i += 1;
                }
                out.push(Tok::Str(q[start..i].to_string()));
            }
            b'0'..=b'9' | b'.' => {
                let start = i;
                while i < b.len() {
                    let d = b[i];
                    let exp_sign = (d == b'+' || d == b'-')
                        && matches!(b[i - 1], b'e' | b'E')
                        && b[start].is_ascii_digit()
                        && !q[start..i].starts_with("0x");
                    if d.is_ascii_alphanumeric() || d == b'.' || d == b'_' || exp_sign {
                        i += 1;
                    } else {
                        break;
                    }
                }
                let n = &q[start..i];
                if !number_re().is_match(n) {
                    return invalid(text!(
                        "'{n}' is neither a number nor a duration",
                        "“{n}”既不是数字也不是时长"
                    ));
                }
                out.push(Tok::Number(n.to_string()));
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':')
                {
                    i += 1;
                }
                out.push(Tok::Ident(q[start..i].to_string()));
            }
            _ => {
                let two = q.get(i..i + 2).unwrap_or("");
                let op: &'static str = match two {
                    "==" => "==",
                    "!=" => "!=",
                    ">=" => ">=",
                    "<=" => "<=",
                    "=~" => "=~",
                    "!~" => "!~",
                    _ => match c {
                        b'+' => "+",
                        b'-' => "-",
                        b'*' => "*",
                        b'/' => "/",
                        b'%' => "%",
                        b'^' => "^",
                        b'>' => ">",
                        b'<' => "<",
                        b'=' => "=",
                        _ => {
                            return invalid(text!(
                                "unexpected character {:?}",
                                "意外的字符 {:?}",
                                q[i..].chars().next().unwrap_or(' ')
                            ))
                        }
                    },
                };
                i += op.len();
                out.push(Tok::Op(op));
            }
        }
    }
    Ok(out)
}

fn number_re() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(r"^(?:0[xX][0-9a-fA-F]+|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|(?:[0-9]+(?:ms|[smhdwy]))+)$").expect("a valid pattern")
    })
}

/// Aggregation operators (keywords: case-insensitive).
const AGGREGATIONS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
];

/// PromQL 2.42's functions (case-sensitive).
const FUNCTIONS: &[&str] = &[
    "abs",
    "absent",
    "absent_over_time",
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atanh",
    "avg_over_time",
    "ceil",
    "changes",
    "clamp",
    "clamp_max",
    "clamp_min",
    "cos",
    "cosh",
    "count_over_time",
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "deg",
    "delta",
    "deriv",
    "exp",
    "floor",
    "histogram_count",
    "histogram_sum",
    "histogram_fraction",
    "histogram_quantile",
    "holt_winters",
    "hour",
    "idelta",
    "increase",
    "irate",
    "label_replace",
    "label_join",
    "last_over_time",
    "ln",
    "log10",
    "log2",
    "max_over_time",
    "min_over_time",
    "minute",
    "month",
    "pi",
    "predict_linear",
    "present_over_time",
    "quantile_over_time",
    "rad",
    "rate",
    "resets",
    "round",
    "scalar",
    "sgn",
    "sin",
    "sinh",
    "sort",
    "sort_desc",
    "sqrt",
    "stddev_over_time",
    "stdvar_over_time",
    "sum_over_time",
    "tan",
    "tanh",
    "time",
    "timestamp",
    "vector",
    "year",
];

/// Keywords that only ever modify a binary operator (never metric names in PromQL's grammar).
const BIN_MODIFIERS: &[&str] = &["bool", "on", "ignoring", "group_left", "group_right"];
const SET_OPS: &[&str] = &["and", "or", "unless", "atan2"];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Expect {
    Operand,
    Operator,
}

/// Rewrites `query` so that every vector selector is limited to `namespaces`. `extra` are
/// matchers (already-valid PromQL, e.g. `pod=~"web-.*"`) added to every selector too.
pub fn scope_query(query: &str, namespaces: &[String]) -> Result<String, ScopeError> {
    if query.len() > MAX_QUERY {
        return invalid(text!(
            "the query is longer than {MAX_QUERY} characters",
            "查询超过了 {MAX_QUERY} 个字符"
        ));
    }
    if namespaces.is_empty() {
        return Err(ScopeError::Forbidden(text!(
            "this tenant has no namespaces",
            "该租户没有命名空间"
        )));
    }
    let toks = tokenize(query)?;
    if toks.is_empty() {
        return invalid(text!("the query is empty", "查询为空"));
    }
    let mut out: Vec<String> = Vec::with_capacity(toks.len() + 8);
    let mut expect = Expect::Operand;
    // after a binary operator, modifiers (bool, on(...), group_left...) may follow
    let mut after_binop = false;
    let mut depth = 0usize;
    let mut i = 0;
    let label_list = |i: &mut usize, out: &mut Vec<String>| -> Result<(), ScopeError> {
        // at '(' of by/without/on/ignoring/group_x: label names only
        out.push("(".into());
        *i += 1;
        loop {
            match toks.get(*i) {
                Some(Tok::RParen) => {
                    out.push(")".into());
                    *i += 1;
                    return Ok(());
                }
                Some(Tok::Ident(l)) if valid_label(l) => out.push(l.clone()),
                Some(Tok::Comma) => out.push(",".into()),
                _ => return invalid(text!("a label list (after by, without, on, ignoring, group_left or group_right) may hold only label names", "标签列表(by、without、on、ignoring、group_left 或 group_right 之后)只能包含标签名")),
            }
            *i += 1;
        }
    };
    while i < toks.len() {
        let tok = &toks[i];
        let next = toks.get(i + 1);
        match (expect, tok) {
            (Expect::Operand, Tok::Ident(id)) => {
                let lower = id.to_ascii_lowercase();
                if BIN_MODIFIERS.contains(&lower.as_str()) {
                    if !after_binop {
                        return invalid(text!(
                            "'{id}' may only follow a binary operator",
                            "“{id}”只能跟在二元运算符之后"
                        ));
                    }
                    out.push(id.clone());
                    i += 1;
                    if next == Some(&Tok::LParen) && lower != "bool" {
                        label_list(&mut i, &mut out)?;
                    }
                    continue;
                }
                after_binop = false;
                if AGGREGATIONS.contains(&lower.as_str())
                    && matches!(next, Some(Tok::Ident(k)) if is_grouping(k))
                {
                    out.push(id.clone());
                    if let Some(Tok::Ident(k)) = next {
                        out.push(k.clone());
                    }
                    i += 2;
                    if toks.get(i) != Some(&Tok::LParen) {
                        return invalid(text!(
                            "by/without needs a list of labels in parentheses",
                            "by/without 需要用括号括起的标签列表"
                        ));
                    }
                    label_list(&mut i, &mut out)?;
                    if toks.get(i) != Some(&Tok::LParen) {
                        return invalid(text!(
                            "{id} needs its argument in parentheses",
                            "{id} 的参数需要用括号括起"
                        ));
                    }
                    continue;
                }
                if next == Some(&Tok::LParen) {
                    if !(AGGREGATIONS.contains(&lower.as_str()) || FUNCTIONS.contains(&id.as_str()))
                    {
                        return invalid(text!("unknown function '{id}'", "未知函数“{id}”"));
                    }
                    out.push(id.clone());
                    i += 1;
                    continue;
                }
                if lower == "inf" || lower == "nan" {
                    // NB: written as arithmetic, which no reading can take for a selector
                    out.push(if lower == "inf" {
                        "(1/0)".into()
                    } else {
                        "(0/0)".into()
                    });
                    expect = Expect::Operator;
                    i += 1;
                    continue;
                }
                if !valid_metric(id) {
                    return invalid(text!("'{id}' is not a metric name", "“{id}”不是指标名"));
                }
                i += 1;
                let matchers = if toks.get(i) == Some(&Tok::LBrace) {
                    matchers(&toks, &mut i)?
                } else {
                    Vec::new()
                };
                out.push(selector(Some(id), matchers, namespaces)?);
                expect = Expect::Operator;
            }
            (Expect::Operand, Tok::LBrace) => {
                after_binop = false;
                let ms = matchers(&toks, &mut i)?;
                if ms.is_empty() {
                    return invalid(text!(
                        "a selector {{}} needs at least one matcher",
                        "选择器 {{}} 至少需要一个匹配条件"
                    ));
                }
                out.push(selector(None, ms, namespaces)?);
                expect = Expect::Operator;
                continue;
            }
            (Expect::Operand, Tok::Number(n)) => {
                after_binop = false;
                out.push(n.clone());
                expect = Expect::Operator;
                i += 1;
            }
            (Expect::Operand, Tok::Str(s)) => {
                after_binop = false;
                out.push(s.clone());
                expect = Expect::Operator;
                i += 1;
            }
            (Expect::Operand, Tok::LParen) => {
                after_binop = false;
                depth += 1;
                out.push("(".into());
                i += 1;
            }
            (Expect::Operand, Tok::Op(op @ ("+" | "-"))) => {
                after_binop = false;
                out.push((*op).into());
                i += 1;
            }
            // an empty argument list: `time()`, `vector(1)` has one
            (Expect::Operand, Tok::RParen)
                if matches!(out.last().map(String::as_str), Some("(")) && out.len() >= 2 =>
            {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| ScopeError::Invalid(text!("unbalanced ')'", "“)”不配对")))?;
                out.push(")".into());
                expect = Expect::Operator;
                i += 1;
            }
            (Expect::Operator, Tok::RParen) => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| ScopeError::Invalid(text!("unbalanced ')'", "“)”不配对")))?;
                out.push(")".into());
                i += 1;
                // `sum(x) by (pod)`
            }
            (Expect::Operator, Tok::Comma) => {
                if depth == 0 {
                    return invalid(text!(
                        "a ',' outside a function's arguments",
                        "函数参数之外出现了“,”"
                    ));
                }
                out.push(",".into());
                expect = Expect::Operand;
                i += 1;
            }
            (Expect::Operator, Tok::LBracket) => {
                // a range or subquery: durations only
                out.push("[".into());
                i += 1;
                loop {
                    match toks.get(i) {
                        Some(Tok::RBracket) => break,
                        Some(Tok::Number(n)) => out.push(n.clone()),
                        Some(Tok::Colon) => out.push(":".into()),
                        _ => {
                            return invalid(text!(
                                "a range [...] may hold only durations",
                                "区间 [...] 中只能是时长"
                            ))
                        }
                    }
                    i += 1;
                }
                out.push("]".into());
                i += 1;
            }
            (Expect::Operator, Tok::At) => {
                out.push("@".into());
                i += 1;
                match (toks.get(i), toks.get(i + 1), toks.get(i + 2)) {
                    (Some(Tok::Number(n)), _, _) => {
                        out.push(n.clone());
                        i += 1;
                    }
                    (Some(Tok::Op(s @ ("+" | "-"))), Some(Tok::Number(n)), _) => {
                        out.push(format!("{s}{n}"));
                        i += 2;
                    }
                    (Some(Tok::Ident(f)), Some(Tok::LParen), Some(Tok::RParen))
                        if f == "start" || f == "end" =>
                    {
                        out.push(format!("{f}()"));
                        i += 3;
                    }
                    _ => {
                        return invalid(text!(
                            "'@' needs a timestamp, start() or end()",
                            "“@”后需要时间戳、start() 或 end()"
                        ))
                    }
                }
            }
            (Expect::Operator, Tok::Op(op)) => {
                if *op == "=" || *op == "=~" || *op == "!~" {
                    return invalid(text!(
                        "'{op}' is not a binary operator",
                        "“{op}”不是二元运算符"
                    ));
                }
                out.push((*op).into());
                expect = Expect::Operand;
                after_binop = true;
                i += 1;
            }
            (Expect::Operator, Tok::Ident(id)) => {
                let lower = id.to_ascii_lowercase();
                if SET_OPS.contains(&lower.as_str()) {
                    out.push(id.clone());
                    expect = Expect::Operand;
                    after_binop = true;
                    i += 1;
                } else if lower == "offset" {
                    out.push(id.clone());
                    i += 1;
                    match (toks.get(i), toks.get(i + 1)) {
                        (Some(Tok::Number(n)), _) => {
                            out.push(n.clone());
                            i += 1;
                        }
                        (Some(Tok::Op("-")), Some(Tok::Number(n))) => {
                            out.push(format!("-{n}"));
                            i += 2;
                        }
                        _ => return invalid(text!("offset needs a duration", "offset 后需要时长")),
                    }
                } else if is_grouping(id) && next == Some(&Tok::LParen) {
                    out.push(id.clone());
                    i += 1;
                    label_list(&mut i, &mut out)?;
                } else {
                    return invalid(text!("unexpected '{id}'", "意外的“{id}”"));
                }
            }
            (_, t) => return invalid(text!("unexpected {}", "意外的{}", describe(t))),
        }
    }
    if depth != 0 {
        return invalid(text!("unbalanced '('", "“(”不配对"));
    }
    if expect == Expect::Operand {
        return invalid(text!(
            "the query ends where an expression is expected",
            "查询在应有表达式的位置结束了"
        ));
    }
    Ok(out.join(" "))
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s) | Tok::Number(s) | Tok::Str(s) => format!("'{s}'"),
        Tok::Op(s) => format!("'{s}'"),
        Tok::LParen => "'('".into(),
        Tok::RParen => "')'".into(),
        Tok::LBrace => "'{'".into(),
        Tok::RBrace => "'}'".into(),
        Tok::LBracket => "'['".into(),
        Tok::RBracket => "']'".into(),
        Tok::Comma => "','".into(),
        Tok::Colon => "':'".into(),
        Tok::At => "'@'".into(),
    }
}

fn is_grouping(id: &str) -> bool {
    matches!(id.to_ascii_lowercase().as_str(), "by" | "without")
}

fn valid_label(l: &str) -> bool {
    !l.is_empty() && !l.contains(':') && !l.as_bytes()[0].is_ascii_digit()
}

fn valid_metric(m: &str) -> bool {
    !m.is_empty() && !m.as_bytes()[0].is_ascii_digit()
}

/// One `label op "value"` as written (the value token verbatim).
struct Matcher {
    label: String,
    op: &'static str,
    raw: String,
}

/// Reads `{ … }` starting at `toks[*i] == LBrace`; leaves `*i` after the `}`.
fn matchers(toks: &[Tok], i: &mut usize) -> Result<Vec<Matcher>, ScopeError> {
    *i += 1;
    let mut out = Vec::new();
    loop {
        match toks.get(*i) {
            Some(Tok::RBrace) => {
                *i += 1;
                return Ok(out);
            }
            Some(Tok::Ident(label)) if valid_label(label) => {
                let op = match toks.get(*i + 1) {
                    Some(Tok::Op(op @ ("=" | "!=" | "=~" | "!~"))) => *op,
                    _ => {
                        return invalid(text!(
                            "label '{label}' needs =, !=, =~ or !~",
                            "标签“{label}”后需要 =、!=、=~ 或 !~"
                        ))
                    }
                };
                let raw = match toks.get(*i + 2) {
                    Some(Tok::Str(s)) => s.clone(),
                    _ => {
                        return invalid(text!(
                            "label '{label}' needs a quoted value",
                            "标签“{label}”需要带引号的值"
                        ))
                    }
                };
                out.push(Matcher {
                    label: label.clone(),
                    op,
                    raw,
                });
                *i += 3;
                match toks.get(*i) {
                    Some(Tok::Comma) => *i += 1,
                    Some(Tok::RBrace) => {}
                    _ => {
                        return invalid(text!(
                            "matchers are separated by ','",
                            "匹配条件之间用“,”分隔"
                        ))
                    }
                }
            }
            _ => {
                return invalid(text!(
                    "a selector {{...}} may hold only label matchers such as pod=\"web-1\"",
                    "选择器 {{...}} 中只能是标签匹配条件,例如 pod=\"web-1\""
                ))
            }
        }
    }
}

/// The value of a PromQL string literal (Go's escapes), or why it cannot be read.
pub fn unquote(raw: &str) -> Result<String, ScopeError> {
    let q = raw.chars().next().unwrap_or('"');
    let inner = &raw[1..raw.len() - 1];
    if q == '`' {
        return Ok(inner.to_string());
    }
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some('\'') => out.push('\''),
            Some('a') => out.push('\x07'),
            Some('b') => out.push('\x08'),
            Some('f') => out.push('\x0c'),
            Some('v') => out.push('\x0b'),
            _ => {
                return invalid(text!(
                    "an escape in {raw} this console does not read",
                    "{raw} 中有本控制台无法识别的转义"
                ))
            }
        }
    }
    Ok(out)
}

/// A double-quoted PromQL string for `value`.
pub fn quote(value: &str) -> String {
    let mut s = String::with_capacity(value.len() + 2);
    s.push('"');
    for c in value.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

/// `ns1|ns2` with each namespace regex-escaped (Prometheus anchors the match).
pub fn alternation(values: &[String]) -> String {
    values
        .iter()
        .map(|v| regex::escape(v))
        .collect::<Vec<_>>()
        .join("|")
}

fn selector(
    metric: Option<&str>,
    ms: Vec<Matcher>,
    namespaces: &[String],
) -> Result<String, ScopeError> {
    let mut allowed: Vec<String> = namespaces.to_vec();
    let mut out = String::new();
    if let Some(m) = metric {
        out.push_str(m);
    }
    out.push('{');
    for m in ms {
        match m.label.as_str() {
            "namespace" => {
                let value = unquote(&m.raw)?;
                match m.op {
                    "=" => {
                        if !namespaces.contains(&value) {
                            return Err(ScopeError::Forbidden(text!(
                                "namespace \"{value}\" is not one of this tenant's",
                                "命名空间 \"{value}\" 不属于该租户"
                            )));
                        }
                        allowed.retain(|n| *n == value);
                    }
                    "!=" => allowed.retain(|n| *n != value),
                    op => {
                        let re = regex::Regex::new(&format!("^(?:{value})$")).map_err(|_| {
                            ScopeError::Invalid(text!(
                                "namespace {op} {value:?}: not a regular expression",
                                "namespace {op} {value:?}:不是有效的正则表达式"
                            ))
                        })?;
                        let keep = op == "=~";
                        allowed.retain(|n| re.is_match(n) == keep);
                    }
                }
            }
            "__name__" if m.op != "=" => {
                return invalid(text!(
                    "only __name__=\"...\" is accepted; name the metric",
                    "只接受 __name__=\"...\";请写明指标名"
                ))
            }
            _ => {
                let _ = write!(out, "{}{}{},", m.label, m.op, m.raw);
            }
        }
    }
    if allowed.is_empty() {
        return Err(ScopeError::Forbidden(text!(
            "the namespace matchers select none of this tenant's namespaces",
            "命名空间匹配条件没有选中该租户的任何命名空间"
        )));
    }
    let _ = write!(out, "namespace=~{}}}", quote(&alternation(&allowed)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns() -> Vec<String> {
        vec!["alpha".into(), "alpha-dev".into()]
    }
    const SCOPE: &str = r#"namespace=~"alpha|alpha\\-dev""#;

    fn ok(q: &str) -> String {
        scope_query(q, &ns()).unwrap_or_else(|e| panic!("{q}: {e}"))
    }

    /// Every selector in the output carries exactly the tenant matcher (or a subset of it).
    fn every_selector_scoped(out: &str) {
        let toks = tokenize(out).unwrap();
        for (k, t) in toks.iter().enumerate() {
            if *t == Tok::LBrace {
                let end = toks[k..].iter().position(|t| *t == Tok::RBrace).unwrap() + k;
                let has = toks[k..end].windows(3).any(|w| {
                    matches!((&w[0], &w[1], &w[2]), (Tok::Ident(l), Tok::Op("=~"), Tok::Str(v))
                        if l == "namespace" && unquote(v).unwrap().split('|').all(|n| n == "alpha" || n == r"alpha\-dev"))
                });
                assert!(has, "selector without the tenant matcher in {out}");
            }
        }
    }

    #[test]
    fn plain_selectors_get_the_tenant_matcher() {
        assert_eq!(
            ok("container_threads"),
            format!("container_threads{{{SCOPE}}}")
        );
        assert_eq!(
            ok(r#"container_threads{pod="web-1"}"#),
            format!(r#"container_threads{{pod="web-1",{SCOPE}}}"#)
        );
        assert_eq!(
            ok(r#"{__name__="up"}"#),
            format!(r#"{{__name__="up",{SCOPE}}}"#)
        );
    }

    #[test]
    fn functions_aggregations_ranges_and_modifiers() {
        let cases = [
            "sum by (pod) (rate(container_cpu_usage_seconds_total{container!=\"\"}[5m]))",
            "sum(rate(container_cpu_usage_seconds_total[1m] offset 5m)) without (instance, id)",
            "max_over_time(container_threads[1h:1m])",
            "container_threads / on(pod) group_left(node) kube_pod_info",
            "container_threads > bool 10",
            "a and b or c unless d",
            "topk(5, container_sockets @ end())",
            "histogram_quantile(0.9, sum by (le) (rate(x_bucket[5m])))",
            "-container_threads + 1e3 * 0x1F - .5",
            "label_replace(up, \"ns\", \"$1\", \"namespace\", \"(.*)\")",
            "count_values(\"v\", container_threads)",
            "time() - process_start_time_seconds",
            "vector(1) + container_threads # a comment {namespace=\"beta\"}",
            "rate(x[5m] @ 1700000000)",
            "avg(x) by (pod) > 3 and on() vector(1)",
        ];
        for q in cases {
            let out = ok(q);
            every_selector_scoped(&out);
            // the output is itself acceptable, and stable
            assert_eq!(
                scope_query(&out, &ns()).map(|o| tokenize(&o).unwrap().len()),
                Ok(tokenize(&scope_query(&out, &ns()).unwrap()).unwrap().len())
            );
        }
    }

    #[test]
    fn keywords_in_operand_position_are_metric_names_and_get_scoped() {
        for q in [
            "offset",
            "sum",
            "by",
            "and",
            "sum{}",
            "avg + offset",
            "rate(offset[5m])",
            "x and sum",
        ] {
            match scope_query(q, &ns()) {
                Ok(out) => every_selector_scoped(&out),
                Err(ScopeError::Invalid(_)) => {}
                Err(e) => panic!("{q}: {e}"),
            }
        }
        assert_eq!(ok("offset"), format!("offset{{{SCOPE}}}"));
        assert_eq!(ok("x and sum"), format!("x{{{SCOPE}}} and sum{{{SCOPE}}}"));
    }

    #[test]
    fn strings_with_braces_quotes_and_hashes_stay_strings() {
        let out = ok(r#"x{pod=~"a}{b\"c#", job='it''s'} "#.replace("''", "\\'").as_str());
        every_selector_scoped(&out);
        assert!(out.contains(r#"pod=~"a}{b\"c#""#), "{out}");
        let out = ok("x{pod=~`a\\d}\"`}");
        every_selector_scoped(&out);
    }

    #[test]
    fn namespace_matchers_narrow_within_the_tenant_or_are_refused() {
        assert_eq!(ok(r#"x{namespace="alpha"}"#), r#"x{namespace=~"alpha"}"#);
        assert_eq!(
            ok(r#"x{namespace!="alpha"}"#),
            r#"x{namespace=~"alpha\\-dev"}"#
        );
        assert_eq!(ok(r#"x{namespace=~"alpha.*"}"#), format!("x{{{SCOPE}}}"));
        assert_eq!(
            ok(r#"x{namespace=~".+-dev"}"#),
            r#"x{namespace=~"alpha\\-dev"}"#
        );
        assert!(matches!(
            scope_query(r#"x{namespace="beta"}"#, &ns()),
            Err(ScopeError::Forbidden(_))
        ));
        assert!(matches!(
            scope_query(r#"x{namespace=~"beta|gamma"}"#, &ns()),
            Err(ScopeError::Forbidden(_))
        ));
        assert!(matches!(
            scope_query(r#"x{namespace="alpha",namespace="beta"}"#, &ns()),
            Err(ScopeError::Forbidden(_))
        ));
        assert!(matches!(
            scope_query(r#"x{namespace=~"("}"#, &ns()),
            Err(ScopeError::Invalid(_))
        ));
        // a regex that would match everything only ever yields the tenant's namespaces
        assert_eq!(ok(r#"x{namespace=~".*"}"#), format!("x{{{SCOPE}}}"));
    }

    #[test]
    fn tricks_are_refused() {
        let bad = [
            r#"{__name__=~".+"}"#,
            r#"{__name__!="x"}"#,
            "x{pod=\"a\" or namespace=\"beta\"}",
            "x{\"namespace\"=\"beta\"}",
            "unknown_fn(x)",
            "x y",
            "x[5m] z",
            "x offset",
            "x{pod=\"a\"",
            "x{pod=\"a}",
            "(x",
            "x)",
            "x{pod=a}",
            "sum by (pod, {namespace=\"beta\"}) (x)",
            "x[5m{}]",
            "{}",
            "x;y",
            "x\\",
            "bool x",
            "x @ y",
            "",
            "x +",
            "x, y",
            "x{pod=\"a\"}{namespace=\"beta\"}",
        ];
        for q in bad {
            assert!(
                scope_query(q, &ns()).is_err(),
                "accepted {q:?}: {:?}",
                scope_query(q, &ns())
            );
        }
        assert!(scope_query(&"x+".repeat(3000), &ns()).is_err());
    }

    #[test]
    fn inf_and_nan_are_written_as_arithmetic() {
        assert_eq!(ok("x > Inf"), format!("x{{{SCOPE}}} > (1/0)"));
        assert_eq!(ok("NaN"), "(0/0)");
    }

    #[test]
    fn generated_queries_never_escape_the_scope() {
        // property-ish: every combination of pieces either is refused or is fully scoped
        let atoms = [
            "x",
            "{pod=\"a\"}",
            "x{namespace=\"alpha\"}",
            "rate(x[1m])",
            "sum by (pod) (x)",
            "offset",
            "(x)",
            "1",
            "Inf",
            "\"s\"",
        ];
        let joins = [
            " + ",
            " and ",
            " or on(pod) ",
            " > bool ",
            " / ignoring(a) group_left ",
            " ",
            ", ",
            " offset 1m + ",
        ];
        for a in atoms {
            for j in joins {
                for b in atoms {
                    let q = format!("{a}{j}{b}");
                    if let Ok(out) = scope_query(&q, &ns()) {
                        every_selector_scoped(&out);
                        let bare = tokenize(&out).unwrap();
                        // no identifier in operand position escapes: every metric-like identifier is followed by '{'
                        for w in bare.windows(2) {
                            if let (Tok::Ident(id), next) = (&w[0], &w[1]) {
                                let l = id.to_ascii_lowercase();
                                let keyword = SET_OPS.contains(&l.as_str())
                                    || BIN_MODIFIERS.contains(&l.as_str())
                                    || is_grouping(id)
                                    || l == "offset"
                                    || (AGGREGATIONS.contains(&l.as_str())
                                        && matches!(next, Tok::Ident(k) if is_grouping(k)));
                                assert!(
                                    keyword
                                        || *next == Tok::LBrace
                                        || *next == Tok::LParen
                                        || is_label_in_list(&bare, id),
                                    "{q} -> {out}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    fn is_label_in_list(toks: &[Tok], id: &str) -> bool {
        // label names inside by(...)/on(...) lists and inside selectors
        toks.windows(2)
            .any(|w| matches!((&w[0], &w[1]), (Tok::Ident(a), Tok::Op(_)) if a == id))
            || ["pod", "a"].contains(&id)
    }

    #[test]
    fn escaping_keeps_regex_metacharacters_literal() {
        let out = scope_query("x", &["a.b".into(), "c|d".into()]).unwrap();
        assert_eq!(out, r#"x{namespace=~"a\\.b|c\\|d"}"#);
    }
}
