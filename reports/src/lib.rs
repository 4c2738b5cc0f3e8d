//! runlens-reports: periods, report documents, charts, HTML, plain text and e-mail.
//!
//! The data side builds a [`Report`] (see [`model`]) for a [`PeriodWindow`]; this crate
//! renders it ([`Rendered`]), writes it to disk ([`write()`]) and sends it
//! ([`email::send`]).

pub mod build;
pub mod chart;
pub mod email;
pub mod format;
pub mod model;
pub mod period;
pub mod privacy;
pub mod redact;
pub mod render;
mod write;

pub use model::*;
pub use period::{Period, PeriodWindow};
pub use redact::redact;
pub use render::{RenderError, Rendered, RenderedChart};
pub use write::{report_dir, write, WriteError, WrittenReport};
