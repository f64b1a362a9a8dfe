//! `creditline invoices list|show|render`: issued invoices (made by a reviewer's `mark_sent`
//! on an invoice request's task). An invoice never changes: `render` writes the bytes kept
//! when it was issued, the same ones the customer received.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};

use super::MAX_LIST;
use crate::app::App;
use crate::config::Config;
use crate::services::views::{self, InvoiceFilter};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Html,
    Pdf,
}

#[derive(Debug, Subcommand)]
pub enum InvoicesCommand {
    /// Issued invoices as JSON lines, by number (number, account, total, what they cover).
    List {
        /// Only this account's invoices.
        #[arg(long)]
        account: Option<String>,
        /// Invoices numbered after this one.
        #[arg(long)]
        after: Option<i64>,
        #[arg(long, allow_negative_numbers = true, value_parser = clap::value_parser!(i64).range(1..=MAX_LIST), default_value_t = 100)]
        limit: i64,
    },
    /// One invoice as JSON: its document (issuer, customer, lines, total) and who issued it.
    Show {
        /// The number: 42 or INV-000042.
        number: String,
    },
    /// Write an invoice as HTML or PDF, exactly as it was issued and sent.
    Render {
        /// The number: 42 or INV-000042.
        number: String,
        #[arg(long, value_enum, default_value = "pdf")]
        format: Format,
        /// Where to write it (default: standard output).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

/// `42`, `000042` or `INV-000042` (any prefix before the digits).
fn parse_number(text: &str) -> Option<i64> {
    let digits = text.trim().trim_start_matches(|c: char| !c.is_ascii_digit());
    digits.parse::<i64>().ok().filter(|n| *n >= 1)
}

impl InvoicesCommand {
    pub async fn run(self, config: Config) -> anyhow::Result<ExitCode> {
        let app = App::build(config, true).await?;
        let find = |text: &str| {
            let n = parse_number(text);
            let app = &app;
            async move {
                match n {
                    Some(n) => views::invoice(app, n).await,
                    None => Ok(None),
                }
            }
        };
        match self {
            InvoicesCommand::List { account, after, limit } => {
                let filter = InvoiceFilter { account_email: account, after, limit };
                for i in views::invoices(&app, filter).await?.items {
                    let doc = crate::services::invoices::document(&i)?;
                    let line = serde_json::json!({
                        "number": i.number,
                        "invoice": doc.number_text,
                        "account_email": i.account_email,
                        "customer": doc.customer.name,
                        "covers": doc.covers,
                        "total_cents": i.total_cents,
                        "issued_at": i.issued_at,
                        "issued_by": i.issued_by,
                    });
                    println!("{line}");
                }
                Ok(ExitCode::SUCCESS)
            }
            InvoicesCommand::Show { number } => match find(&number).await? {
                Some(i) => {
                    println!("{}", serde_json::to_string_pretty(&i)?);
                    Ok(ExitCode::SUCCESS)
                }
                None => {
                    eprintln!("error: no invoice {number}");
                    Ok(ExitCode::from(2))
                }
            },
            InvoicesCommand::Render { number, format, output } => {
                let Some(i) = find(&number).await? else {
                    eprintln!("error: no invoice {number}");
                    return Ok(ExitCode::from(2));
                };
                let bytes = match format {
                    Format::Html => i.html.into_bytes(),
                    Format::Pdf => i.pdf,
                };
                match output {
                    Some(path) => {
                        if let Err(e) = std::fs::write(&path, &bytes) {
                            eprintln!("error: cannot write {}: {e}", path.display());
                            return Ok(ExitCode::from(1));
                        }
                    }
                    None => {
                        let mut out = std::io::stdout().lock();
                        out.write_all(&bytes)?;
                        out.flush()?;
                    }
                }
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbers_are_read_with_or_without_their_prefix() {
        assert_eq!(super::parse_number("INV-000042"), Some(42));
        assert_eq!(super::parse_number("42"), Some(42));
        assert_eq!(super::parse_number("INV-"), None);
        assert_eq!(super::parse_number("0"), None);
        assert_eq!(super::parse_number("INV-99999999999999999999999"), None);
    }
}
