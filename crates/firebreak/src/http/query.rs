//! Query strings of list endpoints: filters and cursor pagination, strictly checked.

use super::problem::Problem;
use firebreak_core::store::PageRequest;
use firebreak_core::Timestamp;

/// The raw `key=value` pairs of a query string, checked against the keys a route accepts.
pub struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn check_known(&self, known: &[&str]) -> Result<(), Problem> {
        for (k, _) in &self.0 {
            if !known.contains(&k.as_str()) {
                return Err(Problem::bad_request(format!(
                    "unknown query parameter '{k}' (accepted: {})",
                    known.join(", ")
                )));
            }
        }
        Ok(())
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn page(&self) -> Result<PageRequest, Problem> {
        let limit = match self.get("limit") {
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=PageRequest::MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    Problem::bad_request(format!(
                        "'limit' must be a number from 1 to {}",
                        PageRequest::MAX_LIMIT
                    ))
                })?,
            None => PageRequest::DEFAULT_LIMIT,
        };
        let cursor = match self.get("cursor") {
            Some(v) => Some(v.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                Problem::bad_request("'cursor' is not a cursor returned by this API (next_cursor)")
            })?),
            None => None,
        };
        Ok(PageRequest { limit, cursor })
    }

    /// An RFC 3339 time. A `+` offset sent unencoded arrives as a space; it is read as `+`.
    pub fn time(&self, key: &str) -> Result<Option<Timestamp>, Problem> {
        self.get(key)
            .map(|v| {
                Timestamp::parse(v)
                    .or_else(|e| Timestamp::parse(&v.replace(' ', "+")).map_err(|_| e))
                    .map_err(|e| Problem::bad_request(format!("'{key}': {e}")))
            })
            .transpose()
    }

    /// An id filter: absent, or an id (a malformed one is a 400, not a 404).
    pub fn id<T>(
        &self,
        key: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, Problem> {
        self.get(key)
            .map(|v| {
                parse(v).ok_or_else(|| Problem::bad_request(format!("'{key}' '{v}' is not an id")))
            })
            .transpose()
    }

    /// Comma-separated values parsed with `parse`; `open` expands to `open_means`.
    pub fn list<T: Copy>(
        &self,
        key: &str,
        parse: impl Fn(&str) -> Option<T>,
        open_means: &[T],
        allowed: &str,
    ) -> Result<Vec<T>, Problem> {
        let mut out = Vec::new();
        for part in self
            .get(key)
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            if part == "open" {
                out.extend_from_slice(open_means);
                continue;
            }
            out.push(parse(part).ok_or_else(|| {
                Problem::bad_request(format!("'{key}' value '{part}' is not one of: {allowed}"))
            })?);
        }
        Ok(out)
    }
}

pub fn parse_query(raw: Option<&str>) -> Result<Params, Problem> {
    match raw {
        None | Some("") => Ok(Params(Vec::new())),
        Some(q) => serde_urlencoded_pairs(q).map(Params),
    }
}

fn serde_urlencoded_pairs(q: &str) -> Result<Vec<(String, String)>, Problem> {
    let mut out = Vec::new();
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.push((decode(k)?, decode(v)?));
    }
    Ok(out)
}

fn decode(s: &str) -> Result<String, Problem> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => return Err(Problem::bad_request("query string has a bad %-escape")),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| Problem::bad_request("query string is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_checks() {
        let p = parse_query(Some("status=open&since=2026-08-21T09%3A00%3A00Z&limit=5")).unwrap();
        assert_eq!(p.get("since"), Some("2026-08-21T09:00:00Z"));
        assert_eq!(p.page().unwrap().limit, 5);
        assert!(p.check_known(&["status", "since", "limit"]).is_ok());
        assert!(p.check_known(&["status"]).is_err());
        assert!(parse_query(Some("a=%zz")).is_err());
        assert!(parse_query(Some("limit=0")).unwrap().page().is_err());
        assert!(parse_query(Some("cursor=abc")).unwrap().page().is_err());
    }
}
