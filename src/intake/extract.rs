//! Application materials from the text of a message: labelled lines ("Website: ...") in the
//! wordings applicants use, then best-effort reading of unlabelled text (links, amounts, AWS
//! account ids and age, contact channels). Every value keeps the line it came from, so a
//! reviewer can see why the system believes it. Pure: text in, fields out.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use chrono::{Datelike, NaiveDate};
use regex::Regex;
use serde::Serialize;

use crate::domain::Domain;
use crate::rules::lists::MaterialHosts;

/// One extracted value and the text it was read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Found {
    pub value: String,
    pub excerpt: String,
}

/// Field keys. Amounts are integer cents as decimal text; flags are "true".
pub mod field {
    pub const ACCOUNT_EMAIL: &str = "account_email";
    pub const APPLICANT_TYPE: &str = "applicant_type";
    pub const LEGAL_COMPANY_NAME: &str = "legal_company_name";
    pub const REGISTRATION_COUNTRY: &str = "registration_country";
    pub const WEBSITE: &str = "website";
    pub const PRODUCT: &str = "product";
    pub const USE_CASE: &str = "use_case";
    pub const AWS_ACCOUNT: &str = "aws_account";
    pub const AWS_ACCOUNT_AGE_MONTHS: &str = "aws_account_age_months";
    pub const AWS_STANDING: &str = "aws_standing";
    pub const AWS_MONTHLY_SPEND_CENTS: &str = "aws_monthly_spend_cents";
    pub const AWS_LOGIN: &str = "aws_login";
    pub const EXPECTED_MONTHLY_SPEND: &str = "expected_monthly_spend_cents";
    pub const REQUESTED_LIMIT: &str = "requested_limit_cents";
    pub const BUSINESS_CONTACT: &str = "business_contact";
    pub const APP_LINK: &str = "app_link";
    pub const OTHER_LINKS: &str = "other_links";
    pub const STATES_NO_PRODUCT: &str = "states_no_product";
    pub const BILLING_PERIOD: &str = "billing_period";
    pub const TRANSACTION_IDS: &str = "transaction_ids";
    /// "Main business activity", one of the policy's business-verification materials.
    pub const MAIN_BUSINESS_ACTIVITY: &str = "main_business_activity";
    /// "true" when the message carries recent AWS billing records (an AWS billing CSV).
    pub const AWS_BILLING_RECORDS: &str = "aws_billing_records";
    /// The address to print on an invoice (a labelled line).
    pub const BILLING_ADDRESS: &str = "billing_address";
    /// A tax or VAT id to print on an invoice (a labelled line).
    pub const TAX_ID: &str = "tax_id";
}
use field::*;

/// What a message says, field by field (first value wins; `other_links` is space-separated).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Extracted {
    pub fields: BTreeMap<String, Found>,
}

impl Extracted {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.get(key).map(|f| f.value.as_str())
    }

    pub fn cents(&self, key: &str) -> Option<i64> {
        self.get(key).and_then(|v| v.parse().ok())
    }

    pub fn flag(&self, key: &str) -> bool {
        self.get(key) == Some("true")
    }

    pub fn list(&self, key: &str) -> Vec<String> {
        self.get(key).map(|v| v.split_whitespace().map(str::to_string).collect()).unwrap_or_default()
    }

    /// Records a value unless the field already has one (the first value wins).
    pub(crate) fn set(&mut self, key: &str, value: impl Into<String>, excerpt: &str) {
        let value = value.into();
        if value.trim().is_empty() || self.fields.contains_key(key) {
            return;
        }
        let excerpt: String = excerpt.trim().chars().take(300).collect();
        self.fields.insert(key.to_string(), Found { value: value.trim().to_string(), excerpt });
    }

    fn push_link(&mut self, url: &str, excerpt: &str) {
        match self.fields.get_mut(OTHER_LINKS) {
            Some(f) if f.value.split_whitespace().any(|u| u == url) => {}
            Some(f) if f.value.split_whitespace().count() < 20 => f.value = format!("{} {url}", f.value),
            Some(_) => {}
            None => self.set(OTHER_LINKS, url, excerpt),
        }
    }

    /// Later values for the same application: the newest message wins for each field it has.
    pub fn merged_over(mut self, older: &Extracted) -> Extracted {
        for (k, v) in &older.fields {
            self.fields.entry(k.clone()).or_insert_with(|| v.clone());
        }
        self
    }
}

