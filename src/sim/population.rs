//! The simulated applicants: who they are, how they write and how they pay, all drawn from
//! one seed. Pure: the same `(seed, accounts, window)` gives the same people, byte for byte.
//!
//! Addresses are unique per account because every one carries the account's index; company
//! domains are made of two ordinary words and the index (`bright-harbor-17.com`) so they look
//! like real companies without pretending to be a known one.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Who applies (policy: the "Credit Line Review" table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Enterprise,
    IndividualWithProduct,
    IndividualWithoutProduct,
}

/// How an account pays its bills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Payer {
    OnTime,
    Late,
    Partial,
    Never,
}

/// What sets an applicant apart from the plain case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Quirk {
    Plain,
    /// Asks for more credit once the line runs well.
    Climber,
    /// Stops using the service after a while.
    Churner,
    /// Applies again after a decline or deferral.
    Reapplier,
    /// AWS account opened this month, no billing history.
    FreshAws,
    /// The website given is a profile on an AI tool directory.
    ToolDirectory,
    /// An enterprise writing from free mail.
    FreeMail,
    /// The website is a page on a deployment platform (`*.vercel.app`).
    PlatformSite,
}

/// The languages intake reads labels and statements in (src/intake/extract.rs, classify.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Lang {
    En,
    De,
    Fr,
    Es,
    Pt,
    Ja,
    Zh,
    Ko,
}

/// How the application email is written and encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Style {
    /// text/plain, UTF-8, 8bit.
    Plain,
    /// text/plain, UTF-8, quoted-printable.
    QuotedPrintable,
    /// text/plain, UTF-8, base64.
    Base64,
    /// text/plain in the language's legacy charset: ISO-8859-1, ISO-2022-JP, GBK, EUC-KR.
    Legacy,
    /// text/html only.
    HtmlOnly,
    /// multipart/alternative, text and HTML.
    Alternative,
    /// Forwarded inline by a colleague (enterprises only).
    Forwarded,
    /// multipart/mixed with a PDF attached.
    WithAttachment,
}

// The mix, as weights (percent where they add up to 100).
const KINDS: &[(Kind, u32)] =
    &[(Kind::Enterprise, 45), (Kind::IndividualWithProduct, 35), (Kind::IndividualWithoutProduct, 20)];
const PAYERS: &[(Payer, u32)] = &[(Payer::OnTime, 60), (Payer::Late, 20), (Payer::Partial, 10), (Payer::Never, 10)];
/// A quirk that does not fit the kind (free mail for an individual, a website for one
/// without a product) falls back to `Plain`.
const QUIRKS: &[(Quirk, u32)] = &[
    (Quirk::Plain, 58),
    (Quirk::Climber, 10),
    (Quirk::Churner, 6),
    (Quirk::Reapplier, 6),
    (Quirk::FreshAws, 6),
    (Quirk::ToolDirectory, 5),
    (Quirk::FreeMail, 5),
    (Quirk::PlatformSite, 4),
];
const LANGS: &[(Lang, u32)] = &[
    (Lang::En, 40),
    (Lang::De, 9),
    (Lang::Fr, 8),
    (Lang::Es, 9),
    (Lang::Pt, 7),
    (Lang::Ja, 9),
    (Lang::Zh, 10),
    (Lang::Ko, 8),
];
const STYLES: &[(Style, u32)] = &[
    (Style::Plain, 25),
    (Style::QuotedPrintable, 15),
    (Style::Base64, 10),
    (Style::Legacy, 14),
    (Style::HtmlOnly, 10),
    (Style::Alternative, 10),
    (Style::Forwarded, 8),
    (Style::WithAttachment, 8),
];
/// Requested monthly limits: "$200/month to start" mostly.
const REQUESTS: &[(i64, u32)] = &[(20_000, 85), (10_000, 10), (50_000, 5)];
/// In percent: how many answer our first email with an out-of-office first; how many
/// individuals name an account other than the address they write from; how many enterprises
/// name the company's billing address as the account.
const AUTO_REPLY_PERCENT: u32 = 10;
const OTHER_ACCOUNT_PERCENT: u32 = 8;
const BILLING_ACCOUNT_PERCENT: u32 = 30;

