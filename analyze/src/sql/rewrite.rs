//! The plan polars' SQL front end built, rewritten to compute what SQL means.
//!
//! Integers in analysts' SQL are signed 64-bit, and their arithmetic is checked.
//!
//! polars computes `count(*)`, `count(DISTINCT …)`, `length(…)`, `rank()`, `row_number()` …
//! as unsigned 32-bit integers and `EXTRACT(…)` as 8- or 32-bit ones, and its integer
//! arithmetic wraps around silently: a day-over-day change of −398 between two counts
//! reads 4294966898, `extract(hour FROM ts) * 60` turns negative past 127, and a sum of
//! 64-bit values past 2⁶³ comes back with the wrong sign. SQL engines (DuckDB, PostgreSQL)
//! compute with signed 64-bit integers and fail on overflow instead.
//!
//! [`rewrite`] rewrites the plan polars' SQL front end built, before it runs, so that it
//! computes what DuckDB computes or fails:
//! - every integer-valued expression of another width or signedness is cast to `Int64`
//!   (strictly: a value that does not fit fails the query);
//! - `+`, `-`, `*` and `%` of two integers run as checked 64-bit operations that fail the
//!   query on overflow, `%` with SQL's sign (that of the dividend: `-7 % 3 = -1`, where
//!   polars gives the divisor's);
//! - `x // y` of integers divides truncating toward zero (`-7 // 2 = -3`, where polars
//!   floors to -4), and `//` of non-integers, whose polars result differs from DuckDB's, is
//!   refused; `x % 0` and `x // 0` fail as in DuckDB and PostgreSQL;
//! - `abs` of integers fails on −2⁶³ (polars returns −2⁶³), as unary minus does (polars'
//!   SQL writes it `0 - x`); `power` of integers computes in floating point, as SQL's;
//! - `/` (and `%` of floats) fails on a zero divisor as in PostgreSQL, where polars gives
//!   NULL, `inf` or `NaN`, and a float `%` takes the dividend's sign;
//! - `sum` of integers (and its running and windowed forms) fails when the total leaves
//!   the 64-bit range.
//!
//! Values of unrelated types meeting in one result (CASE branches, COALESCE, GREATEST,
//! LEAST, the SELECTs of a UNION) are refused ([`mix`]).
//!
//! `rank()` and `dense_rank()` fail where the ORDER BY value is NULL, which polars leaves
//! unranked.
//!
//! Rounding is SQL's, half away from zero: `round(2.5)` is 3 (polars rounds half to even,
//! 2), and `CAST(2.7 AS INTEGER)` is 3 (polars truncates to 2).
//!
//! Types are resolved per plan node against the node's input schema, so only integer
//! operands are touched: float, date and text arithmetic keep polars' own kernels.

use std::sync::Arc;

use polars::prelude::*;
use polars_plan::plans::visitor::{RewriteRecursion, RewritingVisitor, TreeWalker};

use super::mix;
use crate::AnalyzeError;

