//! Values of unrelated types meeting in one result, refused as PostgreSQL refuses them.
//!
//! polars finds a common ("super") type for the branches of `CASE`, the arguments of
//! `COALESCE`, `NULLIF`, `GREATEST` and `LEAST`, and the columns of the legs of a `UNION`,
//! and where one is text that type is text: `CASE WHEN ok THEN 1 ELSE 'a' END` silently
//! turns the numbers into strings (which then sort and compare as text), and a boolean
//! meeting a number becomes a number. PostgreSQL refuses to match types of different
//! categories ("CASE types integer and text cannot be matched"); so does runlens, saying
//! which CAST to write. Numbers of any width mix (as in SQL: an integer and a float give a
//! float), and so do dates and timestamps; NULL meets anything.

use polars::prelude::*;

/// PostgreSQL's type categories, as far as the lake's types go.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Category {
    Numeric,
    Text,
    Boolean,
    /// Dates and timestamps (a date widens to a timestamp, as in SQL).
    DateTime,
    Time,
    Interval,
    Binary,
    /// Lists, structs and anything else: only the same type matches.
    Other(DataType),
}

impl Category {
    /// The category of `t`; `None` for NULL (and types polars cannot tell yet), which
    /// meets any other.
    fn of(t: &DataType) -> Option<Category> {
        Some(match t {
            DataType::Null | DataType::Unknown(UnknownKind::Any) => return None,
            DataType::Unknown(UnknownKind::Int(_) | UnknownKind::Float) => Category::Numeric,
            DataType::Unknown(UnknownKind::Str) => Category::Text,
            t if t.is_primitive_numeric() || t.is_decimal() => Category::Numeric,
            DataType::String | DataType::Categorical(..) | DataType::Enum(..) => Category::Text,
            DataType::Boolean => Category::Boolean,
            DataType::Date | DataType::Datetime(..) => Category::DateTime,
            DataType::Time => Category::Time,
            DataType::Duration(_) => Category::Interval,
            DataType::Binary | DataType::BinaryOffset => Category::Binary,
            other => Category::Other(other.clone()),
        })
    }

    /// The SQL name of the category, as an error shows it.
    fn name(&self) -> String {
        match self {
            Category::Numeric => "a number".into(),
            Category::Text => "text".into(),
            Category::Boolean => "a boolean".into(),
            Category::DateTime => "a date or timestamp".into(),
            Category::Time => "a time of day".into(),
            Category::Interval => "an interval".into(),
            Category::Binary => "bytes".into(),
            Category::Other(t) => format!("{t}"),
        }
    }

    /// What to write to make a value of this category of another's: the CAST target.
    fn sql_type(&self) -> &'static str {
        match self {
            Category::Numeric => "DOUBLE",
            Category::Boolean => "BOOLEAN",
            Category::DateTime => "TIMESTAMP",
            _ => "VARCHAR",
        }
    }
}

/// Where values of several types meet: what an error calls it.
#[derive(Debug, Clone, Copy)]
pub(super) enum Meeting {
    Case,
    Coalesce,
    GreatestLeast,
    Union,
}

impl Meeting {
    fn what(self) -> &'static str {
        match self {
            Meeting::Case => "the branches of CASE (or NULLIF, IF)",
            Meeting::Coalesce => "the arguments of COALESCE (or IFNULL)",
            Meeting::GreatestLeast => "the arguments of GREATEST or LEAST",
            Meeting::Union => "the SELECTs of a UNION",
        }
    }
}

/// `Err` with what to write instead when the values `parts` (each shown as written, with
/// its type) of `meeting` are of unrelated types. For a UNION, `parts` are one column of
/// each SELECT, shown by its name.
pub(super) fn check(meeting: Meeting, parts: &[(String, DataType)]) -> Result<(), String> {
    let mut first: Option<(&str, Category)> = None;
    for (shown, t) in parts {
        let Some(c) = Category::of(t) else { continue };
        match &first {
            None => first = Some((shown, c)),
            Some((a, ca)) if *ca != c => {
                let target = if *ca == Category::Text || c == Category::Text {
                    "VARCHAR"
                } else {
                    ca.sql_type()
                };
                if let Meeting::Union = meeting {
                    return Err(format!(
                        "column `{shown}` of a UNION is {} in one SELECT and {} in another; \
                         PostgreSQL refuses this, and polars would silently convert one into \
                         the other. CAST it to one type in each SELECT, e.g. \
                         CAST({shown} AS {target})",
                        ca.name(),
                        c.name(),
                    ));
                }
                return Err(format!(
                    "{} mix types that SQL does not match: `{a}` is {} and `{shown}` is {}; \
                     PostgreSQL refuses this, and polars would silently convert one into the \
                     other. CAST them to one type, e.g. CAST({shown} AS {target})",
                    meeting.what(),
                    ca.name(),
                    c.name(),
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(shown: &str, t: DataType) -> (String, DataType) {
        (shown.to_owned(), t)
    }

    #[test]
    fn numbers_and_text_do_not_mix() {
        let why = check(
            Meeting::Case,
            &[
                part("1", DataType::Unknown(UnknownKind::Int(1))),
                part("'a'", DataType::Unknown(UnknownKind::Str)),
            ],
        )
        .unwrap_err();
        assert!(why.contains("`1` is a number and `'a'` is text"), "{why}");
        assert!(why.contains("CAST('a' AS VARCHAR)"), "{why}");
        let why = check(
            Meeting::Union,
            &[
                part("ok", DataType::Boolean),
                part("status", DataType::Int64),
            ],
        )
        .unwrap_err();
        assert!(
            why.contains("is a boolean in one SELECT and a number in another"),
            "{why}"
        );
        assert!(why.contains("CAST(status AS BOOLEAN)"), "{why}");
    }

    #[test]
    fn numbers_dates_and_null_mix_within_their_kind() {
        for parts in [
            vec![
                part("1", DataType::Int64),
                part("2.5", DataType::Float64),
                part("NULL", DataType::Null),
            ],
            vec![
                part("date", DataType::Date),
                part("ts", DataType::Datetime(TimeUnit::Microseconds, None)),
            ],
            vec![
                part("region", DataType::String),
                part("NULL", DataType::Null),
                part("'x'", DataType::Unknown(UnknownKind::Str)),
            ],
        ] {
            assert_eq!(check(Meeting::Coalesce, &parts), Ok(()), "{parts:?}");
        }
    }
}
