//! What the data side tells the renderers about people (see [`crate::privacy`]), and
//! the sentences of findings with their accounts masked.

use std::collections::BTreeSet;

use runlens_analyze::polars::prelude::*;

use super::*;

/// The user names PostgreSQL reported as roles that do not exist in `[from, to)`
/// (`pg_log.auth_reason` set by ingest from `FATAL: role "x" does not exist` and from
/// the `Role "x" does not exist.` DETAIL of a failed password authentication).
pub(super) fn nonexistent_roles(
    tables: &LakeTables,
    (from, to): (i64, i64),
) -> Result<BTreeSet<String>, BuildError> {
    let def = runlens_lake::schema::table("pg_log").expect("pg_log is a lake table");
    let df = tables
        .scan_between(def, runlens_analyze::time::Window::between_us(from, to))?
        .filter(
            col("auth_reason")
                .eq(lit("role does not exist"))
                .and(col("auth_user").is_not_null()),
        )
        .select([col("auth_user").unique()])
        .collect()?;
    Ok(detect::frame::strs(&df, "auth_user")?
        .into_iter()
        .flatten()
        .collect())
}

/// The summary of `finding` with the accounts it is about masked where `privacy` says
/// so, and literals of the query it quotes (a raw statement when the normalized query
/// was missing) replaced by `?`.
pub(super) fn finding_summary(finding: &detect::Finding, privacy: &Privacy) -> String {
    let accounts = finding
        .keys
        .get("user")
        .into_iter()
        .chain(
            finding
                .evidence
                .top
                .iter()
                .filter(|o| o.dimension == "user")
                .map(|o| &o.value),
        )
        .map(String::as_str);
    let summary = privacy.mask_accounts(&finding.summary, accounts);
    match finding.keys.get("query") {
        Some(query) => quoted_query_literals(&summary, query),
        None => summary.into_owned(),
    }
}

/// `summary` with the literals of `query` masked where the summary quotes it (the
/// slow-query detectors end their sentence with the query, shortened to a number of
/// characters followed by `…`).
fn quoted_query_literals(summary: &str, query: &str) -> String {
    let head: String = query.chars().take(24).collect();
    match summary.rfind(&head) {
        Some(at) if !head.is_empty() => format!(
            "{}{}",
            &summary[..at],
            crate::redact::sql_literals(&summary[at..])
        ),
        _ => summary.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quoted_query_loses_its_literals() {
        let q = "select * from users where email = 'alice@example.com' and pin = 4711";
        let summary = format!("Query 0f3a ran 12 times with p95 1200 ms (threshold 1000 ms): {q}");
        assert_eq!(
            quoted_query_literals(&summary, q),
            "Query 0f3a ran 12 times with p95 1200 ms (threshold 1000 ms): select * from users where email = ? and pin = ?"
        );
        let cut = format!("Query 0f3a regressed; {}…", &q[..45]);
        assert_eq!(
            quoted_query_literals(&cut, q),
            "Query 0f3a regressed; select * from users where email = ?"
        );
    }
}
