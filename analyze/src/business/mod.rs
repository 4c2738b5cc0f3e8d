//! Business data derived from third-party exports (issue 15). Pure computations over
//! parsed records; the lake tables and reports wire them in.

pub mod stripe;
