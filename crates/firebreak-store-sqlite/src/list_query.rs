//! Builds the filtered, newest-first, cursor-paginated list queries (alerts, incidents).

use crate::rows::db_err;
use firebreak_core::store::{Page, PageRequest, StoreResult};
use rusqlite::types::Value;
use rusqlite::{Connection, Row};

pub(crate) struct ListQuery {
    sql: String,
    args: Vec<Value>,
}

impl ListQuery {
    /// `select` is everything up to the filters, ending in a `WHERE` condition.
    pub fn new(select: String) -> Self {
        ListQuery {
            sql: select,
            args: Vec::new(),
        }
    }

    /// Adds ` AND <clause>`, where `clause` has one `?` for `value`.
    pub fn and(&mut self, clause: &str, value: impl Into<Value>) {
        self.args.push(value.into());
        let mark = format!("?{}", self.args.len());
        self.sql.push_str(" AND ");
        self.sql.push_str(&clause.replace('?', &mark));
    }

    /// Adds ` AND <column> IN (...)` unless `values` is empty (then every value matches).
    pub fn and_in(&mut self, column: &str, values: impl IntoIterator<Item = &'static str>) {
        let mut marks = Vec::new();
        for v in values {
            self.args.push(v.to_string().into());
            marks.push(format!("?{}", self.args.len()));
        }
        if !marks.is_empty() {
            self.sql
                .push_str(&format!(" AND {column} IN ({})", marks.join(",")));
        }
    }

    /// Adds ` AND <column> IN (...)` for ids; an empty list matches nothing.
    pub fn and_in_ids(&mut self, column: &str, ids: impl IntoIterator<Item = i64>) {
        self.sql
            .push_str(&format!(" AND {column} IN ({})", id_list(ids)));
    }

    /// Adds ` AND (<a> OR <b>)` with raw conditions (ids only, never client text).
    pub fn and_raw(&mut self, condition: &str) {
        self.sql.push_str(" AND (");
        self.sql.push_str(condition);
        self.sql.push(')');
    }

    /// Runs the query newest first (`id_column` descending) after the page's cursor.
    pub fn fetch<T>(
        mut self,
        conn: &Connection,
        id_column: &str,
        page: PageRequest,
        map: fn(&Row) -> rusqlite::Result<T>,
        id_of: fn(&T) -> i64,
    ) -> StoreResult<Page<T>> {
        if let Some(c) = page.cursor {
            self.and(&format!("{id_column} < ?"), c);
        }
        let limit = page.limit.clamp(1, PageRequest::MAX_LIMIT);
        self.sql
            .push_str(&format!(" ORDER BY {id_column} DESC LIMIT {}", limit + 1));
        let rows: Vec<T> = conn
            .prepare_cached(&self.sql)
            .map_err(db_err)?
            .query_map(rusqlite::params_from_iter(self.args), map)
            .map_err(db_err)?
            .collect::<Result<_, _>>()
            .map_err(db_err)?;
        Ok(Page::from_rows(rows, limit, id_of))
    }
}

/// Integer ids as an SQL list (`NULL` for none, so `x IN (NULL)` matches nothing).
pub(crate) fn id_list(ids: impl IntoIterator<Item = i64>) -> String {
    let list: Vec<String> = ids.into_iter().map(|i| i.to_string()).collect();
    if list.is_empty() {
        "NULL".into()
    } else {
        list.join(",")
    }
}
