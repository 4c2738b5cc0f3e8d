//! SQL constructs that polars evaluates wrongly, refused before they run.
//!
//! Each refusal names the construct and says what to write instead. The query is parsed
//! as polars parses it (sqlparser's generic dialect, trailing commas allowed); a query
//! that does not parse is left to polars, whose error says where.

use std::ops::ControlFlow;

use sqlparser::ast::{
    DuplicateTreatment, Expr, Function, FunctionArguments, GroupByExpr, NamedWindowDefinition,
    NamedWindowExpr, OrderBy, Query, Select, SetExpr, Visit, Visitor, WindowType,
};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::{Parser, ParserOptions};

/// Aggregate functions of polars' SQL (see polars-sql's `functions.rs`).
const AGGREGATES: &[&str] = &[
    "array_agg",
    "avg",
    "corr",
    "count",
    "covar",
    "covar_pop",
    "covar_samp",
    "first",
    "group_concat",
    "last",
    "listagg",
    "max",
    "median",
    "min",
    "quantile_cont",
    "quantile_disc",
    "stddev",
    "stddev_samp",
    "stdev",
    "stdev_samp",
    "string_agg",
    "sum",
    "total",
    "var",
    "var_samp",
    "variance",
];

/// The aggregates polars computes as running ones over an ordered window (polars-sql's
/// `visit_unary_with_opt_cumulative` and `visit_count`).
const RUNNING: &[&str] = &["count", "max", "min", "sum", "total"];

/// `Err` with what to write instead when `sql` uses a construct polars evaluates wrongly.
pub(super) fn check(sql: &str) -> Result<(), String> {
    let Ok(statements) = Parser::new(&GenericDialect)
        .with_options(ParserOptions {
            trailing_commas: true,
            ..Default::default()
        })
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_statements())
    else {
        return Ok(());
    };
    for statement in &statements {
        if let ControlFlow::Break(why) = statement.visit(&mut Selects) {
            return Err(why);
        }
    }
    Ok(())
}

/// Checks every SELECT of a statement (CTEs, subqueries and UNION legs included).
struct Selects;

impl Visitor for Selects {
    type Break = String;

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<String> {
        // A SELECT's ORDER BY belongs to the query around it.
        match &*query.body {
            SetExpr::Select(select) => check_select(select, query.order_by.as_ref()),
            _ => ControlFlow::Continue(()),
        }
    }

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<String> {
        check_select(select, None)
    }
}

/// The rules, over the expressions of one SELECT (its subqueries are SELECTs of their own).
fn check_select(select: &Select, order_by: Option<&OrderBy>) -> ControlFlow<String> {
    let mut windows: Vec<Function> = Vec::new();
    let mut aggregates = 0;
    let mut collect = |e: &Expr| {
        if let Expr::Function(f) = e {
            if f.over.is_some() {
                windows.push(f.clone());
            } else if is_aggregate(f) {
                aggregates += 1;
            }
        }
        ControlFlow::Continue(())
    };
    for item in &select.projection {
        own_exprs(item, &mut collect)?;
    }
    own_exprs(&select.having, &mut collect)?;
    own_exprs(&select.qualify, &mut collect)?;
    if let Some(order_by) = order_by {
        own_exprs(order_by, &mut collect)?;
    }

    for w in &windows {
        if let Some(agg) = aggregate_in(w) {
            return ControlFlow::Break(format!(
                "`{w}` applies a window function to the aggregate `{agg}` in the same SELECT, \
                 which polars evaluates within each group (a share of the total reads 1.0 for \
                 every group): compute the aggregate in a CTE or subquery first, then apply the \
                 window to its column, e.g. `WITH t AS (SELECT region, count(*) AS n FROM \
                 http_requests GROUP BY region) SELECT region, n * 1.0 / sum(n) OVER () FROM t`"
            ));
        }
    }
    let grouped = match &select.group_by {
        GroupByExpr::Expressions(keys, _) => !keys.is_empty(),
        GroupByExpr::All(_) => true,
    };
    if let (Some(w), true) = (windows.first(), grouped || aggregates > 0) {
        return ControlFlow::Break(format!(
            "`{w}` is a window function in a SELECT with GROUP BY or aggregates, which polars \
             evaluates within each group instead of over the grouped rows: compute the GROUP BY \
             in a CTE or subquery first, then apply the window to its columns, e.g. `WITH d AS \
             (SELECT date, count(*) AS n FROM http_requests GROUP BY date) SELECT date, n, \
             rank() OVER (ORDER BY n DESC) FROM d`"
        ));
    }
    for w in &windows {
        let spec = match &w.over {
            Some(WindowType::WindowSpec(spec)) => Some(spec),
            Some(WindowType::NamedWindow(name)) => {
                select
                    .named_window
                    .iter()
                    .find_map(|NamedWindowDefinition(n, def)| match def {
                        NamedWindowExpr::WindowSpec(spec) if n == name => Some(spec),
                        _ => None,
                    })
            }
            None => None,
        };
        let Some(spec) = spec.filter(|s| is_aggregate(w) && !s.order_by.is_empty()) else {
            continue;
        };
        let name = w.name.to_string().to_ascii_lowercase();
        let distinct = matches!(&w.args, FunctionArguments::List(l)
            if l.duplicate_treatment == Some(DuplicateTreatment::Distinct));
        if !RUNNING.contains(&name.as_str()) || distinct {
            return ControlFlow::Break(format!(
                "polars ignores the ORDER BY of `{w}` and aggregates the whole partition, where \
                 SQL aggregates the rows up to the current one: only sum, min, max and count run \
                 (with `ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW`); for a running \
                 average divide a running sum by a running count, or drop the ORDER BY to \
                 aggregate the whole partition"
            ));
        }
        if spec.window_frame.is_none() {
            return ControlFlow::Break(format!(
                "`{w}` has no frame, so SQL aggregates every row up to the current row's \
                 ORDER BY value, ties included (RANGE), but polars computes it row by row \
                 (ROWS), which differs where ORDER BY values repeat: write `ROWS BETWEEN \
                 UNBOUNDED PRECEDING AND CURRENT ROW` after the ORDER BY for a row-by-row \
                 running total, or aggregate per ORDER BY value in a CTE first"
            ));
        }
    }
    ControlFlow::Continue(())
}