/// Label wordings (lower case, compared after removing punctuation) and their field.
const LABELS: &[(&str, &[&str])] = &[
    (
        ACCOUNT_EMAIL,
        &[
            "account email",
            "account e-mail",
            "account",
            "email",
            "e-mail",
            "login email",
            "wavespeed account",
            "registered email",
            "账户邮箱",
            "账号邮箱",
            "账号",
            "帳號",
            "アカウント",
            "계정",
            "correo de la cuenta",
            "cuenta",
            "e-mail da conta",
            "email da conta",
            "conta",
            "compte",
            "e-mail du compte",
            "adresse du compte",
            "konto",
            "konto-e-mail",
            "kontoe-mail",
            "アカウントメール",
            "계정 이메일",
        ],
    ),
    (
        APPLICANT_TYPE,
        &[
            "applicant type",
            "type",
            "applying as",
            "applicant",
            "申请类型",
            "申请人类型",
            "tipo de solicitante",
            "tipo",
            "type de demandeur",
            "antragsteller",
            "art",
            "申請者区分",
            "申請区分",
            "신청자 유형",
            "유형",
        ],
    ),
    (
        LEGAL_COMPANY_NAME,
        &[
            "legal company name",
            "company name",
            "company",
            "legal name",
            "legal entity",
            "entity",
            "organization",
            "organisation",
            "business name",
            "firma",
            "société",
            "公司",
            "公司名称",
            "公司全称",
            "会社名",
            "회사",
            "회사명",
            "razón social",
            "nombre de la empresa",
            "empresa",
            "razão social",
            "nome da empresa",
            "raison sociale",
            "nom de l entreprise",
            "entreprise",
            "unternehmen",
            "firmenname",
            "会社",
            "法人名",
            "商号",
            "企業名",
            "公司名",
            "회사 이름",
            "법인명",
        ],
    ),
    (
        REGISTRATION_COUNTRY,
        &[
            "registration country",
            "registration country or region",
            "country of registration",
            "country or region",
            "country",
            "region",
            "registered in",
            "jurisdiction",
            "land",
            "pays",
            "país",
            "paese",
            "注册地",
            "注册国家",
            "国家",
            "国",
            "국가",
            "país de registro",
            "país de registo",
            "pays d enregistrement",
            "registrierungsland",
            "sitz",
            "登記国",
            "所在国",
            "등록 국가",
        ],
    ),
    (
        WEBSITE,
        &[
            "website",
            "web site",
            "company website",
            "site",
            "homepage",
            "url",
            "网站",
            "網站",
            "官网",
            "ウェブサイト",
            "웹사이트",
            "webseite",
            "sitio web",
            "página web",
            "site web",
            "sitio",
            "página",
            "웹 사이트",
            "홈페이지",
            "ホームページ",
            "サイト",
        ],
    ),
    (
        PRODUCT,
        &[
            "product",
            "product name",
            "product information",
            "project",
            "产品",
            "產品",
            "製品",
            "제품",
            "produkt",
            "producto",
            "produto",
            "produit",
            "プロダクト",
            "サービス",
            "服务",
            "서비스",
        ],
    ),
    (
        USE_CASE,
        &[
            "use case",
            "business use case",
            "usecase",
            "intended use",
            "purpose",
            "用途",
            "使用场景",
            "使用目的",
            "용도",
            "caso de uso",
            "uso previsto",
            "finalidade",
            "cas d usage",
            "utilisation",
            "verwendungszweck",
            "anwendungsfall",
            "利用目的",
            "ユースケース",
            "사용 사례",
        ],
    ),
    (
        MAIN_BUSINESS_ACTIVITY,
        &[
            "main business activity",
            "main business activities",
            "main business",
            "business activity",
            "business activities",
            "core business",
            "primary business",
            "primary business activity",
            "nature of business",
            "line of business",
            "actividad principal",
            "actividad comercial",
            "actividad principal de la empresa",
            "actividad económica",
            "giro del negocio",
            "atividade principal",
            "atividade comercial",
            "atividade econômica",
            "ramo de atividade",
            "activité principale",
            "activité commerciale",
            "secteur d activité",
            "haupttätigkeit",
            "geschäftstätigkeit",
            "hauptgeschäftstätigkeit",
            "geschäftsfeld",
            "主な事業",
            "主な事業内容",
            "主要事業",
            "事業内容",
            "주요 사업",
            "주요 사업 분야",
            "주요 사업 활동",
            "사업 내용",
            "主营业务",
            "主要业务",
            "主營業務",
            "主要業務",
            "经营范围",
        ],
    ),
    (AWS_ACCOUNT, &["aws account", "aws account id", "aws id", "aws"]),
    (
        EXPECTED_MONTHLY_SPEND,
        &[
            "expected monthly usage",
            "expected monthly spend",
            "expected usage",
            "expected spend",
            "monthly usage",
            "monthly spend",
            "estimated monthly usage",
            "estimated monthly spend",
            "estimated usage",
            "expected monthly volume",
            "预计月用量",
            "预计月消费",
            "月用量",
            "uso mensual estimado",
            "gasto mensual",
            "gasto mensual estimado",
            "uso mensal estimado",
            "gasto mensal",
            "consommation mensuelle",
            "dépense mensuelle",
            "monatliche nutzung",
            "erwartete monatliche nutzung",
            "monatliches volumen",
            "月間利用額",
            "予想月額",
            "예상 월 사용량",
            "예상 사용량",
            "월 사용량",
        ],
    ),
    (
        REQUESTED_LIMIT,
        &[
            "requested credit line",
            "requested limit",
            "requested credit limit",
            "requested amount",
            "credit line",
            "credit limit",
            "requested monthly limit",
            "申请额度",
            "额度",
            "希望額度",
            "línea de crédito solicitada",
            "límite solicitado",
            "linha de crédito solicitada",
            "limite solicitado",
            "ligne de crédit demandée",
            "limite demandée",
            "gewünschte kreditlinie",
            "kreditlinie",
            "kreditrahmen",
            "希望与信枠",
            "希望限度額",
            "希望額",
            "요청 한도",
            "신청 한도",
            "申请信用额度",
        ],
    ),
    (
        BUSINESS_CONTACT,
        &[
            "business contact",
            "contact",
            "contact channel",
            "preferred contact",
            "contact person",
            "联系方式",
            "連絡先",
            "연락처",
            "contacto",
            "contato",
            "contact professionnel",
            "kontakt",
            "ansprechpartner",
            "担当者",
            "담당자",
        ],
    ),
    (APP_LINK, &["app download", "app link", "download", "app store", "play store", "demo", "app"]),
    (
        BILLING_ADDRESS,
        &[
            "billing address",
            "invoice address",
            "company address",
            "registered address",
            "business address",
            "address",
            "rechnungsadresse",
            "anschrift",
            "adresse de facturation",
            "adresse",
            "dirección de facturación",
            "dirección",
            "endereço de cobrança",
            "endereço",
            "账单地址",
            "公司地址",
            "地址",
            "請求先住所",
            "住所",
            "청구지 주소",
            "주소",
        ],
    ),
    (
        TAX_ID,
        &[
            "tax id",
            "vat id",
            "vat number",
            "vat",
            "tax number",
            "ein",
            "ust-idnr",
            "ust id",
            "numéro de tva",
            "nif",
            "cif",
            "cnpj",
            "税号",
            "纳税人识别号",
        ],
    ),
];