/// The plan `plan` with integers widened to `Int64` and integer arithmetic checked (see
/// the module's documentation).
pub(super) fn rewrite(plan: DslPlan) -> Result<DslPlan, AnalyzeError> {
    Ok(match plan {
        DslPlan::Filter { input, predicate } => {
            let (input, schema) = input_of(input)?;
            DslPlan::Filter {
                predicate: expr(predicate, &schema)?,
                input,
            }
        }
        DslPlan::Select {
            expr: exprs_,
            input,
            options,
        } => {
            let (input, schema) = input_of(input)?;
            DslPlan::Select {
                expr: exprs(exprs_, &schema)?,
                input,
                options,
            }
        }
        DslPlan::HStack {
            input,
            exprs: exprs_,
            options,
        } => {
            let (input, schema) = input_of(input)?;
            DslPlan::HStack {
                exprs: exprs(exprs_, &schema)?,
                input,
                options,
            }
        }
        DslPlan::GroupBy {
            input,
            keys,
            predicates,
            aggs,
            maintain_order,
            options,
            apply,
        } => {
            let (input, schema) = input_of(input)?;
            DslPlan::GroupBy {
                keys: exprs(keys, &schema)?,
                aggs: exprs(aggs, &schema)?,
                predicates,
                input,
                maintain_order,
                options,
                apply,
            }
        }
        DslPlan::Sort {
            input,
            by_column,
            slice,
            sort_options,
        } => {
            let (input, schema) = input_of(input)?;
            DslPlan::Sort {
                by_column: exprs(by_column, &schema)?,
                input,
                slice,
                sort_options,
            }
        }
        DslPlan::Join {
            input_left,
            input_right,
            left_on,
            right_on,
            predicates,
            options,
        } => {
            let (input_left, left) = input_of(input_left)?;
            let (input_right, right) = input_of(input_right)?;
            DslPlan::Join {
                left_on: exprs(left_on, &left)?,
                right_on: exprs(right_on, &right)?,
                input_left,
                input_right,
                predicates,
                options,
            }
        }
        DslPlan::Cache { input, id } => DslPlan::Cache {
            input: Arc::new(rewrite(Arc::unwrap_or_clone(input))?),
            id,
        },
        DslPlan::Distinct { input, options } => DslPlan::Distinct {
            input: Arc::new(rewrite(Arc::unwrap_or_clone(input))?),
            options,
        },
        DslPlan::Slice { input, offset, len } => DslPlan::Slice {
            input: Arc::new(rewrite(Arc::unwrap_or_clone(input))?),
            offset,
            len,
        },
        DslPlan::MapFunction { input, function } => DslPlan::MapFunction {
            input: Arc::new(rewrite(Arc::unwrap_or_clone(input))?),
            function,
        },
        DslPlan::Union { inputs, args } => {
            let inputs: Vec<DslPlan> = inputs.into_iter().map(rewrite).collect::<Result<_, _>>()?;
            union_types(&inputs, args.diagonal)?;
            DslPlan::Union { inputs, args }
        }
        DslPlan::HConcat { inputs, options } => DslPlan::HConcat {
            inputs: inputs.into_iter().map(rewrite).collect::<Result<_, _>>()?,
            options,
        },
        // A part whose schema polars' SQL front end resolved: its plan is kept beside it.
        DslPlan::IR { dsl, .. } => rewrite(Arc::unwrap_or_clone(dsl))?,
        // Scans, and nodes that compute no expression of their own.
        other => other,
    })
}

/// Refuses a UNION whose SELECTs give one column values of unrelated types (see
/// [`mix`]): column by column in order, or by name for `UNION BY NAME` (`diagonal`).
fn union_types(inputs: &[DslPlan], diagonal: bool) -> Result<(), AnalyzeError> {
    let schemas = inputs
        .iter()
        .map(|p| LazyFrame::from(p.clone()).collect_schema())
        .collect::<PolarsResult<Vec<_>>>()?;
    let Some(first) = schemas.first() else {
        return Ok(());
    };
    for (i, name) in first.iter_names().enumerate() {
        let column: Vec<(String, DataType)> = schemas
            .iter()
            .filter_map(|s| match diagonal {
                true => s.get(name),
                false => s.get_at_index(i).map(|(_, t)| t),
            })
            .map(|t| (name.to_string(), t.clone()))
            .collect();
        mix::check(mix::Meeting::Union, &column).map_err(AnalyzeError::Refused)?;
    }
    Ok(())
}

/// `input` rewritten, and its schema.
fn input_of(input: Arc<DslPlan>) -> Result<(Arc<DslPlan>, SchemaRef), AnalyzeError> {
    let input = rewrite(Arc::unwrap_or_clone(input))?;
    let schema = LazyFrame::from(input.clone()).collect_schema()?;
    Ok((Arc::new(input), schema))
}

fn exprs(exprs: Vec<Expr>, schema: &Schema) -> Result<Vec<Expr>, AnalyzeError> {
    exprs.into_iter().map(|e| expr(e, schema)).collect()
}

fn expr(e: Expr, schema: &Schema) -> Result<Expr, AnalyzeError> {
    let mut w = Widen {
        schema,
        refused: None,
    };
    let out = e.rewrite(&mut w, &mut ());
    match w.refused {
        Some(why) => Err(AnalyzeError::Refused(why)),
        None => Ok(out?),
    }
}

/// Rewrites an expression bottom-up (children first), knowing the input schema.
struct Widen<'a> {
    schema: &'a Schema,
    /// Why the expression is refused, when it is (the rewrite then stops with an error).
    refused: Option<String>,
}

