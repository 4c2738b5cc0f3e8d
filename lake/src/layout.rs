//! Where a table's rows of one UTC day live: `<table>/date=YYYY-MM-DD/` (hive-style
//! partitions, which DuckDB, Spark, Trino and Athena read as a `date` column). The
//! only place the partition name is written or read.

use std::path::Path;

use chrono::NaiveDate;

/// The directory of `table`'s rows of `day`, relative to the lake root.
pub fn day_dir(table: &str, day: NaiveDate) -> String {
    format!("{table}/date={day}")
}

/// The day of a partition directory's name, `date=YYYY-MM-DD` exactly as [`day_dir`]
/// writes it (no other spelling of the same day).
pub fn parse_day_dir(name: &str) -> Option<NaiveDate> {
    let d = name.strip_prefix("date=")?;
    d.parse::<NaiveDate>()
        .ok()
        .filter(|day| day.to_string() == d)
}

/// The day of a data file under a partition directory (`…/date=YYYY-MM-DD/part-….parquet`).
pub fn file_day(path: &Path) -> Option<NaiveDate> {
    parse_day_dir(path.parent()?.file_name()?.to_str()?)
}

/// [`file_day`] as days since 1970-01-01.
pub fn file_epoch_day(path: &Path) -> Option<i64> {
    file_day(path).map(|d| d.signed_duration_since(NaiveDate::default()).num_days())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_and_read_back() {
        let day = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
        let dir = day_dir("pg_log", day);
        assert_eq!(dir, "pg_log/date=2024-02-29");
        let file = format!("{dir}/part-x-0.parquet");
        assert_eq!(file_day(Path::new(&file)), Some(day));
        assert_eq!(
            file_epoch_day(Path::new("t/date=1970-01-02/p.parquet")),
            Some(1)
        );
    }

    #[test]
    fn other_spellings_are_not_partitions() {
        for name in [
            "date=2024-2-29",
            "date=2024-02-30",
            "date= 2024-02-29",
            "day=2024-02-29",
            "date=+2024-02-29",
        ] {
            assert_eq!(parse_day_dir(name), None, "{name}");
        }
    }
}
