//! Reports by e-mail: the message ([`Email`], what report.eml holds), the `[email]`
//! configuration and the SMTP client that sends it.

mod config;
mod message;
mod smtp;

pub use config::{EmailConfig, Recipients, Security, DEFAULT_EMAIL_TOML, DEFAULT_PASSWORD_ENV};
pub use message::{AddressError, Email, InlineImage, Mailbox};
pub use smtp::{send, Sent, SmtpError};
