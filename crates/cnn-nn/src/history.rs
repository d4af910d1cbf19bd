//! [`History`]: what `fit` records per epoch, as Keras's `History.history`, with CSV in and out.

use serde::{Deserialize, Serialize};

use crate::error::{NnError, Result};

/// Per-epoch metrics, as Keras's `History.history`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// Epoch numbers (1-based).
    pub epoch: Vec<usize>,
    /// Mean training loss.
    pub loss: Vec<f32>,
    /// Training accuracy.
    pub accuracy: Vec<f32>,
    /// Validation loss (empty without validation).
    pub val_loss: Vec<f32>,
    /// Validation accuracy.
    pub val_accuracy: Vec<f32>,
    /// Learning rate at the end of the epoch.
    pub learning_rate: Vec<f32>,
    /// Wall time of the epoch (training and validation).
    pub seconds: Vec<f64>,
    /// Training samples per second.
    pub samples_per_second: Vec<f64>,
    /// `(epoch, step)` (1-based) after which a callback stopped training mid-epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<(usize, usize)>,
}

impl History {
    /// CSV with a header, one row per epoch (Keras's `CSVLogger` columns plus time).
    pub fn to_csv(&self) -> String {
        let mut s = String::from(
            "epoch,loss,accuracy,val_loss,val_accuracy,learning_rate,seconds,samples_per_second\n",
        );
        for i in 0..self.epoch.len() {
            let opt = |v: &Vec<f32>| v.get(i).map(|x| x.to_string()).unwrap_or_default();
            s.push_str(&format!(
                "{},{},{},{},{},{},{:.3},{:.1}\n",
                self.epoch[i],
                self.loss[i],
                self.accuracy[i],
                opt(&self.val_loss),
                opt(&self.val_accuracy),
                self.learning_rate[i],
                self.seconds[i],
                self.samples_per_second[i]
            ));
        }
        s
    }

    /// Parses [`History::to_csv`] output (and Keras `CSVLogger` files with the same columns).
    pub fn from_csv(text: &str) -> Result<Self> {
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let header: Vec<&str> = lines
            .next()
            .ok_or_else(|| NnError::Data("empty history CSV".into()))?
            .split(',')
            .map(str::trim)
            .collect();
        let col = |name: &str| {
            header.iter().position(|h| {
                *h == name
                    || (name == "accuracy" && *h == "acc")
                    || (name == "val_accuracy" && *h == "val_acc")
            })
        };
        let mut h = History::default();
        for (ln, line) in lines.enumerate() {
            let f: Vec<&str> = line.split(',').map(str::trim).collect();
            let get = |name: &str| -> Option<f64> {
                col(name)
                    .and_then(|i| f.get(i))
                    .and_then(|v| v.parse().ok())
            };
            let epoch = get("epoch").map(|e| e as usize).unwrap_or(ln);
            // Keras's CSVLogger counts epochs from 0.
            h.epoch
                .push(if col("epoch").is_some() && header.contains(&"lr") {
                    epoch + 1
                } else {
                    epoch
                });
            h.loss.push(
                get("loss")
                    .ok_or_else(|| NnError::Data(format!("history CSV line {}: no loss", ln + 2)))?
                    as f32,
            );
            h.accuracy.push(get("accuracy").unwrap_or(f64::NAN) as f32);
            if let Some(v) = get("val_loss") {
                h.val_loss.push(v as f32);
            }
            if let Some(v) = get("val_accuracy") {
                h.val_accuracy.push(v as f32);
            }
            h.learning_rate.push(
                get("learning_rate")
                    .or_else(|| get("lr"))
                    .unwrap_or(f64::NAN) as f32,
            );
            h.seconds.push(get("seconds").unwrap_or(f64::NAN));
            h.samples_per_second
                .push(get("samples_per_second").unwrap_or(f64::NAN));
        }
        Ok(h)
    }
}
