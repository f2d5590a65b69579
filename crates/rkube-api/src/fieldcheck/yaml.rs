//! Duplicate mapping keys in a YAML (or JSON) body, reported as upstream's YAML decoder
//! (go-yaml v2 in strict mode, behind `sigs.k8s.io/yaml.YAMLToJSONStrict`) reports them:
//! `line 12: key "paused" already set in map`.
//!
//! What go-yaml does, and this scanner follows:
//! - only the first document is read;
//! - keys are compared after YAML 1.1 resolution of plain scalars (`yes`, `on`, `true` are
//!   the same boolean; `1` and `0x1` the same integer; quoted keys are strings), and printed
//!   with Go's `%#v` (`"name"`, `1`, `true`, `<nil>`);
//! - the line (1-based) is that of the duplicate's *value* node: the value itself when it is
//!   on the key's line, the first key or `-` of a nested block collection, or the key's line
//!   for an empty value;
//! - a value is decoded before its key is checked, so duplicates inside the value of a
//!   duplicate key come first.
//!
//! The scanner covers block and flow collections, quoted, plain (multi-line) and block
//! scalars, comments, anchors and tags, and document markers. Input it cannot follow (tabs
//! where they are not allowed, complex `?` keys, malformed text) gives no report: upstream
//! rejects such a body with a syntax error before any strictness applies.

use std::collections::HashSet;

/// The duplicate-key lines of the first document of `raw`, in go-yaml's order.
pub(super) fn duplicates(raw: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(raw);
    let mut scanner = Scanner::new(text.as_bytes());
    match scanner.document() {
        Ok(()) => scanner.errors,
        Err(Bail) => Vec::new(),
    }
}

/// The scanner cannot follow the input.
struct Bail;

type Res<T> = Result<T, Bail>;

/// Nesting beyond this gives up.
const MAX_NESTING: usize = 256;

/// A resolved mapping key.
#[derive(Debug)]
enum Key {
    Str(String),
    Int(i128),
    Float(f64),
    Bool(bool),
    Null,
}

impl Key {
    /// What makes two keys the same Go map key (`None` for NaN, which equals nothing).
    fn identity(&self) -> Option<(u8, String)> {
        match self {
            Key::Str(s) => Some((0, s.clone())),
            Key::Int(i) => Some((1, i.to_string())),
            Key::Float(f) if f.is_nan() => None,
            Key::Float(f) => Some((2, (*f + 0.0).to_bits().to_string())),
            Key::Bool(b) => Some((3, b.to_string())),
            Key::Null => Some((4, String::new())),
        }
    }

    /// The key as Go's `%#v` prints it.
    fn go_syntax(&self) -> String {
        match self {
            Key::Str(s) => super::go_quote(s),
            Key::Int(i) => i.to_string(),
            Key::Float(f) if f.is_nan() => "NaN".to_string(),
            Key::Float(f) if f.is_infinite() => if *f > 0.0 { "+Inf" } else { "-Inf" }.to_string(),
            Key::Float(f) => f.to_string(),
            Key::Bool(b) => b.to_string(),
            Key::Null => "<nil>".to_string(),
        }
    }
}

struct Scanner<'a> {
    s: &'a [u8],
    line_starts: Vec<usize>,
    nesting: usize,
    errors: Vec<String>,
}