impl Widen<'_> {
    /// The type `e` computes, when polars can tell.
    fn dtype(&self, e: &Expr) -> Option<DataType> {
        e.to_field(self.schema).ok().map(|f| f.dtype().clone())
    }

    /// Records why the expression is refused, and the error that stops the rewrite.
    fn refuse(&mut self, why: String) -> PolarsError {
        self.refused = Some(why);
        polars_err!(ComputeError: "refused")
    }

    /// Refuses `parts` meeting in one result when their types are unrelated (see [`mix`]).
    fn mix<'e>(
        &mut self,
        meeting: mix::Meeting,
        parts: impl IntoIterator<Item = &'e Expr>,
    ) -> PolarsResult<()> {
        let typed: Vec<(String, DataType)> = parts
            .into_iter()
            .filter_map(|e| Some((shown(e), self.dtype(e)?)))
            .collect();
        mix::check(meeting, &typed).map_err(|why| self.refuse(why))
    }
}

impl RewritingVisitor for Widen<'_> {
    type Node = Expr;
    type Arena = ();

    fn pre_visit(&mut self, node: &Expr, _: &mut ()) -> PolarsResult<RewriteRecursion> {
        Ok(match node {
            // Evaluated over another schema (list elements, struct fields): left alone.
            Expr::Eval { .. } | Expr::StructEval { .. } | Expr::Element | Expr::Field(_) => {
                RewriteRecursion::Stop
            }
            // A subquery: its own plan is rewritten when it is planned (see `rewrite`).
            Expr::SubPlan(..) => RewriteRecursion::MutateAndStop,
            _ => RewriteRecursion::MutateAndContinue,
        })
    }

    fn mutate(&mut self, node: Expr, _: &mut ()) -> PolarsResult<Expr> {
        let node = match node {
            Expr::SubPlan(plan, names) => {
                let plan = match rewrite(Arc::unwrap_or_clone(plan.into_inner())) {
                    Ok(plan) => plan,
                    Err(AnalyzeError::Refused(why)) => return Err(self.refuse(why)),
                    Err(AnalyzeError::Polars(e)) => return Err(e),
                    Err(e) => return Err(polars_err!(ComputeError: "{e}")),
                };
                return Ok(Expr::SubPlan(SpecialEq::new(Arc::new(plan)), names));
            }
            Expr::BinaryExpr { left, op, right } => {
                match (op_of(op), self.dtype(&left), self.dtype(&right)) {
                    (Some(op), Some(l), Some(r)) if is_int(&l) && is_int(&r) => {
                        checked(op, Arc::unwrap_or_clone(left), Arc::unwrap_or_clone(right))
                    }
                    (Some(IntOp::Div), Some(_), Some(_)) => {
                        return Err(self.refuse(format!(
                            "`//` of non-integers ({left} // {right}) does not divide as \
                             DuckDB or PostgreSQL do: write floor(x / y) or trunc(x / y)"
                        )))
                    }
                    (_, Some(l), Some(r))
                        if matches!(op, Operator::TrueDivide | Operator::Modulus)
                            && is_number(&l)
                            && is_number(&r) =>
                    {
                        float_div(op, Arc::unwrap_or_clone(left), Arc::unwrap_or_clone(right))
                    }
                    _ => Expr::BinaryExpr { left, op, right },
                }
            }
            Expr::Ternary {
                predicate,
                truthy,
                falsy,
            } => {
                self.mix(mix::Meeting::Case, [&*truthy, &*falsy])?;
                Expr::Ternary {
                    predicate,
                    truthy,
                    falsy,
                }
            }
            Expr::Function {
                input,
                function:
                    function @ (FunctionExpr::Coalesce
                    | FunctionExpr::MaxHorizontal
                    | FunctionExpr::MinHorizontal),
            } => {
                let meeting = match function {
                    FunctionExpr::Coalesce => mix::Meeting::Coalesce,
                    _ => mix::Meeting::GreatestLeast,
                };
                self.mix(meeting, &input)?;
                Expr::Function { input, function }
            }
            Expr::Function {
                input,
                function: FunctionExpr::Abs,
            } if input.len() == 1 && self.dtype(&input[0]).as_ref().is_some_and(is_int) => {
                abs_checked(input.into_iter().next().expect("one input"))
            }
            // SQL's power() of integers is a float (PostgreSQL's and DuckDB's `double`);
            // polars' wraps around in the base's integer type (2⁶³ reads -2⁶³).
            Expr::Function {
                mut input,
                function: function @ FunctionExpr::Pow(PowFunction::Generic),
            } if input.len() == 2 && self.dtype(&input[0]).as_ref().is_some_and(is_int) => {
                input[0] = input[0].clone().cast(DataType::Float64);
                Expr::Function { input, function }
            }
            Expr::Function {
                input,
                function: FunctionExpr::Round { decimals, .. },
            } => Expr::Function {
                input,
                function: FunctionExpr::Round {
                    decimals,
                    mode: RoundMode::HalfAwayFromZero,
                },
            },
            Expr::Cast {
                expr,
                dtype,
                options,
            } if dtype.as_literal().is_some_and(|t| t.is_integer())
                && self.dtype(&expr).is_some_and(|t| t.is_float()) =>
            {
                Expr::Cast {
                    expr: Arc::new(
                        Arc::unwrap_or_clone(expr).round(0, RoundMode::HalfAwayFromZero),
                    ),
                    dtype,
                    options,
                }
            }
            Expr::Agg(AggExpr::Sum(input)) if self.dtype(&input).as_ref().is_some_and(is_int) => {
                sum_checked(Expr::Agg(AggExpr::Sum(input.clone())), &input)
            }
            Expr::Function {
                input,
                function: FunctionExpr::CumSum { reverse },
            } if input.len() == 1 && self.dtype(&input[0]).as_ref().is_some_and(is_int) => {
                let of = input[0].clone();
                sum_checked(
                    Expr::Function {
                        input,
                        function: FunctionExpr::CumSum { reverse },
                    },
                    &of,
                )
            }
            rank @ Expr::Function {
                function: FunctionExpr::Rank { .. },
                ..
            } => rank_of_values(rank),
            other => other,
        };
        // Literals keep their dynamic type (polars sizes `1` to its other operand).
        if matches!(node, Expr::Literal(_)) {
            return Ok(node);
        }
        Ok(match self.dtype(&node) {
            Some(t) if t.is_integer() && t != DataType::Int64 => node.strict_cast(DataType::Int64),
            _ => node,
        })
    }
}

