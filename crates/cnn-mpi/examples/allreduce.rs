//! Times the rank-order all-reduce at the sizes of the zoo's gradients:
//! `mpirun -np 2 target/release/examples/allreduce` (build with `--features mpi`).
//! Prints, per model, the median time of one sum over 9 repetitions after a barrier, and
//! the bytes each rank sent per second (2(N−1)/N of the vector, the reduce-scatter plus the
//! all-gather).

use cnn_nn::Collective;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(mut mpi) = cnn_mpi::Mpi::init()? else {
        eprintln!("start it with mpirun -np N");
        std::process::exit(2);
    };
    let n = mpi.size();
    let models = [
        ("fashion-cnn", 391_306usize),
        ("cifar-cnn", 552_874),
        ("mnist-cnn", 1_199_882),
        ("resnet50", 25_636_712),
        ("vgg16", 138_357_544),
    ];
    if mpi.rank() == 0 {
        println!("| gradient of | values | bytes | median sum | sent per rank | rate |");
        println!("|---|---:|---:|---:|---:|---:|");
    }
    for (name, len) in models {
        let mut v = vec![1.0f32; len];
        let mut times = Vec::new();
        for _ in 0..9 {
            mpi.barrier();
            let t0 = std::time::Instant::now();
            mpi.sum_f32(&mut v)?;
            times.push(t0.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        let t = times[times.len() / 2];
        let sent = 2.0 * (n - 1) as f64 / n as f64 * 4.0 * len as f64;
        if mpi.rank() == 0 {
            println!(
                "| {name} | {len} | {:.1} MB | {:.2} ms | {:.1} MB | {:.2} GB/s |",
                4.0 * len as f64 / 1e6,
                t * 1e3,
                sent / 1e6,
                sent / t / 1e9
            );
        }
    }
    Ok(())
}
