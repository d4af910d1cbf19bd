//! Classification metrics: accuracy, top-k accuracy, confusion matrix.

use cnn_tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::error::{NnError, Result};

/// Fraction of rows of `scores` (`[N, K]`) whose largest entry is at the true class.
pub fn accuracy(scores: &Tensor, truth: &[usize]) -> Result<f32> {
    top_k_accuracy(scores, truth, 1)
}

/// Fraction of rows whose true class is among the `k` largest scores (ties broken by index).
pub fn top_k_accuracy(scores: &Tensor, truth: &[usize], k: usize) -> Result<f32> {
    let [n, classes] = *scores.dims() else {
        return Err(NnError::Data(format!(
            "scores must be [N, K], got {}",
            scores.shape()
        )));
    };
    if n != truth.len() || n == 0 {
        return Err(NnError::Data(format!(
            "{} labels for {n} score rows",
            truth.len()
        )));
    }
    let mut hits = 0;
    for (row, &t) in scores.data().chunks(classes).zip(truth) {
        let Some(&v) = row.get(t) else {
            return Err(NnError::Data(format!(
                "label {t} out of range for {classes} classes"
            )));
        };
        // Rank of the true class: entries strictly greater, or equal with a lower index.
        let rank = row
            .iter()
            .enumerate()
            .filter(|&(j, &s)| s > v || (s == v && j < t))
            .count();
        hits += (rank < k) as usize;
    }
    Ok(hits as f32 / n as f32)
}

/// A confusion matrix: `counts[true][predicted]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfusionMatrix {
    /// Rows: true class; columns: predicted class.
    pub counts: Vec<Vec<u64>>,
}

impl ConfusionMatrix {
    /// Counts `(truth, predicted)` pairs over `classes` classes.
    pub fn new(truth: &[usize], predicted: &[usize], classes: usize) -> Result<Self> {
        if truth.len() != predicted.len() {
            return Err(NnError::Data(format!(
                "{} labels for {} predictions",
                truth.len(),
                predicted.len()
            )));
        }
        let mut counts = vec![vec![0u64; classes]; classes];
        for (&t, &p) in truth.iter().zip(predicted) {
            if t >= classes || p >= classes {
                return Err(NnError::Data(format!(
                    "class {} out of range for {classes} classes",
                    t.max(p)
                )));
            }
            counts[t][p] += 1;
        }
        Ok(ConfusionMatrix { counts })
    }

    /// Overall accuracy.
    pub fn accuracy(&self) -> f32 {
        let total: u64 = self.counts.iter().flatten().sum();
        let right: u64 = (0..self.counts.len()).map(|i| self.counts[i][i]).sum();
        right as f32 / total.max(1) as f32
    }

    /// Per-class recall (accuracy on the samples of each true class); `NaN` for absent classes.
    pub fn per_class_accuracy(&self) -> Vec<f32> {
        self.counts
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let n: u64 = row.iter().sum();
                if n == 0 {
                    f32::NAN
                } else {
                    row[i] as f32 / n as f32
                }
            })
            .collect()
    }

    /// A text table with class names (rows: true, columns: predicted, numbered as the rows).
    pub fn to_text(&self, names: &[String]) -> String {
        let k = self.counts.len();
        let label = |i: usize| match names.get(i) {
            Some(name) => format!("[{i}] {name}"),
            None => format!("[{i}]"),
        };
        let name_w = (0..k)
            .map(|i| label(i).chars().count())
            .max()
            .unwrap_or(1)
            .max(10);
        let cell_w = self
            .counts
            .iter()
            .flatten()
            .map(|c| c.to_string().len())
            .max()
            .unwrap_or(1)
            .max(k.to_string().len() + 1)
            + 1;
        let mut s = format!("{:>name_w$}  predicted →\n{:>name_w$} ", "true ↓", "");
        for j in 0..k {
            s.push_str(&format!("{:>cell_w$}", format!("[{j}]")));
        }
        s.push_str(&format!("{:>9}\n", "accuracy"));
        let acc = self.per_class_accuracy();
        for (i, row) in self.counts.iter().enumerate() {
            s.push_str(&format!("{:>name_w$} ", label(i)));
            for c in row {
                s.push_str(&format!("{c:>cell_w$}"));
            }
            s.push_str(&format!("{:>8.1}%\n", acc[i] * 100.0));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_and_confusion() {
        let s = Tensor::new([3, 3], vec![0.1, 0.7, 0.2, 0.5, 0.3, 0.2, 0.3, 0.3, 0.4]).unwrap();
        assert_eq!(accuracy(&s, &[1, 1, 2]).unwrap(), 2.0 / 3.0);
        assert_eq!(top_k_accuracy(&s, &[1, 1, 2], 2).unwrap(), 1.0);
        assert_eq!(top_k_accuracy(&s, &[2, 2, 0], 1).unwrap(), 0.0);
        assert!(accuracy(&s, &[1, 1]).is_err());
        let m = ConfusionMatrix::new(&[0, 0, 1, 2], &[0, 1, 1, 2], 3).unwrap();
        assert_eq!(m.counts, vec![vec![1, 1, 0], vec![0, 1, 0], vec![0, 0, 1]]);
        assert_eq!(m.per_class_accuracy(), vec![0.5, 1.0, 1.0]);
        assert_eq!(m.accuracy(), 0.75);
        let t = m.to_text(&["a".into(), "b".into(), "c".into()]);
        assert!(t.contains("[0] a") && t.contains("50.0%"), "{t}");
    }

    #[test]
    fn confusion_text_rows_line_up_with_long_class_names() {
        let m = ConfusionMatrix::new(&[0, 1, 2], &[0, 1, 2], 3).unwrap();
        let names = ["cat".to_string(), "automobile".into(), "é-long-name".into()];
        let t = m.to_text(&names);
        let widths: Vec<usize> = t.lines().skip(1).map(|l| l.chars().count()).collect();
        assert!(widths.iter().all(|&w| w == widths[0]), "{t}");
        assert!(
            t.contains("[1] automobile") && t.contains("[2] é-long-name"),
            "{t}"
        );
    }
}