/// A known integer type, or an integer literal whose width polars decides later.
fn is_int(t: &DataType) -> bool {
    t.is_integer() || matches!(t, DataType::Unknown(UnknownKind::Int(_)))
}

/// A known numeric type, or a numeric literal whose width polars decides later.
fn is_number(t: &DataType) -> bool {
    t.is_primitive_numeric()
        || matches!(
            t,
            DataType::Unknown(UnknownKind::Int(_) | UnknownKind::Float)
        )
}

/// `e` as an error shows it: a column by its name, a literal by its value.
fn shown(e: &Expr) -> String {
    match e {
        Expr::Column(name) => name.to_string(),
        Expr::Literal(v) => match v.extract_str() {
            Some(s) => format!("'{s}'"),
            None => match v.to_any_value() {
                Some(v) => format!("{v}"),
                None => format!("{e}"),
            },
        },
        Expr::Alias(inner, _) => shown(inner),
        // What polars' SQL front end wraps around an expression.
        Expr::Cast { expr, .. } => shown(expr),
        other => format!("{other}"),
    }
}

/// The integer operations that can overflow or whose sign convention differs from SQL's.
#[derive(Debug, Clone, Copy)]
enum IntOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

fn op_of(op: Operator) -> Option<IntOp> {
    Some(match op {
        Operator::Plus => IntOp::Add,
        Operator::Minus => IntOp::Sub,
        Operator::Multiply => IntOp::Mul,
        Operator::FloorDivide => IntOp::Div,
        Operator::Modulus => IntOp::Rem,
        _ => return None,
    })
}

