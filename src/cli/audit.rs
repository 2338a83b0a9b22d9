//! The audit log: show it, or check its chain.

use clap::Subcommand;
use secure_kms::ops::commands;
use secure_kms::store::Store;
use secure_kms::ui::output::{self, Format};
use secure_kms::util::time;

use super::{Cli, render};

#[derive(Subcommand, Debug)]
pub(crate) enum AuditCommand {
    /// Show the audit log, or check its hash chain
    #[command(after_help = "Example:\n  secure-kms audit --verify")]
    Audit {
        /// Check the hash chain and name the first broken line (exit 1 if broken)
        #[arg(long)]
        verify: bool,
    },
}

impl AuditCommand {
    /// Runs the command; the text to print.
    pub(super) fn run(&self, cli: &Cli, store: &Store) -> anyhow::Result<String> {
        let format = Format::detect();
        Ok(match self {
            Self::Audit { verify: true } => {
                let (events, report) = commands::verify_audit(store)?;
                let shape = secure_kms::ui::reports::AuditVerified {
                    ok: true,
                    events,
                    report,
                };
                render(cli, &shape, || {
                    let mut text = format!(
                        "audit.log: {events} events, hash chain intact and in agreement with the store\n"
                    );
                    if let (Some(start), n @ 1..) = (report.log_started, report.unchecked_versions)
                    {
                        text.push_str(&format!(
                            "note: the log begins at {}; {n} key version(s) made before then are not checked against it (keys migrated from format 1, which predate logging)\n",
                            time::format(start)
                        ));
                    }
                    text
                })?
            }
            Self::Audit { verify: false } => {
                let entries = commands::audit_log(store)?;
                render(cli, &entries, || output::audit(&entries, format))?
            }
        })
    }
}
