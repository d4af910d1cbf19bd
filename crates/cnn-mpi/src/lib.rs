//! # cnn-mpi
//!
//! Data-parallel training over MPI. [`Mpi::init`] joins the job when the process was started
//! by `mpirun`/`mpiexec`/`srun` (it reads the launcher's environment) and returns `None`
//! otherwise; [`Mpi`] implements [`cnn_nn::Collective`] with sums added in rank order, so a
//! run's weights do not depend on the network, the timing or the MPI library's reduction
//! algorithms.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use cnn_nn::{Collective, DataParallel};
//! if let Some(mut mpi) = cnn_mpi::Mpi::init()? {
//!     println!("rank {} of {}", mpi.rank(), mpi.size());
//!     let dp = DataParallel::ranks(&mut mpi);
//!     // Fit::new(...).data_parallel(dp).run(...)
//! #   drop(dp);
//! }
//! # Ok(()) }
//! ```
//!
//! Without the `mpi` feature the crate links no MPI; [`Mpi::init`] then refuses a process
//! started by an MPI launcher with [`MpiError::NotBuilt`].
#![warn(missing_docs)]

mod error;
mod launch;
#[cfg(feature = "mpi")]
mod world;

pub use error::MpiError;
pub use launch::{Launch, launched, srun_without_pmi};

#[cfg(feature = "mpi")]
pub use world::Mpi;

/// Stand-in when the crate is built without MPI: [`Mpi::init`] finds no job, or refuses one.
#[cfg(not(feature = "mpi"))]
pub struct Mpi {
    _never: std::convert::Infallible,
}

#[cfg(not(feature = "mpi"))]
impl Mpi {
    /// `Ok(None)` when no MPI launcher started this process; [`MpiError::NotBuilt`] when one
    /// did (this build cannot join the job).
    pub fn init() -> Result<Option<Mpi>, MpiError> {
        if let Some(tasks) = srun_without_pmi() {
            return Err(MpiError::SrunWithoutPmi { tasks });
        }
        match launched() {
            None => Ok(None),
            Some(l) => Err(MpiError::NotBuilt {
                launcher: l.launcher,
            }),
        }
    }

    /// This build links MPI: false here.
    pub const AVAILABLE: bool = false;

    /// Ends every rank of the job (never reached: there is no job without MPI).
    pub fn abort(&self, _code: i32) -> ! {
        match self._never {}
    }
}

#[cfg(not(feature = "mpi"))]
impl cnn_nn::Collective for Mpi {
    fn rank(&self) -> usize {
        match self._never {}
    }
    fn size(&self) -> usize {
        match self._never {}
    }
    fn sum_f32(&mut self, _: &mut [f32]) -> cnn_nn::Result<()> {
        match self._never {}
    }
    fn sum_f64(&mut self, _: &mut [f64]) -> cnn_nn::Result<()> {
        match self._never {}
    }
    fn broadcast(&mut self, _: &mut Vec<u8>, _: usize) -> cnn_nn::Result<()> {
        match self._never {}
    }
}
