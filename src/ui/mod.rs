//! What people and scripts see: the session's prompts (`console`), tables
//! and plain lines (`output`), long values shortened for reading
//! (`elide`), and the shape of each `--json` result (`reports`).

pub mod console;
pub mod elide;
pub mod output;
pub mod reports;
