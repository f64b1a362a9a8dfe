//! The simulated applicants' emails as real RFC 5322/MIME bytes: applications, answers to
//! our emails, out-of-office replies, increase and invoice requests, reapplications.
//!
//! Written by hand rather than with lettre's builder: lettre draws multipart boundaries at
//! random and chooses the transfer encoding itself, while a simulation needs the same bytes
//! for the same seed and needs the encodings varied on purpose (8bit, quoted-printable,
//! base64, ISO-8859-1, ISO-2022-JP, GBK, EUC-KR, HTML only, multipart, inline forwards).
//! Message-IDs are `<sim.{seed}.{index}.{n}@{sender's domain}>`. Pure: no clock, no I/O.

use base64::Engine;
use chrono::NaiveDate;

use crate::domain::Period;

use super::mailbox::Mail;
use super::population::{Applicant, Kind, Lang, Quirk, Style};

/// Our support address, where every letter goes.
pub const SUPPORT: &str = "support@wavespeed.ai";

/// One line of a letter: free text, or a labelled field ("Website: …").
#[derive(Debug, Clone)]
enum Line {
    Text(String),
    Field(&'static str, String),
}

/// The words of one language.
struct Words {
    greeting: &'static str,
    intro_enterprise: &'static str,
    intro_individual: &'static str,
    intro_reapply: &'static str,
    no_product: &'static str,
    account: &'static str,
    kind: &'static str,
    enterprise: &'static str,
    individual: &'static str,
    company: &'static str,
    country: &'static str,
    website: &'static str,
    product: &'static str,
    product_about: &'static str,
    use_case: &'static str,
    use_case_value: &'static str,
    usage: &'static str,
    requested: &'static str,
    per_month: &'static str,
    contact: &'static str,
    closing: &'static str,
    subject: &'static str,
    subject_reapply: &'static str,
    here_you_go: &'static str,
    confirm: &'static str,
    account_confirm: &'static str,
    out_of_office_subject: &'static str,
    out_of_office: &'static str,
    increase_subject: &'static str,
    increase: &'static str,
    invoice_subject: &'static str,
    invoice: &'static str,
    billing_address: &'static str,
    tax_id: &'static str,
    more_usage: &'static str,
}

fn words(lang: Lang) -> &'static Words {
    match lang {
        Lang::En => &EN,
        Lang::De => &DE,
        Lang::Fr => &FR,
        Lang::Es => &ES,
        Lang::Pt => &PT,
        Lang::Ja => &JA,
        Lang::Zh => &ZH,
        Lang::Ko => &KO,
    }
}

const EN: Words = Words {
    greeting: "Hello WaveSpeedAI team,",
    intro_enterprise: "We would like to apply for a monthly credit line for our company.",
    intro_individual: "I'm an independent developer and would like to apply for a monthly credit line for my product.",
    intro_reapply: "We applied before and would like to apply again for a monthly credit line, with updated details.",
    no_product: "I don't have a company or a product yet, just experimenting with the video models. Could I still get a credit line?",
    account: "Account email",
    kind: "Applicant type",
    enterprise: "Enterprise",
    individual: "Individual",
    company: "Legal company name",
    country: "Registration country",
    website: "Website",
    product: "Product",
    product_about: "AI video and image generation for online shops",
    use_case: "Use case",
    use_case_value: "generating product videos and images for our customers",
    usage: "Expected monthly usage",
    requested: "Requested credit line",
    per_month: "/month",
    contact: "Business contact",
    closing: "Best regards,",
    subject: "Credit line application",
    subject_reapply: "New credit line application",
    here_you_go: "Here are the details you asked for:",
    confirm: "I confirm that {name} applies for a credit line on behalf of our company. I work here as well.",
    account_confirm: "Yes, I confirm: the credit line application from {sender} is for my account {account}.",
    out_of_office_subject: "Out of office: ",
    out_of_office: "I am out of the office until {until} with limited access to email. I will answer when I am back.",
    increase_subject: "Credit line increase request",
    increase: "Our usage keeps growing. Could you raise our credit line to {amount}{per_month}?",
    invoice_subject: "Invoice request",
    invoice: "Please send us an invoice for {period}.",
    billing_address: "Billing address",
    tax_id: "VAT number",
    more_usage: "Our expected monthly usage is {usage}; it has grown steadily with our customers.",
};

const DE: Words = Words {
    greeting: "Sehr geehrte Damen und Herren,",
    intro_enterprise: "wir beantragen eine monatliche Kreditlinie für unser Unternehmen.",
    intro_individual: "ich bin selbständiger Entwickler und beantrage eine monatliche Kreditlinie für mein Produkt.",
    intro_reapply: "wir hatten uns schon beworben und beantragen die monatliche Kreditlinie erneut, mit aktuellen Angaben.",
    no_product: "Ich habe keine Firma und kein Produkt, ich probiere nur die Videomodelle aus. Bekomme ich trotzdem eine Kreditlinie?",
    account: "Konto-E-Mail",
    kind: "Antragsteller",
    enterprise: "Unternehmen",
    individual: "Privatperson",
    company: "Firmenname",
    country: "Registrierungsland",
    website: "Webseite",
    product: "Produkt",
    product_about: "KI-Videos und Produktbilder für Onlineshops",
    use_case: "Verwendungszweck",
    use_case_value: "Produktvideos und Bilder für unsere Kunden erzeugen",
    usage: "Erwartete monatliche Nutzung",
    requested: "Gewünschte Kreditlinie",
    per_month: "/Monat",
    contact: "Kontakt",
    closing: "Mit freundlichen Grüßen",
    subject: "Antrag auf eine Kreditlinie",
    subject_reapply: "Erneuter Antrag auf eine Kreditlinie",
    here_you_go: "anbei die gewünschten Angaben:",
    confirm: "ich bestätige, dass {name} für unser Unternehmen eine Kreditlinie beantragt. Ich arbeite ebenfalls hier.",
    account_confirm: "ich bestätige: Der Antrag auf eine Kreditlinie von {sender} ist für mein Konto {account}.",
    out_of_office_subject: "Abwesenheitsnotiz: ",
    out_of_office: "Ich bin bis {until} nicht im Büro und lese meine E-Mails nur eingeschränkt.",
    increase_subject: "Erhöhung der Kreditlinie",
    increase: "Unsere Nutzung wächst. Könnten Sie unser Kreditlimit auf {amount}{per_month} erhöhen?",
    invoice_subject: "Rechnung",
    invoice: "Bitte senden Sie uns eine Rechnung für {period}.",
    billing_address: "Rechnungsadresse",
    tax_id: "USt-IdNr",
    more_usage: "Unsere erwartete monatliche Nutzung liegt bei {usage} und wächst mit unseren Kunden.",
};

const FR: Words = Words {
    greeting: "Bonjour,",
    intro_enterprise: "Nous souhaitons demander une ligne de crédit mensuelle pour notre société.",
    intro_individual: "Je suis développeur indépendant et je souhaite une ligne de crédit mensuelle pour mon produit.",
    intro_reapply: "Nous avions déjà fait une demande et demandons à nouveau une ligne de crédit mensuelle, avec des informations à jour.",
    no_product: "Je n'ai pas encore de produit ni d'entreprise, je teste seulement les modèles vidéo. Puis-je avoir une ligne de crédit ?",
    account: "E-mail du compte",
    kind: "Type de demandeur",
    enterprise: "Entreprise",
    individual: "Particulier",
    company: "Raison sociale",
    country: "Pays d'enregistrement",
    website: "Site web",
    product: "Produit",
    product_about: "vidéos et images générées par IA pour les boutiques en ligne",
    use_case: "Cas d'usage",
    use_case_value: "générer des vidéos produit pour nos clients",
    usage: "Consommation mensuelle",
    requested: "Ligne de crédit demandée",
    per_month: "/mois",
    contact: "Contact professionnel",
    closing: "Cordialement,",
    subject: "Demande de ligne de crédit",
    subject_reapply: "Nouvelle demande de ligne de crédit",
    here_you_go: "Voici les informations demandées :",
    confirm: "Je confirme que {name} demande une ligne de crédit au nom de notre société. Je travaille aussi ici.",
    account_confirm: "Je confirme : la demande de ligne de crédit de {sender} concerne mon compte {account}.",
    out_of_office_subject: "Réponse automatique : ",
    out_of_office: "Je suis absent jusqu'au {until} et je lirai vos messages à mon retour.",
    increase_subject: "Augmentation de la ligne de crédit",
    increase: "Notre consommation augmente. Pourriez-vous augmenter notre limite de crédit à {amount}{per_month} ?",
    invoice_subject: "Demande de facture",
    invoice: "Merci de nous envoyer une facture pour {period}.",
    billing_address: "Adresse de facturation",
    tax_id: "Numéro de TVA",
    more_usage: "Notre consommation mensuelle prévue est de {usage} et augmente avec nos clients.",
};