fn is_blank(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

fn is_break(c: u8) -> bool {
    c == b'\n' || c == b'\r'
}

fn is_flow_indicator(c: u8) -> bool {
    matches!(c, b',' | b'[' | b']' | b'{' | b'}')
}

impl<'a> Scanner<'a> {
    fn new(s: &'a [u8]) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(
            s.iter()
                .enumerate()
                .filter(|(_, &c)| c == b'\n')
                .map(|(i, _)| i + 1),
        );
        Scanner {
            s,
            line_starts,
            nesting: 0,
            errors: Vec::new(),
        }
    }

    /// The byte at `p`, or `None` past the end.
    fn get(&self, p: usize) -> Option<u8> {
        self.s.get(p).copied()
    }

    /// Whether `p` ends a token: past the end, a blank or a line break.
    fn is_end(&self, p: usize) -> bool {
        self.get(p).is_none_or(|c| is_blank(c) || is_break(c))
    }

    /// 1-based line of `p`.
    fn line(&self, p: usize) -> usize {
        self.line_starts.partition_point(|&start| start <= p)
    }

    fn col(&self, p: usize) -> isize {
        let start = self.line_starts[self.line(p).saturating_sub(1)];
        isize::try_from(p - start).unwrap_or(isize::MAX)
    }

    fn skip_blanks(&self, mut p: usize) -> usize {
        while self.get(p).is_some_and(is_blank) {
            p += 1;
        }
        p
    }

    /// The start of the line after the one holding `p`.
    fn next_line(&self, p: usize) -> usize {
        let mut p = p;
        while let Some(c) = self.get(p) {
            p += 1;
            if c == b'\n' {
                break;
            }
        }
        p
    }

    /// Whether a `#` at `p` starts a comment.
    fn is_comment(&self, p: usize) -> bool {
        self.get(p) == Some(b'#')
            && (p == 0 || self.get(p - 1).is_some_and(|c| is_blank(c) || is_break(c)))
    }

    /// The first character of content at or after `p`, skipping blanks, line breaks and
    /// comments.
    fn next_content(&self, mut p: usize) -> Option<usize> {
        loop {
            let q = self.skip_blanks(p);
            let c = self.get(q)?;
            if is_break(c) {
                p = q + 1;
            } else if self.is_comment(q) {
                p = self.next_line(q);
            } else {
                return Some(q);
            }
        }
    }

    fn is_doc_marker(&self, p: usize) -> bool {
        self.col(p) == 0
            && (self.s[p..].starts_with(b"---") || self.s[p..].starts_with(b"..."))
            && self.is_end(p + 3)
    }

    fn is_seq_entry(&self, p: usize) -> bool {
        self.get(p) == Some(b'-') && self.is_end(p + 1)
    }

    fn enter(&mut self) -> Res<()> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(Bail);
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.nesting = self.nesting.saturating_sub(1);
    }

    fn duplicate(&mut self, seen: &mut HashSet<(u8, String)>, key: Key, value_line: usize) {
        let Some(identity) = key.identity() else {
            return;
        };
        if !seen.insert(identity) {
            let text = format!(
                "line {value_line}: key {} already set in map",
                key.go_syntax()
            );
            self.errors.push(text);
        }
    }

    fn document(&mut self) -> Res<()> {
        let mut p = if self.s.starts_with(b"\xEF\xBB\xBF") {
            3
        } else {
            0
        };
        loop {
            let Some(q) = self.next_content(p) else {
                return Ok(());
            };
            if self.col(q) == 0 && self.get(q) == Some(b'%') {
                p = self.next_line(q);
                continue;
            }
            if self.is_doc_marker(q) {
                if self.s[q..].starts_with(b"...") {
                    p = self.next_line(q);
                    continue;
                }
                let after = self.skip_blanks(q + 3);
                if self.get(after).is_none_or(is_break) || self.is_comment(after) {
                    p = self.next_line(q);
                    break;
                }
                self.block_value(q + 3, -1, false)?;
                return Ok(());
            }
            break;
        }
        let Some(q) = self.next_content(p) else {
            return Ok(());
        };
        if self.is_doc_marker(q) {
            return Ok(());
        }
        self.block_node(q, -1)?;
        Ok(())
    }

    /// A block key at `p` and the position after its `:`, or `None` if no key starts here.
    fn block_key(&self, p: usize) -> Res<Option<(Key, usize)>> {
        let Some(c) = self.get(p) else {
            return Ok(None);
        };
        if c == b'"' || c == b'\'' {
            let Ok((text, after)) = self.quoted(p) else {
                return Ok(None);
            };
            if self.line(after) != self.line(p) {
                return Ok(None);
            }
            let q = self.skip_blanks(after);
            if self.get(q) == Some(b':') && self.is_end(q + 1) {
                return Ok(Some((Key::Str(text), q + 1)));
            }
            return Ok(None);
        }
        if c == b'?' && self.is_end(p + 1) {
            // Complex keys are beyond this scanner.
            return Err(Bail);
        }
        if (matches!(c, b'-' | b':') && self.is_end(p + 1))
            || matches!(
                c,
                b',' | b'['
                    | b']'
                    | b'{'
                    | b'}'
                    | b'#'
                    | b'&'
                    | b'*'
                    | b'!'
                    | b'|'
                    | b'>'
                    | b'%'
                    | b'@'
                    | b'`'
            )
        {
            return Ok(None);
        }
        let mut i = p;
        while let Some(c) = self.get(i) {
            if is_break(c) {
                break;
            }
            if c == b':' && self.is_end(i + 1) {
                let text = String::from_utf8_lossy(&self.s[p..i]);
                return Ok(Some((resolve(text.trim_end_matches([' ', '\t'])), i + 1)));
            }
            if self.is_comment(i) && i > p {
                break;
            }
            i += 1;
        }
        Ok(None)
    }

    /// A node starting at `q` on its own line, deeper than `parent_indent`; returns where
    /// scanning resumes.
    fn block_node(&mut self, q: usize, parent_indent: isize) -> Res<usize> {
        self.enter()?;
        let result = if self.is_seq_entry(q) {
            self.block_seq(q)
        } else if self.block_key(q)?.is_some() {
            self.block_mapping(q)
        } else {
            self.inline_node(q, parent_indent)
        };
        self.leave();
        result
    }

    /// The value after a key's `:` or a `-` at `pos`, in a collection indented `indent`:
    /// returns the line go-yaml gives the value node, and where scanning resumes.
    fn block_value(&mut self, pos: usize, indent: isize, seq_entry: bool) -> Res<(usize, usize)> {
        let marker_line = self.line(pos.saturating_sub(1));
        let mut p = self.skip_blanks(pos);
        let mut props_line = None;
        while matches!(self.get(p), Some(b'&' | b'!')) {
            props_line.get_or_insert(self.line(p));
            while !self.is_end(p) {
                p += 1;
            }
            p = self.skip_blanks(p);
        }
        let at_line_end = self.get(p).is_none_or(is_break) || self.is_comment(p);
        if at_line_end {
            let empty = props_line.unwrap_or(marker_line);
            let Some(q) = self.next_content(p) else {
                return Ok((empty, self.s.len()));
            };
            if self.is_doc_marker(q) {
                return Ok((empty, q));
            }
            let col = self.col(q);
            if col > indent {
                let line = props_line.unwrap_or(self.line(q));
                return Ok((line, self.block_node(q, indent)?));
            }
            if col == indent && !seq_entry && self.is_seq_entry(q) {
                let line = props_line.unwrap_or(self.line(q));
                self.enter()?;
                let end = self.block_seq(q);
                self.leave();
                return Ok((line, end?));
            }
            return Ok((empty, q));
        }
        let line = props_line.unwrap_or(self.line(p));
        if seq_entry {
            // "- - x" and "- key: value" start a collection on the entry's line.
            if self.is_seq_entry(p) {
                self.enter()?;
                let end = self.block_seq(p);
                self.leave();
                return Ok((line, end?));
            }
            if self.block_key(p)?.is_some() {
                self.enter()?;
                let end = self.block_mapping(p);
                self.leave();
                return Ok((line, end?));
            }
        }
        Ok((line, self.inline_node(p, indent)?))
    }

    /// A scalar or flow collection starting at `p`, inside a block collection indented
    /// `parent_indent`; returns where scanning resumes.
    fn inline_node(&mut self, p: usize, parent_indent: isize) -> Res<usize> {
        match self.get(p) {
            Some(b'{' | b'[') => {
                let end = self.flow_node(p)?;
                let rest = self.skip_blanks(end);
                if self.get(rest).is_some_and(|c| !is_break(c)) && !self.is_comment(rest) {
                    return Err(Bail);
                }
                Ok(end)
            }
            Some(b'"' | b'\'') => {
                let (_, end) = self.quoted(p)?;
                Ok(end)
            }
            // Plain and block scalars: everything more indented than the collection.
            _ => Ok(self.skip_deeper(self.next_line(p), parent_indent)),
        }
    }

    /// From the line starting at `p`, skips blank lines and lines indented deeper than
    /// `indent`; returns the start of the first other line.
    fn skip_deeper(&self, mut p: usize, indent: isize) -> usize {
        while p < self.s.len() {
            let q = self.skip_blanks(p);
            match self.get(q) {
                None => return self.s.len(),
                Some(c) if is_break(c) => p = self.next_line(q),
                Some(_) if self.col(q) > indent => p = self.next_line(q),
                Some(_) => return p,
            }
        }
        self.s.len()
    }

    fn block_mapping(&mut self, q: usize) -> Res<usize> {
        let indent = self.col(q);
        let mut seen: HashSet<(u8, String)> = HashSet::new();
        let mut p = q;
        loop {
            let Some((key, after)) = self.block_key(p)? else {
                return Err(Bail);
            };
            let (value_line, end) = self.block_value(after, indent, false)?;
            self.duplicate(&mut seen, key, value_line);
            let Some(next) = self.next_content(end) else {
                return Ok(self.s.len());
            };
            let col = self.col(next);
            if self.is_doc_marker(next) || col < indent {
                return Ok(next);
            }
            if col > indent || self.is_seq_entry(next) {
                return Err(Bail);
            }
            p = next;
        }
    }

    fn block_seq(&mut self, q: usize) -> Res<usize> {
        let indent = self.col(q);
        let mut p = q;
        loop {
            let (_, end) = self.block_value(p + 1, indent, true)?;
            let Some(next) = self.next_content(end) else {
                return Ok(self.s.len());
            };
            let col = self.col(next);
            if self.is_doc_marker(next) {
                return Ok(next);
            }
            if col == indent && self.is_seq_entry(next) {
                p = next;
                continue;
            }
            if col > indent {
                return Err(Bail);
            }
            return Ok(next);
        }
    }

    /// Skips blanks, line breaks and comments inside a flow collection.
    fn flow_ws(&self, mut p: usize) -> usize {
        loop {
            match self.get(p) {
                Some(c) if is_blank(c) || is_break(c) => p += 1,
                Some(b'#') if self.is_comment(p) => p = self.next_line(p),
                _ => return p,
            }
        }
    }

    fn flow_node(&mut self, p: usize) -> Res<usize> {
        self.enter()?;
        let result = match self.get(p) {
            Some(b'{') => self.flow_mapping(p),
            Some(b'[') => self.flow_seq(p),
            Some(b'"' | b'\'') => self.quoted(p).map(|(_, end)| end),
            Some(_) => Ok(self.flow_plain_end(p)),
            None => Err(Bail),
        };
        self.leave();
        result
    }

    /// The end of a plain scalar in a flow collection.
    fn flow_plain_end(&self, p: usize) -> usize {
        let mut i = p;
        while let Some(c) = self.get(i) {
            let next = self.get(i + 1);
            if is_flow_indicator(c)
                || (c == b':' && (self.is_end(i + 1) || next.is_some_and(is_flow_indicator)))
                || (i > p && self.is_comment(i))
            {
                break;
            }
            i += 1;
        }
        i
    }

    fn flow_mapping(&mut self, p: usize) -> Res<usize> {
        let mut seen: HashSet<(u8, String)> = HashSet::new();
        let mut i = self.flow_ws(p + 1);
        loop {
            let (key, after_key) = match self.get(i) {
                Some(b'}') => return Ok(i + 1),
                None | Some(b'{' | b'[' | b'?' | b',' | b']') => return Err(Bail),
                Some(b'"' | b'\'') => {
                    let (text, end) = self.quoted(i)?;
                    (Key::Str(text), end)
                }
                Some(_) => {
                    let end = self.flow_plain_end(i);
                    let text = String::from_utf8_lossy(&self.s[i..end]);
                    (resolve(text.trim_end_matches([' ', '\t', '\n', '\r'])), end)
                }
            };
            let mut j = self.flow_ws(after_key);
            let (value_line, after_value) = if self.get(j) == Some(b':') {
                j = self.flow_ws(j + 1);
                match self.get(j) {
                    Some(b',' | b'}') => (self.line(j), j),
                    _ => (self.line(j), self.flow_node(j)?),
                }
            } else {
                (self.line(j), j)
            };
            self.duplicate(&mut seen, key, value_line);
            let k = self.flow_ws(after_value);
            match self.get(k) {
                Some(b',') => i = self.flow_ws(k + 1),
                Some(b'}') => return Ok(k + 1),
                _ => return Err(Bail),
            }
        }
    }

    fn flow_seq(&mut self, p: usize) -> Res<usize> {
        let mut i = self.flow_ws(p + 1);
        loop {
            if self.get(i) == Some(b']') {
                return Ok(i + 1);
            }
            let end = self.flow_node(i)?;
            let k = self.flow_ws(end);
            match self.get(k) {
                Some(b',') => i = self.flow_ws(k + 1),
                Some(b']') => return Ok(k + 1),
                _ => return Err(Bail),
            }
        }
    }

    /// A quoted scalar at `p`: its text and the position after the closing quote.
    fn quoted(&self, p: usize) -> Res<(String, usize)> {
        let quote = self.get(p).ok_or(Bail)?;
        let mut out: Vec<u8> = Vec::new();
        let mut i = p + 1;
        loop {
            let c = self.get(i).ok_or(Bail)?;
            if quote == b'\'' {
                if c == b'\'' {
                    if self.get(i + 1) == Some(b'\'') {
                        out.push(b'\'');
                        i += 2;
                        continue;
                    }
                    return Ok((String::from_utf8_lossy(&out).into_owned(), i + 1));
                }
                out.push(c);
                i += 1;
                continue;
            }
            match c {
                b'"' => return Ok((String::from_utf8_lossy(&out).into_owned(), i + 1)),
                b'\\' => {
                    let e = self.get(i + 1).ok_or(Bail)?;
                    i += 2;
                    let ch = match e {
                        b'0' => '\0',
                        b'a' => '\u{7}',
                        b'b' => '\u{8}',
                        b't' | b'\t' => '\t',
                        b'n' => '\n',
                        b'v' => '\u{b}',
                        b'f' => '\u{c}',
                        b'r' => '\r',
                        b'e' => '\u{1b}',
                        b' ' => ' ',
                        b'"' => '"',
                        b'/' => '/',
                        b'\\' => '\\',
                        b'N' => '\u{85}',
                        b'_' => '\u{a0}',
                        b'L' => '\u{2028}',
                        b'P' => '\u{2029}',
                        b'x' | b'u' | b'U' => {
                            let len = match e {
                                b'x' => 2,
                                b'u' => 4,
                                _ => 8,
                            };
                            let digits = self.s.get(i..i + len).ok_or(Bail)?;
                            let text = std::str::from_utf8(digits).map_err(|_| Bail)?;
                            let code = u32::from_str_radix(text, 16).map_err(|_| Bail)?;
                            i += len;
                            char::from_u32(code).unwrap_or('\u{FFFD}')
                        }
                        b'\n' | b'\r' => {
                            // An escaped line break: the text continues on the next line.
                            i = self.skip_blanks(self.next_line(i - 1));
                            continue;
                        }
                        _ => return Err(Bail),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                c => {
                    out.push(c);
                    i += 1;
                }
            }
        }
    }
}

/// A plain scalar resolved as go-yaml v2 resolves it (YAML 1.1).
fn resolve(plain: &str) -> Key {
    match plain {
        "" | "~" | "null" | "Null" | "NULL" => return Key::Null,
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True" | "TRUE" => {
            return Key::Bool(true)
        }
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False" | "FALSE" => {
            return Key::Bool(false)
        }
        ".nan" | ".NaN" | ".NAN" => return Key::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Key::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Key::Float(f64::NEG_INFINITY),
        _ => {}
    }
    if !plain.starts_with(|c: char| c.is_ascii_digit() || matches!(c, '+' | '-' | '.')) {
        return Key::Str(plain.to_string());
    }
    let compact: String = plain.chars().filter(|&c| c != '_').collect();
    if let Some(i) = go_int(&compact) {
        return Key::Int(i);
    }
    if is_yaml_float(&compact) {
        if let Ok(f) = compact.parse::<f64>() {
            return Key::Float(f);
        }
    }
    Key::Str(plain.to_string())
}

/// Go's `strconv.ParseInt(s, 0, 64)` (and `ParseUint` beyond), as go-yaml tries it.
fn go_int(s: &str) -> Option<i128> {
    let (negative, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, body) = if let Some(rest) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        (16, rest)
    } else if let Some(rest) = digits
        .strip_prefix("0o")
        .or_else(|| digits.strip_prefix("0O"))
    {
        (8, rest)
    } else if let Some(rest) = digits
        .strip_prefix("0b")
        .or_else(|| digits.strip_prefix("0B"))
    {
        (2, rest)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let value = i128::from_str_radix(body, radix).ok()?;
    let value = if negative { -value } else { value };
    (i128::from(i64::MIN) <= value && value <= i128::from(u64::MAX)).then_some(value)
}

/// go-yaml's float pattern: `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`.
fn is_yaml_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'-' | b'+')));
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}
