//! The MPI job: rank, size, and sums added in rank order.

use mpi::Count;
use mpi::datatype::{Equivalence, Partition, PartitionMut};
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;

use cnn_nn::{Collective, NnError, Part};

use crate::error::MpiError;
use crate::launch::launched;

/// This process's place in an MPI job (`MPI_COMM_WORLD`). Dropping it finalises MPI.
pub struct Mpi {
    world: SimpleCommunicator,
    // Finalises MPI when dropped: declared last so the communicator goes first.
    _universe: Universe,
}

impl Mpi {
    /// This build links MPI.
    pub const AVAILABLE: bool = true;

    /// Joins the job if an MPI launcher started this process (`Ok(None)` otherwise). MPI is
    /// initialised for a process whose MPI calls all come from its main thread.
    pub fn init() -> Result<Option<Mpi>, MpiError> {
        if let Some(tasks) = crate::launch::srun_without_pmi() {
            return Err(MpiError::SrunWithoutPmi { tasks });
        }
        if launched().is_none() {
            return Ok(None);
        }
        let (universe, _) =
            mpi::initialize_with_threading(mpi::Threading::Funneled).ok_or(MpiError::Init)?;
        Ok(Some(Mpi {
            world: universe.world(),
            _universe: universe,
        }))
    }

    /// The machine this rank runs on (`MPI_Get_processor_name`).
    pub fn processor_name(&self) -> String {
        mpi::environment::processor_name().unwrap_or_else(|_| "?".into())
    }

    /// Ends every rank of the job with `code` (`MPI_Abort`): what a rank does on an error,
    /// so the others do not wait for it forever.
    pub fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }

    /// Waits until every rank gets here.
    pub fn barrier(&self) {
        self.world.barrier();
    }

    /// Rank-order sum: rank j adds up chunk j of every rank's values, rank 0's first, then
    /// every rank gathers the summed chunks. The MPI library only moves bytes.
    fn sum<T: Equivalence + Copy + Default + std::ops::AddAssign>(
        &self,
        values: &mut [T],
    ) -> cnn_nn::Result<()> {
        let size = self.world.size() as usize;
        if size == 1 {
            return Ok(());
        }
        let n = values.len();
        if n > Count::MAX as usize {
            return Err(NnError::Parallel(
                MpiError::TooLarge {
                    what: "an all-reduce",
                    len: n,
                    max: Count::MAX as usize,
                }
                .to_string(),
            ));
        }
        let me = self.world.rank() as usize;
        let chunk = |j: usize| {
            Part {
                index: j,
                count: size,
            }
            .range(n)
        };
        let mine = chunk(me);
        let counts: Vec<Count> = (0..size).map(|j| chunk(j).len() as Count).collect();
        let displs: Vec<Count> = (0..size).map(|j| chunk(j).start as Count).collect();
        // Every rank's copy of my chunk, one after the other in rank order.
        let mut received = vec![T::default(); mine.len() * size];
        let r_counts = vec![mine.len() as Count; size];
        let r_displs: Vec<Count> = (0..size).map(|i| (i * mine.len()) as Count).collect();
        {
            let send = Partition::new(&values[..], &counts[..], &displs[..]);
            let mut recv = PartitionMut::new(&mut received[..], &r_counts[..], &r_displs[..]);
            self.world.all_to_all_varcount_into(&send, &mut recv);
        }
        let mut sum: Vec<T> = received[..mine.len()].to_vec();
        for from in received.chunks_exact(mine.len().max(1)).skip(1) {
            for (s, &v) in sum.iter_mut().zip(from) {
                *s += v;
            }
        }
        let mut all = PartitionMut::new(values, &counts[..], &displs[..]);
        self.world.all_gather_varcount_into(&sum[..], &mut all);
        Ok(())
    }
}

// SAFETY: the communicator and universe are handles of the MPI library, which was initialised
// with MPI_THREAD_SERIALIZED (checked in `init`): any thread may make MPI calls as long as no
// two make them at once. Every call goes through `&self`/`&mut self` of this one value, which
// `Collective` users hold mutably (or behind a lock), so calls never overlap; moving the value
// to another thread is therefore allowed.
unsafe impl Send for Mpi {}

impl Collective for Mpi {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    fn size(&self) -> usize {
        self.world.size() as usize
    }

    fn sum_f32(&mut self, values: &mut [f32]) -> cnn_nn::Result<()> {
        self.sum(values)
    }

    fn sum_f64(&mut self, values: &mut [f64]) -> cnn_nn::Result<()> {
        self.sum(values)
    }

    fn broadcast(&mut self, bytes: &mut Vec<u8>, root: usize) -> cnn_nn::Result<()> {
        let root = self.world.process_at_rank(root as i32);
        let mut len = bytes.len() as u64;
        root.broadcast_into(&mut len);
        bytes.resize(len as usize, 0);
        // Counts are ints: send in pieces of at most 1 GiB.
        for piece in bytes.chunks_mut(1 << 30) {
            root.broadcast_into(piece);
        }
        Ok(())
    }
}