/// One simulated applicant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applicant {
    /// The simulation's seed (in every Message-ID).
    pub seed: u64,
    pub index: usize,
    pub kind: Kind,
    pub payer: Payer,
    pub quirk: Quirk,
    pub language: Lang,
    pub name: String,
    /// From of the application (lower case).
    pub sender: String,
    /// The account the application names (mostly the sender).
    pub account_email: String,
    /// Enterprise: a colleague at the company's domain, who confirms it.
    pub colleague: Option<String>,
    pub company: Option<String>,
    pub domain: Option<String>,
    pub website: Option<String>,
    pub product: Option<String>,
    /// Days after the start the application is sent.
    pub apply_day: u32,
    pub requested_cents: i64,
    pub usage_cents_per_month: i64,
    /// 0..=4 days to answer an email.
    pub reply_delay_days: u32,
    /// Answers our first email with an out-of-office first.
    pub auto_replies: bool,
    pub style: Style,
    /// The AWS account id when the application names one (always for `FreshAws`).
    pub aws_account: Option<String>,
}

impl Applicant {
    /// The domain of the sender's address.
    pub fn sender_domain(&self) -> &str {
        self.sender.rsplit('@').next().unwrap_or("example.com")
    }
}

fn pick<T: Copy>(rng: &mut ChaCha8Rng, table: &[(T, u32)]) -> T {
    let total: u32 = table.iter().map(|(_, w)| w).sum();
    let mut roll = rng.random_range(0..total.max(1));
    for (value, weight) in table {
        if roll < *weight {
            return *value;
        }
        roll -= weight;
    }
    table[0].0
}

fn one<'a>(rng: &mut ChaCha8Rng, list: &[&'a str]) -> &'a str {
    list[rng.random_range(0..list.len())]
}

const WORDS: &[&str] = &[
    "bright", "harbor", "cedar", "lumen", "north", "pixel", "river", "stone", "amber", "willow", "copper", "summit",
    "maple", "orbit", "violet", "canyon", "falcon", "meadow", "silver", "quartz", "delta", "ember", "juniper", "tidal",
];
const PRODUCT_WORDS: &[&str] =
    &["Frame", "Sketch", "Clip", "Story", "Pixel", "Muse", "Render", "Voice", "Lens", "Canvas", "Motion", "Spark"];
const PRODUCT_TAILS: &[&str] = &["ly", "loop", "forge", "kit", "wise", "deck", "lab", "flow"];
const LEGAL_FORMS: &[(Lang, &str)] = &[
    (Lang::En, "Inc."),
    (Lang::De, "GmbH"),
    (Lang::Fr, "SAS"),
    (Lang::Es, "S.L."),
    (Lang::Pt, "Ltda"),
    (Lang::Ja, "K.K."),
    (Lang::Zh, "Co., Ltd."),
    (Lang::Ko, "Co., Ltd."),
];

/// First and last names per language, in Latin letters (addresses are made from them).
fn names(lang: Lang) -> (&'static [&'static str], &'static [&'static str]) {
    match lang {
        Lang::En => {
            (&["Maya", "Owen", "Priya", "Liam", "Grace", "Noah"], &["Chen", "Walker", "Patel", "Brooks", "Reid"])
        }
        Lang::De => (&["Jonas", "Lena", "Felix", "Anna", "Lukas"], &["Becker", "Hoffmann", "Schulz", "Wagner"]),
        Lang::Fr => (&["Camille", "Hugo", "Chloé", "Louis", "Inès"], &["Martin", "Bernard", "Dubois", "Moreau"]),
        Lang::Es => (&["Lucía", "Mateo", "Sofía", "Diego", "Carmen"], &["García", "López", "Martínez", "Ruiz"]),
        Lang::Pt => (&["João", "Beatriz", "Rafael", "Mariana", "Tiago"], &["Silva", "Santos", "Oliveira", "Costa"]),
        Lang::Ja => (&["Yuki", "Haruto", "Aoi", "Ren", "Sakura"], &["Sato", "Suzuki", "Takahashi", "Tanaka"]),
        Lang::Zh => (&["Wei", "Fang", "Lei", "Jing", "Hao"], &["Wang", "Li", "Zhang", "Liu", "Chen"]),
        Lang::Ko => (&["Minjun", "Seoyeon", "Jiho", "Hayun", "Doyun"], &["Kim", "Lee", "Park", "Choi"]),
    }
}

fn free_mail(lang: Lang) -> &'static [&'static str] {
    match lang {
        Lang::De => &["gmail.com", "gmx.de", "web.de"],
        Lang::Ja => &["gmail.com", "yahoo.co.jp"],
        Lang::Zh => &["qq.com", "163.com", "gmail.com"],
        Lang::Ko => &["naver.com", "gmail.com"],
        _ => &["gmail.com", "outlook.com", "proton.me"],
    }
}

