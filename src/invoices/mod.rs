//! An issued invoice ([`Document`]) as HTML (the template `templates/invoice/invoice.html.j2`,
//! compiled in: an invoice must render the same wherever it is read) and as PDF (pdf-writer,
//! with the standard Helvetica and Courier fonts, so nothing is embedded). Both are pure
//! functions of the document: the same document gives the same bytes.

use minijinja::{Environment, UndefinedBehavior};
use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};
use serde_json::json;

use crate::domain::Money;
use crate::domain::invoice::Document;

const TEMPLATE: &str = include_str!("../../templates/invoice/invoice.html.j2");

#[derive(Debug, thiserror::Error)]
#[error("invoice template: {0}")]
pub struct RenderError(String);

/// The invoice as an HTML page (every value escaped).
pub fn html(doc: &Document) -> Result<String, RenderError> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.add_template("invoice.html", TEMPLATE).map_err(|e| RenderError(e.to_string()))?;
    let lines: Vec<_> = doc
        .lines
        .iter()
        .map(|l| {
            json!({
                "date": l.date, "description": l.description, "reference": l.reference,
                "amount": Money::from_cents(l.amount_cents).to_string(),
            })
        })
        .collect();
    let ctx = json!({
        "number": doc.number_text,
        "issued_on": doc.issued_on.to_string(),
        "covers": doc.covers,
        "currency": doc.currency,
        "issuer": doc.issuer,
        "customer": doc.customer,
        "account_email": doc.account_email,
        "lines": lines,
        "total": Money::from_cents(doc.total_cents).to_string(),
    });
    let t = env.get_template("invoice.html").map_err(|e| RenderError(e.to_string()))?;
    t.render(ctx).map_err(|e| RenderError(e.to_string()))
}

/// Text in the standard fonts' WinAnsi encoding: Latin-1 and the usual typographic marks;
/// anything else (CJK names, emoji) prints as `?` in the PDF. The HTML invoice shows it.
fn win_ansi(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            ' '..='~' => c as u8,
            '\u{a0}'..='\u{ff}' => c as u32 as u8,
            '€' => 0x80,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '•' => 0x95,
            '–' => 0x96,
            '—' => 0x97,
            _ => b'?',
        })
        .collect()
}

const PAGE_W: f32 = 595.0;
const PAGE_H: f32 = 842.0;
const MARGIN: f32 = 50.0;
const LEADING: f32 = 14.0;
/// Courier's advance width per point of size.
const MONO: f32 = 0.6;

/// One printed row of text.
struct Row {
    /// (x, font, size, text); Courier text is right-aligned at x.
    cells: Vec<(f32, &'static [u8], f32, String)>,
    gap: f32,
}

fn row(cells: Vec<(f32, &'static [u8], f32, String)>) -> Row {
    Row { cells, gap: LEADING }
}

const REGULAR: &[u8] = b"F1";
const BOLD: &[u8] = b"F2";
const MONOSPACE: &[u8] = b"F3";

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_string() } else { format!("{}...", s.chars().take(n - 3).collect::<String>()) }
}

fn rows(doc: &Document) -> Vec<Row> {
    let right = PAGE_W - MARGIN;
    let money = |c: i64| Money::from_cents(c).to_string();
    let mut out = vec![
        Row { cells: vec![(MARGIN, BOLD, 18.0, format!("Invoice {}", doc.number_text))], gap: 26.0 },
        row(vec![(MARGIN, REGULAR, 10.0, format!("Issued {}   Covering {}", doc.issued_on, clip(&doc.covers, 70)))]),
        row(vec![(MARGIN, REGULAR, 10.0, format!("Amounts in {}", doc.currency))]),
        Row { cells: vec![], gap: 10.0 },
        row(vec![(MARGIN, BOLD, 10.0, "From".into()), (300.0, BOLD, 10.0, "Bill to".into())]),
    ];
    let mut from = vec![doc.issuer.name.clone()];
    from.extend(doc.issuer.address.iter().cloned());
    from.extend(doc.issuer.tax_id.iter().map(|t| format!("Tax ID: {t}")));
    from.extend(doc.issuer.email.iter().cloned());
    let mut to = vec![doc.customer.name.clone()];
    to.extend(doc.customer.address.iter().cloned());
    to.extend(doc.customer.tax_id.iter().map(|t| format!("Tax ID: {t}")));
    to.push(format!("Account: {}", doc.account_email));
    for i in 0..from.len().max(to.len()) {
        let mut cells = Vec::new();
        if let Some(f) = from.get(i) {
            cells.push((MARGIN, REGULAR, 10.0, clip(f, 45)));
        }
        if let Some(t) = to.get(i) {
            cells.push((300.0, REGULAR, 10.0, clip(t, 45)));
        }
        out.push(row(cells));
    }
    out.push(Row { cells: vec![], gap: 12.0 });
    out.push(row(vec![
        (MARGIN, BOLD, 10.0, "Date".into()),
        (120.0, BOLD, 10.0, "Description".into()),
        (320.0, BOLD, 10.0, "Reference".into()),
        (right, MONOSPACE, 10.0, "Amount".into()),
    ]));
    for l in &doc.lines {
        out.push(row(vec![
            (MARGIN, REGULAR, 10.0, l.date.clone()),
            (120.0, REGULAR, 10.0, clip(&l.description, 36)),
            (320.0, REGULAR, 10.0, clip(&l.reference, 24)),
            (right, MONOSPACE, 10.0, money(l.amount_cents)),
        ]));
    }
    out.push(Row { cells: vec![], gap: 6.0 });
    out.push(row(vec![(MARGIN, BOLD, 11.0, "Total".into()), (right, MONOSPACE, 11.0, money(doc.total_cents))]));
    out.push(Row { cells: vec![], gap: 10.0 });
    out.push(row(vec![(MARGIN, REGULAR, 8.0, "Amounts as charged to the account's ledger; no tax is added.".into())]));
    out
}

