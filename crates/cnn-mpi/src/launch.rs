//! Whether an MPI launcher started this process, read from the launcher's environment.

/// What the environment says about the launch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Launch {
    /// The launcher family (`"Open MPI's mpirun"`, `"an MPICH/PMI launcher"`, `"a PMIx launcher (srun)"`).
    pub launcher: &'static str,
    /// Ranks in the job, when the environment says.
    pub size: Option<usize>,
    /// Ranks of this job on this machine, when the environment says (to share its cores).
    pub local_size: Option<usize>,
}

fn var(name: &str) -> Option<usize> {
    std::env::var(name).ok()?.trim().parse().ok()
}

/// The launch, if `mpirun`/`mpiexec` (Open MPI, MPICH) or `srun` (PMI/PMIx) started this
/// process; `None` for a plain start.
pub fn launched() -> Option<Launch> {
    if let Some(size) = var("OMPI_COMM_WORLD_SIZE") {
        return Some(Launch {
            launcher: "Open MPI's mpirun",
            size: Some(size),
            local_size: var("OMPI_COMM_WORLD_LOCAL_SIZE"),
        });
    }
    if std::env::var_os("PMIX_RANK").is_some() {
        return Some(Launch {
            launcher: "a PMIx launcher (srun)",
            size: var("SLURM_NTASKS").or_else(|| var("PMIX_SIZE")),
            local_size: var("SLURM_NTASKS_PER_NODE").or_else(|| var("PMIX_LOCAL_SIZE")),
        });
    }
    if let Some(size) = var("PMI_SIZE") {
        return Some(Launch {
            launcher: "an MPICH/PMI launcher",
            size: Some(size),
            local_size: var("MPI_LOCALNRANKS").or_else(|| var("SLURM_NTASKS_PER_NODE")),
        });
    }
    None
}

/// `srun` started several tasks without an MPI process manager (no PMI/PMIx in the
/// environment): each task would initialise MPI alone and train the whole model by itself.
/// Returns the number of tasks then. (`SLURM_STEP_NUM_TASKS` is srun's count for its step; a
/// batch script's own commands are not an srun step of several tasks.)
pub fn srun_without_pmi() -> Option<usize> {
    let tasks = var("SLURM_STEP_NUM_TASKS")?;
    (tasks > 1 && std::env::var_os("SLURM_PROCID").is_some() && launched().is_none())
        .then_some(tasks)
}