/// The field a reviewer's requested item names ("website", "legal company name",
/// "aws_account"), read with the same wordings as labels; `None` for free text.
pub fn material_field(item: &str) -> Option<&'static str> {
    label_field(&item.replace('_', " "))
}

fn label_field(label: &str) -> Option<&'static str> {
    let norm: String = label
        .to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() || c == '-' || c > '\u{2e80}' { c } else { ' ' })
        .collect();
    let norm = norm.split_whitespace().collect::<Vec<_>>().join(" ");
    LABELS.iter().find(|(_, words)| words.contains(&norm.as_str())).map(|(f, _)| *f)
}

static URL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\bhttps?://[^\s<>()\[\]{}\x22']+|\bwww\.[a-z0-9-]+(?:\.[a-z0-9-]+)+(?:/[^\s<>()\x22']*)?")
        .expect("static regex")
});
static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}\b").expect("static regex")
});
static AMOUNT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)
        (?P<cur>US\$|\$|USD\s?|€|EUR\s?|¥|￥)?\s*
        (?P<num>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<frac>\d{1,2}))?
        (?:\s*-\s*\d[\d,]*)?
        \s*(?P<k>k\b|thousand)?
        \s*(?P<cur2>USD|usd|dollars?|美元|美金|ドル)?",
    )
    .expect("static regex")
});
static AWS_ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(\d{4})[- ]?(\d{4})[- ]?(\d{4})\b").expect("static regex"));
static COMPANY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"\b(?P<name>[A-Z][\w&'\-]*(?:\s+[A-Z0-9][\w&'\-]*){0,5}\s+(?:Inc\.?|Incorporated|Ltd\.?|Limited|LLC|GmbH|AG|SAS|SARL|S\.A\.|B\.V\.|Pty\.?\s+Ltd\.?|Pte\.?\s+Ltd\.?|Co\.,?\s+Ltd\.?|Corp\.?|Corporation|K\.K\.|Oy|AB|ApS|S\.r\.l\.|S\.p\.A\.|S\.L\.U?\.?|S\.A\.S\.|SAS|SA|Ltda\.?|S/A|EIRELI|UG|KG|e\.K\.|N\.V\.|Sp\.\s?z\s?o\.o\.))(?:\W|$)(?:\s*\((?P<where>[^)]{2,60})\))?",
    )
    .expect("static regex")
});
/// Company names with a Chinese, Japanese or Korean legal form, before or after the name
/// (深圳星图科技有限公司, 株式会社ミライ, 주식회사 한빛, ㈜한빛).
static CJK_COMPANY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?P<name>[\p{Han}\p{Katakana}\p{Hiragana}ー\p{Hangul}A-Za-z0-9]{1,30}(?:股份有限公司|有限责任公司|有限責任公司|有限公司|株式会社|合同会社|有限会社)|(?:株式会社|合同会社|有限会社)[\p{Han}\p{Katakana}\p{Hiragana}ーA-Za-z0-9]{1,30}|(?:주식회사|유한회사|㈜|\(주\))\s?[\p{Hangul}A-Za-z0-9]{1,30}|[\p{Hangul}A-Za-z0-9]{1,30}\s?(?:주식회사|유한회사))",
    )
    .expect("static regex")
});
static OPENED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(?:opened|created|since|from|registered)\s+(?:in\s+)?(?:(?P<month>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+)?(?P<year>(?:19|20)\d{2})\b",
    )
    .expect("static regex")
});
static AGE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?P<n>\d{1,2})\s*(?P<unit>years?|months?|weeks?|days?)\s+old\b|\b(?:created|opened)\s+(?P<recent>yesterday|today|last week|this week|this month|last month|a few days ago)")
        .expect("static regex")
});
static TRANSACTION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(?:pi|ch|in|py|txn|re)_[A-Za-z0-9]{8,}\b").expect("static regex"));
static PERIOD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?P<month>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+(?P<year>20\d{2})\b|(?:^|[^\p{L}\p{N}_]|[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}])(?P<y2>20\d{2})-(?P<m2>0[1-9]|1[0-2])(?:$|[^\p{N}])")
        .expect("static regex")
});

