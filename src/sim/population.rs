//! (stub until the population lands)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Enterprise,
    IndividualWithProduct,
    IndividualWithoutProduct,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payer {
    OnTime,
    Late,
    Partial,
    Never,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quirk {
    Plain,
    Climber,
    Churner,
    Reapplier,
    FreshAws,
    ToolDirectory,
    FreeMail,
    PlatformSite,
}
#[derive(Debug, Clone)]
pub struct Applicant {
    pub index: usize,
    pub kind: Kind,
    pub payer: Payer,
    pub quirk: Quirk,
    pub name: String,
    pub sender: String,
    pub account_email: String,
    pub colleague: Option<String>,
    pub apply_day: u32,
    pub requested_cents: i64,
    pub usage_cents_per_month: i64,
    pub reply_delay_days: u32,
    pub auto_replies: bool,
}
pub fn draw(_seed: u64, _accounts: usize, _apply_window_days: u32) -> Vec<Applicant> {
    Vec::new()
}