impl IntOp {
    fn symbol(self) -> &'static str {
        match self {
            IntOp::Add => "+",
            IntOp::Sub => "-",
            IntOp::Mul => "*",
            IntOp::Div => "//",
            IntOp::Rem => "%",
        }
    }

    /// `a op b` in 64 bits, or why it has no value.
    fn apply(self, a: i64, b: i64) -> PolarsResult<i64> {
        let overflow = || {
            polars_err!(ComputeError:
                "integer overflow: {a} {} {b} does not fit in a signed 64-bit integer; \
                 cast an operand to DOUBLE (CAST(x AS DOUBLE)) to compute it approximately",
                self.symbol())
        };
        match self {
            IntOp::Add => a.checked_add(b).ok_or_else(overflow),
            IntOp::Sub => a.checked_sub(b).ok_or_else(overflow),
            IntOp::Mul => a.checked_mul(b).ok_or_else(overflow),
            _ if b == 0 => Err(polars_err!(ComputeError:
                "division by zero: {a} {} 0; write NULLIF(y, 0) to get NULL instead", self.symbol())),
            // Division truncating toward zero, as SQL's (Rust's `/`).
            IntOp::Div => a.checked_div(b).ok_or_else(overflow),
            // The remainder of that division, of the dividend's sign; i64::MIN % -1 is 0.
            IntOp::Rem => Ok(a.checked_rem(b).unwrap_or(0)),
        }
    }
}

/// `left op right` on integers as a checked 64-bit operation.
fn checked(op: IntOp, left: Expr, right: Expr) -> Expr {
    let name = format!("checked_{op:?}").to_lowercase();
    let f = move |cols: &mut [Column]| -> PolarsResult<Column> {
        let out_name = cols[0].name().clone();
        let len = cols[0].len().max(cols[1].len());
        let a = cols[0].strict_cast(&DataType::Int64)?;
        let b = cols[1].strict_cast(&DataType::Int64)?;
        // A literal operand arrives as one value.
        let (a, b) = (broadcast(a, len), broadcast(b, len));
        let (a, b) = (a.i64()?, b.i64()?);
        let out: Int64Chunked = a
            .iter()
            .zip(b.iter())
            .map(|(x, y)| match (x, y) {
                (Some(x), Some(y)) => op.apply(x, y).map(Some),
                _ => Ok(None),
            })
            .collect::<PolarsResult<_>>()?;
        Ok(out.with_name(out_name).into_column())
    };
    let out =
        |_: &Schema, fields: &[Field]| Ok(Field::new(fields[0].name().clone(), DataType::Int64));
    named(map_multiple(f, [left, right], out), &name)
}

/// The column `c` (of a literal, one value) as `len` values.
fn broadcast(c: Column, len: usize) -> Column {
    if c.len() == 1 && len != 1 {
        c.new_from_index(0, len)
    } else {
        c
    }
}

/// `left / right` or `left % right` of numbers (one a float, or `/` of integers) in
/// floating point, failing on a zero divisor as PostgreSQL does, where polars gives
/// `inf`, `NaN` or NULL (and DuckDB `inf` for `/`). `%` takes the dividend's sign
/// (`-7.5 % 2 = -1.5`, C's `fmod`), as DuckDB's, where polars takes the divisor's.
fn float_div(op: Operator, left: Expr, right: Expr) -> Expr {
    let rem = op == Operator::Modulus;
    let symbol = if rem { "%" } else { "/" };
    let f = move |cols: &mut [Column]| -> PolarsResult<Column> {
        let out_name = cols[0].name().clone();
        let len = cols[0].len().max(cols[1].len());
        let a = broadcast(cols[0].cast(&DataType::Float64)?, len);
        let b = broadcast(cols[1].cast(&DataType::Float64)?, len);
        let (a, b) = (a.f64()?, b.f64()?);
        let quotient: Float64Chunked = a
            .iter()
            .zip(b.iter())
            .map(|(x, y)| match (x, y) {
                (Some(x), Some(0.0)) => Err(polars_err!(ComputeError:
                    "division by zero: {x} {symbol} 0; write NULLIF(divisor, 0) to get NULL \
                     instead, e.g. x {symbol} NULLIF(y, 0)")),
                (Some(x), Some(y)) => Ok(Some(if rem { x % y } else { x / y })),
                _ => Ok(None),
            })
            .collect::<PolarsResult<_>>()?;
        let out = quotient_type(cols[0].dtype(), cols[1].dtype());
        quotient.with_name(out_name).into_column().cast(&out)
    };
    let out_field = |_: &Schema, fields: &[Field]| {
        let out = quotient_type(fields[0].dtype(), fields[1].dtype());
        Ok(Field::new(fields[0].name().clone(), out))
    };
    let name = if rem { "checked_rem" } else { "checked_div" };
    named(map_multiple(f, [left, right], out_field), name)
}

