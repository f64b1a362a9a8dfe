use std::process::ExitCode;

use clap::Subcommand;

use super::MAX_LIST;
use crate::app::App;
use crate::config::Config;
use crate::domain::{ApplicantKind, ApplicationId, EmailAddress, Money};
use crate::services::NewApplicationInput;
use crate::services::views::{self, ApplicationFilter, ApplicationKey, ApplicationRecord, WebsiteCheckRecord};

#[derive(Debug, Subcommand)]
pub enum ApplicationsCommand {
    /// List applications, oldest first.
    List {
        /// Only applications in this state (e.g. pending_review).
        #[arg(long)]
        state: Option<String>,
        /// At most this many.
        #[arg(long, allow_negative_numbers = true, value_parser = clap::value_parser!(i64).range(1..=MAX_LIST), default_value_t = 100)]
        limit: i64,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one application by id or reference (CL-...).
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Show the event log of an application.
    History {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Open an application by hand (e.g. received by phone); it starts in `received`.
    Create {
        /// The applicant's WaveSpeedAI account email.
        #[arg(long)]
        account_email: String,
        /// enterprise, individual_with_product or individual_without_product.
        #[arg(long)]
        kind: Option<ApplicantKind>,
        /// Requested monthly limit, e.g. "$200".
        #[arg(long)]
        requested_limit: Option<Money>,
    },
}

impl ApplicationsCommand {
    pub async fn run(self, config: Config) -> anyhow::Result<ExitCode> {
        let app = App::build(config, true).await?;
        match self {
            ApplicationsCommand::List { state, limit, json } => {
                let filter = ApplicationFilter { state, limit, ..Default::default() };
                for a in views::applications(&app, filter).await?.items {
                    if json {
                        println!("{}", serde_json::to_string(&a)?);
                    } else {
                        println!(
                            "{}  {}  {:<28} {:<24} {}",
                            a.id,
                            a.reference,
                            a.state,
                            a.account_email,
                            a.created_at.format("%Y-%m-%d %H:%M")
                        );
                    }
                }
            }
            ApplicationsCommand::Show { id, json } => {
                let Some(a) = find(&app, &id).await? else { return not_found(&id) };
                if json {
                    let view = views::application_in_full(&app, &a).await?;
                    println!("{}", serde_json::to_string_pretty(&view)?);
                } else {
                    print_application(&a);
                    for f in views::application_fields(&app, a.id).await? {
                        println!("  {:<30} {:<40} (from <{}>: {:?})", f.field, f.value, f.message_id, f.excerpt);
                    }
                    for c in views::website_checks(&app, a.id).await? {
                        print_website_check(&c);
                    }
                }
            }
            ApplicationsCommand::History { id, json } => {
                let Some(a) = find(&app, &id).await? else { return not_found(&id) };
                for e in views::history(&app, a.id.into()).await? {
                    if json {
                        println!("{}", serde_json::to_string(&e)?);
                    } else {
                        println!(
                            "v{:<3} {}  {:<20} {} -> {}  by {}{}",
                            e.version,
                            e.occurred_at.format("%Y-%m-%d %H:%M:%S"),
                            e.event,
                            e.from_state.as_deref().unwrap_or("-"),
                            e.to_state,
                            e.actor,
                            e.reason.map(|r| format!("  ({r})")).unwrap_or_default()
                        );
                    }
                }
            }
            ApplicationsCommand::Create { account_email, kind, requested_limit } => {
                let input = NewApplicationInput {
                    account_email: EmailAddress::parse(&account_email)?,
                    applicant_kind: kind,
                    requested_limit,
                    details: serde_json::json!({}),
                };
                let a = app.workflow.open_application(input, "cli").await?;
                println!("{} {}", a.id, a.reference);
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

async fn find(app: &App, id: &str) -> anyhow::Result<Option<ApplicationRecord>> {
    let key = match id.parse::<ApplicationId>() {
        Ok(uuid) => ApplicationKey::Id(uuid),
        Err(_) => ApplicationKey::Reference(id.trim().to_string()),
    };
    Ok(views::find_application(app, &key).await?)
}

fn not_found(id: &str) -> anyhow::Result<ExitCode> {
    eprintln!("no application {id:?}");
    Ok(ExitCode::from(2))
}

fn print_application(a: &ApplicationRecord) {
    println!("id:              {}", a.id);
    println!("reference:       {}", a.reference);
    println!("state:           {} (version {})", a.state, a.version);
    println!("account email:   {}", a.account_email);
    println!("applicant kind:  {}", a.applicant_kind.as_deref().unwrap_or("-"));
    let limit = a.requested_limit_cents.map(|c| Money::from_cents(c).to_string());
    println!("requested limit: {}", limit.as_deref().unwrap_or("-"));
    println!("created:         {}", a.created_at.to_rfc3339());
    println!("updated:         {}", a.updated_at.to_rfc3339());
}

/// One website check in a line or two: what the site showed, or why it could not be read.
fn print_website_check(c: &WebsiteCheckRecord) {
    let Some(e) = &c.evidence else {
        println!("website check:   {} ({})", c.url, c.status);
        return;
    };
    let mut facts = vec![if e.fetched { format!("HTTP {}", e.status) } else { "not fetched".to_string() }];
    if !e.error.is_empty() {
        facts.push(format!("{}: {}", e.error, e.error_detail));
    }
    if !e.title.is_empty() {
        facts.push(format!("title {:?}", e.title));
    }
    if e.fetched {
        facts.push(if e.name_found {
            format!("names {:?}", e.name_matched)
        } else {
            "names none of the applicant's names".into()
        });
    }
    if !e.parked_signs.is_empty() {
        facts.push(format!("parked or placeholder: {}", e.parked_signs.join("; ")));
    }
    if !e.certificate_subject.is_empty() {
        facts.push(format!("certificate {}", e.certificate_subject));
    }
    println!(
        "website check:   {} -> {} ({})",
        c.url,
        if e.final_url.is_empty() { "-" } else { &e.final_url },
        facts.join(", ")
    );
}
