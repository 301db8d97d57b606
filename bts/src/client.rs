//! Talking to BTSes: fetch a block, put a map output, remove a job's output; and the fetch of a
//! reduce task's whole partition from every map output, several blocks in flight, bounded bytes,
//! retries with backoff.

use crate::block::{self, BlockDecoder, BlockError};
use crate::buffers::BlockBuffers;
use crate::fetch_plan::{FetchPlan, RetryDecision};
use bytes::Bytes;
use flicker_protocol::bts::{BlockHeader, BtsFailure, BtsRequest, BtsResponse, Capability, MapOutputInfo};
use flicker_protocol::{JobId, MapOutputId};
use flicker_transport::{Connection, Endpoint, FrameReceiver, Role, TransportError};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, mpsc};
use tokio::time::Instant;

/// Why a BTS request failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The BTS could not be reached, or the stream broke.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The BTS answered with an error.
    #[error(transparent)]
    Remote(#[from] BtsFailure),
    /// The block received does not match its checksum or length: never used as data.
    #[error("the block received is damaged: {0}")]
    Corrupt(#[from] BlockError),
    /// The BTS answered something that does not fit the request.
    #[error("unexpected answer from the bts: {answer}")]
    Unexpected {
        /// What it answered.
        answer: String,
    },
}

impl FetchError {
    /// Whether trying again may help: the network or the BTS's disk failed, rather than the
    /// block being lost or damaged.
    pub fn is_retryable(&self) -> bool {
        matches!(self, FetchError::Transport(_) | FetchError::Remote(BtsFailure::Io { .. }))
    }
}

/// How long a BTS may take to answer a new connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A client of every BTS of the cluster, keeping one connection per BTS, and the buffers of the
/// blocks its fetches decoded that their readers handed back, to decode later blocks into.
#[derive(Debug)]
pub struct BtsClient {
    endpoint: Endpoint,
    connections: Mutex<HashMap<SocketAddr, Connection>>,
    buffers: BlockBuffers,
}

impl BtsClient {
    /// A client connecting from `endpoint`.
    pub fn new(endpoint: Endpoint) -> Self {
        Self { endpoint, connections: Mutex::default(), buffers: BlockBuffers::default() }
    }

    /// The buffers its fetches decode into: a block this client fetched is handed back there
    /// once it was read, and a later block is decoded into it.
    pub fn buffers(&self) -> &BlockBuffers {
        &self.buffers
    }

    /// Frees the buffers this client keeps once its fetches have used none for
    /// [`IDLE`](crate::buffers::IDLE), looking every second, until the client is dropped: an
    /// executor runs it, so that one that fetches nothing for a while holds no shuffle memory.
    pub async fn free_idle_buffers(client: std::sync::Weak<BtsClient>) {
        let mut every = tokio::time::interval(Duration::from_secs(1));
        loop {
            every.tick().await;
            let Some(client) = client.upgrade() else { return };
            let freed = client.buffers.free_if_idle(std::time::Instant::now(), crate::buffers::IDLE);
            if freed > 0 {
                tracing::debug!(freed, "freed the shuffle buffers kept idle");
            }
        }
    }

    /// A decoder of the block `header` announces, decoding into a buffer handed back if one fits.
    fn decoder(&self, header: BlockHeader) -> Result<BlockDecoder, BlockError> {
        let decoder = BlockDecoder::new(header)?;
        Ok(match self.buffers.take(header.raw_len as usize) {
            Some(buffer) => decoder.decode_into(buffer),
            None => decoder,
        })
    }

    /// The connection to `bts`: the open one, or a new one (a BTS that does not answer within
    /// [`CONNECT_TIMEOUT`] is unreachable).
    async fn connection(&self, bts: SocketAddr) -> Result<Connection, TransportError> {
        if let Some(connection) = self.connections.lock().await.get(&bts).filter(|c| !c.is_closed()) {
            return Ok(connection.clone());
        }
        let connection = tokio::time::timeout(CONNECT_TIMEOUT, self.endpoint.connect(bts, Role::Executor))
            .await
            .map_err(|_| TransportError::ConnectTimeout { addr: bts, after: CONNECT_TIMEOUT })??;
        self.connections.lock().await.insert(bts, connection.clone());
        Ok(connection)
    }

    /// Fetches partition `partition` of each map output of `ids` from `bts` in one request,
    /// checked and decompressed, in the order of `ids`. A failure names the position in `ids` of
    /// the block it is about (for a broken stream, the first block not received).
    pub async fn fetch(
        &self,
        bts: SocketAddr,
        ids: &[MapOutputId],
        partition: u32,
        capability: &Capability,
    ) -> Result<Vec<Vec<u8>>, (usize, FetchError)> {
        let mut blocks = Vec::with_capacity(ids.len());
        let fetched = async {
            let (mut send, mut recv) = self.connection(bts).await?.open().await?;
            let request = BtsRequest::Fetch { ids: ids.to_vec(), partition, capability: capability.clone() };
            send.send(&request).await?;
            send.finish()?;
            while blocks.len() < ids.len() {
                match recv.recv::<BtsResponse>().await?.ok_or(TransportError::NoResponse)? {
                    BtsResponse::Block(header) => {
                        blocks.push(receive_block(&mut recv, self.decoder(header)?).await?);
                    }
                    BtsResponse::Error(failure) => return Err(failure.into()),
                    other => return Err(FetchError::Unexpected { answer: format!("{other:?}") }),
                }
            }
            Ok(())
        };
        match fetched.await {
            Ok(()) => Ok(blocks),
            Err(error) => Err((blocks.len(), error)),
        }
    }

    /// Stores a map output (one block per partition) on `bts`, with its job's `capability`.
    pub async fn put(
        &self,
        bts: SocketAddr,
        id: &MapOutputId,
        blocks: &[Vec<u8>],
        capability: &Capability,
    ) -> Result<MapOutputInfo, FetchError> {
        let (mut send, mut recv) = self.connection(bts).await?.open().await?;
        let partitions = blocks.len() as u32;
        send.send(&BtsRequest::Put { id: id.clone(), partitions, capability: capability.clone() }).await?;
        for raw in blocks {
            let encoded = block::encode(raw)?;
            send.send(&encoded.header()).await?;
            send.send_bytes(encoded.bytes()).await?;
        }
        send.finish()?;
        match recv.recv::<BtsResponse>().await?.ok_or(TransportError::NoResponse)? {
            BtsResponse::Stored(info) => Ok(info),
            BtsResponse::Error(failure) => Err(failure.into()),
            other => Err(FetchError::Unexpected { answer: format!("{other:?}") }),
        }
    }

    /// Removes every map output of `job` from `bts`; returns the bytes freed.
    pub async fn remove_job(&self, bts: SocketAddr, job: &JobId) -> Result<u64, FetchError> {
        let connection = self.connection(bts).await?;
        match connection.call(&BtsRequest::RemoveJob { job: job.clone() }).await? {
            BtsResponse::Removed { bytes } => Ok(bytes),
            BtsResponse::Error(failure) => Err(failure.into()),
            other => Err(FetchError::Unexpected { answer: format!("{other:?}") }),
        }
    }
}

/// The largest block (stored bytes) decoded on the task that receives it rather than on a
/// blocking thread.
const DECODE_IN_PLACE: u64 = 64 << 10;

/// Stored bytes of a block handed to its decoder at once: the chunks received (a datagram's worth
/// each, about 64 KiB on loopback) are gathered up to this much, so that a decoder waiting for
/// bytes is woken once per quarter piece rather than once per datagram.
const HANDOFF: usize = 256 << 10;

/// Hand-offs of a block received and not decoded yet, at most: 2 MiB of stored bytes. They let
/// the stream be read on while its decoder waits to be woken (with the stream's window,
/// `flicker_transport::STREAM_WINDOW`, about 5 % faster fetches than two); beyond them the
/// stream's flow control holds the sender back, so a decoder that falls behind holds at most
/// this much and the window.
const HANDOFFS_QUEUED: usize = 8;

/// Receives the stored bytes of the block `decoder` decodes and decodes them as they arrive: each
/// piece is checked and decompressed as soon as it is whole, and the block is handed on once all
/// of it is checked. A large block is decoded on a blocking thread that the received chunks are
/// handed to as they come, so decoding overlaps receiving this block and the other blocks in
/// flight; a small one costs less than the hand-off. A stream that breaks or ends early is a
/// transport error (retried), whatever the decoder found in the bytes before.
async fn receive_block(recv: &mut FrameReceiver, mut decoder: BlockDecoder) -> Result<Vec<u8>, FetchError> {
    let expected = decoder.remaining();
    if expected <= DECODE_IN_PLACE {
        while decoder.remaining() > 0 {
            decoder.push(&next_chunk(recv, expected, decoder.remaining()).await?)?;
        }
        return Ok(decoder.finish()?);
    }
    let (handoffs, mut inbox) = mpsc::channel::<Vec<Bytes>>(HANDOFFS_QUEUED);
    let decoding = tokio::task::spawn_blocking(move || {
        while let Some(chunks) = inbox.blocking_recv() {
            for chunk in chunks {
                decoder.push(&chunk)?;
            }
        }
        decoder.finish()
    });
    let received = async {
        let (mut remaining, mut gathered, mut chunks) = (expected, 0, Vec::new());
        while remaining > 0 {
            let chunk = next_chunk(recv, expected, remaining).await?;
            remaining -= chunk.len() as u64;
            gathered += chunk.len();
            chunks.push(chunk);
            if gathered >= HANDOFF || remaining == 0 {
                gathered = 0;
                if handoffs.send(std::mem::take(&mut chunks)).await.is_err() {
                    // The decoder stopped at damaged bytes: its error says why.
                    break;
                }
            }
        }
        Ok::<_, TransportError>(())
    }
    .await;
    drop(handoffs);
    let decoded =
        decoding.await.map_err(|e| FetchError::Unexpected { answer: format!("decoder stopped: {e}") })?;
    received?;
    Ok(decoded?)
}

/// The next chunk of a payload of `expected` bytes of which `remaining` are still to come: at most
/// `remaining` bytes; the stream ending first is [`TransportError::Truncated`].
async fn next_chunk(
    recv: &mut FrameReceiver,
    expected: u64,
    remaining: u64,
) -> Result<Bytes, TransportError> {
    let got = expected - remaining;
    recv.recv_chunk(remaining).await?.ok_or(TransportError::Truncated { expected, got })
}

/// How hard a reduce task may pull.
#[derive(Debug, Clone, Copy)]
pub struct FetchLimits {
    /// Blocks fetched at once.
    pub max_in_flight: usize,
    /// Bytes of blocks being fetched at once (one larger block may still go alone).
    pub max_bytes_in_flight: u64,
}

impl Default for FetchLimits {
    fn default() -> Self {
        Self { max_in_flight: 8, max_bytes_in_flight: 64 << 20 }
    }
}

/// A block of a partition that could not be had, and why.
#[derive(Debug)]
pub struct BlockFailure {
    /// The map output whose block it is.
    pub map_output: MapOutputId,
    /// The BTS asked for it.
    pub bts: SocketAddr,
    /// Why it could not be had (network failures were retried already).
    pub error: FetchError,
}

/// Fetches partition `partition` of every map output in `sources` (id, BTS, expected bytes), all
/// of the job of `capability`, handing each block to the returned channel as it arrives, in any order. Network failures are
/// retried with backoff; the first block that cannot be had ends the stream with its error.
pub fn fetch_partition(
    client: Arc<BtsClient>,
    partition: u32,
    sources: Vec<(MapOutputId, SocketAddr, u64)>,
    limits: FetchLimits,
    capability: Capability,
) -> mpsc::Receiver<Result<Vec<u8>, BlockFailure>> {
    let (sender, receiver) = mpsc::channel(2);
    tokio::spawn(async move {
        if let Err(failure) = drive(&client, partition, sources, limits, &capability, &sender).await {
            // The receiver may have gone away (task cancelled): nothing left to tell.
            let _ = sender.send(Err(failure)).await;
        }
    });
    receiver
}

/// Blocks asked of one BTS in one request, at most.
const MAX_BATCH_BLOCKS: usize = 256;

/// The blocks of one request: map outputs held by one BTS.
#[derive(Debug)]
struct Batch {
    bts: SocketAddr,
    ids: Vec<MapOutputId>,
}

impl Batch {
    /// The map output of the block at `at` (a batch is never empty).
    fn block(&self, at: usize) -> &MapOutputId {
        &self.ids[at.min(self.ids.len() - 1)]
    }

    /// The failure of the block at `at`.
    fn failure(&self, at: usize, error: FetchError) -> BlockFailure {
        BlockFailure { map_output: self.block(at).clone(), bts: self.bts, error }
    }
}

/// Groups `sources` into batches of one BTS's blocks, at most [`MAX_BATCH_BLOCKS`] blocks and
/// `max_bytes` announced bytes each (a larger block goes alone), with their announced bytes;
/// batches come in the order of their first block, so the sources' interleaving of nodes stays.
fn batches(sources: Vec<(MapOutputId, SocketAddr, u64)>, max_bytes: u64) -> Vec<(Batch, u64)> {
    let mut open: HashMap<SocketAddr, usize> = HashMap::new();
    let mut batches: Vec<(Batch, u64)> = Vec::new();
    for (id, bts, size) in sources {
        match open.get(&bts).map(|&i| &mut batches[i]) {
            Some((batch, bytes)) if batch.ids.len() < MAX_BATCH_BLOCKS && *bytes + size <= max_bytes => {
                batch.ids.push(id);
                *bytes += size;
            }
            _ => {
                open.insert(bts, batches.len());
                batches.push((Batch { bts, ids: vec![id] }, size));
            }
        }
    }
    batches
}

async fn drive(
    client: &BtsClient,
    partition: u32,
    sources: Vec<(MapOutputId, SocketAddr, u64)>,
    limits: FetchLimits,
    capability: &Capability,
    sender: &mpsc::Sender<Result<Vec<u8>, BlockFailure>>,
) -> Result<(), BlockFailure> {
    let start = Instant::now();
    let max_in_flight = limits.max_in_flight.max(1);
    let batches = batches(sources, limits.max_bytes_in_flight / max_in_flight as u64);
    let sizes = batches.iter().enumerate().map(|(i, (_, bytes))| (i, *bytes)).collect();
    let mut plan = FetchPlan::new(sizes, max_in_flight, limits.max_bytes_in_flight);
    let mut running = FuturesUnordered::new();
    loop {
        while let Some(i) = plan.next_to_start() {
            let batch = &batches[i].0;
            running
                .push(async move { (i, client.fetch(batch.bts, &batch.ids, partition, capability).await) });
        }
        if plan.is_done() {
            return Ok(());
        }
        let retry_at = plan.next_retry_at().map(|at| start + at);
        tokio::select! {
            Some((i, result)) = running.next() => {
                let batch = &batches[i].0;
                match result {
                    Ok(blocks) => {
                        plan.finished(&i);
                        for block in blocks {
                            if sender.send(Ok(block)).await.is_err() {
                                return Ok(());
                            }
                        }
                    }
                    // Nothing of a failed batch was handed on: it is fetched again whole.
                    Err((at, error)) if error.is_retryable() => match plan.failed(&i, start.elapsed()) {
                        Some(RetryDecision::Retry { attempt, at: when }) => {
                            let (map_output, bts, blocks) = (batch.block(at), batch.bts, batch.ids.len());
                            tracing::warn!(%map_output, %bts, blocks, %error, attempt, ?when, "retrying a block fetch");
                        }
                        _ => return Err(batch.failure(at, error)),
                    },
                    Err((at, error)) => return Err(batch.failure(at, error)),
                }
            },
            () = tokio::time::sleep_until(retry_at.unwrap_or(start)), if retry_at.is_some() => {
                plan.ready_for_retry(start.elapsed() + Duration::from_millis(1));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flicker_protocol::ids::{JobId, StageId, TaskIndex};

    fn output(map_task: u32) -> MapOutputId {
        MapOutputId { job: JobId("job-1".into()), stage: StageId(0), map_task: TaskIndex(map_task) }
    }

    fn bts(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// The batches as (port, map tasks, bytes).
    fn grouped(sources: Vec<(MapOutputId, SocketAddr, u64)>, max_bytes: u64) -> Vec<(u16, Vec<u32>, u64)> {
        batches(sources, max_bytes)
            .into_iter()
            .map(|(batch, bytes)| {
                (batch.bts.port(), batch.ids.iter().map(|id| id.map_task.0).collect(), bytes)
            })
            .collect()
    }

    #[test]
    fn blocks_are_batched_per_bts_in_the_order_of_their_first_block() {
        let sources = (0..6).map(|n| (output(n), bts(1 + n as u16 % 2), 10)).collect();
        assert_eq!(grouped(sources, 1 << 20), [(1, vec![0, 2, 4], 30), (2, vec![1, 3, 5], 30)]);
    }

    #[test]
    fn a_batch_holds_at_most_its_bytes_and_blocks_but_a_large_block_goes_alone() {
        let sizes = [40, 40, 40, 500, 10];
        let sources = sizes.iter().enumerate().map(|(n, &size)| (output(n as u32), bts(1), size)).collect();
        assert_eq!(
            grouped(sources, 100),
            [(1, vec![0, 1], 80), (1, vec![2], 40), (1, vec![3], 500), (1, vec![4], 10)]
        );

        let many = (0..MAX_BATCH_BLOCKS as u32 + 1).map(|n| (output(n), bts(1), 0)).collect();
        let sizes: Vec<_> = grouped(many, 100).iter().map(|(_, ids, _)| ids.len()).collect();
        assert_eq!(sizes, [MAX_BATCH_BLOCKS, 1]);
    }
}