fn country(lang: Lang) -> &'static str {
    match lang {
        Lang::En => "United States",
        Lang::De => "Deutschland",
        Lang::Fr => "France",
        Lang::Es => "España",
        Lang::Pt => "Brasil",
        Lang::Ja => "日本",
        Lang::Zh => "中国",
        Lang::Ko => "대한민국",
    }
}

/// The country the applicant's company is registered in, as they write it.
pub fn registration_country(lang: Lang) -> &'static str {
    country(lang)
}

/// An address's local part: ASCII letters only, lower case ("Chloé" → "chloe").
fn local(s: &str) -> String {
    s.chars()
        .filter_map(|c| match c {
            'á' | 'à' | 'ã' | 'â' => Some('a'),
            'é' | 'è' | 'ê' => Some('e'),
            'í' => Some('i'),
            'ó' | 'ô' | 'õ' => Some('o'),
            'ú' | 'ü' => Some('u'),
            'ç' => Some('c'),
            'ñ' => Some('n'),
            c if c.is_ascii_alphanumeric() => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

/// Which applicant an address belongs to: the sender, the account named, the colleague who
/// confirms the domain. A sender address is its applicant's; an account or colleague address
/// another applicant already holds stays with that one.
pub fn by_address(applicants: &[Applicant]) -> std::collections::BTreeMap<String, usize> {
    let mut out = std::collections::BTreeMap::new();
    for (i, a) in applicants.iter().enumerate() {
        out.insert(a.sender.clone(), i);
        out.entry(a.account_email.clone()).or_insert(i);
        if let Some(c) = &a.colleague {
            out.entry(c.clone()).or_insert(i);
        }
    }
    out
}

/// `accounts` applicants from `seed`, applying within the first `apply_window_days` days.
pub fn draw(seed: u64, accounts: usize, apply_window_days: u32) -> Vec<Applicant> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..accounts).map(|index| one_applicant(&mut rng, seed, index, apply_window_days)).collect()
}

fn one_applicant(rng: &mut ChaCha8Rng, seed: u64, index: usize, window: u32) -> Applicant {
    let kind = pick(rng, KINDS);
    let payer = pick(rng, PAYERS);
    let language = pick(rng, LANGS);
    let mut style = pick(rng, STYLES);
    let quirk = match (pick(rng, QUIRKS), kind) {
        (Quirk::FreeMail, k) if k != Kind::Enterprise => Quirk::Plain,
        (
            Quirk::ToolDirectory | Quirk::PlatformSite | Quirk::FreshAws | Quirk::Climber,
            Kind::IndividualWithoutProduct,
        ) => Quirk::Plain,
        (q, _) => q,
    };
    if style == Style::Forwarded && kind != Kind::Enterprise {
        style = Style::Plain;
    }
    let (firsts, lasts) = names(language);
    let first = one(rng, firsts);
    let last = one(rng, lasts);
    let name = format!("{first} {last}");
    let (w1, w2) = (one(rng, WORDS), one(rng, WORDS));
    let product_name = format!("{}{}", one(rng, PRODUCT_WORDS), one(rng, PRODUCT_TAILS));
    let personal = format!("{}.{}.{index}@{}", local(first), local(last), one(rng, free_mail(language)));

    let (sender, account_email, colleague, company, domain, website, product) = match kind {
        Kind::Enterprise => {
            let domain = format!("{w1}-{w2}-{index}.com");
            let legal = LEGAL_FORMS.iter().find(|(l, _)| *l == language).map(|(_, f)| *f).unwrap_or("Inc.");
            let company =
                format!("{}{} {}{} {legal}", &w1[..1].to_uppercase(), &w1[1..], &w2[..1].to_uppercase(), &w2[1..]);
            let own = format!("{}.{}@{domain}", local(first), local(last));
            let colleague = format!("{}@{domain}", one(rng, &["finance", "cto", "ops", "admin"]));
            let website = match quirk {
                Quirk::PlatformSite => format!("https://{w1}-{w2}-{index}.vercel.app"),
                Quirk::ToolDirectory => {
                    format!("https://www.futurepedia.io/tool/{}-{index}", product_name.to_lowercase())
                }
                _ => format!("https://www.{domain}"),
            };
            let (sender, account) = if quirk == Quirk::FreeMail {
                (personal.clone(), personal)
            } else if rng.random_range(0..100) < BILLING_ACCOUNT_PERCENT {
                (own, format!("billing@{domain}"))
            } else {
                (own.clone(), own)
            };
            (sender, account, Some(colleague), Some(company), Some(domain), Some(website), Some(product_name.clone()))
        }
        Kind::IndividualWithProduct => {
            let slug = format!("{}-{index}", product_name.to_lowercase());
            let website = match quirk {
                Quirk::PlatformSite => format!("https://{slug}.vercel.app"),
                Quirk::ToolDirectory => format!("https://theresanaiforthat.com/ai/{slug}/"),
                _ => format!("https://{slug}.app"),
            };
            let account = if rng.random_range(0..100) < OTHER_ACCOUNT_PERCENT {
                format!("{}{}.{index}@gmail.com", local(first), local(last))
            } else {
                personal.clone()
            };
            (personal, account, None, None, None, Some(website), Some(product_name.clone()))
        }
        Kind::IndividualWithoutProduct => (personal.clone(), personal, None, None, None, None, None),
    };

    let usage_cents_per_month = match kind {
        Kind::Enterprise => rng.random_range(50..=190) * 100,
        _ => rng.random_range(20..=150) * 100,
    };
    let aws_account = (quirk == Quirk::FreshAws || rng.random_range(0..2) == 0).then(|| {
        let n: u64 = rng.random_range(100_000_000_000..1_000_000_000_000);
        format!("{:04}-{:04}-{:04}", n / 100_000_000, n / 10_000 % 10_000, n % 10_000)
    });
    Applicant {
        seed,
        index,
        kind,
        payer,
        quirk,
        language,
        name,
        sender,
        account_email,
        colleague,
        company,
        domain,
        website,
        product,
        apply_day: if window == 0 { 0 } else { rng.random_range(0..window) },
        requested_cents: pick(rng, REQUESTS),
        usage_cents_per_month,
        reply_delay_days: rng.random_range(0..=4),
        auto_replies: rng.random_range(0..100) < AUTO_REPLY_PERCENT,
        style,
        aws_account,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn the_same_seed_draws_the_same_people() {
        assert_eq!(draw(7, 50, 30), draw(7, 50, 30));
        assert_ne!(draw(7, 50, 30), draw(8, 50, 30));
    }

    #[test]
    fn addresses_are_unique_per_account() {
        let people = draw(11, 400, 30);
        let senders: BTreeSet<&str> = people.iter().map(|a| a.sender.as_str()).collect();
        assert_eq!(senders.len(), people.len());
        let accounts: BTreeSet<&str> = people.iter().map(|a| a.account_email.as_str()).collect();
        assert_eq!(accounts.len(), people.len());
        for a in &people {
            assert_eq!(a.sender, a.sender.to_lowercase());
            assert!(a.apply_day < 30 && a.reply_delay_days <= 4);
        }
    }

    #[test]
    fn the_mix_follows_the_table() {
        let people = draw(3, 2000, 60);
        let share = |k: Kind| people.iter().filter(|a| a.kind == k).count() * 100 / people.len();
        assert!((40..=50).contains(&share(Kind::Enterprise)), "{}", share(Kind::Enterprise));
        assert!((30..=40).contains(&share(Kind::IndividualWithProduct)));
        assert!((15..=25).contains(&share(Kind::IndividualWithoutProduct)));
        let on_time = people.iter().filter(|a| a.payer == Payer::OnTime).count() * 100 / people.len();
        assert!((55..=65).contains(&on_time));
    }

    /// The policy's signals: individuals on free mail, enterprises on their own domain
    /// (except the FreeMail quirk), bad websites where the quirk says so.
    #[test]
    fn quirks_show_where_the_policy_looks() {
        for a in draw(5, 600, 30) {
            let free = [
                "gmail.com",
                "outlook.com",
                "proton.me",
                "gmx.de",
                "web.de",
                "yahoo.co.jp",
                "qq.com",
                "163.com",
                "naver.com",
            ]
            .contains(&a.sender_domain());
            match (a.kind, a.quirk) {
                (Kind::Enterprise, Quirk::FreeMail) => assert!(free),
                (Kind::Enterprise, _) => {
                    assert_eq!(Some(a.sender_domain()), a.domain.as_deref());
                    assert!(a.colleague.as_deref().is_some_and(|c| c.ends_with(a.sender_domain())));
                }
                _ => assert!(free && a.colleague.is_none()),
            }
            let site = a.website.clone().unwrap_or_default();
            match a.quirk {
                Quirk::PlatformSite => assert!(site.contains(".vercel.app/") || site.ends_with(".vercel.app")),
                Quirk::ToolDirectory => {
                    assert!(site.contains("futurepedia.io") || site.contains("theresanaiforthat.com"))
                }
                Quirk::FreshAws => assert!(a.aws_account.is_some()),
                _ => {}
            }
            assert_eq!(a.website.is_none(), a.kind == Kind::IndividualWithoutProduct);
        }
    }
}
