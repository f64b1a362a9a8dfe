//! Read models shared by the adapters: what the CLI's `--json` and the reviewer API show.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::{ApplicationId, EmailAddress, SubjectId};
use crate::store::{
    ApplicationFilter, ApplicationRecord, AuditFilter, AuditRecord, CreditLineFilter, CreditLineRecord, EventRecord,
    InvoiceFilter, InvoiceRecord, OutboxRecord, Store, StoreError, TaskFilter, TaskRecord,
};
use crate::workflow::names::credit_line;

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

pub async fn applications(store: &dyn Store, filter: ApplicationFilter) -> Result<Page<ApplicationRecord>, StoreError> {
    let limit = filter.limit;
    let items = store.list_applications(&ApplicationFilter { limit: limit + 1, ..filter }).await?;
    Ok(page(items, limit, |a| a.id.to_string()))
}

pub async fn credit_lines(store: &dyn Store, filter: CreditLineFilter) -> Result<Page<CreditLineRecord>, StoreError> {
    let limit = filter.limit;
    let items = store.list_credit_lines(&CreditLineFilter { limit: limit + 1, ..filter }).await?;
    Ok(page(items, limit, |l| l.id.to_string()))
}

pub async fn tasks(store: &dyn Store, filter: TaskFilter) -> Result<Page<TaskRecord>, StoreError> {
    let limit = filter.limit;
    let items = store.list_tasks(&TaskFilter { limit: limit + 1, ..filter }).await?;
    Ok(page(items, limit, |t| t.id.to_string()))
}

pub async fn invoices(store: &dyn Store, filter: InvoiceFilter) -> Result<Page<InvoiceRecord>, StoreError> {
    let limit = filter.limit;
    let items = store.list_invoices(&InvoiceFilter { limit: limit + 1, ..filter }).await?;
    Ok(page(items, limit, |i| i.number.to_string()))
}

pub async fn audit(store: &dyn Store, filter: AuditFilter) -> Result<Page<AuditRecord>, StoreError> {
    let limit = filter.limit;
    let items = store.list_audit(&AuditFilter { limit: limit + 1, ..filter }).await?;
    Ok(page(items, limit, |e| e.id.to_string()))
}

/// The invoice numbered `number`.
pub async fn invoice(store: &dyn Store, number: i64) -> Result<Option<InvoiceRecord>, StoreError> {
    store.invoice(number).await
}

/// An application named by its id or its reference (`CL-…`).
pub enum ApplicationKey {
    Id(ApplicationId),
    Reference(String),
}

pub async fn find_application(
    store: &dyn Store,
    key: &ApplicationKey,
) -> Result<Option<ApplicationRecord>, StoreError> {
    match key {
        ApplicationKey::Id(id) => store.application(*id).await,
        ApplicationKey::Reference(r) => store.application_by_reference(r).await,
    }
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
pub async fn application_view(store: &dyn Store, a: &ApplicationRecord) -> Result<ApplicationView, StoreError> {
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
pub async fn account_view(store: &dyn Store, account: &EmailAddress) -> Result<Option<AccountView>, StoreError> {
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

/// A credit line and its history.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreditLineView {
    pub credit_line: CreditLineRecord,
    pub events: Vec<EventRecord>,
}

/// A credit line's view; `None` when there is no such line.
pub async fn credit_line_view(store: &dyn Store, id: SubjectId) -> Result<Option<CreditLineView>, StoreError> {
    let Some(line) = store.credit_line(id).await? else { return Ok(None) };
    Ok(Some(CreditLineView { credit_line: line, events: store.events(id).await? }))
}
