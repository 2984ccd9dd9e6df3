//! Reading the contracts at startup. With 100,000 contracts the JSON decoding is most of the
//! start, so the reading thread copies the records batch by batch into flat buffers and hands
//! each full batch to decoder threads, which decode it while the next is read; the decoded
//! batches go to the caller's sink (the registry's indexing) as they come back. A small store
//! is decoded on the reading thread alone: no threads are started for it.

use super::{ContractSink, StoreError};
use crate::core::Contract;
use rusqlite::Connection;
use std::sync::mpsc;

/// Records per batch handed to a decoder.
const BATCH_RECORDS: usize = 4096;

/// At most this many decoder threads, however many cores the machine has: past that the
/// reading thread and the indexing are the bottleneck.
const MAX_DECODERS: usize = 4;

/// Records of one batch as SQLite returned them: their texts back to back, and where each ends.
/// One buffer per batch instead of one string per record.
#[derive(Default)]
struct RawBatch {
    text: String,
    ends: Vec<usize>,
}

impl RawBatch {
    fn with_capacity(records: usize, bytes: usize) -> Self {
        Self {
            text: String::with_capacity(bytes),
            ends: Vec::with_capacity(records),
        }
    }

    fn push(&mut self, record: &str) {
        self.text.push_str(record);
        self.ends.push(self.text.len());
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn clear(&mut self) {
        self.text.clear();
        self.ends.clear();
    }

    fn decode(&self) -> Result<Vec<Contract>, StoreError> {
        let mut start = 0;
        self.ends
            .iter()
            .map(|&end| {
                let record = &self.text[start..end];
                start = end;
                super::decode(record)
            })
            .collect()
    }
}

/// The decoder threads of a large load: batches go out round-robin, decoded ones come back on
/// one channel, and the emptied buffers come back on another to be filled again (fresh memory
/// for every batch costs the kernel a page fault per 4 KiB).
struct Decoders<'scope> {
    inputs: Vec<mpsc::Sender<RawBatch>>,
    handles: Vec<std::thread::ScopedJoinHandle<'scope, ()>>,
    outputs: mpsc::Receiver<Result<Vec<Contract>, StoreError>>,
    spares: mpsc::Receiver<RawBatch>,
    next: usize,
}

impl<'scope> Decoders<'scope> {
    fn start<'env>(scope: &'scope std::thread::Scope<'scope, 'env>) -> Self {
        let count = std::thread::available_parallelism()
            .map_or(1, |cores| cores.get())
            .clamp(1, MAX_DECODERS);
        let (output, outputs) = mpsc::channel();
        let (spare, spares) = mpsc::channel();
        let mut inputs = Vec::with_capacity(count);
        let mut handles = Vec::with_capacity(count);
        for _ in 0..count {
            let (input, batches) = mpsc::channel::<RawBatch>();
            let output = output.clone();
            let spare = spare.clone();
            handles.push(scope.spawn(move || {
                for mut batch in batches {
                    if output.send(batch.decode()).is_err() {
                        return;
                    }
                    batch.clear();
                    let _ = spare.send(batch);
                }
            }));
            inputs.push(input);
        }
        Self {
            inputs,
            handles,
            outputs,
            spares,
            next: 0,
        }
    }

    /// An emptied buffer to fill next, if a decoder has handed one back.
    fn spare(&self) -> Option<RawBatch> {
        self.spares.try_recv().ok()
    }

    fn send(&mut self, batch: RawBatch) {
        // A decoder that is gone has panicked; its panic is reported by `finish`.
        let _ = self.inputs[self.next].send(batch);
        self.next = (self.next + 1) % self.inputs.len();
    }

    /// Hands the batches decoded so far to `sink`, keeping the first error: the reading thread
    /// indexes between reads instead of leaving it all for the end.
    fn take_decoded(&self, sink: &mut dyn ContractSink, first_error: &mut Option<StoreError>) {
        while let Ok(decoded) = self.outputs.try_recv() {
            hand_over(decoded, sink, first_error);
        }
    }

    /// Hands every decoded batch to `sink` as it comes back, then waits for the threads.
    fn finish(
        self,
        sink: &mut dyn ContractSink,
        mut first_error: Option<StoreError>,
    ) -> Result<(), StoreError> {
        drop(self.inputs);
        for decoded in &self.outputs {
            hand_over(decoded, sink, &mut first_error);
        }
        for handle in self.handles {
            if handle.join().is_err() {
                first_error.get_or_insert(StoreError::Decode("decoding panicked".into()));
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Gives a decoded batch to the sink, unless a batch already failed (the open will fail and
/// the sink's contents be thrown away); keeps the first error.
fn hand_over(
    decoded: Result<Vec<Contract>, StoreError>,
    sink: &mut dyn ContractSink,
    first_error: &mut Option<StoreError>,
) {
    match decoded {
        Ok(contracts) if first_error.is_none() => sink.take(contracts),
        Ok(_) => {}
        Err(err) => {
            first_error.get_or_insert(err);
        }
    }
}

/// Reads every contract and hands them to `sink` in batches, in no particular order.
pub(super) fn contracts(conn: &Connection, sink: &mut dyn ContractSink) -> Result<(), StoreError> {
    // Counting reads the small owner index, not the records: the sink sizes its maps once.
    let count: i64 = conn.query_row("SELECT count(*) FROM contracts", [], |row| row.get(0))?;
    sink.expect(usize::try_from(count).unwrap_or(0));
    let mut statement = conn.prepare("SELECT record FROM contracts")?;
    let mut rows = statement.query([])?;
    std::thread::scope(|scope| {
        let mut decoders: Option<Decoders<'_>> = None;
        let mut decode_error = None;
        let mut batch = RawBatch::default();
        let mut bytes_per_batch = 0;
        let read = loop {
            let row = match rows.next() {
                Ok(Some(row)) => row,
                Ok(None) => break Ok(()),
                Err(err) => break Err(StoreError::from(err)),
            };
            let record = match row.get_ref(0).map(|value| value.as_str()) {
                Ok(Ok(record)) => record,
                Ok(Err(err)) => break Err(StoreError::Decode(format!("a contract record: {err}"))),
                Err(err) => break Err(err.into()),
            };
            batch.push(record);
            if batch.len() == BATCH_RECORDS {
                bytes_per_batch = bytes_per_batch.max(batch.text.len());
                let decoders = decoders.get_or_insert_with(|| Decoders::start(scope));
                let next = decoders
                    .spare()
                    .unwrap_or_else(|| RawBatch::with_capacity(BATCH_RECORDS, bytes_per_batch));
                decoders.send(std::mem::replace(&mut batch, next));
                decoders.take_decoded(sink, &mut decode_error);
            }
        };
        match decoders {
            None => {
                read?;
                sink.take(batch.decode()?);
                Ok(())
            }
            Some(mut decoders) => {
                if read.is_ok() && batch.len() > 0 {
                    decoders.send(batch);
                }
                decoders.finish(sink, decode_error.or(read.err()))
            }
        }
    })
}
