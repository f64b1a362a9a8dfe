//! Read models shared by the adapters: what the CLI's `--json` and the reviewer API show.
//! The functions that take the [`App`] are the adapters' door (a failure is a [`Failure`]);
//! those that take a store are the services' own helpers.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::error::Failure;
use crate::app::App;
use crate::domain::{ApplicationId, Bucket, EmailAddress, EntryKind, Period, SubjectId, TaskId};
use crate::store::{BillRecord, EntryRecord, IncreaseRecord, Store, StoreError};
use crate::workflow::names::credit_line;

// The records the views answer with, and the filters the listings take: plain data the
// adapters show and fill in, named here so that no adapter names the store.
pub use crate::store::{
    ApplicationFilter, ApplicationRecord, AuditFilter, AuditRecord, CreditLineFilter, CreditLineRecord, EventRecord,
    FieldRecord, InvoiceFilter, InvoiceRecord, OutboxRecord, TaskFilter, TaskRecord, WebsiteCheckRecord,
};

/// A page of a listing, oldest first; `next_cursor` goes into `after` for the next page.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Cuts a `limit + 1` fetch to `limit` and names the cursor of the next page, if any.
fn page<T>(mut items: Vec<T>, limit: i64, cursor: impl Fn(&T) -> String) -> Page<T> {
    let more = i64::try_from(items.len()).unwrap_or(i64::MAX) > limit;
    items.truncate(usize::try_from(limit).unwrap_or(0));
    let next_cursor = if more { items.last().map(cursor) } else { None };
    Page { items, next_cursor }
}

// The listings, a page of `filter.limit` at a time: one row more is read to know whether
// another page follows, so a list never stops short without a `next_cursor` saying so.

pub async fn applications(app: &App, filter: ApplicationFilter) -> Result<Page<ApplicationRecord>, Failure> {
    let limit = filter.limit;
    let items = app.store.list_applications(&ApplicationFilter { limit: limit.saturating_add(1), ..filter }).await?;
    Ok(page(items, limit, |a| a.id.to_string()))
}

pub async fn credit_lines(app: &App, filter: CreditLineFilter) -> Result<Page<CreditLineRecord>, Failure> {
    let limit = filter.limit;
    let items = app.store.list_credit_lines(&CreditLineFilter { limit: limit.saturating_add(1), ..filter }).await?;
    Ok(page(items, limit, |l| l.id.to_string()))
}

pub async fn tasks(app: &App, filter: TaskFilter) -> Result<Page<TaskRecord>, Failure> {
    let limit = filter.limit;
    let items = app.store.list_tasks(&TaskFilter { limit: limit.saturating_add(1), ..filter }).await?;
    Ok(page(items, limit, |t| t.id.to_string()))
}

pub async fn invoices(app: &App, filter: InvoiceFilter) -> Result<Page<InvoiceRecord>, Failure> {
    let limit = filter.limit;
    let items = app.store.list_invoices(&InvoiceFilter { limit: limit.saturating_add(1), ..filter }).await?;
    Ok(page(items, limit, |i| i.number.to_string()))
}

pub async fn audit(app: &App, filter: AuditFilter) -> Result<Page<AuditRecord>, Failure> {
    let limit = filter.limit;
    let items = app.store.list_audit(&AuditFilter { limit: limit.saturating_add(1), ..filter }).await?;
    Ok(page(items, limit, |e| e.id.to_string()))
}

/// The invoice numbered `number`.
pub async fn invoice(app: &App, number: i64) -> Result<Option<InvoiceRecord>, Failure> {
    Ok(app.store.invoice(number).await?)
}

/// The task `id` as it is stored (not settled: see [`super::task_view`] for a reviewer's view).
pub async fn task(app: &App, id: TaskId) -> Result<Option<TaskRecord>, Failure> {
    Ok(app.store.task(id).await?)
}

/// The emails queued or sent about a workflow instance (an application, a line, an
/// increase), oldest first, with their delivery status.
pub async fn emails_about(app: &App, subject: SubjectId) -> Result<Vec<OutboxRecord>, Failure> {
    Ok(app.store.outbox_for(subject).await?.into_iter().filter(|o| o.kind == "email").collect())
}

/// An application named by its id or its reference (`CL-…`).
pub enum ApplicationKey {
    Id(ApplicationId),
    Reference(String),
}

/// A reference when it starts `CL-`, else an id.
impl std::str::FromStr for ApplicationKey {
    type Err = uuid::Error;

    fn from_str(s: &str) -> Result<ApplicationKey, uuid::Error> {
        if s.starts_with("CL-") {
            Ok(ApplicationKey::Reference(s.to_string()))
        } else {
            s.parse().map(ApplicationKey::Id)
        }
    }
}

pub async fn find_application(app: &App, key: &ApplicationKey) -> Result<Option<ApplicationRecord>, Failure> {
    Ok(match key {
        ApplicationKey::Id(id) => app.store.application(*id).await?,
        ApplicationKey::Reference(r) => app.store.application_by_reference(r).await?,
    })
}

