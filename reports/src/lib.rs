//! runlens-reports: periods, report sections, charts, HTML and email.
//!
//! Reports arrive with issue 6; this crate is in the workspace now so that the
//! dependency direction (ingest ← analyze ← reports ← runlens) holds from the start.