const ES: Words = Words {
    greeting: "Hola,",
    intro_enterprise: "Queremos solicitar una línea de crédito mensual para nuestra empresa.",
    intro_individual: "Soy desarrollador independiente y quiero solicitar una línea de crédito mensual para mi producto.",
    intro_reapply: "Ya lo habíamos solicitado y volvemos a pedir una línea de crédito mensual, con datos actualizados.",
    no_product: "No tengo empresa ni producto, solo estoy probando los modelos de vídeo. ¿Puedo tener una línea de crédito?",
    account: "Correo de la cuenta",
    kind: "Tipo de solicitante",
    enterprise: "Empresa",
    individual: "Particular",
    company: "Razón social",
    country: "País de registro",
    website: "Sitio web",
    product: "Producto",
    product_about: "vídeos e imágenes con IA para tiendas en línea",
    use_case: "Caso de uso",
    use_case_value: "generar vídeos de producto para nuestros clientes",
    usage: "Uso mensual estimado",
    requested: "Línea de crédito solicitada",
    per_month: "/mes",
    contact: "Contacto",
    closing: "Saludos cordiales,",
    subject: "Solicitud de línea de crédito",
    subject_reapply: "Nueva solicitud de línea de crédito",
    here_you_go: "Aquí están los datos que pidieron:",
    confirm: "Confirmo que {name} solicita una línea de crédito en nombre de nuestra empresa. Yo también trabajo aquí.",
    account_confirm: "Confirmo: la solicitud de línea de crédito de {sender} es para mi cuenta {account}.",
    out_of_office_subject: "Respuesta automática: ",
    out_of_office: "Estoy fuera de la oficina hasta el {until} y responderé a mi regreso.",
    increase_subject: "Aumento de la línea de crédito",
    increase: "Nuestro uso sigue creciendo. ¿Podrían aumentar nuestro límite de crédito a {amount}{per_month}?",
    invoice_subject: "Solicitud de factura",
    invoice: "Por favor, envíennos una factura del periodo {period}.",
    billing_address: "Dirección de facturación",
    tax_id: "NIF",
    more_usage: "Nuestro uso mensual estimado es de {usage} y crece con nuestros clientes.",
};

const PT: Words = Words {
    greeting: "Olá,",
    intro_enterprise: "Gostaríamos de solicitar uma linha de crédito mensal para a nossa empresa.",
    intro_individual: "Sou desenvolvedor independente e gostaria de solicitar uma linha de crédito mensal para o meu produto.",
    intro_reapply: "Já tínhamos solicitado e pedimos novamente uma linha de crédito mensal, com dados atualizados.",
    no_product: "Ainda não tenho produto nem empresa, só estou testando os modelos de vídeo. Posso ter uma linha de crédito?",
    account: "E-mail da conta",
    kind: "Tipo de solicitante",
    enterprise: "Empresa",
    individual: "Pessoa física",
    company: "Razão social",
    country: "País de registro",
    website: "Site",
    product: "Produto",
    product_about: "vídeos e imagens com IA para lojas online",
    use_case: "Finalidade",
    use_case_value: "gerar vídeos de produtos para nossos clientes",
    usage: "Uso mensal estimado",
    requested: "Linha de crédito solicitada",
    per_month: "/mês",
    contact: "Contato",
    closing: "Atenciosamente,",
    subject: "Pedido de linha de crédito",
    subject_reapply: "Novo pedido de linha de crédito",
    here_you_go: "Seguem os dados solicitados:",
    confirm: "Confirmo que {name} solicita uma linha de crédito em nome da nossa empresa. Também trabalho aqui.",
    account_confirm: "Confirmo: o pedido de linha de crédito de {sender} é para a minha conta {account}.",
    out_of_office_subject: "Resposta automática: ",
    out_of_office: "Estou fora do escritório até {until} e responderei quando voltar.",
    increase_subject: "Aumento da linha de crédito",
    increase: "Nosso uso continua crescendo. Poderiam aumentar nosso limite de crédito para {amount}{per_month}?",
    invoice_subject: "Pedido de fatura",
    invoice: "Por favor, enviem uma fatura referente a {period}.",
    billing_address: "Endereço de cobrança",
    tax_id: "CNPJ",
    more_usage: "Nosso uso mensal estimado é de {usage} e cresce com nossos clientes.",
};

const JA: Words = Words {
    greeting: "ご担当者様",
    intro_enterprise: "弊社として月額のクレジットライン（与信枠）を申請いたします。",
    intro_individual: "個人開発者です。自分の製品のために月額のクレジットラインを申請します。",
    intro_reapply: "以前にも申請しましたが、情報を更新して改めてクレジットラインを申請いたします。",
    no_product: "会社はありません。製品はまだありません。動画モデルを試しているだけですが、与信枠をいただけますか。",
    account: "アカウントメール",
    kind: "申請者区分",
    enterprise: "法人",
    individual: "個人",
    company: "会社名",
    country: "登記国",
    website: "ウェブサイト",
    product: "製品",
    product_about: "ネットショップ向けのAI動画・画像生成",
    use_case: "利用目的",
    use_case_value: "お客様向けの商品動画の生成",
    usage: "月間利用額",
    requested: "希望与信枠",
    per_month: "/月",
    contact: "連絡先",
    closing: "よろしくお願いいたします。",
    subject: "クレジットライン申請",
    subject_reapply: "クレジットライン再申請",
    here_you_go: "ご依頼の情報をお送りします。",
    confirm: "{name}が弊社としてクレジットラインを申請していることを確認いたします。私も同じ会社の者です。",
    account_confirm: "確認します：{sender}からのクレジットライン申請は私のアカウント{account}のものです。",
    out_of_office_subject: "不在通知: ",
    out_of_office: "{until}まで不在にしております。戻り次第ご連絡いたします。",
    increase_subject: "与信枠の増額申請",
    increase: "利用が増えております。与信枠の限度を{amount}{per_month}に増額していただけますか。",
    invoice_subject: "請求書の発行依頼",
    invoice: "{period}分の請求書を発行してください。",
    billing_address: "請求先住所",
    tax_id: "Tax ID",
    more_usage: "月間利用額は{usage}の見込みで、お客様とともに増えています。",
};

const ZH: Words = Words {
    greeting: "您好，",
    intro_enterprise: "我们公司希望申请每月的信用额度。",
    intro_individual: "我是个人开发者，想为我的产品申请每月的信用额度。",
    intro_reapply: "我们之前申请过，现在更新资料后再次申请信用额度。",
    no_product: "我还没有公司，也没有产品，只是想试试视频模型。可以给我信用额度吗？",
    account: "账户邮箱",
    kind: "申请类型",
    enterprise: "企业",
    individual: "个人",
    company: "公司名称",
    country: "注册地",
    website: "网站",
    product: "产品",
    product_about: "为网店生成AI视频和图片",
    use_case: "用途",
    use_case_value: "为客户批量生成商品视频",
    usage: "预计月用量",
    requested: "申请额度",
    per_month: "/月",
    contact: "联系方式",
    closing: "谢谢！",
    subject: "信用额度申请",
    subject_reapply: "再次申请信用额度",
    here_you_go: "以下是您需要的资料：",
    confirm: "我确认{name}代表我们公司申请信用额度。我也在这家公司工作。",
    account_confirm: "我确认：{sender}的信用额度申请是为我的账户{account}提交的。",
    out_of_office_subject: "自动回复: ",
    out_of_office: "我在{until}之前不在办公室，回来后会尽快回复。",
    increase_subject: "申请提高额度",
    increase: "我们的用量在增长，能否将我们的额度提高到{amount}{per_month}？",
    invoice_subject: "开具发票申请",
    invoice: "请为我们开具{period}的发票。",
    billing_address: "账单地址",
    tax_id: "税号",
    more_usage: "我们预计月用量为{usage}，并随客户增长。",
};

const KO: Words = Words {
    greeting: "안녕하세요,",
    intro_enterprise: "저희 회사의 월 신용 한도를 신청합니다.",
    intro_individual: "개인 개발자입니다. 제 제품을 위해 월 신용 한도를 신청합니다.",
    intro_reapply: "이전에 신청했었고, 정보를 갱신하여 월 신용 한도를 다시 신청합니다.",
    no_product: "아직 회사가 없고 제품이 없습니다. 비디오 모델을 시험해 보는 중인데 신용 한도를 받을 수 있을까요?",
    account: "계정 이메일",
    kind: "신청자 유형",
    enterprise: "기업",
    individual: "개인",
    company: "회사명",
    country: "등록 국가",
    website: "웹사이트",
    product: "제품",
    product_about: "온라인 쇼핑몰을 위한 AI 영상 및 이미지 생성",
    use_case: "용도",
    use_case_value: "고객을 위한 상품 영상 생성",
    usage: "예상 월 사용량",
    requested: "신청 한도",
    per_month: "/월",
    contact: "연락처",
    closing: "감사합니다.",
    subject: "신용 한도 신청",
    subject_reapply: "신용 한도 재신청",
    here_you_go: "요청하신 정보입니다.",
    confirm: "{name}님이 저희 회사를 대표하여 신용 한도를 신청한 것을 확인합니다. 저도 이 회사에서 일합니다.",
    account_confirm: "확인합니다: {sender}의 신용 한도 신청은 제 계정 {account}에 대한 것입니다.",
    out_of_office_subject: "자동 회신: ",
    out_of_office: "{until}까지 부재중입니다. 돌아와서 답변드리겠습니다.",
    increase_subject: "한도 상향 요청",
    increase: "사용량이 늘고 있습니다. 신용 한도를 {amount}{per_month}로 상향해 주실 수 있을까요?",
    invoice_subject: "세금계산서 발행 요청",
    invoice: "{period} 청구분 세금계산서를 발행해 주세요.",
    billing_address: "청구지 주소",
    tax_id: "Tax ID",
    more_usage: "예상 월 사용량은 {usage}이며 고객과 함께 늘고 있습니다.",
};

/// `$1,250` from cents (whole dollars: every amount here is).
pub fn dollars(cents: i64) -> String {
    let whole = cents / 100;
    let digits = whole.abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    format!("{}${out}", if cents < 0 { "-" } else { "" })
}