const APP_STORES: &[&str] = &[
    "apps.apple.com",
    "itunes.apple.com",
    "testflight.apple.com",
    "play.google.com",
    "appgallery.huawei.com",
    "apps.microsoft.com",
    "chromewebstore.google.com",
    "galaxystore.samsung.com",
];
const CHANNELS: &[&str] = &["slack", "discord", "telegram", "whatsapp", "teams", "wechat", "微信", "line id", "signal"];
const NO_PRODUCT: &[&str] = &[
    "don't have a company",
    "do not have a company",
    "don't have a product",
    "do not have a product",
    "don't have an app",
    "no company",
    "no product yet",
    "no app yet",
    "not have a product",
    "just experimenting",
    "just trying",
    "just playing",
    "for personal use",
    "hobby",
    "没有公司",
    "没有产品",
    "还没有产品",
    "会社はありません",
    "no tengo empresa",
    "no tengo un producto",
    "no tengo producto",
    "todavía no tengo producto",
    "todavía no tengo un producto",
    "solo estoy probando",
    "não tenho empresa",
    "não tenho produto",
    "não tenho um produto",
    "ainda não tenho produto",
    "ainda não tenho um produto",
    "só estou testando",
    "pas de produit",
    "pas encore de produit",
    "pas d'entreprise",
    "pas d’entreprise",
    "je teste seulement",
    "kein produkt",
    "keine firma",
    "kein unternehmen",
    "probiere nur",
    "製品はありません",
    "プロダクトはありません",
    "製品はまだありません",
    "제품이 없",
    "회사가 없",
    "没有项目",
    "还没有项目",
];
const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

fn host(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    rest.split(['/', '?', '#', ':']).next().unwrap_or_default().to_lowercase()
}

fn host_in(url: &str, list: &[&str]) -> bool {
    let h = host(url);
    list.iter().any(|d| h == *d || h.ends_with(&format!(".{d}")))
}

fn trim_url(u: &str) -> String {
    let t = u.trim_end_matches(['.', ',', ';', ':', '!', '?', ')', '\'', '"']);
    if t.to_lowercase().starts_with("www.") { format!("https://{t}") } else { t.to_string() }
}

/// The first amount in `text`, in cents. Without a currency mark or "k", a bare number is
/// accepted only when `bare_ok` (a labelled money field).
pub fn amount_cents(text: &str, bare_ok: bool) -> Option<i64> {
    for c in AMOUNT.captures_iter(text) {
        let num = c.name("num")?.as_str();
        let marked = c.name("cur").is_some() || c.name("cur2").is_some() || c.name("k").is_some();
        // Years and account ids are numbers too; only money-looking ones count.
        if !marked && !bare_ok {
            continue;
        }
        if !marked && num.len() == 4 && num.starts_with("20") {
            continue;
        }
        let units: i64 = num.replace(',', "").parse().ok()?;
        let frac: i64 = c.name("frac").map(|f| format!("{:0<2}", f.as_str()).parse().unwrap_or(0)).unwrap_or(0);
        let mut cents = units.checked_mul(100)?.checked_add(frac)?;
        if c.name("k").is_some() {
            cents = cents.checked_mul(1000)?;
        }
        if cents > 0 {
            return Some(cents);
        }
    }
    None
}

fn all_amounts(text: &str) -> Vec<i64> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(m) = AMOUNT.find_iter(rest).find(|m| amount_cents(m.as_str(), false).is_some()) {
        if let Some(c) = amount_cents(m.as_str(), false) {
            out.push(c);
        }
        rest = &rest[m.end()..];
    }
    out
}

