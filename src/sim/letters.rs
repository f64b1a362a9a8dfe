//! (stub until the letters land)
use super::mailbox::Mail;
use super::population::Applicant;
use chrono::NaiveDate;
pub fn application(_a: &Applicant, _day: NaiveDate, _n: u32) -> Vec<u8> {
    Vec::new()
}
pub fn answer(_a: &Applicant, _mail: &Mail, _day: NaiveDate, _n: u32) -> Option<Vec<u8>> {
    None
}
pub fn auto_reply(_a: &Applicant, _mail: &Mail, _day: NaiveDate, _n: u32) -> Vec<u8> {
    Vec::new()
}
pub fn increase_request(_a: &Applicant, _cents: i64, _day: NaiveDate, _n: u32) -> Vec<u8> {
    Vec::new()
}
pub fn invoice_request(_a: &Applicant, _period: crate::domain::Period, _day: NaiveDate, _n: u32) -> Vec<u8> {
    Vec::new()
}
pub fn reapplication(_a: &Applicant, _day: NaiveDate, _n: u32) -> Vec<u8> {
    Vec::new()
}