/// The materials of an application, labelled in the applicant's language.
fn materials(a: &Applicant) -> Vec<Line> {
    let w = words(a.language);
    let mut lines = vec![Line::Field(w.account, a.account_email.clone())];
    match a.kind {
        Kind::Enterprise => {
            lines.push(Line::Field(w.kind, w.enterprise.into()));
            lines.push(Line::Field(w.company, a.company.clone().unwrap_or_default()));
            lines.push(Line::Field(w.country, super::population::registration_country(a.language).into()));
        }
        Kind::IndividualWithProduct => lines.push(Line::Field(w.kind, w.individual.into())),
        Kind::IndividualWithoutProduct => {
            lines.push(Line::Field(w.kind, w.individual.into()));
            return lines;
        }
    }
    if let Some(site) = &a.website {
        lines.push(Line::Field(w.website, site.clone()));
    }
    if let Some(product) = &a.product {
        lines.push(Line::Field(w.product, format!("{product}, {}", w.product_about)));
    }
    lines.push(Line::Field(w.use_case, w.use_case_value.into()));
    if let Some(id) = &a.aws_account {
        // People write their AWS details in English whatever their language: it is how
        // the AWS console names them.
        let history = if a.quirk == Quirk::FreshAws {
            "created last week, no billing history yet".to_string()
        } else {
            format!("opened March {}, in good standing", 2018 + a.index % 5)
        };
        lines.push(Line::Field("AWS account", format!("{id}, {history}")));
    }
    lines.push(Line::Field(w.usage, format!("{}{}", dollars(a.usage_cents_per_month), w.per_month)));
    lines.push(Line::Field(w.requested, format!("{}{}", dollars(a.requested_cents), w.per_month)));
    lines.push(Line::Field(w.contact, a.sender.clone()));
    lines
}

fn application_lines(a: &Applicant, intro: &str) -> Vec<Line> {
    let w = words(a.language);
    let mut lines = vec![Line::Text(w.greeting.into()), Line::Text(String::new())];
    if a.kind == Kind::IndividualWithoutProduct {
        lines.push(Line::Text(w.no_product.into()));
    } else {
        lines.push(Line::Text(intro.into()));
    }
    lines.push(Line::Text(String::new()));
    lines.extend(materials(a));
    lines.push(Line::Text(String::new()));
    lines.push(Line::Text(w.closing.into()));
    lines.push(Line::Text(a.name.clone()));
    lines
}

fn text_of(lines: &[Line]) -> String {
    let mut out = String::new();
    for line in lines {
        match line {
            Line::Text(t) => out.push_str(t),
            Line::Field(label, value) => {
                out.push_str(label);
                out.push_str(": ");
                out.push_str(value);
            }
        }
        out.push('\n');
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The same lines as a person's HTML mail: paragraphs, the fields as a list.
fn html_of(lines: &[Line]) -> String {
    let mut out = String::from("<html><body>\n");
    let mut in_list = false;
    for line in lines {
        match line {
            Line::Field(label, value) => {
                if !in_list {
                    out.push_str("<ul>\n");
                    in_list = true;
                }
                let value = if value.starts_with("https://") {
                    format!("<a href=\"{0}\">{0}</a>", escape(value))
                } else {
                    escape(value)
                };
                out.push_str(&format!("<li><b>{}:</b> {value}</li>\n", escape(label)));
            }
            Line::Text(t) => {
                if in_list {
                    out.push_str("</ul>\n");
                    in_list = false;
                }
                if !t.is_empty() {
                    out.push_str(&format!("<p>{}</p>\n", escape(t)));
                }
            }
        }
    }
    if in_list {
        out.push_str("</ul>\n");
    }
    out.push_str("</body></html>\n");
    out
}

fn message_id(a: &Applicant, n: u32, domain: &str) -> String {
    format!("<sim.{}.{}.{n}@{domain}>", a.seed, a.index)
}

fn domain_of(address: &str) -> &str {
    address.rsplit('@').next().unwrap_or("example.com")
}

/// RFC 5322 date: the simulated day, at a time of the working day that differs per letter.
fn date(a: &Applicant, day: NaiveDate, n: u32) -> String {
    let minutes = (a.index as u32 * 37 + n * 11) % 420;
    let at = day.and_hms_opt(9, 0, 0).unwrap_or_default() + chrono::Duration::minutes(i64::from(minutes));
    at.format("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

/// An RFC 2047 encoded word when the text is not ASCII.
fn header_text(s: &str) -> String {
    if s.is_ascii() {
        s.to_string()
    } else {
        format!("=?UTF-8?B?{}?=", base64::engine::general_purpose::STANDARD.encode(s.as_bytes()))
    }
}

fn mailbox(name: &str, address: &str) -> String {
    if name.is_ascii() { format!("\"{name}\" <{address}>") } else { format!("{} <{address}>", header_text(name)) }
}

/// Quoted-printable (RFC 2045 6.7), CRLF line ends, soft breaks before 76 characters.
fn quoted_printable(bytes: &[u8]) -> String {
    let mut out = String::new();
    let text = String::from_utf8_lossy(bytes).replace("\r\n", "\n");
    for line in text.split('\n') {
        let mut width = 0;
        let raw = line.as_bytes();
        for (i, &b) in raw.iter().enumerate() {
            let last = i + 1 == raw.len();
            let piece = if (b == b' ' || b == b'\t') && last {
                format!("={b:02X}")
            } else if (33..=126).contains(&b) && b != b'=' || b == b' ' || b == b'\t' {
                (b as char).to_string()
            } else {
                format!("={b:02X}")
            };
            if width + piece.len() > 75 {
                out.push_str("=\r\n");
                width = 0;
            }
            width += piece.len();
            out.push_str(&piece);
        }
        out.push_str("\r\n");
    }
    out
}

fn base64_lines(bytes: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut out = String::new();
    for chunk in encoded.as_bytes().chunks(76) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push_str("\r\n");
    }
    out
}

fn crlf(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\n', "\r\n")
}

/// The text in the language's legacy charset, with that charset's name; `None` when a
/// character has no code there (then the letter stays UTF-8).
fn legacy(lang: Lang, text: &str) -> Option<(&'static str, Vec<u8>)> {
    match lang {
        Lang::En | Lang::De | Lang::Fr | Lang::Es | Lang::Pt => {
            let bytes: Option<Vec<u8>> = text.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect();
            bytes.map(|b| ("iso-8859-1", b))
        }
        Lang::Ja => iso_2022_jp(text).map(|b| ("iso-2022-jp", b)),
        Lang::Zh => double_byte(text, charsets::GBK).map(|b| ("gbk", b)),
        Lang::Ko => double_byte(text, charsets::EUC_KR).map(|b| ("euc-kr", b)),
    }
}

fn lookup(table: &[(char, [u8; 2])], c: char) -> Option<[u8; 2]> {
    table.binary_search_by_key(&c, |(k, _)| *k).ok().map(|i| table[i].1)
}

fn double_byte(text: &str, table: &[(char, [u8; 2])]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c as u8);
        } else {
            out.extend(lookup(table, c)?);
        }
    }
    Some(out)
}

/// ISO-2022-JP: ASCII, and JIS X 0208 between `ESC $ B` and `ESC ( B`.
fn iso_2022_jp(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut jis = false;
    for c in text.chars() {
        if c.is_ascii() {
            if jis {
                out.extend(b"\x1b(B");
                jis = false;
            }
            out.push(c as u8);
        } else {
            let code = lookup(charsets::JIS, c)?;
            if !jis {
                out.extend(b"\x1b$B");
                jis = true;
            }
            out.extend(code);
        }
    }
    if jis {
        out.extend(b"\x1b(B");
    }
    Some(out)
}

/// A text/plain part's headers and body in a given transfer encoding.
fn text_part(text: &str, style: Style, lang: Lang) -> (String, Vec<u8>) {
    let text = crlf(text);
    match style {
        Style::QuotedPrintable => (
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n".into(),
            quoted_printable(text.as_bytes()).into_bytes(),
        ),
        Style::Base64 => (
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n".into(),
            base64_lines(text.as_bytes()).into_bytes(),
        ),
        Style::Legacy => match legacy(lang, &text) {
            Some((charset, bytes)) if lang == Lang::Ja => {
                (format!("Content-Type: text/plain; charset={charset}\r\nContent-Transfer-Encoding: 7bit\r\n"), bytes)
            }
            Some((charset, bytes)) if charset == "iso-8859-1" => (
                format!(
                    "Content-Type: text/plain; charset={charset}\r\nContent-Transfer-Encoding: quoted-printable\r\n"
                ),
                quoted_printable_raw(&bytes).into_bytes(),
            ),
            Some((charset, bytes)) => (
                format!("Content-Type: text/plain; charset={charset}\r\nContent-Transfer-Encoding: base64\r\n"),
                base64_lines(&bytes).into_bytes(),
            ),
            None => text_part(&text, Style::Plain, lang),
        },
        _ => {
            ("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n".into(), text.into_bytes())
        }
    }
}

/// Quoted-printable of bytes that are not UTF-8 (a legacy charset).
fn quoted_printable_raw(bytes: &[u8]) -> String {
    let mut out = String::new();
    for line in bytes.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let mut width = 0;
        for (i, &b) in line.iter().enumerate() {
            let last = i + 1 == line.len();
            let piece = if ((33..=126).contains(&b) && b != b'=') || ((b == b' ' || b == b'\t') && !last) {
                (b as char).to_string()
            } else {
                format!("={b:02X}")
            };
            if width + piece.len() > 75 {
                out.push_str("=\r\n");
                width = 0;
            }
            width += piece.len();
            out.push_str(&piece);
        }
        out.push_str("\r\n");
    }
    out
}

/// What every letter has: who, to whom, when, which thread.
struct Envelope<'a> {
    from_name: &'a str,
    from: &'a str,
    subject: String,
    date: String,
    message_id: String,
    /// The Message-IDs answered, oldest first (References); the last one is In-Reply-To.
    thread: Vec<String>,
    extra: Vec<(&'static str, String)>,
}