fn declared_type(value: &str) -> Option<&'static str> {
    let v = value.to_lowercase();
    const ENTERPRISE: &[&str] = &[
        "enterprise",
        "company",
        "business",
        "corporate",
        "empresa",
        "entreprise",
        "société",
        "unternehmen",
        "firma",
        "企业",
        "公司",
        "法人",
        "企業",
        "기업",
        "법인",
    ];
    const INDIVIDUAL: &[&str] = &[
        "individual",
        "personal",
        "developer",
        "freelance",
        "particular",
        "autónomo",
        "pessoa física",
        "particulier",
        "indépendant",
        "privatperson",
        "einzelperson",
        "freiberuf",
        "个人",
        "個人",
        "개인",
    ];
    if ENTERPRISE.iter().any(|w| v.contains(w)) {
        Some("enterprise")
    } else if INDIVIDUAL.iter().any(|w| v.contains(w)) {
        Some("individual")
    } else {
        None
    }
}

fn months_since(year: i32, month: u32, today: NaiveDate) -> i64 {
    i64::from(today.year() - year) * 12 + i64::from(today.month()) - i64::from(month)
}

/// Reads `body` (already cleaned of quotes and signature) and `subject`. `today` is the
/// message's date, for ages such as "opened March 2021". Links to project material are told
/// from the website by the shipped `rules/data/project_material_hosts.txt`.
pub fn extract(subject: &str, body: &str, today: NaiveDate) -> Extracted {
    extract_with(subject, body, today, MaterialHosts::shipped())
}

/// [`extract`] with the project-material hosts of the policy in force: a link to a listed host
/// (a repository, a demo video, a paper, a marketplace listing or a social profile) is
/// material, never taken for the applicant's website, whose judgement is
/// `business_verification`'s.
pub fn extract_with(subject: &str, body: &str, today: NaiveDate, material: &MaterialHosts) -> Extracted {
    let mut x = Extracted::default();
    labelled(&mut x, body);
    unlabelled(&mut x, subject, body, today, material);
    x
}

fn labelled(x: &mut Extracted, body: &str) {
    for raw in body.lines() {
        let line = raw.trim().trim_start_matches(['-', '*', '•', '·', '–']).trim();
        let Some((label, value)) = line.split_once(':').or_else(|| line.split_once('：')) else { continue };
        if label.chars().count() > 40 || value.starts_with("//") {
            continue;
        }
        let Some(key) = label_field(label) else { continue };
        let value = value.trim();
        match key {
            ACCOUNT_EMAIL => {
                if let Some(m) = EMAIL.find(value) {
                    x.set(ACCOUNT_EMAIL, m.as_str().to_lowercase(), raw);
                }
            }
            APPLICANT_TYPE => {
                if let Some(t) = declared_type(value) {
                    x.set(APPLICANT_TYPE, t, raw);
                }
            }
            WEBSITE => {
                let url = URL.find(value).map(|m| trim_url(m.as_str())).unwrap_or_else(|| {
                    let first = value.split_whitespace().next().unwrap_or_default();
                    if first.contains('.') { format!("https://{}", trim_url(first)) } else { String::new() }
                });
                x.set(WEBSITE, url, raw);
            }
            APP_LINK => {
                if let Some(m) = URL.find(value) {
                    x.set(APP_LINK, trim_url(m.as_str()), raw);
                }
            }
            EXPECTED_MONTHLY_SPEND | REQUESTED_LIMIT => {
                if let Some(c) = amount_cents(value, true) {
                    x.set(key, c.to_string(), raw);
                }
            }
            AWS_ACCOUNT => {
                x.set(AWS_ACCOUNT, value, raw);
            }
            _ => x.set(key, value, raw),
        }
    }
}

