//! The bench report as Markdown: our figures, the profile, and the ratio table.

use std::fmt::Write;

use super::{Bench, Epoch, FWD_FLOP_PER_SAMPLE};

fn gflops(samples_per_second: f64) -> f64 {
    3.0 * FWD_FLOP_PER_SAMPLE * samples_per_second / 1e9
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.2}x", a / b)
    } else {
        "–".into()
    }
}

/// The report.
pub fn markdown(b: &Bench) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# cargo xtask bench: {}\n", b.model);
    let _ = writeln!(
        s,
        "`{}` — {}, {} threads, data: {}.\n",
        b.command, b.cpu, b.threads, b.data
    );
    if b.train_per_second > 0.0 {
        figures(&mut s, b);
    }
    if !b.profile.is_empty() {
        profile(&mut s, b);
        let step_ms = b.profile.last().map_or(0.0, |p| p.1);
        if b.train_per_second == 0.0 && step_ms > 0.0 {
            let _ = writeln!(
                s,
                "\nTraining: {:.1} samples/s at batch {} (profiled steps).",
                b.profile_batch as f64 * 1e3 / step_ms,
                b.profile_batch
            );
        }
        if let Some(rss) = b.peak_rss_mib.filter(|_| b.train_per_second == 0.0) {
            let _ = writeln!(s, "Peak resident memory: {rss:.0} MiB.");
        }
    }
    if let Some(e) = &b.epoch {
        side_by_side(&mut s, b, e);
    }
    s
}

/// The throughput, latency and memory figures.
fn figures(s: &mut String, b: &Bench) {
    let (g2, g1) = b.gemm_gflops;
    let train_gf = gflops(b.train_per_second);
    let _ = writeln!(s, "| figure | value |\n|---|---:|");
    let _ = writeln!(
        s,
        "| training, batch 128 (median of {}, alternating with 1 thread) | **{:.0} samples/s** ({train_gf:.1} GFLOP/s, {:.0} % of the GEMM's {g2:.0}) |",
        b.scaling_pairs,
        b.train_per_second,
        100.0 * train_gf / g2.max(1e-9)
    );
    let _ = writeln!(
        s,
        "| training, 1 thread (median of {}) | {:.0} samples/s (2 threads: {}; GEMM: {g1:.0} GFLOP/s, {}) |",
        b.scaling_pairs,
        b.train_per_second_1t,
        ratio(b.train_per_second, b.train_per_second_1t),
        ratio(g2, g1)
    );
    let _ = writeln!(
        s,
        "| inference, batch 128 / 1000 | {:.0} / {:.0} samples/s |",
        b.inference_per_second.0, b.inference_per_second.1
    );
    let _ = writeln!(
        s,
        "| inference, batch 1 | {:.2} ms per image (median) |",
        b.latency_batch1_ms
    );
    if let Some(r) = b.peak_rss_mib {
        let _ = writeln!(s, "| peak resident memory | {r:.0} MiB |");
    }
    if !b.batch_sweep.is_empty() {
        let row: Vec<String> = b
            .batch_sweep
            .iter()
            .map(|(bs, v)| format!("{bs}: {v:.0}"))
            .collect();
        let _ = writeln!(
            s,
            "| training samples/s by batch size | {} |",
            row.join(", ")
        );
    }
}

/// The per-layer profile.
fn profile(s: &mut String, b: &Bench) {
    let total = b.profile.last().map(|p| p.1).unwrap_or(1.0).max(1e-9);
    let _ = writeln!(
        s,
        "\n## Where a training step goes (batch {}, ms per step)\n\n| layer | forward | backward | share |\n|---|---:|---:|---:|",
        b.profile_batch
    );
    for (name, f, bw) in &b.profile {
        if name == "total" {
            // The whole step, forward and backward together.
            let _ = writeln!(s, "| whole step | {f:.2} (both passes) | | 100 % |");
            continue;
        }
        let share = format!("{:.0} %", 100.0 * (f + bw) / total);
        let _ = writeln!(s, "| {name} | {f:.2} | {bw:.2} | {share} |");
    }
}

/// The one-epoch comparison with the peers.
fn side_by_side(s: &mut String, b: &Bench, e: &Epoch) {
    let _ = writeln!(
        s,
        "\n## Side by side: one epoch from the same initial weights and batch order\n\n\
         | framework | train samples/s | inference samples/s (batch 1000) | peak memory | test accuracy after 1 epoch |\n\
         |---|---:|---:|---:|---:|"
    );
    let mem = |m: Option<f64>| m.map(|v| format!("{v:.0} MiB")).unwrap_or("–".into());
    let _ = writeln!(
        s,
        "| **cnn** | **{:.0}** | **{:.0}** | {} | {:.4} |",
        e.samples_per_second,
        e.inference_per_second,
        mem(b.peak_rss_epoch_mib),
        e.test_accuracy
    );
    for p in &b.peers {
        let v = p
            .versions
            .get(&p.framework)
            .or_else(|| p.versions.get("tensorflow"))
            .and_then(|v| v.as_str())
            .unwrap_or("");
        let _ = writeln!(
            s,
            "| {} {v} | {:.0} | {:.0} | {} | {:.4} |",
            p.framework,
            p.train_per_second,
            p.inference_per_second,
            mem(p.peak_rss_mib),
            p.test_accuracy
        );
    }
    if !b.peers.is_empty() {
        let _ = writeln!(
            s,
            "\n| ratio (cnn ÷ peer) | training | inference, batch 1000 | memory | accuracy difference |\n|---|---:|---:|---:|---:|"
        );
        for p in &b.peers {
            let _ = writeln!(
                s,
                "| vs {} | {} | {} | {} | {:+.2} points |",
                p.framework,
                ratio(e.samples_per_second, p.train_per_second),
                ratio(e.inference_per_second, p.inference_per_second),
                match (b.peak_rss_epoch_mib, p.peak_rss_mib) {
                    (Some(a), Some(c)) => ratio(a, c),
                    _ => "–".into(),
                },
                100.0 * (e.test_accuracy - p.test_accuracy)
            );
        }
    }
}
