//! An outside project's own code: its error type takes cnn-nn's errors with `?`.

use cnn_nn::spec::layers::*;
use cnn_nn::{GraphBuilder, Model, ModelSpec, NnError, layers::Concatenate};

/// This project's error.
#[derive(Debug)]
pub enum AppError {
    /// Something cnn-nn refused.
    Model(NnError),
    /// Something of our own.
    Config(String),
}

impl From<NnError> for AppError {
    fn from(e: NnError) -> Self {
        AppError::Model(e)
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppError::Model(e) => write!(f, "model: {e}"),
            AppError::Config(s) => write!(f, "config: {s}"),
        }
    }
}

impl std::error::Error for AppError {}

/// Two branches (a 3x3 and a 1x1 convolution) joined along the channels.
pub fn two_branch(classes: usize) -> ModelSpec {
    let mut b = GraphBuilder::new("two-branch", [8, 8, 1]);
    let x = b.input();
    let wide = b.apply(conv2d(4, 3, "relu").same(), &[&x]);
    let narrow = b.apply(conv2d(2, 1, "relu"), &[&x]);
    let joined = b.apply(Concatenate::default(), &[&wide, &narrow]);
    let out = b.chain(&joined, [global_avg_pool(), dense(classes, "softmax")]);
    b.build(&[&out])
}

/// Builds the model, with this project's error.
pub fn build(classes: usize) -> Result<Model, AppError> {
    if classes < 2 {
        return Err(AppError::Config(format!("{classes} classes")));
    }
    Ok(Model::new(&two_branch(classes), 1)?)
}
