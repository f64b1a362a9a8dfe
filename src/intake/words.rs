//! Words that both the classifier and the extractor read: what names an invoice, what asks
//! for more. Kept apart so that neither module imports the other for them.

/// Words that name an invoice, in the customers' languages.
pub const INVOICE: &[&str] = &[
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
/// Words that ask for more, in the customers' languages; `classify` reads a message holding
/// one of them as a limit increase, `extract` the amount of a clause holding one as the limit
/// asked for.
pub const RAISE: &[&str] = &[
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
    "augmenter",
    "augmentation",
    "aumentar",
    "aumento d",
];
