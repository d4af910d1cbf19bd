//! Loads Fashion-MNIST from the data directory or Debian's system copy and reports where each
//! file came from, its checksum, and the load time.
//!
//! `cargo run --release -p cnn-datasets --example load_fashion_mnist [DATA_DIR]`

use std::time::Instant;

use cnn_datasets::{LoadOptions, fashion_mnist};

fn main() {
    let opts = LoadOptions {
        data_dir: std::env::args_os().nth(1).map(Into::into),
        ..Default::default()
    };
    let t = Instant::now();
    match fashion_mnist(&opts) {
        Ok((ds, reports)) => {
            let secs = t.elapsed().as_secs_f64();
            for r in &reports {
                println!("{r}");
            }
            let test = ds.test.as_ref().map_or(0, |s| s.len());
            println!(
                "{}: {} train + {} test images, {} classes, loaded and verified in {secs:.3} s",
                ds.name,
                ds.train.len(),
                test,
                ds.class_names.len()
            );
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    }
}
