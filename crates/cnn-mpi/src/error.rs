//! The error type of this crate.

/// What can go wrong joining or using an MPI job.
#[derive(Debug, thiserror::Error)]
pub enum MpiError {
    /// Started by an MPI launcher, but this build links no MPI.
    #[error(
        "started by {launcher}, but this cnn was built without MPI: rebuild with \
         `cargo build --release -p cnn-cli --features mpi` (needs the system's MPI, e.g. Debian's \
         openmpi-bin libopenmpi-dev libclang-dev)"
    )]
    NotBuilt {
        /// The launcher the environment names.
        launcher: &'static str,
    },
    /// Several Slurm tasks, but no MPI process manager to connect them.
    #[error(
        "srun started {tasks} tasks without an MPI process manager (no PMI/PMIx in the \
         environment): each would train alone; start them with `srun --mpi=pmix` (see \
         `srun --mpi=list`) or with mpirun"
    )]
    SrunWithoutPmi {
        /// Tasks in the step.
        tasks: usize,
    },
    /// MPI could not be initialised.
    #[error(
        "MPI could not be initialised (was it already, or is the launcher's MPI another library than the one linked?)"
    )]
    Init,
    /// The MPI library cannot take calls from more than one thread.
    #[error("the MPI library does not provide MPI_THREAD_SERIALIZED, which cnn needs")]
    Threading,
    /// A buffer too large for MPI's `int` counts.
    #[error("{what}: {len} values is more than MPI's int counts can address ({max})")]
    TooLarge {
        /// What was being sent.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
}