fn head(e: &Envelope<'_>) -> String {
    let mut h = format!(
        "Message-ID: {}\r\nDate: {}\r\nFrom: {}\r\nTo: WaveSpeedAI Support <{SUPPORT}>\r\nSubject: {}\r\n",
        e.message_id,
        e.date,
        mailbox(e.from_name, e.from),
        header_text(&e.subject)
    );
    if let Some(last) = e.thread.last() {
        h.push_str(&format!("In-Reply-To: <{last}>\r\n"));
        let refs: Vec<String> = e.thread.iter().map(|t| format!("<{t}>")).collect();
        h.push_str(&format!("References: {}\r\n", refs.join(" ")));
    }
    for (k, v) in &e.extra {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    h.push_str("MIME-Version: 1.0\r\n");
    h
}

fn boundary(a: &Applicant, n: u32, what: &str) -> String {
    format!("=_sim_{}_{}_{n}_{what}", a.seed, a.index)
}

/// A small stand-in PDF (a real one is not needed: intake keeps attachments as evidence).
fn pdf(a: &Applicant) -> Vec<u8> {
    format!(
        "%PDF-1.4\n% simulated document for account {}\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n",
        a.index
    )
    .into_bytes()
}

/// The whole message for `lines` in `style`.
fn compose(a: &Applicant, e: Envelope<'_>, lines: &[Line], style: Style, n: u32) -> Vec<u8> {
    let text = text_of(lines);
    let mut out = head(&e).into_bytes();
    match style {
        Style::HtmlOnly => {
            out.extend(
                b"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n",
            );
            out.extend(quoted_printable(html_of(lines).as_bytes()).into_bytes());
        }
        Style::Alternative => {
            let b = boundary(a, n, "alt");
            out.extend(format!("Content-Type: multipart/alternative; boundary=\"{b}\"\r\n\r\n").into_bytes());
            out.extend(format!("--{b}\r\n").into_bytes());
            let (h, body) = text_part(&text, Style::QuotedPrintable, a.language);
            out.extend(h.into_bytes());
            out.extend(b"\r\n");
            out.extend(body);
            out.extend(format!("--{b}\r\n").into_bytes());
            out.extend(
                b"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n",
            );
            out.extend(quoted_printable(html_of(lines).as_bytes()).into_bytes());
            out.extend(format!("--{b}--\r\n").into_bytes());
        }
        Style::WithAttachment => {
            let b = boundary(a, n, "mixed");
            out.extend(format!("Content-Type: multipart/mixed; boundary=\"{b}\"\r\n\r\n").into_bytes());
            out.extend(b"This is a multi-part message in MIME format.\r\n");
            out.extend(format!("--{b}\r\n").into_bytes());
            let (h, body) = text_part(&text, Style::Plain, a.language);
            out.extend(h.into_bytes());
            out.extend(b"\r\n");
            out.extend(body);
            out.extend(format!("\r\n--{b}\r\n").into_bytes());
            let name = if a.kind == Kind::Enterprise { "company-registration.pdf" } else { "project-overview.pdf" };
            out.extend(
                format!("Content-Type: application/pdf; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
                    .into_bytes(),
            );
            out.extend(base64_lines(&pdf(a)).into_bytes());
            out.extend(format!("--{b}--\r\n").into_bytes());
        }
        _ => {
            let (h, body) = text_part(&text, style, a.language);
            out.extend(h.into_bytes());
            out.extend(b"\r\n");
            out.extend(body);
        }
    }
    out
}

/// `raw` (a single-part message) as multipart/mixed with the applicant's last three months
/// of AWS billing attached as CSV.
fn with_billing_csv(a: &Applicant, raw: Vec<u8>, day: NaiveDate, n: u32) -> Vec<u8> {
    let text = String::from_utf8_lossy(&raw).into_owned();
    let Some(split) = text.find("\r\n\r\n") else { return raw };
    let (head, body) = text.split_at(split);
    let body = &body[4..];
    // The part's own headers (Content-Type and -Transfer-Encoding) move into the first part.
    let mut outer = String::new();
    let mut part = String::new();
    for line in head.split("\r\n") {
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("content-type:") || lower.starts_with("content-transfer-encoding:") {
            part.push_str(line);
            part.push_str("\r\n");
        } else {
            outer.push_str(line);
            outer.push_str("\r\n");
        }
    }
    let b = boundary(a, n, "billing");
    let spend = a.usage_cents_per_month.max(10_000) * 10;
    let mut csv = String::from("Billing Period,Service,Total Cost (USD)\r\n");
    let mut month = Period::containing(day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    let mut rows = Vec::new();
    for k in 0..3 {
        month = month.previous().unwrap_or(month);
        rows.push(format!("{},Amazon EC2,{}.{:02}\r\n", month, (spend + k * 1_000) / 100, (spend + k * 1_000) % 100));
    }
    rows.reverse();
    csv.extend(rows);
    let mut out = outer.into_bytes();
    out.extend(format!("Content-Type: multipart/mixed; boundary=\"{b}\"\r\n\r\n--{b}\r\n").into_bytes());
    out.extend(part.into_bytes());
    out.extend(b"\r\n");
    out.extend(body.as_bytes());
    out.extend(format!("\r\n--{b}\r\nContent-Type: text/csv; name=\"aws-billing.csv\"\r\nContent-Disposition: attachment; filename=\"aws-billing.csv\"\r\n\r\n").into_bytes());
    out.extend(csv.into_bytes());
    out.extend(format!("--{b}--\r\n").into_bytes());
    out
}

fn envelope<'a>(a: &'a Applicant, subject: String, day: NaiveDate, n: u32) -> Envelope<'a> {
    Envelope {
        from_name: &a.name,
        from: &a.sender,
        subject,
        date: date(a, day, n),
        message_id: message_id(a, n, a.sender_domain()),
        thread: Vec::new(),
        extra: Vec::new(),
    }
}

/// The application email, in the applicant's language and style.
pub fn application(a: &Applicant, day: NaiveDate, n: u32) -> Vec<u8> {
    let w = words(a.language);
    let intro = if a.kind == Kind::Enterprise { w.intro_enterprise } else { w.intro_individual };
    let lines = application_lines(a, intro);
    first_letter(a, w.subject, &lines, day, n)
}

/// Applying again (after a decline or deferral): a new message, not a reply.
pub fn reapplication(a: &Applicant, day: NaiveDate, n: u32) -> Vec<u8> {
    let w = words(a.language);
    let lines = application_lines(a, w.intro_reapply);
    first_letter(a, w.subject_reapply, &lines, day, n)
}

/// A new message (not a reply) in the applicant's style; a Forwarded one comes from the
/// colleague, with the applicant's own message inline below the forward line.
fn first_letter(a: &Applicant, subject: &str, lines: &[Line], day: NaiveDate, n: u32) -> Vec<u8> {
    match (a.style, &a.colleague) {
        (Style::Forwarded, Some(colleague)) => {
            let inner_date = date(a, day, n);
            let mut fwd = vec![
                Line::Text(format!("FYI, forwarding {}'s application; they asked me to send it on.", a.name)),
                Line::Text(String::new()),
                Line::Text("---------- Forwarded message ---------".into()),
                Line::Text(format!("From: {} <{}>", a.name, a.sender)),
                Line::Text(format!("Date: {inner_date}")),
                Line::Text(format!("Subject: {subject}")),
                Line::Text(format!("To: {SUPPORT}")),
                Line::Text(String::new()),
            ];
            fwd.extend(lines.iter().cloned());
            let colleague_name = colleague.split('@').next().unwrap_or("team").to_string();
            let e = Envelope {
                from_name: &colleague_name,
                from: colleague,
                subject: format!("Fwd: {subject}"),
                date: inner_date,
                message_id: message_id(a, n, domain_of(colleague)),
                thread: Vec::new(),
                extra: Vec::new(),
            };
            compose(a, e, &fwd, Style::Plain, n)
        }
        (style, _) => compose(a, envelope(a, subject.to_string(), day, n), lines, style, n),
    }
}

/// How the applicant's answers are encoded: their application's style, kept simple (people
/// answer from the same client, but nobody answers with an attachment or a forward).
fn reply_style(a: &Applicant) -> Style {
    match a.style {
        Style::QuotedPrintable | Style::Base64 | Style::Legacy | Style::HtmlOnly | Style::Alternative => a.style,
        _ => Style::Plain,
    }
}

/// "On …, X wrote:" in the applicant's language, as their mail client writes it.
fn attribution(lang: Lang, mail: &Mail) -> String {
    let when = mail.day.format("%a, %-d %b %Y");
    let who = format!("WaveSpeedAI Support <{SUPPORT}>");
    match lang {
        Lang::En => format!("On {when} at 09:00, {who} wrote:"),
        Lang::De => format!("Am {when} um 09:00 schrieb {who}:"),
        Lang::Fr => format!("Le {when} à 09:00, {who} a écrit :"),
        Lang::Es => format!("El {when} a las 09:00, {who} escribió:"),
        Lang::Pt => format!("Em {when} às 09:00, {who} escreveu:"),
        Lang::Ja => format!("{when} 9:00 {who}のメッセージ:"),
        Lang::Zh => format!("{who} 于 {when} 09:00 写道："),
        Lang::Ko => format!("{when} 오전 9:00, {who}님이 작성:"),
    }
}

/// The text of our email, each line quoted with "> ".
fn quoted(mail: &Mail) -> Vec<Line> {
    let text = crate::intake::mail::parse(&mail.raw).map(|m| m.body).unwrap_or_default();
    text.lines().map(|l| Line::Text(if l.is_empty() { ">".into() } else { format!("> {l}") })).collect()
}

fn re(subject: &str) -> String {
    if subject.to_lowercase().starts_with("re:") { subject.to_string() } else { format!("Re: {subject}") }
}

/// Our thread as the answer's References: what the mail answered, then the mail itself.
fn thread_of(mail: &Mail) -> Vec<String> {
    // `mail.thread` is In-Reply-To then References newest first, so the same id may come
    // twice; each goes into References once, oldest first.
    let mut t: Vec<String> = Vec::new();
    for id in mail.thread.iter().rev().chain(std::iter::once(&mail.message_id)) {
        if !t.contains(id) {
            t.push(id.clone());
        }
    }
    t
}

/// A reply to `mail` from `from`, with `lines` above the quote.
fn reply(a: &Applicant, mail: &Mail, from: &str, from_name: &str, lines: Vec<Line>, day: NaiveDate, n: u32) -> Vec<u8> {
    let mut all = lines;
    all.push(Line::Text(String::new()));
    all.push(Line::Text(attribution(a.language, mail)));
    all.extend(quoted(mail));
    let e = Envelope {
        from_name,
        from,
        subject: re(&mail.subject),
        date: date(a, day, n),
        message_id: message_id(a, n, domain_of(from)),
        thread: thread_of(mail),
        extra: Vec::new(),
    };
    compose(a, e, &all, reply_style(a), n)
}

fn fill(template: &str, pairs: &[(&str, &str)]) -> String {
    pairs.iter().fold(template.to_string(), |s, (k, v)| s.replace(&format!("{{{k}}}"), v))
}

/// The invoice details: company (or person), billing address, tax id.
fn invoice_details(a: &Applicant) -> Vec<Line> {
    let w = words(a.language);
    let mut lines = Vec::new();
    if let Some(company) = &a.company {
        lines.push(Line::Field(w.company, company.clone()));
    }
    lines.push(Line::Field(
        w.billing_address,
        format!(
            "{} Harbor Street, Suite {}, {}",
            10 + a.index,
            100 + a.index % 900,
            super::population::registration_country(a.language)
        ),
    ));
    if a.kind == Kind::Enterprise {
        lines.push(Line::Field(w.tax_id, format!("TX{:09}", 100_000_000 + a.index)));
    }
    lines
}

/// What the applicant answers to an email they received; `None` when that email needs no
/// answer from them (approvals, bills, receipts, declines: what follows those is the
/// driver's: payments, usage, a reapplication).
pub fn answer(a: &Applicant, mail: &Mail, day: NaiveDate, n: u32) -> Option<Vec<u8>> {
    let w = words(a.language);
    let sign = |mut lines: Vec<Line>, who: &str| {
        lines.push(Line::Text(String::new()));
        lines.push(Line::Text(w.closing.into()));
        lines.push(Line::Text(who.to_string()));
        lines
    };
    match mail.template.as_deref()? {
        "domain_confirmation_request" | "domain_confirmation_reminder" => {
            let colleague = a.colleague.as_deref()?;
            let who = colleague.split('@').next().unwrap_or("team");
            let lines = vec![
                Line::Text(w.greeting.into()),
                Line::Text(String::new()),
                Line::Text(fill(w.confirm, &[("name", &a.name)])),
            ];
            Some(reply(a, mail, colleague, who, sign(lines, who), day, n))
        }
        "materials_requested" | "materials_reminder" => {
            let mut lines =
                vec![Line::Text(w.greeting.into()), Line::Text(String::new()), Line::Text(w.here_you_go.into())];
            lines.push(Line::Text(String::new()));
            lines.extend(materials(a));
            let asked_billing =
                crate::intake::mail::parse(&mail.raw).is_ok_and(|m| m.body.to_lowercase().contains("billing"));
            let mut raw = reply(a, mail, &a.sender, &a.name, sign(lines, &a.name), day, n);
            if asked_billing {
                // The statements a reviewer asked for travel as the CSV the AWS console exports.
                raw = with_billing_csv(a, raw, day, n);
            }
            Some(raw)
        }
        "invoice_details_requested" => {
            let mut lines =
                vec![Line::Text(w.greeting.into()), Line::Text(String::new()), Line::Text(w.here_you_go.into())];
            lines.extend(invoice_details(a));
            Some(reply(a, mail, &a.sender, &a.name, sign(lines, &a.name), day, n))
        }
        "limit_increase_info_requested" => {
            let usage = dollars(a.usage_cents_per_month * 2);
            let lines = vec![
                Line::Text(w.greeting.into()),
                Line::Text(String::new()),
                Line::Text(fill(w.more_usage, &[("usage", &format!("{usage}{}", w.per_month))])),
            ];
            Some(reply(a, mail, &a.sender, &a.name, sign(lines, &a.name), day, n))
        }
        "account_confirmation_request" => {
            // The named account's owner did not get our email (it went to the sender); they
            // write a new message with the reference in the subject, as the email asks.
            let lines = vec![
                Line::Text(w.greeting.into()),
                Line::Text(String::new()),
                Line::Text(fill(w.account_confirm, &[("sender", &a.sender), ("account", &a.account_email)])),
            ];
            let e = Envelope {
                from_name: &a.name,
                from: &a.account_email,
                subject: re(&mail.subject),
                date: date(a, day, n),
                message_id: message_id(a, n, domain_of(&a.account_email)),
                thread: Vec::new(),
                extra: Vec::new(),
            };
            Some(compose(a, e, &sign(lines, &a.name), reply_style(a), n))
        }
        _ => None,
    }
}

/// An out-of-office answer to `mail` (RFC 3834 `Auto-Submitted: auto-replied`).
pub fn auto_reply(a: &Applicant, mail: &Mail, day: NaiveDate, n: u32) -> Vec<u8> {
    let w = words(a.language);
    let until = (day + chrono::Duration::days(i64::from(a.reply_delay_days) + 1)).format("%Y-%m-%d").to_string();
    let lines = vec![
        Line::Text(fill(w.out_of_office, &[("until", &until)])),
        Line::Text(String::new()),
        Line::Text(a.name.clone()),
    ];
    let e = Envelope {
        from_name: &a.name,
        from: &a.sender,
        subject: format!("{}{}", w.out_of_office_subject, mail.subject),
        date: date(a, day, n),
        message_id: message_id(a, n, a.sender_domain()),
        thread: thread_of(mail),
        extra: vec![("Auto-Submitted", "auto-replied".into()), ("X-Autoreply", "yes".into())],
    };
    compose(a, e, &lines, Style::Plain, n)
}

/// Asking for a higher monthly limit (`cents`), from the account's own address.
pub fn increase_request(a: &Applicant, cents: i64, day: NaiveDate, n: u32) -> Vec<u8> {
    let w = words(a.language);
    let lines = vec![
        Line::Text(w.greeting.into()),
        Line::Text(String::new()),
        Line::Text(fill(w.increase, &[("amount", &dollars(cents)), ("per_month", w.per_month)])),
        Line::Field(w.account, a.account_email.clone()),
        Line::Text(String::new()),
        Line::Text(w.closing.into()),
        Line::Text(a.name.clone()),
    ];
    let from = a.account_email.clone();
    let mut e = envelope(a, w.increase_subject.to_string(), day, n);
    e.from = &from;
    e.message_id = message_id(a, n, domain_of(&from));
    compose(a, e, &lines, reply_style(a), n)
}

/// Asking for an invoice for `period`, with the details an invoice prints.
pub fn invoice_request(a: &Applicant, period: crate::domain::Period, day: NaiveDate, n: u32) -> Vec<u8> {
    let w = words(a.language);
    let period = format!("{:04}-{:02}", period.year(), period.month());
    let mut lines = vec![
        Line::Text(w.greeting.into()),
        Line::Text(String::new()),
        Line::Text(fill(w.invoice, &[("period", &period)])),
        Line::Field(w.account, a.account_email.clone()),
    ];
    lines.extend(invoice_details(a));
    lines.push(Line::Text(String::new()));
    lines.push(Line::Text(w.closing.into()));
    lines.push(Line::Text(a.name.clone()));
    let from = a.account_email.clone();
    let mut e = envelope(a, w.invoice_subject.to_string(), day, n);
    e.from = &from;
    e.message_id = message_id(a, n, domain_of(&from));
    compose(a, e, &lines, reply_style(a), n)
}

/// Code tables for the characters the Japanese, Chinese and Korean letters use, sorted by
/// character (generated once with Python's codecs: `iso2022_jp`, `gbk`, `euc_kr`).
mod charsets {
    pub const JIS: &[(char, [u8; 2])] = &[
        ('、', [0x21, 0x22]),
        ('。', [0x21, 0x23]),
        ('あ', [0x24, 0x22]),
        ('い', [0x24, 0x24]),
        ('え', [0x24, 0x28]),
        ('お', [0x24, 0x2a]),
        ('か', [0x24, 0x2b]),
        ('が', [0x24, 0x2c]),
        ('く', [0x24, 0x2f]),
        ('け', [0x24, 0x31]),
        ('こ', [0x24, 0x33]),
        ('ご', [0x24, 0x34]),
        ('さ', [0x24, 0x35]),
        ('し', [0x24, 0x37]),
        ('じ', [0x24, 0x38]),
        ('す', [0x24, 0x39]),
        ('せ', [0x24, 0x3b]),
        ('た', [0x24, 0x3f]),
        ('だ', [0x24, 0x40]),
        ('て', [0x24, 0x46]),
        ('で', [0x24, 0x47]),
        ('と', [0x24, 0x48]),
        ('に', [0x24, 0x4b]),
        ('の', [0x24, 0x4e]),
        ('は', [0x24, 0x4f]),
        ('ま', [0x24, 0x5e]),
        ('み', [0x24, 0x5f]),
        ('め', [0x24, 0x61]),
        ('も', [0x24, 0x62]),
        ('よ', [0x24, 0x68]),
        ('ら', [0x24, 0x69]),
        ('り', [0x24, 0x6a]),
        ('る', [0x24, 0x6b]),
        ('ろ', [0x24, 0x6d]),
        ('を', [0x24, 0x72]),
        ('ん', [0x24, 0x73]),
        ('ア', [0x25, 0x22]),
        ('イ', [0x25, 0x24]),
        ('ウ', [0x25, 0x26]),
        ('ェ', [0x25, 0x27]),
        ('カ', [0x25, 0x2b]),
        ('ク', [0x25, 0x2f]),
        ('サ', [0x25, 0x35]),
        ('シ', [0x25, 0x37]),
        ('ジ', [0x25, 0x38]),
        ('セ', [0x25, 0x3b]),
        ('ッ', [0x25, 0x43]),
        ('デ', [0x25, 0x47]),
        ('ト', [0x25, 0x48]),
        ('ネ', [0x25, 0x4d]),
        ('ブ', [0x25, 0x56]),
        ('プ', [0x25, 0x57]),
        ('メ', [0x25, 0x61]),
        ('モ', [0x25, 0x62]),
        ('ョ', [0x25, 0x67]),
        ('ラ', [0x25, 0x69]),
        ('ル', [0x25, 0x6b]),
        ('レ', [0x25, 0x6c]),
        ('ン', [0x25, 0x73]),
        ('・', [0x21, 0x26]),
        ('ー', [0x21, 0x3c]),
        ('不', [0x49, 0x54]),
        ('与', [0x4d, 0x3f]),
        ('人', [0x3f, 0x4d]),
        ('以', [0x30, 0x4a]),
        ('会', [0x32, 0x71]),
        ('住', [0x3d, 0x3b]),
        ('依', [0x30, 0x4d]),
        ('信', [0x3f, 0x2e]),
        ('個', [0x38, 0x44]),
        ('像', [0x41, 0x7c]),
        ('先', [0x40, 0x68]),
        ('再', [0x3a, 0x46]),
        ('分', [0x4a, 0x2c]),
        ('利', [0x4d, 0x78]),
        ('前', [0x41, 0x30]),
        ('動', [0x46, 0x30]),
        ('区', [0x36, 0x68]),
        ('同', [0x46, 0x31]),
        ('名', [0x4c, 0x3e]),
        ('向', [0x38, 0x7e]),
        ('品', [0x49, 0x4a]),
        ('商', [0x3e, 0x26]),
        ('国', [0x39, 0x71]),
        ('在', [0x3a, 0x5f]),
        ('報', [0x4a, 0x73]),
        ('増', [0x41, 0x7d]),
        ('客', [0x35, 0x52]),
        ('希', [0x34, 0x75]),
        ('度', [0x45, 0x59]),
        ('弊', [0x4a, 0x40]),
        ('当', [0x45, 0x76]),
        ('情', [0x3e, 0x70]),
        ('成', [0x40, 0x2e]),
        ('戻', [0x4c, 0x61]),
        ('所', [0x3d, 0x6a]),
        ('担', [0x43, 0x34]),
        ('改', [0x32, 0x7e]),
        ('新', [0x3f, 0x37]),
        ('日', [0x46, 0x7c]),
        ('更', [0x39, 0x39]),
        ('書', [0x3d, 0x71]),
        ('月', [0x37, 0x6e]),
        ('望', [0x4b, 0x3e]),
        ('本', [0x4b, 0x5c]),
        ('枠', [0x4f, 0x48]),
        ('様', [0x4d, 0x4d]),
        ('次', [0x3c, 0x21]),
        ('求', [0x35, 0x61]),
        ('法', [0x4b, 0x21]),
        ('生', [0x40, 0x38]),
        ('用', [0x4d, 0x51]),
        ('申', [0x3f, 0x3d]),
        ('画', [0x32, 0x68]),
        ('発', [0x48, 0x2f]),
        ('登', [0x45, 0x50]),
        ('的', [0x45, 0x2a]),
        ('目', [0x4c, 0x5c]),
        ('知', [0x43, 0x4e]),
        ('確', [0x33, 0x4e]),
        ('社', [0x3c, 0x52]),
        ('私', [0x3b, 0x64]),
        ('第', [0x42, 0x68]),
        ('絡', [0x4d, 0x6d]),
        ('者', [0x3c, 0x54]),
        ('自', [0x3c, 0x2b]),
        ('行', [0x39, 0x54]),
        ('製', [0x40, 0x3d]),
        ('見', [0x38, 0x2b]),
        ('記', [0x35, 0x2d]),
        ('試', [0x3b, 0x6e]),
        ('認', [0x47, 0x27]),
        ('請', [0x40, 0x41]),
        ('込', [0x39, 0x7e]),
        ('送', [0x41, 0x77]),
        ('通', [0x44, 0x4c]),
        ('連', [0x4f, 0x22]),
        ('開', [0x33, 0x2b]),
        ('間', [0x34, 0x56]),
        ('限', [0x38, 0x42]),
        ('頼', [0x4d, 0x6a]),
        ('額', [0x33, 0x5b]),
        ('願', [0x34, 0x6a]),
        ('（', [0x21, 0x4a]),
        ('）', [0x21, 0x4b]),
        ('：', [0x21, 0x27]),
    ];
    pub const GBK: &[(char, [u8; 2])] = &[
        ('。', [0xa1, 0xa3]),
        ('下', [0xcf, 0xc2]),
        ('不', [0xb2, 0xbb]),
        ('业', [0xd2, 0xb5]),
        ('个', [0xb8, 0xf6]),
        ('中', [0xd6, 0xd0]),
        ('为', [0xce, 0xaa]),
        ('之', [0xd6, 0xae]),
        ('也', [0xd2, 0xb2]),
        ('于', [0xd3, 0xda]),
        ('交', [0xbd, 0xbb]),
        ('产', [0xb2, 0xfa]),
        ('人', [0xc8, 0xcb]),
        ('代', [0xb4, 0xfa]),
        ('以', [0xd2, 0xd4]),
        ('们', [0xc3, 0xc7]),
        ('企', [0xc6, 0xf3]),
        ('会', [0xbb, 0xe1]),
        ('作', [0xd7, 0xf7]),
        ('信', [0xd0, 0xc5]),
        ('公', [0xb9, 0xab]),
        ('具', [0xbe, 0xdf]),
        ('册', [0xb2, 0xe1]),
        ('再', [0xd4, 0xd9]),
        ('写', [0xd0, 0xb4]),
        ('到', [0xb5, 0xbd]),
        ('前', [0xc7, 0xb0]),
        ('办', [0xb0, 0xec]),
        ('动', [0xb6, 0xaf]),
        ('单', [0xb5, 0xa5]),
        ('发', [0xb7, 0xa2]),
        ('只', [0xd6, 0xbb]),
        ('可', [0xbf, 0xc9]),
        ('号', [0xba, 0xc5]),
        ('司', [0xcb, 0xbe]),
        ('名', [0xc3, 0xfb]),
        ('后', [0xba, 0xf3]),
        ('吗', [0xc2, 0xf0]),
        ('否', [0xb7, 0xf1]),
        ('和', [0xba, 0xcd]),
        ('品', [0xc6, 0xb7]),
        ('商', [0xc9, 0xcc]),
        ('回', [0xbb, 0xd8]),
        ('国', [0xb9, 0xfa]),
        ('图', [0xcd, 0xbc]),
        ('在', [0xd4, 0xda]),
        ('地', [0xb5, 0xd8]),
        ('址', [0xd6, 0xb7]),
        ('型', [0xd0, 0xcd]),
        ('增', [0xd4, 0xf6]),
        ('复', [0xb8, 0xb4]),
        ('好', [0xba, 0xc3]),
        ('客', [0xbf, 0xcd]),
        ('室', [0xca, 0xd2]),
        ('家', [0xbc, 0xd2]),
        ('将', [0xbd, 0xab]),
        ('尽', [0xbe, 0xa1]),
        ('工', [0xb9, 0xa4]),
        ('希', [0xcf, 0xa3]),
        ('并', [0xb2, 0xa2]),
        ('店', [0xb5, 0xea]),
        ('度', [0xb6, 0xc8]),
        ('开', [0xbf, 0xaa]),
        ('式', [0xca, 0xbd]),
        ('快', [0xbf, 0xec]),
        ('您', [0xc4, 0xfa]),
        ('想', [0xcf, 0xeb]),
        ('成', [0xb3, 0xc9]),
        ('我', [0xce, 0xd2]),
        ('户', [0xbb, 0xa7]),
        ('批', [0xc5, 0xfa]),
        ('提', [0xcc, 0xe1]),
        ('料', [0xc1, 0xcf]),
        ('新', [0xd0, 0xc2]),
        ('方', [0xb7, 0xbd]),
        ('是', [0xca, 0xc7]),
        ('更', [0xb8, 0xfc]),
        ('月', [0xd4, 0xc2]),
        ('有', [0xd3, 0xd0]),
        ('望', [0xcd, 0xfb]),
        ('来', [0xc0, 0xb4]),
        ('模', [0xc4, 0xa3]),
        ('次', [0xb4, 0xce]),
        ('每', [0xc3, 0xbf]),
        ('没', [0xc3, 0xbb]),
        ('注', [0xd7, 0xa2]),
        ('片', [0xc6, 0xac]),
        ('现', [0xcf, 0xd6]),
        ('生', [0xc9, 0xfa]),
        ('用', [0xd3, 0xc3]),
        ('申', [0xc9, 0xea]),
        ('的', [0xb5, 0xc4]),
        ('确', [0xc8, 0xb7]),
        ('票', [0xc6, 0xb1]),
        ('称', [0xb3, 0xc6]),
        ('税', [0xcb, 0xb0]),
        ('站', [0xd5, 0xbe]),
        ('箱', [0xcf, 0xe4]),
        ('类', [0xc0, 0xe0]),
        ('系', [0xcf, 0xb5]),
        ('给', [0xb8, 0xf8]),
        ('网', [0xcd, 0xf8]),
        ('者', [0xd5, 0xdf]),
        ('联', [0xc1, 0xaa]),
        ('能', [0xc4, 0xdc]),
        ('自', [0xd7, 0xd4]),
        ('表', [0xb1, 0xed]),
        ('要', [0xd2, 0xaa]),
        ('视', [0xca, 0xd3]),
        ('计', [0xbc, 0xc6]),
        ('认', [0xc8, 0xcf]),
        ('试', [0xca, 0xd4]),
        ('请', [0xc7, 0xeb]),
        ('谢', [0xd0, 0xbb]),
        ('账', [0xd5, 0xcb]),
        ('资', [0xd7, 0xca]),
        ('过', [0xb9, 0xfd]),
        ('还', [0xbb, 0xb9]),
        ('这', [0xd5, 0xe2]),
        ('途', [0xcd, 0xbe]),
        ('道', [0xb5, 0xc0]),
        ('邮', [0xd3, 0xca]),
        ('量', [0xc1, 0xbf]),
        ('长', [0xb3, 0xa4]),
        ('随', [0xcb, 0xe6]),
        ('需', [0xd0, 0xe8]),
        ('预', [0xd4, 0xa4]),
        ('频', [0xc6, 0xb5]),
        ('额', [0xb6, 0xee]),
        ('高', [0xb8, 0xdf]),
        ('！', [0xa3, 0xa1]),
        ('，', [0xa3, 0xac]),
        ('：', [0xa3, 0xba]),
        ('？', [0xa3, 0xbf]),
    ];
    pub const EUC_KR: &[(char, [u8; 2])] = &[
        ('가', [0xb0, 0xa1]),
        ('감', [0xb0, 0xa8]),
        ('개', [0xb0, 0xb3]),
        ('객', [0xb0, 0xb4]),
        ('갱', [0xb0, 0xbb]),
        ('것', [0xb0, 0xcd]),
        ('겠', [0xb0, 0xda]),
        ('계', [0xb0, 0xe8]),
        ('고', [0xb0, 0xed]),
        ('과', [0xb0, 0xfa]),
        ('구', [0xb1, 0xb8]),
        ('국', [0xb1, 0xb9]),
        ('금', [0xb1, 0xdd]),
        ('기', [0xb1, 0xe2]),
        ('까', [0xb1, 0xee]),
        ('께', [0xb2, 0xb2]),
        ('녕', [0xb3, 0xe7]),
        ('는', [0xb4, 0xc2]),
        ('늘', [0xb4, 0xc3]),
        ('니', [0xb4, 0xcf]),
        ('님', [0xb4, 0xd4]),
        ('다', [0xb4, 0xd9]),
        ('답', [0xb4, 0xe4]),
        ('대', [0xb4, 0xeb]),
        ('데', [0xb5, 0xa5]),
        ('델', [0xb5, 0xa8]),
        ('도', [0xb5, 0xb5]),
        ('돌', [0xb5, 0xb9]),
        ('동', [0xb5, 0xbf]),
        ('드', [0xb5, 0xe5]),
        ('등', [0xb5, 0xee]),
        ('디', [0xb5, 0xf0]),
        ('라', [0xb6, 0xf3]),
        ('락', [0xb6, 0xf4]),
        ('량', [0xb7, 0xae]),
        ('로', [0xb7, 0xce]),
        ('록', [0xb7, 0xcf]),
        ('를', [0xb8, 0xa6]),
        ('리', [0xb8, 0xae]),
        ('메', [0xb8, 0xde]),
        ('며', [0xb8, 0xe7]),
        ('명', [0xb8, 0xed]),
        ('모', [0xb8, 0xf0]),
        ('몰', [0xb8, 0xf4]),
        ('미', [0xb9, 0xcc]),
        ('민', [0xb9, 0xce]),
        ('및', [0xb9, 0xd7]),
        ('받', [0xb9, 0xde]),
        ('발', [0xb9, 0xdf]),
        ('변', [0xba, 0xaf]),
        ('보', [0xba, 0xb8]),
        ('부', [0xba, 0xce]),
        ('분', [0xba, 0xd0]),
        ('비', [0xba, 0xf1]),
        ('사', [0xbb, 0xe7]),
        ('산', [0xbb, 0xea]),
        ('상', [0xbb, 0xf3]),
        ('생', [0xbb, 0xfd]),
        ('서', [0xbc, 0xad]),
        ('성', [0xbc, 0xba]),
        ('세', [0xbc, 0xbc]),
        ('소', [0xbc, 0xd2]),
        ('쇼', [0xbc, 0xee]),
        ('수', [0xbc, 0xf6]),
        ('습', [0xbd, 0xc0]),
        ('시', [0xbd, 0xc3]),
        ('신', [0xbd, 0xc5]),
        ('실', [0xbd, 0xc7]),
        ('아', [0xbe, 0xc6]),
        ('안', [0xbe, 0xc8]),
        ('업', [0xbe, 0xf7]),
        ('없', [0xbe, 0xf8]),
        ('었', [0xbe, 0xfa]),
        ('에', [0xbf, 0xa1]),
        ('여', [0xbf, 0xa9]),
        ('연', [0xbf, 0xac]),
        ('영', [0xbf, 0xb5]),
        ('예', [0xbf, 0xb9]),
        ('오', [0xbf, 0xc0]),
        ('온', [0xbf, 0xc2]),
        ('와', [0xbf, 0xcd]),
        ('요', [0xbf, 0xe4]),
        ('용', [0xbf, 0xeb]),
        ('월', [0xbf, 0xf9]),
        ('웹', [0xc0, 0xa5]),
        ('위', [0xc0, 0xa7]),
        ('유', [0xc0, 0xaf]),
        ('은', [0xc0, 0xba]),
        ('을', [0xc0, 0xbb]),
        ('의', [0xc0, 0xc7]),
        ('이', [0xc0, 0xcc]),
        ('인', [0xc0, 0xce]),
        ('일', [0xc0, 0xcf]),
        ('입', [0xc0, 0xd4]),
        ('있', [0xc0, 0xd6]),
        ('자', [0xc0, 0xda]),
        ('작', [0xc0, 0xdb]),
        ('재', [0xc0, 0xe7]),
        ('저', [0xc0, 0xfa]),
        ('전', [0xc0, 0xfc]),
        ('정', [0xc1, 0xa4]),
        ('제', [0xc1, 0xa6]),
        ('주', [0xc1, 0xd6]),
        ('중', [0xc1, 0xdf]),
        ('지', [0xc1, 0xf6]),
        ('직', [0xc1, 0xf7]),
        ('처', [0xc3, 0xb3]),
        ('청', [0xc3, 0xbb]),
        ('트', [0xc6, 0xae]),
        ('표', [0xc7, 0xa5]),
        ('품', [0xc7, 0xb0]),
        ('핑', [0xc7, 0xce]),
        ('하', [0xc7, 0xcf]),
        ('한', [0xc7, 0xd1]),
        ('함', [0xc7, 0xd4]),
        ('합', [0xc7, 0xd5]),
        ('해', [0xc7, 0xd8]),
        ('했', [0xc7, 0xdf]),
        ('행', [0xc7, 0xe0]),
        ('향', [0xc7, 0xe2]),
        ('험', [0xc7, 0xe8]),
        ('형', [0xc7, 0xfc]),
        ('확', [0xc8, 0xae]),
        ('회', [0xc8, 0xb8]),
        ('희', [0xc8, 0xf1]),
    ];
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::classify::{Intent, intent};
    use crate::intake::extract::{Extracted, extract, field};
    use crate::sim::population::draw;

    const LANGS: [Lang; 8] = [Lang::En, Lang::De, Lang::Fr, Lang::Es, Lang::Pt, Lang::Ja, Lang::Zh, Lang::Ko];
    const STYLES: [Style; 8] = [
        Style::Plain,
        Style::QuotedPrintable,
        Style::Base64,
        Style::Legacy,
        Style::HtmlOnly,
        Style::Alternative,
        Style::Forwarded,
        Style::WithAttachment,
    ];

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 3).unwrap()
    }

    /// Every kind of applicant in every language and style (a forward only where a
    /// colleague forwards it).
    fn everyone() -> Vec<Applicant> {
        let mut out = Vec::new();
        for base in draw(42, 40, 30) {
            for lang in LANGS {
                for style in STYLES {
                    if style == Style::Forwarded && base.colleague.is_none() {
                        continue;
                    }
                    out.push(Applicant { language: lang, style, ..base.clone() });
                }
            }
        }
        out
    }

    fn read(raw: &[u8]) -> (crate::intake::mail::Mail, Extracted) {
        let m = crate::intake::mail::parse(raw).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(raw)));
        let x = extract(&m.subject, &m.body, day());
        (m, x)
    }

    fn who(a: &Applicant) -> String {
        format!("#{} {:?} {:?} {:?} {:?}", a.index, a.kind, a.quirk, a.language, a.style)
    }

    #[test]
    fn applications_are_read_as_their_profile_says() {
        let people = everyone();
        assert!(people.iter().any(|a| a.kind == Kind::IndividualWithoutProduct));
        for a in &people {
            let raw = application(a, day(), 1);
            let (m, x) = read(&raw);
            let w = who(a);
            assert_eq!(
                m.message_id,
                format!(
                    "sim.42.{}.1@{}",
                    a.index,
                    domain_of(if a.style == Style::Forwarded { a.colleague.as_deref().unwrap() } else { &a.sender })
                ),
                "{w}"
            );
            assert_eq!(m.from.as_deref(), Some(a.sender.as_str()), "{w}");
            assert!(m.auto_reply.is_none(), "{w}");
            assert_eq!(intent(&m.subject, &m.body, &x), Intent::Application, "{w}: {}", m.body);
            assert_eq!(x.get(field::ACCOUNT_EMAIL), Some(a.account_email.as_str()), "{w}: {}", m.body);
            match a.kind {
                Kind::IndividualWithoutProduct => {
                    assert!(x.flag(field::STATES_NO_PRODUCT), "{w}: {}", m.body);
                    assert_eq!(x.get(field::APPLICANT_TYPE), Some("individual"), "{w}");
                    assert_eq!(x.get(field::WEBSITE), None, "{w}");
                    continue;
                }
                Kind::Enterprise => {
                    assert_eq!(x.get(field::APPLICANT_TYPE), Some("enterprise"), "{w}");
                    assert_eq!(x.get(field::LEGAL_COMPANY_NAME), a.company.as_deref(), "{w}");
                    assert!(x.get(field::REGISTRATION_COUNTRY).is_some(), "{w}");
                    assert!(x.get(field::USE_CASE).is_some(), "{w}");
                }
                Kind::IndividualWithProduct => assert_eq!(x.get(field::APPLICANT_TYPE), Some("individual"), "{w}"),
            }
            assert!(!x.flag(field::STATES_NO_PRODUCT), "{w}: {}", m.body);
            assert_eq!(x.get(field::WEBSITE), a.website.as_deref(), "{w}: {}", m.body);
            assert!(x.get(field::PRODUCT).is_some_and(|p| p.starts_with(a.product.as_deref().unwrap())), "{w}");
            assert_eq!(x.cents(field::REQUESTED_LIMIT), Some(a.requested_cents), "{w}: {}", m.body);
            assert_eq!(x.cents(field::EXPECTED_MONTHLY_SPEND), Some(a.usage_cents_per_month), "{w}: {}", m.body);
            assert_eq!(x.get(field::BUSINESS_CONTACT), Some(a.sender.as_str()), "{w}");
            match &a.aws_account {
                Some(id) => {
                    assert_eq!(x.get(field::AWS_ACCOUNT).map(|v| v.starts_with(id.as_str())), Some(true), "{w}");
                    let age: i64 = x.get(field::AWS_ACCOUNT_AGE_MONTHS).and_then(|v| v.parse().ok()).unwrap_or(-1);
                    if a.quirk == Quirk::FreshAws {
                        assert_eq!(age, 0, "{w}");
                    } else {
                        assert!(age >= 12, "{w}: {age}");
                        assert_eq!(x.get(field::AWS_STANDING), Some("good"), "{w}");
                    }
                }
                None => assert_eq!(x.get(field::AWS_ACCOUNT), None, "{w}"),
            }
            assert!(!x.flag(field::AWS_LOGIN), "{w}");
        }
    }

    #[test]
    fn styles_are_the_mime_they_claim() {
        let a = &draw(42, 40, 30).into_iter().find(|a| a.kind == Kind::Enterprise).unwrap();
        let want = [
            (Lang::En, Style::Plain, "Content-Transfer-Encoding: 8bit"),
            (Lang::De, Style::QuotedPrintable, "quoted-printable"),
            (Lang::Fr, Style::Base64, "Content-Transfer-Encoding: base64"),
            (Lang::De, Style::Legacy, "charset=iso-8859-1"),
            (Lang::Ja, Style::Legacy, "charset=iso-2022-jp"),
            (Lang::Zh, Style::Legacy, "charset=gbk"),
            (Lang::Ko, Style::Legacy, "charset=euc-kr"),
            (Lang::Es, Style::HtmlOnly, "Content-Type: text/html"),
            (Lang::Pt, Style::Alternative, "multipart/alternative"),
            (Lang::En, Style::WithAttachment, "filename=\"company-registration.pdf\""),
            (Lang::En, Style::Forwarded, "---------- Forwarded message ---------"),
        ];
        for (lang, style, needle) in want {
            let a = Applicant { language: lang, style, ..a.clone() };
            let raw = String::from_utf8_lossy(&application(&a, day(), 1)).into_owned();
            assert!(raw.contains(needle), "{lang:?} {style:?}: {raw}");
            assert!(raw.contains("\r\nDate: Tue, 03 Nov 2026 "), "{raw}");
        }
        let jp = Applicant { language: Lang::Ja, style: Style::Legacy, ..a.clone() };
        assert!(application(&jp, day(), 1).windows(3).any(|w| w == b"\x1b$B"), "JIS shifts");
        let (m, _) = read(&application(&Applicant { style: Style::WithAttachment, ..a.clone() }, day(), 1));
        assert_eq!(m.attachments.len(), 1);
    }

    #[test]
    fn the_same_seed_gives_the_same_bytes() {
        let one: Vec<Vec<u8>> = draw(9, 30, 20).iter().map(|a| application(a, day(), 1)).collect();
        let two: Vec<Vec<u8>> = draw(9, 30, 20).iter().map(|a| application(a, day(), 1)).collect();
        assert_eq!(one, two);
        let other: Vec<Vec<u8>> = draw(10, 30, 20).iter().map(|a| application(a, day(), 1)).collect();
        assert_ne!(one, other);
    }

    /// One of our emails as the applicant received it.
    fn ours(template: &str, subject: &str, text: &str) -> Mail {
        let raw = format!(
            "Message-ID: <outbox.0193a5c4-0000-7000-8000-000000000001@wavespeed.ai>\r\nFrom: WaveSpeedAI Support <support@wavespeed.ai>\r\nSubject: {subject}\r\nIn-Reply-To: <sim.42.0.1@x.com>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n-- \r\nWaveSpeedAI Support\r\n"
        );
        Mail {
            rcpt: "x@x.com".into(),
            message_id: "outbox.0193a5c4-0000-7000-8000-000000000001@wavespeed.ai".into(),
            template: Some(template.into()),
            subject: subject.into(),
            // As mailbox.rs reads it: In-Reply-To, then References newest first.
            thread: vec!["sim.42.0.1@x.com".into(), "sim.42.0.1@x.com".into()],
            raw: raw.into_bytes(),
            day: day(),
        }
    }

    #[test]
    fn the_colleague_confirms_from_the_company_domain_in_the_thread() {
        let mail = ours(
            "domain_confirmation_request",
            "Please confirm from your company email [CL-ABCD1234]",
            "Hello,\r\n\r\nFor enterprise credit lines we need a confirmation reply from an email address at\r\nyour company's domain (x.com).",
        );
        for a in everyone().into_iter().filter(|a| a.kind == Kind::Enterprise && a.style != Style::Forwarded) {
            let raw = answer(&a, &mail, day(), 2).unwrap();
            let (m, x) = read(&raw);
            let w = who(&a);
            assert_eq!(m.envelope_from, a.colleague.clone(), "{w}");
            assert_eq!(m.in_reply_to, vec![mail.message_id.clone()], "{w}");
            assert_eq!(m.references, vec!["sim.42.0.1@x.com".to_string(), mail.message_id.clone()], "{w}");
            assert!(m.subject.contains("CL-ABCD1234"), "{w}");
            assert!(m.body.contains(&a.name), "{w}: {}", m.body);
            assert!(!m.body.contains("WaveSpeedAI Support"), "the quote is cut: {w}: {}", m.body);
            assert!(x.get(field::ACCOUNT_EMAIL).is_none(), "{w}");
        }
    }

    #[test]
    fn materials_answers_bring_the_complete_set() {
        let mail =
            ours("materials_requested", "More information needed [CL-ABCD1234]", "we need:\r\n  - your website\r\n");
        for a in everyone().into_iter().filter(|a| a.kind != Kind::IndividualWithoutProduct) {
            let (m, x) = read(&answer(&a, &mail, day(), 3).unwrap());
            let w = who(&a);
            assert_eq!(m.from.as_deref(), Some(a.sender.as_str()), "{w}");
            assert_eq!(x.get(field::WEBSITE), a.website.as_deref(), "{w}: {}", m.body);
            assert_eq!(x.cents(field::REQUESTED_LIMIT), Some(a.requested_cents), "{w}");
            assert!(!m.body.contains("we need"), "{w}: {}", m.body);
        }
    }

    #[test]
    fn the_named_account_confirms_with_the_reference() {
        let mail =
            ours("account_confirmation_request", "Please confirm the account [CL-ABCD1234]", "the owner must confirm");
        let a = draw(42, 40, 30).into_iter().find(|a| a.kind == Kind::IndividualWithProduct).unwrap();
        let a = Applicant { account_email: "other.owner.7@gmail.com".into(), ..a };
        let (m, _) = read(&answer(&a, &mail, day(), 2).unwrap());
        assert_eq!(m.from.as_deref(), Some("other.owner.7@gmail.com"));
        assert!(m.subject.contains("CL-ABCD1234"));
    }

    #[test]
    fn mail_that_needs_no_answer_gets_none() {
        let a = &draw(42, 5, 30)[0];
        for t in [
            "application_approved",
            "bill_issued",
            "payment_reminder",
            "application_declined",
            "prepaid_path",
            "deposit_required",
        ] {
            assert!(answer(a, &ours(t, "x", "y"), day(), 2).is_none(), "{t}");
        }
        let unknown = Mail { template: None, ..ours("x", "x", "y") };
        assert!(answer(a, &unknown, day(), 2).is_none());
    }

    #[test]
    fn out_of_office_is_automatic_mail() {
        let mail = ours("domain_confirmation_request", "Please confirm [CL-ABCD1234]", "text");
        for a in everyone().into_iter().step_by(7) {
            let (m, _) = read(&auto_reply(&a, &mail, day(), 2));
            assert!(m.auto_reply.is_some(), "{}", who(&a));
            assert_eq!(m.in_reply_to, vec![mail.message_id.clone()]);
        }
    }

    #[test]
    fn increase_and_invoice_requests_are_read_as_such() {
        let period = crate::domain::Period::new(2026, 10).unwrap();
        let mut misread = Vec::new();
        for a in everyone().into_iter().filter(|a| a.kind != Kind::IndividualWithoutProduct && a.style == Style::Plain)
        {
            let (m, x) = read(&increase_request(&a, 50_000, day(), 5));
            if intent(&m.subject, &m.body, &x) != Intent::LimitIncrease
                || x.cents(field::REQUESTED_LIMIT) != Some(50_000)
            {
                misread.push(format!("increase {:?}", a.language));
            }
            let (m, x) = read(&invoice_request(&a, period, day(), 6));
            if intent(&m.subject, &m.body, &x) != Intent::InvoiceRequest
                || x.get(field::BILLING_PERIOD) != Some("2026-10")
            {
                misread.push(format!("invoice {:?}", a.language));
            }
        }
        misread.sort();
        misread.dedup();
        // Once intake's gaps (no raise or line words but English and Chinese, the billing
        // period read only beside English or CJK invoice words, no "fatura"): the
        // simulation's climbers were answered as new applicants, their invoices asked for.
        assert!(misread.is_empty(), "misread: {misread:?}");
    }
}
