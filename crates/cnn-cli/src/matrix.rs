//! Plain-text matrices: one row a line, numbers separated by spaces, tabs or commas.
//! Blank lines and lines starting with `#` are ignored.

use std::fmt::Write as _;

use crate::error::UserError;

/// A dense row-major matrix read from text.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f32>,
}

/// Largest matrix accepted from a file (elements), far above any teaching example.
pub const MAX_ELEMENTS: usize = 1 << 24;

impl Matrix {
    /// Parses `text`; `source` names the file in errors.
    pub fn parse(text: &str, source: &str) -> Result<Matrix, UserError> {
        let mut data = Vec::new();
        let mut cols = None;
        let mut rows = 0;
        let mut first_line = 0;
        for (ln, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut n = 0;
            for tok in line
                .split(|c: char| c.is_whitespace() || c == ',')
                .filter(|t| !t.is_empty())
            {
                let v: f32 = tok.parse().map_err(|_| {
                    UserError::new(
                        "bad matrix",
                        format!("{source}:{}", ln + 1),
                        format!("`{tok}` is not a number"),
                    )
                })?;
                if !v.is_finite() {
                    return Err(UserError::new(
                        "bad matrix",
                        format!("{source}:{}", ln + 1),
                        format!("`{tok}` is not finite"),
                    ));
                }
                data.push(v);
                n += 1;
                if data.len() > MAX_ELEMENTS {
                    return Err(UserError::new(
                        "bad matrix",
                        source.to_string(),
                        format!("more than {MAX_ELEMENTS} numbers"),
                    ));
                }
            }
            match cols {
                None => {
                    cols = Some(n);
                    first_line = ln + 1;
                }
                Some(c) if c != n => {
                    return Err(UserError::new(
                        "bad matrix",
                        format!("{source}:{}", ln + 1),
                        format!(
                            "ragged rows: this row has {n} numbers but line {first_line} has {c}"
                        ),
                    ));
                }
                _ => {}
            }
            rows += 1;
        }
        match cols {
            Some(cols) if cols > 0 => Ok(Matrix { rows, cols, data }),
            _ => Err(UserError::new(
                "bad matrix",
                source.to_string(),
                "no numbers found".to_string(),
            )),
        }
    }

    /// Formats the matrix the way it is read, right-aligned; exact integers print without a
    /// decimal point.
    pub fn format(&self) -> String {
        let cells: Vec<String> = self.data.iter().map(|&v| fmt_num(v)).collect();
        let width = cells.iter().map(|c| c.len()).max().unwrap_or(1);
        let mut out = String::new();
        for r in 0..self.rows {
            let row: Vec<String> = cells[r * self.cols..(r + 1) * self.cols]
                .iter()
                .map(|c| format!("{c:>width$}"))
                .collect();
            let _ = writeln!(out, "{}", row.join(" "));
        }
        out
    }
}

/// A number as a user would write it: `27`, `-3`, `0.5`, `3.75`.
pub fn fmt_num(v: f32) -> String {
    if v == v.round() && v.abs() < 1e9 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mixed_separators_and_comments() {
        let m = Matrix::parse("# a kernel\n1, 0,\t-1\n\n1 0 -1\n", "k.txt").unwrap();
        assert_eq!((m.rows, m.cols), (2, 3));
        assert_eq!(m.data, vec![1., 0., -1., 1., 0., -1.]);
    }

    #[test]
    fn errors_name_the_line() {
        let e = Matrix::parse("1 2 3\n4 5\n", "a.txt").unwrap_err();
        assert_eq!(
            e.to_string(),
            "bad matrix (a.txt:2): ragged rows: this row has 2 numbers but line 1 has 3"
        );
        let e = Matrix::parse("1 x\n", "a.txt").unwrap_err();
        assert!(e.to_string().contains("(a.txt:1): `x` is not a number"));
        assert!(Matrix::parse("nan 1\n", "a").is_err());
        assert!(Matrix::parse("\n# only comments\n", "a").is_err());
    }

    #[test]
    fn formats_integers_without_point() {
        let m = Matrix {
            rows: 1,
            cols: 3,
            data: vec![27.0, -0.0, 3.75],
        };
        assert_eq!(m.format(), "  27    0 3.75\n");
    }
}
