//! A rendered report on disk: `<out>/<period>/<YYYY-MM-DD>/`.
//!
//! ```text
//! report.html  report.eml  report.json  charts/<id>.svg  charts/<id>.png
//! ```
//!
//! The folder is built next to its final place and swapped in with renames, so a
//! report that is re-rendered (a cron re-run) is either the old one or the new one,
//! never half of each; leftovers of an interrupted run are removed by the next one.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::email::Email;
use crate::render::Rendered;

/// The files written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenReport {
    /// `<out>/<period>/<YYYY-MM-DD of the first day>`.
    pub dir: PathBuf,
    pub html: PathBuf,
    pub eml: PathBuf,
    pub json: PathBuf,
    /// `charts/<id>.svg` and `charts/<id>.png` of every chart, in document order.
    pub charts: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
#[error("writing the report to {path}: {source}")]
pub struct WriteError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// The folder a report is written to under `out`.
pub fn report_dir(out: &Path, rendered: &Rendered) -> PathBuf {
    out.join(rendered.report.period().name()).join(
        rendered
            .report
            .window
            .first_day
            .format("%Y-%m-%d")
            .to_string(),
    )
}

/// Writes `rendered` (and `email` as report.eml) under `out`, replacing an earlier
/// rendering of the same report.
pub fn write(rendered: &Rendered, email: &Email, out: &Path) -> Result<WrittenReport, WriteError> {
    let dir = report_dir(out, rendered);
    let parent = dir.parent().expect("report dir has a parent").to_path_buf();
    let name = dir
        .file_name()
        .expect("report dir has a name")
        .to_string_lossy()
        .into_owned();
    let at = |path: &Path| {
        let path = path.to_path_buf();
        move |source| WriteError { path, source }
    };
    fs::create_dir_all(&parent).map_err(at(&parent))?;
    clean_leftovers(&parent, &name);

    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(at(&tmp))?;
    }
    fs::create_dir(&tmp).map_err(at(&tmp))?;
    let result = (|| {
        let charts_dir = tmp.join("charts");
        fs::create_dir(&charts_dir).map_err(at(&charts_dir))?;
        file(&tmp.join("report.html"), rendered.html.as_bytes())?;
        let eml = email.formatted().map_err(|e| WriteError {
            path: tmp.join("report.eml"),
            source: std::io::Error::other(e.to_string()),
        })?;
        file(&tmp.join("report.eml"), &eml)?;
        file(&tmp.join("report.json"), rendered.json.as_bytes())?;
        let mut charts = Vec::new();
        for chart in &rendered.charts {
            file(
                &charts_dir.join(format!("{}.svg", chart.id)),
                chart.svg.as_bytes(),
            )?;
            file(&charts_dir.join(format!("{}.png", chart.id)), &chart.png)?;
            charts.push(dir.join("charts").join(format!("{}.svg", chart.id)));
            charts.push(dir.join("charts").join(format!("{}.png", chart.id)));
        }
        sync_dir(&charts_dir);
        sync_dir(&tmp);
        Ok(charts)
    })();
    let charts = match result {
        Ok(charts) => charts,
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };

    // Swap: the old folder aside, the new one in, the old one away.
    let old = parent.join(format!(".{name}.old-{}", std::process::id()));
    let had_old = dir.exists();
    if had_old {
        fs::rename(&dir, &old).map_err(at(&dir))?;
    }
    if let Err(source) = fs::rename(&tmp, &dir) {
        if had_old {
            let _ = fs::rename(&old, &dir);
        }
        let _ = fs::remove_dir_all(&tmp);
        return Err(WriteError { path: dir, source });
    }
    sync_dir(&parent);
    if had_old {
        let _ = fs::remove_dir_all(&old);
    }
    Ok(WrittenReport {
        html: dir.join("report.html"),
        eml: dir.join("report.eml"),
        json: dir.join("report.json"),
        charts,
        dir,
    })
}

fn file(path: &Path, data: &[u8]) -> Result<(), WriteError> {
    let error = |source| WriteError {
        path: path.to_path_buf(),
        source,
    };
    let mut f = fs::File::create(path).map_err(error)?;
    f.write_all(data).map_err(error)?;
    f.sync_all().map_err(error)
}

/// Makes the names in `dir` durable (best effort: not every file system can).
fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Removes `.<name>.tmp-*` and `.<name>.old-*` folders an interrupted run left.
fn clean_leftovers(parent: &Path, name: &str) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let file_name = file_name.to_string_lossy();
        if file_name.starts_with(&format!(".{name}.tmp-"))
            || file_name.starts_with(&format!(".{name}.old-"))
        {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;
    use crate::period::Period;

    fn rendered(title: &str) -> Rendered {
        let window = Period::Weekly.window_containing(
            chrono::NaiveDate::from_ymd_opt(2024, 3, 6).unwrap(),
            chrono_tz::UTC,
        );
        let at = window.start;
        let mut report = Report::new(window).section(
            Section::new("s", "S").chart(
                Chart::time(
                    "req",
                    "Requests",
                    ChartKind::Bar,
                    YAxis::new("Requests", Unit::Count),
                )
                .series(Series::time("r", [(at, 1.0)])),
            ),
        );
        report.title = title.to_string();
        Rendered::new(&report).unwrap()
    }

    fn email(r: &Rendered) -> Email {
        Email::of_report(r, "r@example.com".parse().unwrap(), vec![])
    }

    #[test]
    fn writes_the_folder_and_replaces_an_earlier_rendering_whole() {
        let out = tempfile::tempdir().unwrap();
        let first = rendered("First");
        let w = write(&first, &email(&first), out.path()).unwrap();
        assert_eq!(w.dir, out.path().join("weekly").join("2024-03-04"));
        assert!(fs::read_to_string(&w.html).unwrap().contains("First"));
        assert_eq!(w.charts.len(), 2);
        assert!(w.charts.iter().all(|c| c.exists()));
        let eml = String::from_utf8(fs::read(&w.eml).unwrap()).unwrap();
        assert!(
            eml.contains("\r\nDate: ") || eml.starts_with("Date: "),
            "{eml}"
        );

        // A leftover of an interrupted run and a stale file in the old folder.
        fs::create_dir(out.path().join("weekly/.2024-03-04.tmp-999999")).unwrap();
        fs::write(w.dir.join("stale.txt"), "x").unwrap();
        let second = rendered("Second");
        let w2 = write(&second, &email(&second), out.path()).unwrap();
        assert_eq!(w2, w);
        assert!(fs::read_to_string(&w2.html).unwrap().contains("Second"));
        assert!(!w2.dir.join("stale.txt").exists());
        let names: Vec<String> = fs::read_dir(out.path().join("weekly"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["2024-03-04"]);
    }
}