/// [`application`], for the adapters.
pub async fn application_in_full(app: &App, a: &ApplicationRecord) -> Result<Value, Failure> {
    Ok(application(app.store.as_ref(), a).await?)
}

/// What was read from an application's messages, each field with where it came from.
pub async fn application_fields(app: &App, id: ApplicationId) -> Result<Vec<FieldRecord>, Failure> {
    Ok(app.store.application_fields(id).await?)
}

/// What the website checks of an application found.
pub async fn website_checks(app: &App, id: ApplicationId) -> Result<Vec<WebsiteCheckRecord>, Failure> {
    Ok(app.store.website_checks_for(id).await?)
}

/// A workflow instance's events, oldest first.
pub async fn history(app: &App, id: SubjectId) -> Result<Vec<EventRecord>, Failure> {
    Ok(app.store.events(id).await?)
}

/// Every limit increase of the account's lines (closed lines too) with its workflow state.
pub async fn increases_of(app: &App, account: &str) -> Result<Vec<(IncreaseRecord, String)>, Failure> {
    let mut all = Vec::new();
    for line in credit_lines_of(app.store.as_ref(), account, PAGE).await? {
        all.extend(app.store.increases_for_line(line.id).await?);
    }
    Ok(all)
}

/// The account a workflow subject (an application, a line, an increase, a login) belongs to.
pub async fn account_of(app: &App, subject: SubjectId) -> Result<Option<String>, Failure> {
    Ok(app.store.instance(subject).await?.and_then(|i| i.account_email))
}

/// Accounts whose address contains `fragment`, with their number of applications (at most
/// `limit`, by address).
pub async fn find_accounts(app: &App, fragment: &str, limit: i64) -> Result<Vec<(String, i64)>, Failure> {
    Ok(app.store.find_accounts(fragment, limit).await?)
}

/// The application with this reference (`CL-…`), if there is one.
pub async fn application_by_reference(app: &App, reference: &str) -> Result<Option<ApplicationRecord>, Failure> {
    Ok(app.store.application_by_reference(reference).await?)
}

/// Rows a listing reads at a time when a view wants all of them.
pub const PAGE: i64 = 500;

/// Every application of an account, oldest first, read `page` rows at a time: a view shows
/// them all instead of stopping at a cap it does not mention.
pub async fn applications_of(
    store: &dyn Store,
    account: &str,
    page: i64,
) -> Result<Vec<ApplicationRecord>, StoreError> {
    let mut all: Vec<ApplicationRecord> = Vec::new();
    loop {
        let after: Option<ApplicationId> = all.last().map(|a| a.id);
        let filter = ApplicationFilter { account_email: Some(account.to_string()), after, limit: page, state: None };
        let rows = store.list_applications(&filter).await?;
        let done = i64::try_from(rows.len()).unwrap_or(i64::MAX) < page;
        all.extend(rows);
        if done {
            return Ok(all);
        }
    }
}

/// Every credit line of an account (closed ones too), oldest first, `page` rows at a time.
pub async fn credit_lines_of(store: &dyn Store, account: &str, page: i64) -> Result<Vec<CreditLineRecord>, StoreError> {
    let mut all: Vec<CreditLineRecord> = Vec::new();
    loop {
        let after: Option<SubjectId> = all.last().map(|l| l.id);
        let filter =
            CreditLineFilter { account_email: Some(account.to_string()), after, limit: page, ..Default::default() };
        let rows = store.list_credit_lines(&filter).await?;
        let done = i64::try_from(rows.len()).unwrap_or(i64::MAX) < page;
        all.extend(rows);
        if done {
            return Ok(all);
        }
    }
}

/// An application with everything read and decided about it: its own fields at the top,
/// then the extracted `fields` (each with the message and text it came from), `evidence`,
/// rule `decisions`, the `messages` of its thread, its `website_checks` (what the background
/// website check found, [`crate::website::WebsiteEvidence`]) and, when it applies through AWS
/// login, the account's `aws_login` (its state read now, and whether the application may be
/// approved).
pub async fn application(store: &dyn Store, a: &ApplicationRecord) -> Result<Value, StoreError> {
    let encode = |e: serde_json::Error| StoreError::Corrupt(format!("application view: {e}"));
    let mut view = serde_json::to_value(a).map_err(encode)?;
    if let Some(obj) = view.as_object_mut() {
        obj.insert("fields".into(), serde_json::to_value(store.application_fields(a.id).await?).map_err(encode)?);
        obj.insert("evidence".into(), serde_json::to_value(store.evidence_for(a.id).await?).map_err(encode)?);
        obj.insert("decisions".into(), serde_json::to_value(store.decisions_for(a.id.into()).await?).map_err(encode)?);
        obj.insert("messages".into(), serde_json::to_value(store.messages_for(a.id).await?).map_err(encode)?);
        obj.insert("aws_login".into(), super::aws_login::application_view(store, a).await?);
        obj.insert(
            "website_checks".into(),
            serde_json::to_value(store.website_checks_for(a.id).await?).map_err(encode)?,
        );
    }
    Ok(view)
}