/// The invoice as a PDF (A4, as many pages as its lines need).
pub fn pdf(doc: &Document) -> Vec<u8> {
    // Lay the rows out on pages first: the page tree needs its kids' ids.
    let mut pages: Vec<Vec<(f32, Row)>> = vec![Vec::new()];
    let mut y = PAGE_H - MARGIN;
    for r in rows(doc) {
        if y - r.gap < MARGIN {
            pages.push(Vec::new());
            y = PAGE_H - MARGIN;
        }
        y -= r.gap;
        if let Some(p) = pages.last_mut() {
            p.push((y, r));
        }
    }
    let mut pdf = Pdf::new();
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let fonts = [
        (REGULAR, Ref::new(3), "Helvetica"),
        (BOLD, Ref::new(4), "Helvetica-Bold"),
        (MONOSPACE, Ref::new(5), "Courier"),
    ];
    let info = Ref::new(6);
    let first_page = 10;
    let page_ids: Vec<Ref> = (0..pages.len()).map(|i| Ref::new(first_page + 2 * i as i32)).collect();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree).kids(page_ids.iter().copied()).count(page_ids.len() as i32);
    for (_, id, base) in fonts {
        pdf.type1_font(id).base_font(Name(base.as_bytes())).encoding_predefined(Name(b"WinAnsiEncoding"));
    }
    pdf.document_info(info).title(TextStr(&format!("Invoice {}", doc.number_text))).producer(TextStr("creditline"));
    for (page, id) in pages.iter().zip(&page_ids) {
        let content_id = Ref::new(id.get() + 1);
        let mut p = pdf.page(*id);
        p.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H));
        p.parent(tree);
        p.contents(content_id);
        {
            let mut res = p.resources();
            let mut f = res.fonts();
            for (name, fid, _) in fonts {
                f.pair(Name(name), fid);
            }
        }
        p.finish();
        let mut c = Content::new();
        for (y, r) in page {
            for (x, font, size, text) in &r.cells {
                let bytes = win_ansi(text);
                let x = if *font == MONOSPACE { x - bytes.len() as f32 * size * MONO } else { *x };
                c.begin_text();
                c.set_font(Name(font), *size);
                c.next_line(x, *y);
                c.show(Str(&bytes));
                c.end_text();
            }
        }
        pdf.stream(content_id, &c.finish());
    }
    pdf.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::invoice::{Line, Party};

    pub(crate) fn sample() -> Document {
        Document {
            number: 7,
            number_text: "INV-000007".into(),
            issued_on: chrono::NaiveDate::from_ymd_opt(2026, 11, 3).unwrap(),
            issuer: Party {
                name: "WaveSpeedAI".into(),
                address: vec!["1 Infinite Loop".into()],
                tax_id: None,
                email: Some("support@wavespeed.ai".into()),
            },
            customer: Party {
                name: "Acme <Render> Ltd".into(),
                address: vec!["10 Downing St".into(), "London".into()],
                tax_id: Some("GB123".into()),
                email: None,
            },
            account_email: "ops@acme-render.com".into(),
            covers: "October 2026".into(),
            currency: "USD".into(),
            lines: vec![Line {
                description: "Prepaid credits".into(),
                reference: "ch_1234567890".into(),
                date: "2026-10-03".into(),
                amount_cents: 2_500,
            }],
            total_cents: 2_500,
        }
    }

    #[test]
    fn the_html_escapes_customer_text_and_shows_the_totals() {
        let h = html(&sample()).unwrap();
        assert!(h.contains("Invoice INV-000007"), "{h}");
        assert!(h.contains("Acme &lt;Render&gt; Ltd"), "customer text is escaped: {h}");
        assert!(h.contains("$25.00"));
        assert!(h.contains("Tax ID: GB123"));
    }

    #[test]
    fn the_pdf_is_a_pdf_and_the_same_document_gives_the_same_bytes() {
        let a = pdf(&sample());
        assert!(a.starts_with(b"%PDF-"));
        assert_eq!(a, pdf(&sample()), "deterministic");
        let mut many = sample();
        many.lines = (0..200)
            .map(|i| Line {
                description: format!("line {i}"),
                reference: format!("r{i}"),
                date: "2026-10-01".into(),
                amount_cents: 1,
            })
            .collect();
        assert!(pdf(&many).len() > a.len(), "long invoices get more pages");
        assert_eq!(win_ansi("Müller € 株"), b"M\xfcller \x80 ?".to_vec());
    }
}