fn unlabelled(x: &mut Extracted, subject: &str, body: &str, today: NaiveDate, material: &MaterialHosts) {
    let whole = format!("{subject}\n{body}");
    let lower = whole.to_lowercase();
    for line in whole.lines() {
        let l = line.to_lowercase();
        // Links: app stores, the website, everything else as other verifiable material.
        for m in URL.find_iter(line) {
            let url = trim_url(m.as_str());
            if host_in(&url, APP_STORES) {
                x.set(APP_LINK, &url, line);
            } else if Domain::parse(&host(&url)).is_ok_and(|h| material.kind_of(&h).is_some()) {
                x.push_link(&url, line);
            } else if x.get(WEBSITE).is_none() {
                x.set(WEBSITE, &url, line);
            } else if x.get(WEBSITE) != Some(url.as_str()) {
                x.push_link(&url, line);
            }
        }
        if l.contains("aws") {
            if let Some(c) = AWS_ID.captures(line) {
                x.set(AWS_ACCOUNT, format!("{}{}{}", &c[1], &c[2], &c[3]), line);
            }
            if let Some(c) = OPENED.captures(line) {
                let year: i32 = c["year"].parse().unwrap_or(today.year());
                let month = c
                    .name("month")
                    .and_then(|m| MONTHS.iter().position(|n| m.as_str().to_lowercase().starts_with(n)))
                    .map(|i| i as u32 + 1)
                    .unwrap_or(1);
                x.set(AWS_ACCOUNT_AGE_MONTHS, months_since(year, month, today).max(0).to_string(), line);
            }
            if let Some(c) = AGE.captures(line) {
                let months = match (c.name("n"), c.name("unit"), c.name("recent")) {
                    (Some(n), Some(u), _) => {
                        let n: i64 = n.as_str().parse().unwrap_or(0);
                        match u.as_str().to_lowercase().chars().next() {
                            Some('y') => n * 12,
                            Some('m') => n,
                            _ => 0,
                        }
                    }
                    _ => 0,
                };
                x.set(AWS_ACCOUNT_AGE_MONTHS, months.to_string(), line);
            }
            if l.contains("good standing") || l.contains("in good shape") {
                x.set(AWS_STANDING, "good", line);
            } else if l.contains("suspended") {
                x.set(AWS_STANDING, "suspended", line);
            }
            if let Some(c) = all_amounts(line).first() {
                x.set(AWS_MONTHLY_SPEND_CENTS, c.to_string(), line);
            }
            if l.contains("aws-login")
                || l.contains("aws login")
                || l.contains("sign in with aws")
                || l.contains("aws marketplace")
            {
                x.set(AWS_LOGIN, "true", line);
            }
        }
        if x.get(ACCOUNT_EMAIL).is_none()
            && (l.contains("account") || l.contains("账户") || l.contains("账号"))
            && let Some(m) = EMAIL.find(line)
        {
            x.set(ACCOUNT_EMAIL, m.as_str().to_lowercase(), line);
        }
        if let Some(c) = COMPANY.captures(line)
            && !l.contains("cfo of")
            && !l.contains("ceo of")
        {
            x.set(LEGAL_COMPANY_NAME, c["name"].trim(), line);
            if let Some(w) = c.name("where") {
                x.set(REGISTRATION_COUNTRY, w.as_str(), line);
            }
        }
        if let Some(c) = CJK_COMPANY.captures(line) {
            x.set(LEGAL_COMPANY_NAME, c["name"].trim(), line);
        }
        if let Some(i) = l.find("registered in").or_else(|| l.find("incorporated in")) {
            let rest = line.get(i..).unwrap_or_default().splitn(3, ' ').nth(2).unwrap_or_default();
            let country = rest.split(['.', ',', ';', '(']).next().unwrap_or_default();
            x.set(REGISTRATION_COUNTRY, country, line);
        }
        if x.get(BUSINESS_CONTACT).is_none() && CHANNELS.iter().any(|c| l.contains(c)) {
            x.set(BUSINESS_CONTACT, line.trim().trim_start_matches(['-', '*', '•']).trim(), line);
        }
        if x.get(APPLICANT_TYPE).is_none()
            && [
                "as an individual",
                "individual developer",
                "independent developer",
                "indie developer",
                "as a freelancer",
                "个人开发者",
            ]
            .iter()
            .any(|p| l.contains(p))
        {
            x.set(APPLICANT_TYPE, "individual", line);
        }
        if NO_PRODUCT.iter().any(|p| l.contains(p)) {
            x.set(STATES_NO_PRODUCT, "true", line);
        }
        money_clauses(x, line, &l);
        for t in TRANSACTION.find_iter(line) {
            let ids = match x.get(TRANSACTION_IDS) {
                Some(v) if v.split_whitespace().any(|i| i == t.as_str()) => continue,
                Some(v) => format!("{v} {}", t.as_str()),
                None => t.as_str().to_string(),
            };
            x.fields
                .insert(TRANSACTION_IDS.into(), Found { value: ids, excerpt: line.trim().chars().take(300).collect() });
        }
        if let Some(c) = PERIOD.captures(line)
            && (["period", "month", "for ", "fatura", "账单", "帳單", "청구"].iter().any(|w| l.contains(w))
                || super::words::INVOICE.iter().any(|w| l.contains(w)))
        {
            let period = match (c.name("month"), c.name("year"), c.name("y2"), c.name("m2")) {
                (Some(m), Some(y), _, _) => MONTHS
                    .iter()
                    .position(|n| m.as_str().to_lowercase().starts_with(n))
                    .map(|i| format!("{}-{:02}", y.as_str(), i + 1)),
                (_, _, Some(y), Some(m)) => Some(format!("{}-{}", y.as_str(), m.as_str())),
                _ => None,
            };
            if let Some(p) = period {
                x.set(BILLING_PERIOD, p, line);
            }
        }
    }
    if lower.contains("aws-login") || lower.contains("aws login") {
        x.set(AWS_LOGIN, "true", "aws login");
    }
}

