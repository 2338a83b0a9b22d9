//! What people and scripts see: the session's prompts (`console`), tables
//! and plain lines (`output`), and the shape of each `--json` result
//! (`reports`).

pub mod console;
pub mod output;
pub mod reports;
