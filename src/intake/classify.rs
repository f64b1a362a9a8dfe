//! What a message is about, from its words (threading and auto-reply signals are decided
//! before this). Pure.

use super::extract::{Extracted, field};
use super::words::{INVOICE, RAISE};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    InvoiceRequest,
    LimitIncrease,
    /// A request to sign in with AWS (policy: "Users apply for AWS login first"), with
    /// nothing that asks for a credit line.
    AwsLogin,
    Application,
    Unknown,
}

fn any(text: &str, words: &[&str]) -> bool {
    words.iter().any(|w| text.contains(w))
}

const LINE: &[&str] = &[
    "credit line",
    "credit limit",
    "limit",
    "line",
    "ligne",
    "límite",
    "linea",
    "línea",
    "linha",
    "kreditlinie",
    "额度",
    "限度",
    "与信枠",
    "한도",
];

/// "fatura" (pt) as a word of its own: "faturamento mensal" (monthly billing) asks for a
/// credit line, not an invoice.
fn names_an_invoice(text: &str) -> bool {
    any(text, INVOICE) || text.split(|c: char| !c.is_alphanumeric()).any(|w| w == "fatura" || w == "faturas")
}
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

/// "AWS login" / "sign in with AWS" in the customers' languages (matched on lower-cased text).
const AWS_LOGIN: &[&str] = &[
    "aws login",
    "aws-login",
    "aws sign-in",
    "aws sign in",
    "sign in with aws",
    "sign-in with aws",
    "log in with aws",
    "login with aws",
    "log in via aws",
    "login via aws",
    "iniciar sesión con aws",
    "inicio de sesión con aws",
    "acceso con aws",
    "login com aws",
    "login com a aws",
    "entrar com aws",
    "entrar com a aws",
    "login via aws",
    "connexion aws",
    "connexion avec aws",
    "se connecter avec aws",
    "connexion via aws",
    "aws-anmeldung",
    "aws anmeldung",
    "anmeldung mit aws",
    "mit aws anmelden",
    "mit aws einloggen",
    "awsログイン",
    "aws ログイン",
    "awsでログイン",
    "aws でログイン",
    "awsアカウントでログイン",
    "aws 로그인",
    "aws로 로그인",
    "aws 계정으로 로그인",
    "aws登录",
    "aws 登录",
    "用aws登录",
    "使用aws登录",
    "aws登入",
    "aws 登入",
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
    if names_an_invoice(&s)
        || (names_an_invoice(&text)
            && (x.get(field::BILLING_PERIOD).is_some() || x.get(field::TRANSACTION_IDS).is_some()))
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
    if any(&text, AWS_LOGIN) {
        return Intent::AwsLogin;
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

    /// Policy: "Users apply for AWS login first": a request for AWS login is its own intent,
    /// in the customers' languages; one that also asks for a credit line is an application.
    #[test]
    fn aws_login_requests() {
        let asks = [
            ("AWS login", "Hi, could you enable AWS login for my account?"),
            ("Sign in with AWS", "We would like to sign in with AWS on WaveSpeedAI."),
            ("Acceso", "Hola, quiero iniciar sesión con AWS en mi cuenta."),
            ("Pedido", "Olá, gostaria de fazer login com AWS na minha conta."),
            ("Demande", "Bonjour, je voudrais me connecter : connexion avec AWS, s'il vous plaît."),
            ("Anfrage", "Hallo, bitte aktivieren Sie die AWS-Anmeldung für unser Konto."),
            ("申請", "AWSログインを有効にしてください。"),
            ("요청", "AWS 로그인을 사용하고 싶습니다."),
            ("申请", "您好，我们想开通AWS登录。"),
        ];
        for (subject, body) in asks {
            assert_eq!(of(subject, body), Intent::AwsLogin, "{body}");
        }
        let both = "We apply for a monthly credit line through AWS login. Website: https://acme.io";
        assert_eq!(of("Credit line", both), Intent::Application);
        assert_eq!(of("AWS bill", "Our AWS account is in good standing."), Intent::Unknown);
    }

    #[test]
    fn withdrawals() {
        assert!(withdraws("Re: your application [CL-X]", "Please withdraw my application, thanks."));
        assert!(withdraws("撤回", "您好，我们想撤回申请。"));
        assert!(withdraws("", "Bitte den Antrag zurückziehen."));
        assert!(!withdraws("Re: materials", "Here is our website: https://acme.com"));
    }
}