/// Amounts in unlabelled text, read per clause: "Expected usage about $120/month,
/// requesting $200/month" gives both; "raise ... from $500 to $5,000" gives the target.
fn money_clauses(x: &mut Extracted, line: &str, lower: &str) {
    if lower.contains("aws") {
        return;
    }
    for (clause, cl) in clauses(line).into_iter().zip(clauses(lower)) {
        let amounts = all_amounts(clause);
        let Some(&first) = amounts.first() else { continue };
        let raise = ["upgrade", "higher", "增加", "提升"].iter().chain(super::words::RAISE).any(|w| cl.contains(w));
        if raise {
            let target = cl
                .rfind(" to ")
                .and_then(|i| amount_cents(clause.get(i..).unwrap_or_default(), false))
                .or(amounts.last().copied());
            if let Some(t) = target {
                x.set(REQUESTED_LIMIT, t.to_string(), line);
            }
        } else if ["request", "credit line of", "limit of", "credit limit", "line of", "apply for", "申请"]
            .iter()
            .any(|w| cl.contains(w))
        {
            x.set(REQUESTED_LIMIT, first.to_string(), line);
        } else if ["expect", "usage", "spend", "use about", "budget", "estimate", "we use", "预计", "consum"]
            .iter()
            .any(|w| cl.contains(w))
        {
            x.set(EXPECTED_MONTHLY_SPEND, first.to_string(), line);
        }
    }
}