/// An application with everything known about it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApplicationView {
    /// The application, its extracted `fields` with provenance, `evidence`, rule `decisions`
    /// with reasons and the `messages` of its thread.
    #[schema(value_type = Object)]
    pub application: Value,
    /// The workflow history, oldest first.
    pub events: Vec<EventRecord>,
    /// Emails and tasks its steps queued, oldest first.
    pub outbox: Vec<OutboxRecord>,
    /// Credit lines opened by approving it.
    pub credit_lines: Vec<CreditLineRecord>,
}

/// An application's whole view: itself with what was read and decided, its history, its
/// queued emails and tasks, and the lines approving it opened.
pub async fn application_view(app: &App, a: &ApplicationRecord) -> Result<ApplicationView, Failure> {
    let store = app.store.as_ref();
    Ok(ApplicationView {
        application: application(store, a).await?,
        events: store.events(a.id.into()).await?,
        outbox: store.outbox_for(a.id.into()).await?,
        credit_lines: credit_lines_of(store, &a.account_email, PAGE)
            .await?
            .into_iter()
            .filter(|l| l.application_id == a.id)
            .collect(),
    })
}

/// What the service knows about an account (an email address).
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    pub account_email: String,
    /// Always true: a declined, deferred or paused credit line never takes away prepaid
    /// credits (policy: "Prepaid Access Remains Available").
    pub prepaid_access: bool,
    /// The line in use, if one is not closed.
    pub active_credit_line: Option<CreditLineRecord>,
    pub credit_lines: Vec<CreditLineRecord>,
    pub applications: Vec<ApplicationRecord>,
}

/// An account's view; `None` when it has neither an application nor a credit line.
pub async fn account_view(app: &App, account: &EmailAddress) -> Result<Option<AccountView>, Failure> {
    let store = app.store.as_ref();
    let applications = applications_of(store, account.as_str(), PAGE).await?;
    let credit_lines = credit_lines_of(store, account.as_str(), PAGE).await?;
    if applications.is_empty() && credit_lines.is_empty() {
        return Ok(None);
    }
    let active_credit_line = credit_lines.iter().rev().find(|l| l.state != credit_line::CLOSED).cloned();
    Ok(Some(AccountView {
        account_email: account.to_string(),
        prepaid_access: true,
        active_credit_line,
        credit_lines,
        applications,
    }))
}

/// A credit line and its whole money picture: what it allows, what was used this month, its
/// bills with what was paid, the payments, its gating history (the events: paused, reduced,
/// resumed), its increases and the deposit the account holds.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreditLineView {
    pub credit_line: CreditLineRecord,
    /// The workflow history, oldest first: opening, gating (pause, reduction, resumption).
    pub events: Vec<EventRecord>,
    /// Usage on the line in the calendar month of `now` (UTC).
    pub used_this_month_cents: i64,
    pub period: String,
    /// The line's bills, oldest first.
    pub bills: Vec<BillRecord>,
    /// The account's payment entries on this line, oldest first.
    pub payments: Vec<EntryRecord>,
    /// Increases of this line, each with its state.
    pub increases: Vec<IncreaseView>,
    /// The deposit the account holds (guaranteeing $5,000 lines and above).
    pub deposit_held_cents: i64,
    pub prepaid_cents: i64,
}

/// An increase of a line and the state of its workflow.
#[derive(Debug, Serialize, ToSchema)]
pub struct IncreaseView {
    #[serde(flatten)]
    pub increase: IncreaseRecord,
    pub state: String,
}

/// A credit line's view at `now`; `None` when there is no such line.
pub async fn credit_line_view(app: &App, id: SubjectId) -> Result<Option<CreditLineView>, Failure> {
    let store = app.store.as_ref();
    let Some(line) = store.credit_line(id).await? else { return Ok(None) };
    let period = Period::containing(app.workflow.clock().now());
    let balances = store.balances(&line.account_email).await?;
    let payments = store
        .ledger_entries(&line.account_email)
        .await?
        .into_iter()
        .filter(|e| {
            e.kind == EntryKind::Payment.as_str() && e.line_id == Some(id) && e.bucket == Bucket::Receivable.as_str()
        })
        .collect();
    Ok(Some(CreditLineView {
        used_this_month_cents: store.credit_used(id, period).await?,
        period: period.to_string(),
        bills: store.bills_for_line(id).await?,
        payments,
        increases: store
            .increases_for_line(id)
            .await?
            .into_iter()
            .map(|(increase, state)| IncreaseView { increase, state })
            .collect(),
        deposit_held_cents: balances.deposit_cents,
        prepaid_cents: balances.prepaid_cents,
        events: store.events(id).await?,
        credit_line: line,
    }))
}
