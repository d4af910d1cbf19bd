//! `model.summary()` in Keras 2's layout (tf.keras 2.x `print_summary`): for Sequential models
//! 65 columns with stops at 29, 55 and 65, for graphs 98 with a `Connected to` column; a field longer than its column is cut, as Keras cuts
//! `max_pooling2d_1 (MaxPooling2` ; row parameter counts without separators, totals with
//! thousands separators.

use std::fmt::Write as _;

use crate::arch::Architecture;

/// `1199882` → `1,199,882`.
pub fn commas(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// `21233664` → `21.2M`.
pub fn si(n: u64) -> String {
    let f = n as f64;
    match n {
        0..=999 => n.to_string(),
        1_000..=999_999 => format!("{:.1}K", f / 1e3),
        1_000_000..=999_999_999 => format!("{:.1}M", f / 1e6),
        _ => format!("{:.2}G", f / 1e9),
    }
}

/// Bytes in binary units: `86528` → `84.5 KiB`.
pub fn bytes(n: u64) -> String {
    let f = n as f64;
    if n < 1024 {
        format!("{n} B")
    } else if n < 1 << 20 {
        format!("{:.1} KiB", f / 1024.0)
    } else if n < 1 << 30 {
        format!("{:.1} MiB", f / (1u64 << 20) as f64)
    } else {
        format!("{:.2} GiB", f / (1u64 << 30) as f64)
    }
}

/// Keras's `print_row`.
fn row(fields: &[String], stops: &[usize]) -> String {
    let mut line = String::new();
    for (i, (f, &stop)) in fields.iter().zip(stops).enumerate() {
        if i > 0 {
            line.pop();
            line.push(' ');
        }
        line.push_str(f);
        let cut: String = line.chars().take(stop).collect();
        line = cut;
        let len = line.chars().count();
        line.extend(std::iter::repeat_n(' ', stop.saturating_sub(len)));
    }
    line
}

/// The summary text. With `flops`, two columns are added: multiply-adds per sample and the
/// layer's output (activation) memory per sample in `f32`.
///
/// A Sequential model prints Keras's Sequential layout; a graph prints the functional one: an
/// `InputLayer` row first and a `Connected to` column (`conv2d[0][0]`, one line per input),
/// 98 characters wide with stops at 33, 55 and 67 % (tf.keras 2.x
/// `print_layer_summary_with_connections`).
pub fn summary(arch: &Architecture, flops: bool) -> String {
    let graph = !arch.is_sequential();
    let (width, stops): (usize, Vec<usize>) = match (graph, flops) {
        (false, false) => (65, vec![29, 55, 65]),
        (false, true) => (98, vec![29, 55, 67, 82, 98]),
        (true, false) => (98, vec![32, 53, 65, 98]),
        (true, true) => (128, vec![32, 53, 65, 80, 96, 128]),
    };
    let mut headers = vec![
        "Layer (type)".to_string(),
        "Output Shape".into(),
        "Param #".into(),
    ];
    if flops {
        headers.push("MACs".into());
        headers.push("Activations".into());
    }
    if graph {
        headers.push("Connected to".into());
    }
    let shape = crate::layers::shape_str;
    let mut rows: Vec<Vec<Vec<String>>> = Vec::with_capacity(arch.layers.len() + 1);
    if graph {
        let mut fields = vec![
            format!("{} (InputLayer)", arch.input_name),
            format!("[{}]", shape(&arch.input_shape)),
            "0".into(),
        ];
        if flops {
            fields.push("0".into());
            fields.push(bytes(arch.input_shape.iter().product::<usize>() as u64 * 4));
        }
        fields.push(String::new());
        rows.push(vec![fields]);
    }
    for l in &arch.layers {
        let mut fields = vec![
            format!("{} ({})", l.name, l.spec.class_name()),
            shape(&l.output_shape),
            l.total_params().to_string(),
        ];
        if flops {
            fields.push(si(l.macs));
            fields.push(bytes(l.output_len() * 4));
        }
        let mut lines = vec![];
        if graph {
            let links: Vec<String> = l
                .inputs
                .iter()
                .map(|&s| format!("{}[0][0]", arch.source_name(s)))
                .collect();
            fields.push(links[0].clone());
            lines.push(fields);
            for link in &links[1..] {
                let mut more = vec![String::new(); stops.len() - 1];
                more.push(link.clone());
                lines.push(more);
            }
        } else {
            lines.push(fields);
        }
        rows.push(lines);
    }
    let mut out = String::new();
    let _ = writeln!(out, "Model: \"{}\"", arch.name);
    let _ = writeln!(out, "{}", "_".repeat(width));
    let _ = writeln!(out, "{}", row(&headers, &stops));
    let _ = writeln!(out, "{}", "=".repeat(width));
    let n = rows.len();
    for (i, lines) in rows.iter().enumerate() {
        for fields in lines {
            let _ = writeln!(out, "{}", row(fields, &stops));
        }
        let _ = writeln!(
            out,
            "{}",
            if i + 1 == n {
                "=".repeat(width)
            } else {
                "_".repeat(width)
            }
        );
    }
    let (total, trainable, frozen) = arch.param_counts();
    let _ = writeln!(out, "Total params: {}", commas(total));
    let _ = writeln!(out, "Trainable params: {}", commas(trainable));
    let _ = writeln!(out, "Non-trainable params: {}", commas(frozen));
    if flops {
        let macs = arch
            .layers
            .iter()
            .fold(0u64, |a, l| a.saturating_add(l.macs));
        let act = arch
            .layers
            .iter()
            .fold(0u64, |a, l| a.saturating_add(l.output_len() * 4));
        let _ = writeln!(
            out,
            "Multiply-adds per sample: {} ({})",
            commas(macs),
            si(macs)
        );
        let _ = writeln!(
            out,
            "Activation memory per sample: {} (forward outputs, f32)",
            bytes(act)
        );
        let _ = writeln!(out, "Parameter memory: {}", bytes(total * 4));
    }
    let _ = writeln!(out, "{}", "_".repeat(width));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formats() {
        assert_eq!(commas(1199882), "1,199,882");
        assert_eq!(commas(0), "0");
        assert_eq!(commas(100), "100");
        assert_eq!(commas(1000), "1,000");
        assert_eq!(si(21_233_664), "21.2M");
        assert_eq!(bytes(86528), "84.5 KiB");
    }

    #[test]
    fn rows_cut_like_keras() {
        let r = row(
            &[
                "max_pooling2d_1 (MaxPooling2D)".into(),
                "(None, 13, 13, 32)".into(),
                "0".into(),
            ],
            &[29, 55, 65],
        );
        assert_eq!(
            r,
            "max_pooling2d_1 (MaxPooling2 (None, 13, 13, 32)        0         "
        );
    }
}
