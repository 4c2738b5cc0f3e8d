//! runlens-reports: periods, report documents, charts, HTML, plain text and e-mail.
//!
//! The data side builds a [`Report`] (see [`model`]) for a [`PeriodWindow`]; this crate
//! renders it ([`render::Rendered`]), writes it to disk ([`write()`]) and sends it
//! ([`email::send`]).

pub mod chart;
pub mod format;
pub mod model;
pub mod period;
pub mod redact;

pub use model::*;
pub use period::{Period, PeriodWindow};
pub use redact::redact;
