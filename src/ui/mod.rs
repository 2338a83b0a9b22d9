//! What people and scripts see: the session's prompts (`console`), tables
//! and plain lines (`output`), long values shortened for reading
//! (`elide`), each step of a command with `--explain` (`explain`), and the shape of each `--json` result (`reports`).

pub mod console;
pub mod elide;
pub mod explain;
pub mod output;
pub mod reports;
