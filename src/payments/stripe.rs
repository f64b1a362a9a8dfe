//! Stripe webhooks: `Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256>` over
//! `"<t>.<raw body>"` with the endpoint's signing secret; several `v1` values may be present
//! (secret rotation). Older than the tolerance is refused, so a captured request cannot be
//! replayed later. Payments are `payment_intent.succeeded` with the account and purpose in
//! the intent's metadata; `payment_intent.processing` announces one (pending),
//! `payment_intent.payment_failed` and `payment_intent.canceled` say it did not happen, and
//! `charge.dispute.created` is a chargeback. Amounts are USD cents.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::{PaymentProvider, ProviderEvent, Purpose, WebhookError};
use crate::domain::{EmailAddress, Money};

pub struct Stripe {
    secret: crate::config::Secret,
    tolerance_seconds: u64,
}

impl Stripe {
    pub fn new(secret: crate::config::Secret, tolerance_seconds: u64) -> Stripe {
        Stripe { secret, tolerance_seconds }
    }

    /// The header value Stripe would send for `body` at `t` (for tests and local tools).
    pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
        format!("t={t},v1={}", hex::encode(mac(secret, t, body)))
    }
}

fn mac(secret: &str, t: i64, body: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length.
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    m.update(t.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    m.finalize().into_bytes().to_vec()
}

#[derive(Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: Data,
}

#[derive(Deserialize)]
struct Data {
    // Read by the event's type: a payment intent, or a dispute.
    object: serde_json::Value,
}

#[derive(Deserialize)]
struct Intent {
    id: String,
    // Read as any JSON number, so that one outside i64 (or with a fraction) is refused as an
    // amount, not as an unreadable event.
    #[serde(default)]
    amount_received: Option<serde_json::Number>,
    #[serde(default)]
    amount: Option<serde_json::Number>,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    metadata: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    last_payment_error: Option<PaymentErrorObject>,
    #[serde(default)]
    cancellation_reason: Option<String>,
}

#[derive(Deserialize)]
struct PaymentErrorObject {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize)]
struct Dispute {
    id: String,
    #[serde(default)]
    amount: Option<serde_json::Number>,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    payment_intent: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    metadata: std::collections::BTreeMap<String, String>,
}

fn payload(m: String) -> WebhookError {
    WebhookError::Payload(m)
}

fn usd_only(currency: Option<&str>) -> Result<(), WebhookError> {
    match currency {
        Some(c) if !c.eq_ignore_ascii_case("usd") => {
            Err(payload(format!("data.object.currency: only usd is accepted, not {c:?}")))
        }
        _ => Ok(()),
    }
}

fn cents(number: Option<serde_json::Number>) -> Result<Money, WebhookError> {
    let number = number.ok_or_else(|| payload("data.object.amount: missing".into()))?;
    number
        .as_i64()
        .filter(|c| *c > 0)
        .map(Money::from_cents)
        .ok_or_else(|| WebhookError::Amount(format!("{number} is not a positive whole number of cents")))
}

fn account_of(metadata: &std::collections::BTreeMap<String, String>) -> Result<Option<EmailAddress>, WebhookError> {
    metadata
        .get("account_email")
        .map(|a| EmailAddress::parse(a).map_err(|e| payload(format!("data.object.metadata.account_email: {e}"))))
        .transpose()
}

/// A provider's free text (a decline message, a dispute reason) as one short printable line:
/// it is stored and shown, never acted on, so it is cleaned rather than refused.
fn reason_text(text: Option<&str>, otherwise: &str) -> String {
    let cleaned: String = text
        .unwrap_or_default()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect::<String>()
        .trim()
        .to_string();
    if cleaned.is_empty() { otherwise.to_string() } else { cleaned }
}

fn intent_event(event_id: String, kind: &str, object: serde_json::Value) -> Result<ProviderEvent, WebhookError> {
    let intent: Intent = serde_json::from_value(object).map_err(|e| payload(format!("data.object: {e}")))?;
    usd_only(intent.currency.as_deref())?;
    let account =
        account_of(&intent.metadata)?.ok_or_else(|| payload("data.object.metadata.account_email: missing".into()))?;
    let purpose = match intent.metadata.get("purpose").map(String::as_str).unwrap_or("top_up") {
        "top_up" => Purpose::TopUp,
        "bill_payment" => Purpose::BillPayment,
        "deposit" => Purpose::Deposit,
        other => return Err(payload(format!("data.object.metadata.purpose: unknown {other:?}"))),
    };
    let transaction = intent.id;
    Ok(match kind {
        "payment_intent.succeeded" => ProviderEvent::Payment {
            event_id,
            account,
            amount: cents(intent.amount_received.or(intent.amount))?,
            transaction,
            purpose,
        },
        // Nothing is received yet: the amount is what the intent is for.
        "payment_intent.processing" => {
            ProviderEvent::Processing { event_id, account, amount: cents(intent.amount)?, transaction, purpose }
        }
        _ => {
            let failed = kind == "payment_intent.payment_failed";
            let reason = if failed {
                let e = intent.last_payment_error.as_ref();
                reason_text(e.and_then(|e| e.message.as_deref().or(e.code.as_deref())), "payment failed")
            } else {
                reason_text(intent.cancellation_reason.as_deref(), "canceled")
            };
            ProviderEvent::Unpaid {
                event_id,
                account,
                amount: cents(intent.amount)?,
                transaction,
                purpose,
                failed,
                reason,
            }
        }
    })
}

