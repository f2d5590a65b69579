//! Authentication: client certificates signed by the cluster CA (CN = user, O = groups) and
//! static bearer tokens from `--token-auth-file` (upstream CSV: token,user,uid,"g1,g2").
//! Authorization comes later (RBAC); every authenticated user is allowed for now.

use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
}

#[derive(Debug, Default, Clone)]
pub struct TokenAuth {
    tokens: HashMap<String, User>,
}

#[derive(Debug, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct TokenFileError {
    pub line: usize,
    pub message: String,
}

/// Split one CSV line, honouring double quotes.
fn csv_fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

impl TokenAuth {
    pub fn parse(text: &str) -> Result<TokenAuth, TokenFileError> {
        let mut tokens = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let f = csv_fields(line);
            if f.len() < 3 {
                return Err(TokenFileError {
                    line: i + 1,
                    message: "expected at least token,user,uid".into(),
                });
            }
            if f[0].is_empty() || f[1].is_empty() {
                return Err(TokenFileError {
                    line: i + 1,
                    message: "token and user must not be empty".into(),
                });
            }
            let groups = f
                .get(3)
                .map(|g| {
                    g.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            tokens.insert(
                f[0].clone(),
                User {
                    name: f[1].clone(),
                    uid: f[2].clone(),
                    groups,
                },
            );
        }
        Ok(TokenAuth { tokens })
    }

    /// Adds (or replaces) a token.
    pub fn insert(&mut self, token: &str, user: User) {
        self.tokens.insert(token.to_string(), user);
    }

    pub fn lookup(&self, token: &str) -> Option<&User> {
        self.tokens.get(token)
    }
}

/// The user named by a verified client certificate (DER).
pub fn user_from_cert(der: &[u8]) -> Option<User> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = cert.subject();
    let name = subject
        .iter_common_name()
        .next()?
        .as_str()
        .ok()?
        .to_string();
    let groups = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(String::from))
        .collect();
    Some(User {
        name,
        uid: String::new(),
        groups,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_file() {
        let t = TokenAuth::parse("# c\nabc,alice,1,\"dev,ops\"\nxyz,bob,2\n").unwrap();
        assert_eq!(t.lookup("abc").unwrap().groups, vec!["dev", "ops"]);
        assert_eq!(t.lookup("xyz").unwrap().name, "bob");
        assert!(t.lookup("nope").is_none());
        assert!(TokenAuth::parse("onlytoken\n").is_err());
    }
}
