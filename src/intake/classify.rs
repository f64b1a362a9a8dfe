//! What a message is about, from its words (threading and auto-reply signals are decided
//! before this). Pure.

use super::extract::{Extracted, field};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    InvoiceRequest,
    LimitIncrease,
    Application,
    Unknown,
}

fn any(text: &str, words: &[&str]) -> bool {
    words.iter().any(|w| text.contains(w))
}

const INVOICE: &[&str] = &[
    "invoice",
    "rechnung",
    "facture",
    "factura",
    "fattura",
    "发票",
    "發票",
    "請求書",
    "インボイス",
    "세금계산서",
    "receipt for",
];
const RAISE: &[&str] = &[
    "raise",
    "increase",
    "higher limit",
    "upgrade our",
    "bump",
    "提高",
    "增加额度",
    "提升额度",
    "増額",
    "상향",
    "erhöh",
];
const LINE: &[&str] = &["credit line", "credit limit", "limit", "line", "额度", "限度", "한도"];
const APPLY: &[&str] = &[
    "credit line",
    "credit-line",
    "line of credit",
    "monthly credit",
    "credit limit",
    "postpaid",
    "post-paid",
    "pay later",
    "monthly billing",
    "net 30",
    "apply for credit",
    "give me credit",
    "get credit",
    "信用额度",
    "授信",
    "额度",
    "後払い",
    "与信",
    "신용",
    "kreditlinie",
    "kreditrahmen",
    "monatliche abrechnung",
    "ligne de crédit",
    "crédit mensuel",
    "facturation mensuelle",
    "línea de crédito",
    "linea de credito",
    "crédito mensual",
    "facturación mensual",
    "linha de crédito",
    "linha de credito",
    "crédito mensal",
    "faturamento mensal",
    "linea di credito",
    "クレジットライン",
    "与信枠",
    "月額クレジット",
    "信用額度",
    "月结",
    "월 신용",
    "신용 한도",
    "여신",
    "후불",
];

/// Application fields that, three or more together, make a message an application even
/// without the words "credit line".
const MATERIALS: &[&str] = &[
    field::LEGAL_COMPANY_NAME,
    field::WEBSITE,
    field::PRODUCT,
    field::USE_CASE,
    field::REQUESTED_LIMIT,
    field::EXPECTED_MONTHLY_SPEND,
    field::AWS_ACCOUNT,
];

/// "Please withdraw my application" in the customers' languages.
const WITHDRAW: &[&str] = &[
    "withdraw my application",
    "withdraw our application",
    "withdraw the application",
    "cancel my application",
    "cancel our application",
    "cancel the application",
    "no longer need the credit line",
    "no longer need a credit line",
    "retirer ma demande",
    "annuler ma demande",
    "antrag zurückziehen",
    "antrag zurück",
    "retirar mi solicitud",
    "cancelar mi solicitud",
    "cancelar meu pedido",
    "cancelar o pedido",
    "撤回申请",
    "取消申请",
    "申請を取り下げ",
    "申請を取消",
    "신청을 철회",
    "신청 취소",
];

/// Whether the applicant asks to withdraw their application (checked on messages that
/// reach an open application).
pub fn withdraws(subject: &str, body: &str) -> bool {
    let text = format!("{}\n{}", subject.to_lowercase(), body.to_lowercase());
    any(&text, WITHDRAW)
}

pub fn intent(subject: &str, body: &str, x: &Extracted) -> Intent {
    let s = subject.to_lowercase();
    let text = format!("{s}\n{}", body.to_lowercase());
    if any(&s, INVOICE)
        || (any(&text, INVOICE) && (x.get(field::BILLING_PERIOD).is_some() || x.get(field::TRANSACTION_IDS).is_some()))
    {
        return Intent::InvoiceRequest;
    }
    if any(&text, RAISE) && any(&text, LINE) && x.get(field::REQUESTED_LIMIT).is_some() {
        return Intent::LimitIncrease;
    }
    let materials = MATERIALS.iter().filter(|f| x.get(f).is_some()).count();
    if any(&text, APPLY) || materials >= 3 {
        return Intent::Application;
    }
    Intent::Unknown
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::intake::extract::extract;

    fn of(subject: &str, body: &str) -> Intent {
        let day = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        intent(subject, body, &extract(subject, body, day))
    }

    #[test]
    fn intents() {
        assert_eq!(of("Invoice request for October 2026", "please send an invoice"), Intent::InvoiceRequest);
        assert_eq!(of("Raise our line", "Could you raise our credit line from $500 to $5,000?"), Intent::LimitIncrease);
        assert_eq!(of("can I get credit?", "can you give me a credit line?"), Intent::Application);
        assert_eq!(of("Cheap watches", "Best replica watches, click here"), Intent::Unknown);
    }

    #[test]
    fn withdrawals() {
        assert!(withdraws("Re: your application [CL-X]", "Please withdraw my application, thanks."));
        assert!(withdraws("撤回", "您好，我们想撤回申请。"));
        assert!(withdraws("", "Bitte den Antrag zurückziehen."));
        assert!(!withdraws("Re: materials", "Here is our website: https://acme.com"));
    }
}