/// Calls `f` on every expression of `node` outside the subqueries it contains.
fn own_exprs<V: Visit>(
    node: &V,
    f: impl FnMut(&Expr) -> ControlFlow<String>,
) -> ControlFlow<String> {
    struct Own<F> {
        depth: usize,
        f: F,
    }
    impl<F: FnMut(&Expr) -> ControlFlow<String>> Visitor for Own<F> {
        type Break = String;
        fn pre_visit_query(&mut self, _: &Query) -> ControlFlow<String> {
            self.depth += 1;
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _: &Query) -> ControlFlow<String> {
            self.depth -= 1;
            ControlFlow::Continue(())
        }
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<String> {
            match self.depth {
                0 => (self.f)(e),
                _ => ControlFlow::Continue(()),
            }
        }
    }
    node.visit(&mut Own { depth: 0, f })
}

/// The first aggregate call (without its own OVER) inside the window function `f`: in its
/// arguments, PARTITION BY or ORDER BY.
fn aggregate_in(f: &Function) -> Option<String> {
    let mut found = None;
    let _ = own_exprs(f, |e| match e {
        Expr::Function(inner) if inner.over.is_none() && is_aggregate(inner) => {
            found = Some(inner.to_string());
            ControlFlow::Break(String::new())
        }
        _ => ControlFlow::Continue(()),
    });
    found
}

fn is_aggregate(f: &Function) -> bool {
    let name = f.name.to_string().to_ascii_lowercase();
    AGGREGATES.contains(&name.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_over_an_aggregate_is_refused_with_the_rewrite() {
        let why = check(
            "SELECT region, count(*) * 1.0 / sum(count(*)) OVER () FROM http_requests GROUP BY region",
        )
        .unwrap_err();
        assert!(why.contains("sum(count(*)) OVER ()"), "{why}");
        assert!(why.contains("CTE or subquery first"), "{why}");
        let why = check(
            "SELECT route, rank() OVER (ORDER BY COUNT(*) DESC) FROM http_requests GROUP BY route",
        )
        .unwrap_err();
        assert!(why.contains("COUNT(*)"), "{why}");
    }

    #[test]
    fn a_window_in_a_grouped_select_is_refused() {
        let why =
            check("SELECT date, rank() OVER (ORDER BY date) FROM http_requests GROUP BY date")
                .unwrap_err();
        assert!(why.contains("GROUP BY in a CTE"), "{why}");
        let why = check("SELECT max(ts), row_number() OVER () FROM http_requests").unwrap_err();
        assert!(why.contains("row_number() OVER ()"), "{why}");
    }

    #[test]
    fn a_running_aggregate_needs_its_rows_frame() {
        let why = check("SELECT sum(status) OVER (ORDER BY date) FROM http_requests").unwrap_err();
        assert!(why.contains("ROWS BETWEEN UNBOUNDED PRECEDING"), "{why}");
        let why = check(
            "SELECT count(*) OVER w FROM http_requests WINDOW w AS (PARTITION BY region ORDER BY ts)",
        )
        .unwrap_err();
        assert!(why.contains("RANGE"), "{why}");
        let why = check(
            "SELECT avg(status) OVER (ORDER BY ts ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) FROM http_requests",
        )
        .unwrap_err();
        assert!(why.contains("running sum by a running count"), "{why}");
        for sql in [
            "SELECT sum(status) OVER (ORDER BY date ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) FROM http_requests",
            "SELECT sum(status) OVER (PARTITION BY date) FROM http_requests",
            "SELECT lag(status) OVER (ORDER BY ts) FROM http_requests",
        ] {
            assert_eq!(check(sql), Ok(()), "{sql}");
        }
    }

    #[test]
    fn windows_over_columns_and_aggregates_alone_pass() {
        for sql in [
            "WITH t AS (SELECT region, count(*) AS n FROM http_requests GROUP BY region) \
             SELECT region, n * 1.0 / sum(n) OVER () FROM t",
            "SELECT date, count(*) FROM http_requests GROUP BY date",
            "SELECT status, count(*) OVER (PARTITION BY region) FROM http_requests",
            // A subquery's aggregate is its own SELECT's.
            "SELECT status, (SELECT max(status) FROM http_requests) - status, \
             row_number() OVER (ORDER BY ts) FROM http_requests",
            "SELECT ((",
        ] {
            assert_eq!(check(sql), Ok(()), "{sql}");
        }
    }
}
