//! Multi-row statements cut to a size the database takes in one round trip.

/// How many bytes of a statement's message `runs` lets one statement carry. sqlx does not set
/// TCP_NODELAY, and a message bigger than the socket's send buffer (16 KiB by default on
/// Linux) waits for the server's delayed ACK: 40 ms a statement, measured on PostgreSQL over
/// loopback with 500-row inserts. Staying below it costs a few more round trips instead.
const STATEMENT_BYTES: usize = 12 * 1024;

/// Splits rows for multi-row statements: at most `max_rows` a run, and no more bound data
/// (as `size` estimates it, placeholders included) than [`STATEMENT_BYTES`], but at least one
/// row a run.
pub(crate) fn runs<T>(rows: &[T], max_rows: usize, size: impl Fn(&T) -> usize) -> Vec<&[T]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, row) in rows.iter().enumerate() {
        let n = size(row);
        if i > start && (i - start >= max_rows || bytes + n > STATEMENT_BYTES) {
            out.push(&rows[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += n;
    }
    if start < rows.len() {
        out.push(&rows[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::runs;

    #[test]
    fn runs_cover_every_row_once_within_the_row_and_byte_limits() {
        let rows: Vec<usize> = (0..1000).map(|i| 100 + i % 700).collect();
        let parts = runs(&rows, 64, |n| *n);
        assert_eq!(parts.iter().map(|p| p.len()).sum::<usize>(), rows.len());
        assert_eq!(parts.concat(), rows);
        for p in &parts {
            assert!(p.len() <= 64);
            assert!(p.len() == 1 || p.iter().sum::<usize>() <= super::STATEMENT_BYTES, "{p:?}");
        }
        assert_eq!(runs(&[20_000usize], 64, |n| *n).len(), 1, "an oversized row still gets its statement");
        assert!(runs(&[] as &[usize], 64, |n| *n).is_empty());
    }
}