/// Float32 when both operands are, else Float64 (polars' type of their quotient).
fn quotient_type(a: &DataType, b: &DataType) -> DataType {
    match (a, b) {
        (DataType::Float32, DataType::Float32) => DataType::Float32,
        _ => DataType::Float64,
    }
}

/// `abs(x)` of integers, failing on the one value whose absolute value is no 64-bit
/// integer (−2⁶³), where polars wraps it around to itself.
fn abs_checked(x: Expr) -> Expr {
    let f = |cols: &mut [Column]| -> PolarsResult<Column> {
        let out_name = cols[0].name().clone();
        let v = cols[0].strict_cast(&DataType::Int64)?;
        let out: Int64Chunked = v
            .i64()?
            .iter()
            .map(|x| match x {
                Some(x) => x.checked_abs().map(Some).ok_or_else(|| {
                    polars_err!(ComputeError:
                        "integer overflow: abs({x}) does not fit in a signed 64-bit integer \
                         (bigint out of range); take abs(CAST(x AS DOUBLE)) to compute it \
                         approximately")
                }),
                None => Ok(None),
            })
            .collect::<PolarsResult<_>>()?;
        Ok(out.with_name(out_name).into_column())
    };
    let out =
        |_: &Schema, fields: &[Field]| Ok(Field::new(fields[0].name().clone(), DataType::Int64));
    named(map_multiple(f, [x], out), "checked_abs")
}

/// `total` (a sum of the integers `of`), failing where the true total leaves the 64-bit
/// range: polars' integer sums wrap around. The same sum in floating point, beside it, is
/// within a relative 1e-9 of the true one for any realistic number of rows, so a float sum
/// that close to 2⁶³ means the integer one may have wrapped.
fn sum_checked(total: Expr, of: &Expr) -> Expr {
    let approx = match &total {
        Expr::Agg(AggExpr::Sum(_)) => of.clone().cast(DataType::Float64).sum(),
        Expr::Function {
            function: FunctionExpr::CumSum { reverse },
            ..
        } => of.clone().cast(DataType::Float64).cum_sum(*reverse),
        _ => unreachable!("sum_checked takes a sum"),
    };
    let f = |cols: &mut [Column]| -> PolarsResult<Column> {
        const LIMIT: f64 = 9.223_372_036_854_776e18 * (1.0 - 1e-9);
        let approx = cols[1].f64()?;
        if let Some(v) = approx.iter().flatten().find(|v| v.abs() >= LIMIT) {
            polars_bail!(ComputeError:
                "integer overflow: a sum reaches {v:e}, beyond a signed 64-bit integer; \
                 sum CAST(x AS DOUBLE) to compute it approximately");
        }
        Ok(std::mem::take(&mut cols[0]))
    };
    let out = |_: &Schema, fields: &[Field]| Ok(fields[0].clone());
    named(map_multiple(f, [total, approx], out), "checked_sum")
}

/// `rank` (polars' `rank()` or `dense_rank()`), failing where it has no value: polars
/// leaves rows whose ORDER BY value is NULL unranked, where SQL ranks them with the NULLs
/// sorted last (or first).
fn rank_of_values(rank: Expr) -> Expr {
    let f = |cols: &mut [Column]| -> PolarsResult<Column> {
        polars_ensure!(cols[0].null_count() == 0, ComputeError:
            "rank() over a NULL ORDER BY value: polars leaves such rows unranked, where SQL \
             ranks them; filter the NULLs out (WHERE x IS NOT NULL) or rank coalesce(x, …)");
        Ok(std::mem::take(&mut cols[0]))
    };
    let out = |_: &Schema, fields: &[Field]| Ok(fields[0].clone());
    named(map_multiple(f, [rank], out), "checked_rank")
}

/// `e` (a function of runlens') shown as `name` when a plan is printed.
fn named(e: Expr, name: &str) -> Expr {
    match e {
        Expr::AnonymousFunction {
            input,
            function,
            options,
            ..
        } => Expr::AnonymousFunction {
            input,
            function,
            options,
            fmt_str: Box::new(name.into()),
        },
        other => other,
    }
}