/// Splits at ", " / "; " not followed by a digit (so "$1,000" stays whole).
fn clauses(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = s.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if (b == b',' || b == b';') && bytes.get(i + 1).is_some_and(|n| *n == b' ') {
            out.push(&s[start..i]);
            start = i + 1;
        }
    }
    out.push(&s[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 3).unwrap()
    }

    #[test]
    fn labelled_lines_in_common_wordings() {
        let body = "Account email: billing@lumenforge.io\nApplicant type: Enterprise\nLegal company name: Lumenforge Ltd\n\
                    Registration country: United Kingdom\nWebsite: https://www.lumenforge.io\n\
                    Expected monthly usage: around $180\nRequested credit line: $200/month\n\
                    AWS account: 4821-9937-1204, opened March 2021, in good standing, about $3,400/month spend";
        let x = extract("", body, day());
        assert_eq!(x.get(ACCOUNT_EMAIL), Some("billing@lumenforge.io"));
        assert_eq!(x.get(APPLICANT_TYPE), Some("enterprise"));
        assert_eq!(x.get(LEGAL_COMPANY_NAME), Some("Lumenforge Ltd"));
        assert_eq!(x.get(WEBSITE), Some("https://www.lumenforge.io"));
        assert_eq!(x.cents(EXPECTED_MONTHLY_SPEND), Some(18_000));
        assert_eq!(x.cents(REQUESTED_LIMIT), Some(20_000));
        assert_eq!(x.get(AWS_ACCOUNT_AGE_MONTHS), Some("68"));
        assert_eq!(x.get(AWS_STANDING), Some("good"));
        assert_eq!(x.cents(AWS_MONTHLY_SPEND_CENTS), Some(340_000));
        assert_eq!(x.fields[WEBSITE].excerpt, "Website: https://www.lumenforge.io");
    }

    /// An invoice request in Chinese names its month between CJK characters ("开具2026-10的发票").
    #[test]
    fn a_billing_period_between_cjk_characters() {
        let x = extract("开具发票申请", "您好，请为账号 finance@huaxing-ai.cn 开具2026-10的发票。", day());
        assert_eq!(x.get(BILLING_PERIOD), Some("2026-10"));
        let x = extract("", "Invoice for 2026-10, please", day());
        assert_eq!(x.get(BILLING_PERIOD), Some("2026-10"));
        assert_eq!(extract("", "invoice ref 12026-101", day()).get(BILLING_PERIOD), None, "not inside a longer number");
    }

    /// Policy: "provide any required business information": the billing address and tax id
    /// an invoice prints are read from labelled lines.
    #[test]
    fn billing_address_and_tax_id_from_labelled_lines() {
        let body = "Legal company name: Lumenforge Ltd\nBilling address: 10 Downing St, London SW1A 2AA, UK\nVAT number: GB123456789\nEmail address: a@b.io";
        let x = extract("", body, day());
        assert_eq!(x.get(BILLING_ADDRESS), Some("10 Downing St, London SW1A 2AA, UK"));
        assert_eq!(x.get(TAX_ID), Some("GB123456789"));
        assert_eq!(x.get(LEGAL_COMPANY_NAME), Some("Lumenforge Ltd"));
        assert_ne!(x.get(BILLING_ADDRESS), Some("a@b.io"), "an email address is not a billing address");
    }

    #[test]
    fn unlabelled_amounts_links_and_type() {
        let body = "I'm an independent developer.\n- Expected usage about $120/month, requesting $200/month\n\
                    App: https://apps.apple.com/app/x/id1\nsee https://sketchloop.app and https://github.com/x/y";
        let x = extract("", body, day());
        assert_eq!(x.cents(EXPECTED_MONTHLY_SPEND), Some(12_000));
        assert_eq!(x.cents(REQUESTED_LIMIT), Some(20_000));
        assert_eq!(x.get(APP_LINK), Some("https://apps.apple.com/app/x/id1"));
        assert_eq!(x.get(WEBSITE), Some("https://sketchloop.app"));
        assert_eq!(x.list(OTHER_LINKS), vec!["https://github.com/x/y".to_string()]);
        assert_eq!(x.get(APPLICANT_TYPE), Some("individual"));
    }

    /// The hosts that are material, not a website, are the rules' data file's: a host an
    /// operator adds there (`itch.io` here, absent from the list given) changes what intake
    /// takes for the website, with no build.
    #[test]
    fn material_links_follow_the_list_in_force() {
        let body = "Our game: https://nightowl.itch.io/lanterns and our studio https://nightowl.studio";
        let x = extract("", body, day());
        assert_eq!(x.get(WEBSITE), Some("https://nightowl.studio"), "itch.io is in the shipped list");
        assert_eq!(x.list(OTHER_LINKS), vec!["https://nightowl.itch.io/lanterns".to_string()]);
        let without = MaterialHosts::parse("repository github.com").unwrap();
        let x = extract_with("", body, day(), &without);
        assert_eq!(x.get(WEBSITE), Some("https://nightowl.itch.io/lanterns"), "not listed: taken for the website");
        let x = extract_with("", "https://www.youtube.com/watch?v=1 and https://acme.ai", day(), &without);
        assert_eq!(x.get(WEBSITE), Some("https://www.youtube.com/watch?v=1"));
        let x = extract("", "https://www.youtube.com/watch?v=1 and https://acme.ai", day());
        assert_eq!(x.get(WEBSITE), Some("https://acme.ai"), "a demo video is material");
    }

    #[test]
    fn amounts_in_their_forms() {
        assert_eq!(amount_cents("$1,000/month", false), Some(100_000));
        assert_eq!(amount_cents("5k", false), Some(500_000));
        assert_eq!(amount_cents("USD 250.5", false), Some(25_050));
        assert_eq!(amount_cents("500", false), None);
        assert_eq!(amount_cents("500", true), Some(50_000));
        assert_eq!(amount_cents("since 2022", false), None);
        let x = extract("", "Could you raise our credit line from $500 to $5,000?", day());
        assert_eq!(x.cents(REQUESTED_LIMIT), Some(500_000));
    }

    #[test]
    fn company_with_place_and_no_product_phrases() {
        let x = extract("", "We are NovaPixel AI Inc. (Delaware, USA) and we'd like a line.", day());
        assert_eq!(x.get(LEGAL_COMPANY_NAME), Some("NovaPixel AI Inc."));
        assert_eq!(x.get(REGISTRATION_COUNTRY), Some("Delaware, USA"));
        let x = extract("", "I don't have a company or an app yet, just experimenting.", day());
        assert!(x.flag(STATES_NO_PRODUCT));
    }

    /// Policy ("Business Verification"): the materials "may include ... Main business
    /// activity", read in every language intake supports.
    #[test]
    fn main_business_activity_in_every_supported_language() {
        for (line, want) in [
            ("Main business activity: product photography", "product photography"),
            ("Actividad principal: edición de fotos", "edición de fotos"),
            ("Ramo de atividade: animação", "animação"),
            ("Activité principale : vidéos publicitaires", "vidéos publicitaires"),
            ("Secteur d'activité : mode", "mode"),
            ("Haupttätigkeit: Produktfotos", "Produktfotos"),
            ("主な事業：イラスト制作", "イラスト制作"),
            ("주요 사업: 웹툰 제작", "웹툰 제작"),
            ("主营业务：短视频生成", "短视频生成"),
        ] {
            let x = extract("", line, day());
            assert_eq!(x.get(MAIN_BUSINESS_ACTIVITY), Some(want), "{line}");
        }
    }

    /// Only a statement closes to the prepaid path, so the statement is read in the
    /// customers' languages; a declared individual alone is no such statement.
    #[test]
    fn no_product_statements_in_several_languages() {
        for line in [
            "No tengo empresa ni producto, solo estoy probando.",
            "Ainda não tenho produto.",
            "Je n'ai pas encore de produit.",
            "Ich habe kein Produkt.",
            "製品はありません。",
            "아직 회사가 없고 제품이 없습니다.",
            "我还没有项目。",
        ] {
            assert!(extract("", line, day()).flag(STATES_NO_PRODUCT), "{line}");
        }
        assert!(!extract("", "Applicant type: individual", day()).flag(STATES_NO_PRODUCT));
    }

    /// Policy: "website ... on a business-owned domain"; a repository, a video, a paper or a
    /// marketplace listing is project material, never the applicant's website.
    #[test]
    fn project_material_is_never_taken_for_the_website() {
        let x = extract(
            "",
            "code https://github.com/me/tool\ndemo https://vimeo.com/123\npaper https://arxiv.org/abs/1",
            day(),
        );
        assert_eq!(x.get(WEBSITE), None);
        assert_eq!(x.list(OTHER_LINKS).len(), 3);
        let x = extract("", "see https://github.com/me/tool and https://mytool.dev", day());
        assert_eq!(x.get(WEBSITE), Some("https://mytool.dev"));
    }
}
