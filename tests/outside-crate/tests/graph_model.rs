//! Trains, saves and reloads a graph model using nothing but cnn-nn's public API.

use cnn_nn::{ArrayData, Fit, Loss, Optimizer, Targets, Tensor, load_model, save_model};
use outside_crate::{AppError, build};

/// 8x8 images: class 1 has a bright 3x3 blob somewhere, class 0 is noise.
fn blobs(n: usize) -> (Tensor, Targets) {
    let mut state = 5u64;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    let mut x = vec![0.0f32; n * 64];
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let img = &mut x[i * 64..(i + 1) * 64];
        for v in img.iter_mut() {
            *v = (next() % 100) as f32 / 400.0;
        }
        let class = i % 2;
        if class == 1 {
            let (r, c) = (next() % 6, next() % 6);
            for dr in 0..3 {
                for dc in 0..3 {
                    img[(r + dr) * 8 + c + dc] = 1.0;
                }
            }
        }
        y.push(class);
    }
    (Tensor::new([n, 8, 8, 1], x).unwrap(), Targets::Sparse(y))
}

#[test]
fn a_graph_model_trains_saves_and_loads_from_cnn_nn_alone() -> Result<(), Box<dyn std::error::Error>>
{
    let mut model = build(2)?;
    assert!(model.summary().contains("concatenate (Concatenate)"));
    let (x, y) = blobs(64);
    let mut train = ArrayData::new(&x, &y, 16, true, 3)?;
    let mut opt = Optimizer::adam(0.02);
    let history = Fit::new(&mut opt, Loss::SparseCategoricalCrossentropy)
        .epochs(25)
        .seed(3)
        .run(&mut model, &mut train)?;
    let (first, last) = (history.accuracy[0], history.accuracy[24]);
    assert!(last >= 0.9, "accuracy {first} → {last}");
    let path = std::env::temp_dir().join(format!("outside-crate-{}.cnn", std::process::id()));
    save_model(&path, &model, Some(&opt), 25, Some(&history))?;
    let mut back = load_model(&path)?;
    std::fs::remove_file(&path)?;
    assert_eq!(back.model.predict(&x, 16)?, model.predict(&x, 16)?);
    Ok(())
}

#[test]
fn errors_convert_into_the_projects_own_error() {
    assert!(matches!(build(1), Err(AppError::Config(_))));
    // A cnn-nn error passes through `?` into AppError and into Box<dyn Error>.
    fn predict_wrong_shape() -> Result<Tensor, AppError> {
        let mut m = build(3)?;
        Ok(m.predict(
            &Tensor::zeros([1, 4, 4, 1]).map_err(cnn_nn::NnError::from)?,
            1,
        )?)
    }
    let e = predict_wrong_shape().unwrap_err();
    assert!(matches!(e, AppError::Model(_)));
    let boxed: Box<dyn std::error::Error + Send + Sync> =
        Box::new(cnn_nn::NnError::Data("x".into()));
    assert_eq!(boxed.to_string(), "data: x");
}
