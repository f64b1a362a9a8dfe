//! Plain-text surgery on message bodies: the new text of a reply without the quoted mail
//! and the signature, the message inside an inline forward, out-of-office subjects, and the
//! excerpt a reviewer's task shows.

/// Lines that start the quoted earlier message in the common clients and languages.
fn starts_quote_block(line: &str) -> bool {
    let l = line.trim();
    let lower = l.to_lowercase();
    // "On Tue, 3 Nov 2026 at 10:30, X <x@y> wrote:" (Gmail, Apple Mail), and translations.
    let attribution = (lower.starts_with("on ") && lower.ends_with("wrote:"))
        || (lower.starts_with("am ") && lower.contains(" schrieb") && lower.ends_with(':'))
        || (lower.starts_with("le ") && lower.ends_with("a écrit :"))
        || (lower.starts_with("le ") && lower.ends_with("a écrit:"))
        || (lower.starts_with("el ") && lower.ends_with("escribió:"))
        || (lower.starts_with("em ") && lower.ends_with("escreveu:"))
        || (l.ends_with("写道：") || l.ends_with("写道:") || l.ends_with("寫道："))
        || l.ends_with("のメッセージ:")
        || l.ends_with("님이 작성:");
    attribution
        || lower.starts_with("-----original message-----")
        || lower.starts_with("----- original message -----")
        || l == "________________________________"
        || (lower.starts_with("from:") && lower.contains("sent:"))
}

/// The new text of a message: everything before the first quote block, without `>` lines
/// and without the signature (after a "-- " line).
pub fn clean(text: &str) -> String {
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.trim_end() == "--" && line.starts_with("--") {
            break;
        }
        if starts_quote_block(line) {
            break;
        }
        // Outlook's header block: "From: ..." followed by "Sent:" on the next lines.
        let lower = line.trim().to_lowercase();
        if lower.starts_with("from:")
            && lines.get(i + 1..(i + 4).min(lines.len())).is_some_and(|next| {
                next.iter().any(|n| {
                    let n = n.trim().to_lowercase();
                    n.starts_with("sent:") || n.starts_with("date:")
                })
            })
            && i > 0
        {
            break;
        }
        if line.trim_start().starts_with('>') {
            continue;
        }
        out.push(*line);
    }
    let mut s = out.join("\n");
    s.truncate(s.trim_end().len());
    s
}

const FORWARD_MARKERS: &[&str] = &[
    "---------- forwarded message ---------",
    "begin forwarded message:",
    "-------- forwarded message --------",
    "-------- original message --------",
    "----- forwarded message -----",
    "-------- weitergeleitete nachricht --------",
    "-------- message transféré --------",
];

pub fn is_forward(subject: &str, body: &str) -> bool {
    let s = subject.trim().to_lowercase();
    ["fwd:", "fw:", "wg:", "tr:", "转发:", "転送:"].iter().any(|p| s.starts_with(p))
        || body.lines().any(|l| FORWARD_MARKERS.iter().any(|m| l.trim().to_lowercase().starts_with(m)))
}

pub struct InlineForward {
    pub from: Option<String>,
    pub from_name: Option<String>,
    pub body: String,
}

/// The forwarded message inside a body: its `From:` and the text after its header block.
pub fn split_inline_forward(body: &str) -> Option<InlineForward> {
    let lines: Vec<&str> = body.lines().collect();
    let start = lines.iter().position(|l| FORWARD_MARKERS.iter().any(|m| l.trim().to_lowercase().starts_with(m)))?;
    let mut from = None;
    let mut from_name = None;
    let mut i = start + 1;
    // The header block: "From:", "Date:", "Subject:", "To:" ... up to the first blank line.
    while i < lines.len() && !lines[i].trim().is_empty() {
        if let Some(v) = lines[i].trim().strip_prefix("From:").or_else(|| lines[i].trim().strip_prefix("from:")) {
            let (name, address) = parse_display_address(v.trim());
            from = address;
            from_name = name;
        }
        i += 1;
    }
    let rest = lines.get(i..).unwrap_or_default().join("\n");
    Some(InlineForward { from, from_name, body: rest })
}

