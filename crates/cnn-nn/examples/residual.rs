//! Builds a small residual convnet in code (Keras's functional API style), trains it on the
//! real Fashion-MNIST sample bundled with `cnn-datasets`, and prints its summary and test
//! accuracy.
//!
//! ```sh
//! cargo run --release -p cnn-nn --example residual
//! ```

use cnn_nn::layers::Add;
use cnn_nn::spec::layers::*;
use cnn_nn::{ArrayData, Fit, GraphBuilder, Loss, Model, Node, Optimizer, ProgressBar, Targets};

/// conv → batch norm → relu → conv → batch norm, plus the shortcut, then relu.
fn residual_block(b: &mut GraphBuilder, x: &Node, filters: usize) -> Node {
    let y = b.chain(
        x,
        [
            conv2d(filters, 3, "linear").same(),
            batch_norm(),
            activation("relu"),
            conv2d(filters, 3, "linear").same(),
            batch_norm(),
        ],
    );
    let s = b.apply(Add {}, &[x, &y]);
    b.apply(activation("relu"), &[&s])
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut b = GraphBuilder::new("small-resnet", [28, 28, 1]);
    let x = b.input();
    let mut h = b.chain(&x, [conv2d(16, 3, "relu").same()]);
    h = residual_block(&mut b, &h, 16);
    h = b.apply(max_pool(2), &[&h]);
    h = b.apply(conv2d(32, 1, "relu"), &[&h]);
    h = residual_block(&mut b, &h, 32);
    let out = b.chain(&h, [global_avg_pool(), dense(10, "softmax")]);
    let mut model = Model::new(&b.build(&[&out]), 7)?;
    println!("{}", model.summary());

    let data = cnn_datasets::fashion_mnist_sample()?;
    let labels = |s: &cnn_datasets::ImageSet| {
        Targets::Sparse(s.labels.iter().map(|&l| l as usize).collect())
    };
    let (x, y) = (data.train.images_f32(1.0 / 255.0)?, labels(&data.train));
    let test = data.test.ok_or("the sample has a test set")?;
    let (tx, ty) = (test.images_f32(1.0 / 255.0)?, labels(&test));
    let mut train = ArrayData::new(&x, &y, 32, true, 7)?;
    let mut val = ArrayData::new(&tx, &ty, 200, false, 0)?;
    let mut opt = Optimizer::adam(2e-3);
    let mut bar = ProgressBar::new(Box::new(std::io::stdout()), true);
    Fit::new(&mut opt, Loss::SparseCategoricalCrossentropy)
        .epochs(3)
        .validation(&mut val)
        .callback(&mut bar)
        .run(&mut model, &mut train)?;
    let e = model.evaluate_arrays(&tx, &ty, Loss::SparseCategoricalCrossentropy, 200)?;
    println!(
        "test accuracy {:.2} % on {} real Fashion-MNIST images",
        100.0 * e.accuracy,
        test.len()
    );
    Ok(())
}
