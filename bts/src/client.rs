//! Talking to BTSes: fetch a block, put a map output, remove a job's output; and the fetch of a
//! reduce task's whole partition from every map output, several blocks in flight, bounded bytes,
//! retries with backoff.

use crate::block::{self, BlockError};
use crate::fetch_plan::{FetchPlan, RetryDecision};
use flicker_protocol::bts::{BtsFailure, BtsRequest, BtsResponse, MapOutputInfo};
use flicker_protocol::{JobId, MapOutputId};
use flicker_transport::{Connection, Endpoint, TransportError};
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

/// A client of every BTS of the cluster, keeping one connection per BTS.
#[derive(Debug)]
pub struct BtsClient {
    endpoint: Endpoint,
    connections: Mutex<HashMap<SocketAddr, Connection>>,
}

impl BtsClient {
    /// A client connecting from `endpoint`.
    pub fn new(endpoint: Endpoint) -> Self {
        Self { endpoint, connections: Mutex::default() }
    }

    /// The connection to `bts`: the open one, or a new one (a BTS that does not answer within
    /// [`CONNECT_TIMEOUT`] is unreachable).
    async fn connection(&self, bts: SocketAddr) -> Result<Connection, TransportError> {
        if let Some(connection) = self.connections.lock().await.get(&bts).filter(|c| !c.is_closed()) {
            return Ok(connection.clone());
        }
        let connection = tokio::time::timeout(CONNECT_TIMEOUT, self.endpoint.connect(bts))
            .await
            .map_err(|_| TransportError::ConnectTimeout { addr: bts, after: CONNECT_TIMEOUT })??;
        self.connections.lock().await.insert(bts, connection.clone());
        Ok(connection)
    }

    /// Fetches partition `partition` of map output `id` from `bts`, checked and decompressed.
    pub async fn fetch(
        &self,
        bts: SocketAddr,
        id: &MapOutputId,
        partition: u32,
    ) -> Result<Vec<u8>, FetchError> {
        let (mut send, mut recv) = self.connection(bts).await?.open().await?;
        send.send(&BtsRequest::Fetch { id: id.clone(), partition }).await?;
        send.finish()?;
        match recv.recv::<BtsResponse>().await?.ok_or(TransportError::NoResponse)? {
            BtsResponse::Block(header) => {
                let bytes = recv.recv_bytes(u64::from(header.stored_len), u64::from(u32::MAX)).await?;
                // Checking and decompressing is CPU work: off the task that drives the fetches,
                // so it overlaps with receiving the next blocks.
                let decoded = tokio::task::spawn_blocking(move || block::decode(&header, &bytes)).await;
                let decoded = decoded
                    .map_err(|e| FetchError::Unexpected { answer: format!("decoder stopped: {e}") })?;
                Ok(decoded?)
            }
            BtsResponse::Error(failure) => Err(failure.into()),
            other => Err(FetchError::Unexpected { answer: format!("{other:?}") }),
        }
    }

    /// Stores a map output (one block per partition) on `bts`.
    pub async fn put(
        &self,
        bts: SocketAddr,
        id: &MapOutputId,
        blocks: &[Vec<u8>],
    ) -> Result<MapOutputInfo, FetchError> {
        let (mut send, mut recv) = self.connection(bts).await?.open().await?;
        send.send(&BtsRequest::Put { id: id.clone(), partitions: blocks.len() as u32 }).await?;
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

/// Fetches partition `partition` of every map output in `sources` (id, BTS, expected bytes),
/// handing each block to the returned channel as it arrives, in any order. Network failures are
/// retried with backoff; the first block that cannot be had ends the stream with its error.
pub fn fetch_partition(
    client: Arc<BtsClient>,
    partition: u32,
    sources: Vec<(MapOutputId, SocketAddr, u64)>,
    limits: FetchLimits,
) -> mpsc::Receiver<Result<Vec<u8>, BlockFailure>> {
    let (sender, receiver) = mpsc::channel(2);
    tokio::spawn(async move {
        if let Err(failure) = drive(&client, partition, sources, limits, &sender).await {
            // The receiver may have gone away (task cancelled): nothing left to tell.
            let _ = sender.send(Err(failure)).await;
        }
    });
    receiver
}

async fn drive(
    client: &BtsClient,
    partition: u32,
    sources: Vec<(MapOutputId, SocketAddr, u64)>,
    limits: FetchLimits,
    sender: &mpsc::Sender<Result<Vec<u8>, BlockFailure>>,
) -> Result<(), BlockFailure> {
    let start = Instant::now();
    let blocks = sources.into_iter().map(|(id, bts, size)| ((id, bts), size)).collect();
    let mut plan = FetchPlan::new(blocks, limits.max_in_flight.max(1), limits.max_bytes_in_flight);
    let mut running = FuturesUnordered::new();
    loop {
        while let Some(key) = plan.next_to_start() {
            running.push(async move {
                let result = client.fetch(key.1, &key.0, partition).await;
                (key, result)
            });
        }
        if plan.is_done() {
            return Ok(());
        }
        let retry_at = plan.next_retry_at().map(|at| start + at);
        tokio::select! {
            Some(((id, bts), result)) = running.next() => match result {
                Ok(block) => {
                    plan.finished(&(id, bts));
                    if sender.send(Ok(block)).await.is_err() {
                        return Ok(());
                    }
                }
                Err(error) if error.is_retryable() => {
                    let key = (id, bts);
                    match plan.failed(&key, start.elapsed()) {
                        Some(RetryDecision::Retry { attempt, at }) => {
                            tracing::warn!(map_output = %key.0, %bts, %error, attempt, ?at, "retrying a block fetch");
                        }
                        _ => return Err(BlockFailure { map_output: key.0, bts: key.1, error }),
                    }
                }
                Err(error) => return Err(BlockFailure { map_output: id, bts, error }),
            },
            () = tokio::time::sleep_until(retry_at.unwrap_or(start)), if retry_at.is_some() => {
                plan.ready_for_retry(start.elapsed() + Duration::from_millis(1));
            }
        }
    }
}