/// "Maya Chen <maya@x.io>" or "maya@x.io" or `"Chen, Maya" <maya@x.io>`.
fn parse_display_address(v: &str) -> (Option<String>, Option<String>) {
    if let (Some(open), Some(close)) = (v.rfind('<'), v.rfind('>'))
        && open < close
    {
        let address = v[open + 1..close].trim().to_lowercase();
        let name = v[..open].trim().trim_matches('"').trim().to_string();
        return ((!name.is_empty()).then_some(name), address.contains('@').then_some(address));
    }
    let address =
        v.split_whitespace().find(|w| w.contains('@')).map(|w| w.trim_matches(['<', '>', ',']).to_lowercase());
    (None, address)
}

/// Subjects that out-of-office and vacation responders use, in several languages.
pub fn out_of_office_subject(subject: &str) -> bool {
    let s = subject.trim().to_lowercase();
    const PREFIXES: &[&str] = &[
        "automatic reply",
        "auto reply",
        "auto-reply",
        "autoreply",
        "auto:",
        "out of office",
        "out of the office",
        "abwesenheitsnotiz",
        "automatische antwort",
        "réponse automatique",
        "respuesta automática",
        "自动回复",
        "自動回覆",
        "自動応答",
        "不在",
        "자동 응답",
        "undeliverable",
        "delivery status notification",
        "mail delivery failed",
    ];
    PREFIXES.iter().any(|p| s.starts_with(p)) || s.contains("out of office")
}

/// The start of a body as a reviewer's task shows it: enough to see what the message is
/// about without opening it.
pub fn excerpt(body: &str) -> String {
    body.chars().take(500).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_signature_are_removed() {
        let t = "Here is the website: https://x.io\n\nThanks\n-- \nAnn\nCEO\n";
        assert_eq!(clean(t), "Here is the website: https://x.io\n\nThanks");
        let t = "Confirmed.\n\nOn Tue, 3 Nov 2026 at 10:30, Support <s@w.ai> wrote:\n> Please confirm\n";
        assert_eq!(clean(t), "Confirmed.");
        let t = "New text\n> quoted line\nmore new\n";
        assert_eq!(clean(t), "New text\nmore new");
        let t = "Ja.\n\nAm 3. Nov. 2026 um 10:30 schrieb Support <s@w.ai>:\n> Bitte\n";
        assert_eq!(clean(t), "Ja.");
        // Gmail in Portuguese (found by the simulation's letters: the attribution and the
        // support address stayed in the new text).
        let t = "Confirmo.\n\nEm ter., 3 de nov. de 2026 às 10:30, Support <s@w.ai> escreveu:\nOlá\n";
        assert_eq!(clean(t), "Confirmo.");
        let t = "Reply here\n\nFrom: Support <s@w.ai>\nSent: Tuesday\nTo: x\n\nold text";
        assert_eq!(clean(t), "Reply here");
    }

    #[test]
    fn inline_forward_is_split() {
        let t = "FYI see below\n\n---------- Forwarded message ---------\nFrom: Maya Chen <Maya@Lumenforge.io>\nDate: Tue\nSubject: Apply\n\nWebsite: https://lumenforge.io\n";
        let f = split_inline_forward(t).unwrap();
        assert_eq!(f.from.as_deref(), Some("maya@lumenforge.io"));
        assert_eq!(f.from_name.as_deref(), Some("Maya Chen"));
        assert!(f.body.contains("Website: https://lumenforge.io"));
        assert!(is_forward("Fwd: Apply", ""));
    }

    #[test]
    fn out_of_office_subjects() {
        assert!(out_of_office_subject("Automatic reply: We received"));
        assert!(out_of_office_subject("Abwesenheitsnotiz: Antrag"));
        assert!(out_of_office_subject("自动回复：申请"));
        assert!(!out_of_office_subject("Credit line application"));
    }
}
