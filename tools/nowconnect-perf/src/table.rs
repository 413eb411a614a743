//! Plain-text tables for terminals: the first column left-aligned, the others right-aligned,
//! every column as wide as its widest cell.

/// Renders `header` and `rows` (rows shorter than the header are padded with empty cells).
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(widths.len()) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, width) in widths.iter().enumerate() {
            let cell = row.get(i).map(String::as_str).unwrap_or("");
            let pad = " ".repeat(width - cell.chars().count());
            if i == 0 {
                line.push_str(cell);
                line.push_str(&pad);
            } else {
                line.push_str("  ");
                line.push_str(&pad);
                line.push_str(cell);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn aligns_columns() {
        let rows = vec![
            vec![
                "rtt p50".to_owned(),
                "85.0 µs".to_owned(),
                "1.20".to_owned(),
            ],
            vec!["x".to_owned()],
        ];
        let text = super::render(&["figure", "tunnel", "ratio"], &rows);
        assert_eq!(
            text,
            "figure    tunnel  ratio\n\
             rtt p50  85.0 µs   1.20\n\
             x\n"
        );
    }
}