fn dispute_event(event_id: String, object: serde_json::Value) -> Result<ProviderEvent, WebhookError> {
    let dispute: Dispute = serde_json::from_value(object).map_err(|e| payload(format!("data.object: {e}")))?;
    usd_only(dispute.currency.as_deref())?;
    Ok(ProviderEvent::Chargeback {
        event_id,
        account: account_of(&dispute.metadata)?,
        amount: cents(dispute.amount)?,
        transaction: dispute.payment_intent,
        reason: reason_text(dispute.reason.as_deref(), "disputed"),
        dispute: dispute.id,
    })
}

impl PaymentProvider for Stripe {
    fn name(&self) -> &'static str {
        "stripe"
    }

    fn verify(
        &self,
        headers: &axum::http::HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<ProviderEvent, WebhookError> {
        let sig = |m: &str| WebhookError::Signature(m.to_string());
        let header = headers
            .get("stripe-signature")
            .ok_or_else(|| sig("no Stripe-Signature header"))?
            .to_str()
            .map_err(|_| sig("Stripe-Signature is not text"))?;
        let mut t = None;
        let mut v1 = Vec::new();
        for part in header.split(',') {
            match part.trim().split_once('=') {
                Some(("t", v)) => t = v.parse::<i64>().ok(),
                Some(("v1", v)) => v1.extend(hex::decode(v).ok()),
                _ => {}
            }
        }
        let t = t.ok_or_else(|| sig("no timestamp (t=)"))?;
        // `abs_diff` cannot overflow: `(now - t).abs()` wrapped for t = now - 2^63 and let it in.
        if now.timestamp().abs_diff(t) > self.tolerance_seconds {
            return Err(sig("timestamp outside the tolerance"));
        }
        let expected = mac(self.secret.expose(), t, body);
        if !v1.iter().any(|s| bool::from(s.as_slice().ct_eq(&expected))) {
            return Err(sig("no v1 signature matches"));
        }
        let event: Event = serde_json::from_slice(body).map_err(|e| WebhookError::Payload(e.to_string()))?;
        match event.kind.as_str() {
            "payment_intent.succeeded"
            | "payment_intent.processing"
            | "payment_intent.payment_failed"
            | "payment_intent.canceled" => intent_event(event.id, &event.kind, event.data.object),
            "charge.dispute.created" => dispute_event(event.id, event.data.object),
            _ => Ok(ProviderEvent::Ignored { event_id: event.id, kind: event.kind }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(v: &str) -> axum::http::HeaderMap {
        let mut h = axum::http::HeaderMap::new();
        h.insert("stripe-signature", v.parse().unwrap());
        h
    }

    const BODY: &[u8] = br#"{"id":"evt_1","type":"payment_intent.succeeded","data":{"object":{"id":"pi_1","amount":5000,"currency":"usd","metadata":{"account_email":"Ana@Acme.io","purpose":"top_up"}}}}"#;

    #[test]
    fn a_signed_payment_is_read_and_anything_else_is_refused() {
        let s = Stripe::new("whsec_test".into(), 300);
        let now = Utc::now();
        let ok = s.verify(&headers(&Stripe::sign("whsec_test", now.timestamp(), BODY)), BODY, now).unwrap();
        let ProviderEvent::Payment { event_id, account, amount, transaction, purpose } = ok else { panic!("{ok:?}") };
        assert_eq!(
            (event_id.as_str(), account.as_str(), amount.cents(), transaction.as_str(), purpose),
            ("evt_1", "ana@acme.io", 5000, "pi_1", Purpose::TopUp)
        );

        let wrong_secret = Stripe::sign("whsec_other", now.timestamp(), BODY);
        assert!(matches!(s.verify(&headers(&wrong_secret), BODY, now), Err(WebhookError::Signature(_))));
        let stale = Stripe::sign("whsec_test", now.timestamp() - 301, BODY);
        assert!(matches!(s.verify(&headers(&stale), BODY, now), Err(WebhookError::Signature(_))));
        // now - t is 2^63 seconds here, one more than i64 holds.
        for t in [now.timestamp() + i64::MIN, i64::MIN, i64::MAX] {
            let ancient = Stripe::sign("whsec_test", t, BODY);
            let e = s.verify(&headers(&ancient), BODY, now).unwrap_err();
            assert_eq!(e, WebhookError::Signature("timestamp outside the tolerance".into()), "t={t}");
        }
        let patient = Stripe::new("whsec_test".into(), u64::MAX);
        assert!(patient.verify(&headers(&Stripe::sign("whsec_test", i64::MIN, BODY)), BODY, now).is_ok());
        let tampered = BODY.iter().map(|b| if *b == b'5' { b'9' } else { *b }).collect::<Vec<_>>();
        let good = Stripe::sign("whsec_test", now.timestamp(), BODY);
        assert!(matches!(s.verify(&headers(&good), &tampered, now), Err(WebhookError::Signature(_))));
        assert!(matches!(s.verify(&axum::http::HeaderMap::new(), BODY, now), Err(WebhookError::Signature(_))));
        // A rotated secret: one of several v1 values matches.
        let rotated = format!("{},v1=00ff", Stripe::sign("whsec_test", now.timestamp(), BODY));
        assert!(s.verify(&headers(&rotated), BODY, now).is_ok());

        let other = br#"{"id":"evt_2","type":"charge.refunded","data":{"object":{"id":"ch_1"}}}"#;
        let r = s.verify(&headers(&Stripe::sign("whsec_test", now.timestamp(), other)), other, now).unwrap();
        assert_eq!(r, ProviderEvent::Ignored { event_id: "evt_2".into(), kind: "charge.refunded".into() });
        let eur = br#"{"id":"evt_3","type":"payment_intent.succeeded","data":{"object":{"id":"pi_3","amount":5,"currency":"eur","metadata":{"account_email":"a@b.io"}}}}"#;
        let e = s.verify(&headers(&Stripe::sign("whsec_test", now.timestamp(), eur)), eur, now).unwrap_err();
        assert!(e.to_string().contains("currency"), "{e}");
    }

    #[test]
    fn processing_failed_canceled_and_disputes_are_read() {
        let s = Stripe::new("whsec_test".into(), 300);
        let now = Utc::now();
        let read = |body: &[u8]| s.verify(&headers(&Stripe::sign("whsec_test", now.timestamp(), body)), body, now);
        let intent = |kind: &str, extra: &str| {
            format!(
                r#"{{"id":"evt","type":"{kind}","data":{{"object":{{"id":"pi_7","amount":900,"amount_received":0,"currency":"usd"{extra},"metadata":{{"account_email":"a@b.io","purpose":"bill_payment"}}}}}}}}"#
            )
        };
        let pending = read(intent("payment_intent.processing", "").as_bytes()).unwrap();
        assert!(
            matches!(&pending, ProviderEvent::Processing { amount, purpose: Purpose::BillPayment, .. } if amount.cents() == 900),
            "{pending:?}"
        );
        let failed = read(
            intent(
                "payment_intent.payment_failed",
                r#","last_payment_error":{"code":"card_declined","message":"Declined\n"}"#,
            )
            .as_bytes(),
        )
        .unwrap();
        assert!(
            matches!(&failed, ProviderEvent::Unpaid { failed: true, reason, .. } if reason == "Declined"),
            "{failed:?}"
        );
        let canceled = read(intent("payment_intent.canceled", "").as_bytes()).unwrap();
        assert!(matches!(&canceled, ProviderEvent::Unpaid { failed: false, reason, .. } if reason == "canceled"));
        let dispute = br#"{"id":"evt_d","type":"charge.dispute.created","data":{"object":{"id":"dp_1","amount":900,"currency":"usd","payment_intent":"pi_7","reason":"fraudulent"}}}"#;
        assert_eq!(
            read(dispute).unwrap(),
            ProviderEvent::Chargeback {
                event_id: "evt_d".into(),
                dispute: "dp_1".into(),
                transaction: Some("pi_7".into()),
                account: None,
                amount: Money::from_cents(900),
                reason: "fraudulent".into(),
            }
        );
        let no_amount = br#"{"id":"evt_e","type":"charge.dispute.created","data":{"object":{"id":"dp_2"}}}"#;
        assert!(matches!(read(no_amount), Err(WebhookError::Payload(m)) if m.contains("amount")));
    }

    #[test]
    fn amounts_outside_whole_positive_cents_are_amount_errors() {
        let s = Stripe::new("whsec_test".into(), 300);
        let now = Utc::now();
        for amount in ["0", "-5", "12.5", "9223372036854775808", "1e30", "-9223372036854775809"] {
            let body = format!(
                r#"{{"id":"evt","type":"payment_intent.succeeded","data":{{"object":{{"id":"pi","amount":{amount},"metadata":{{"account_email":"a@b.io"}}}}}}}}"#
            );
            let body = body.as_bytes();
            let r = s.verify(&headers(&Stripe::sign("whsec_test", now.timestamp(), body)), body, now);
            assert!(matches!(r, Err(WebhookError::Amount(_))), "{amount}: {r:?}");
        }
    }
}
