//! The BTS's network service: answers fetch, put and remove requests from a [`ShuffleStore`].
//!
//! Each request arrives on its own stream. A fetch is answered with each block's header and its
//! stored bytes as they are on disk (the fetcher verifies them); a put receives a map output block
//! by block, verifying each before it is stored.

use crate::block::EncodedBlock;
use crate::store::{BlockReader, BtsError, ShuffleStore};
use flicker_protocol::JobId;
use flicker_protocol::bts::{BlockHeader, BtsFailure, BtsRequest, BtsResponse};
use flicker_transport::{
    CapabilityCheck, Connection, Endpoint, FrameReceiver, FrameSender, Peer, Role, TransportError,
};
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Largest block a put may send: the stored length field's range.
const MAX_BLOCK: u64 = u32::MAX as u64;

/// Pieces of [`READ_PIECE`] read ahead at once, across all of a BTS's fetches: a fetch reads a
/// block's next piece while it sends one only if this budget has room, so that fetchers that stop
/// reading make the BTS hold no more than this beyond the piece each fetch is sending.
const READ_AHEAD_PIECES: usize = 64;

/// Blocks of more stored bytes than this are sent mapped from the page cache when all of them
/// are cached ([`BlockReader::map_cached`]); a smaller one costs less to read than to map.
const MAP_ABOVE: u64 = READ_PIECE as u64;

/// What every request of a BTS shares.
struct Service {
    store: Arc<ShuffleStore>,
    check: Arc<CapabilityCheck>,
    /// Permits of the pieces read ahead ([`READ_AHEAD_PIECES`]).
    read_ahead: Arc<Semaphore>,
    /// Blocks of more stored bytes than this may be sent mapped ([`MAP_ABOVE`]; the read-ahead
    /// test raises it so that every block is read).
    map_above: u64,
}

/// Serves every connection `endpoint` accepts until the endpoint closes. Only executors (who
/// store and fetch map output, each request with its job's capability, checked by `check`) and
/// the scheduler (who removes a job's) may connect.
pub async fn serve(endpoint: Endpoint, store: Arc<ShuffleStore>, check: Arc<CapabilityCheck>) {
    let read_ahead = Arc::new(Semaphore::new(READ_AHEAD_PIECES));
    serve_with(endpoint, Arc::new(Service { store, check, read_ahead, map_above: MAP_ABOVE })).await;
}

/// Serves every connection `endpoint` accepts with `service`, until the endpoint closes.
async fn serve_with(endpoint: Endpoint, service: Arc<Service>) {
    while let Some(incoming) = endpoint.accept().await {
        let service = service.clone();
        tokio::spawn(async move {
            match incoming.establish(&[Role::Executor, Role::Scheduler]).await {
                Ok(connection) => serve_connection(connection, service).await,
                Err(error) => tracing::warn!(%error, "refused a connection to the bts"),
            }
        });
    }
}

/// Serves the requests of one connection until it closes.
async fn serve_connection(connection: Connection, service: Arc<Service>) {
    // Who the peer is, read from its certificate once for all its requests.
    let peer = Arc::new(connection.peer());
    loop {
        match connection.accept_stream().await {
            Ok(Some((recv, send))) => {
                let (service, peer) = (service.clone(), peer.clone());
                tokio::spawn(async move {
                    let peer = peer.as_ref().as_ref();
                    match handle(recv, send, &service, peer).await {
                        Err(error) if error.is_protocol_violation() => {
                            let who = Peer::describe(peer);
                            tracing::warn!(peer = %who, %error, "a bts request broke the protocol");
                        }
                        Err(error) => tracing::debug!(%error, "a bts request failed"),
                        Ok(()) => {}
                    }
                });
            }
            Ok(None) => return,
            Err(error) => {
                tracing::debug!(%error, "bts connection closed");
                return;
            }
        }
    }
}

/// Whether `peer` may make `request`: a fetch or put with a capability for the job of every map
/// output it names; a removal from the scheduler only. The refusal says why.
fn permitted(request: &BtsRequest, check: &CapabilityCheck, peer: Option<&Peer>) -> Result<(), String> {
    let (ids, capability) = match request {
        BtsRequest::Fetch { ids, capability, .. } => (ids.as_slice(), capability),
        BtsRequest::Put { id, capability, .. } => (std::slice::from_ref(id), capability),
        BtsRequest::RemoveJob { job } => {
            return match peer {
                Some(peer) if peer.role == Role::Scheduler => Ok(()),
                _ => Err(format!("only the scheduler may remove job {job}'s map output")),
            };
        }
    };
    let mut jobs: Vec<&JobId> = ids.iter().map(|id| &id.job).collect();
    jobs.dedup();
    jobs.into_iter().try_for_each(|job| check.check(capability, job).map_err(|e| e.to_string()))
}

async fn handle(
    mut recv: FrameReceiver,
    mut send: FrameSender,
    service: &Service,
    peer: Option<&Peer>,
) -> Result<(), TransportError> {
    let store = &service.store;
    let Some(request) = recv.recv::<BtsRequest>().await? else { return Ok(()) };
    if let Err(reason) = permitted(&request, &service.check, peer) {
        let who = Peer::describe(peer);
        tracing::warn!(peer = %who, %reason, "refused a bts request");
        send.send(&BtsResponse::Error(BtsFailure::Forbidden { reason })).await?;
        return send.finish();
    }
    match request {
        BtsRequest::Fetch { ids, partition, .. } => {
            for id in ids {
                // An output kept in memory is read in place: no disk, no hand-off.
                let served = if store.holds_in_memory(&id) {
                    match store.read_block(&id, partition) {
                        Ok((header, bytes)) => {
                            send.send(&BtsResponse::Block(header)).await?;
                            send.send_payload(bytes.into()).await?;
                            Served::Block { len: header.stored_len.into() }
                        }
                        Err(error) => Served::Unreadable(error),
                    }
                } else {
                    send_from_disk(&mut send, service, id, partition).await?
                };
                match served {
                    Served::Block { len } => store.count_served(len),
                    Served::Unreadable(error) => {
                        send.send(&BtsResponse::Error(failure(&error))).await?;
                        break;
                    }
                    Served::CutShort => return Ok(()),
                }
            }
        }
        BtsRequest::Put { id, partitions, .. } => {
            let response = match receive_map_output(&mut recv, store, &id, partitions).await? {
                Ok(info) => BtsResponse::Stored(info),
                Err(error) => BtsResponse::Error(error),
            };
            send.send(&response).await?;
        }
        BtsRequest::RemoveJob { job } => {
            let store = store.clone();
            let response = match blocking(move || store.remove_job(&job)).await {
                Ok(bytes) => BtsResponse::Removed { bytes },
                Err(error) => BtsResponse::Error(failure(&error)),
            };
            send.send(&response).await?;
        }
    }
    send.finish()
}

/// The most bytes of a block read from disk before they are sent.
const READ_PIECE: usize = 1 << 20;

/// What became of one block of a fetch.
#[derive(Debug)]
enum Served {
    /// Its header and its `len` stored bytes were sent.
    Block {
        /// Stored bytes sent.
        len: u64,
    },
    /// It could not be read, and nothing of it was sent: the fetcher is told why.
    Unreadable(BtsError),
    /// Reading failed after its header was sent: the stream was reset (the fetcher retries).
    CutShort,
}

/// Sends one block from disk: its header, then its stored bytes. A block larger than
/// [`MAP_ABOVE`] whose bytes are all in the page cache is sent from there, mapped: no copy of it
/// is read, and no thread is handed each piece. Any other block is sent in pieces of
/// [`READ_PIECE`] as they are read, so the first bytes leave while the rest is read and no buffer
/// of the whole block is held. While a piece is sent, the next one is read if the service's
/// read-ahead budget has room ([`READ_AHEAD_PIECES`]), so that the stream does not wait for the
/// disk between pieces; otherwise once the piece is sent. The error is the stream's.
async fn send_from_disk(
    send: &mut FrameSender,
    service: &Service,
    id: flicker_protocol::MapOutputId,
    partition: u32,
) -> Result<Served, TransportError> {
    let opened = {
        let (store, map_above) = (service.store.clone(), service.map_above);
        blocking(move || {
            let (header, reader) = store.open_block(&id, partition)?;
            let cached = (reader.remaining() > map_above).then(|| reader.map_cached()).flatten();
            Ok((header, reader, cached))
        })
        .await
    };
    let (header, reader, cached) = match opened {
        Ok(opened) => opened,
        Err(error) => return Ok(Served::Unreadable(error)),
    };
    send.send(&BtsResponse::Block(header)).await?;
    if let Some(cached) = cached {
        send.send_payload(cached).await?;
        return Ok(Served::Block { len: header.stored_len.into() });
    }
    let read = |mut reader: BlockReader| {
        blocking(move || {
            let piece = reader.read_piece(READ_PIECE)?;
            Ok((reader, piece))
        })
    };
    // The piece being read, with the permit it holds if it is read ahead.
    let mut next = (reader.remaining() > 0).then(|| (read(reader), None::<OwnedSemaphorePermit>));
    while let Some((reading, permit)) = next.take() {
        let (reader, piece) = match reading.await {
            Ok(read) => read,
            Err(error) => {
                tracing::warn!(%error, "a block could not be read while being sent");
                send.reset();
                return Ok(Served::CutShort);
            }
        };
        let mut after_sending = None;
        if reader.remaining() > 0 {
            match service.read_ahead.clone().try_acquire_owned() {
                Ok(ahead) => next = Some((read(reader), Some(ahead))),
                Err(_) => after_sending = Some(reader),
            }
        }
        send.send_payload(piece.into()).await?;
        // The piece is the stream's now: a permit it held goes back to the budget.
        drop(permit);
        if let Some(reader) = after_sending {
            next = Some((read(reader), None));
        }
    }
    Ok(Served::Block { len: header.stored_len.into() })
}

/// Receives the blocks of a put and stores them; the outer error is the stream's, the inner one
/// the store's answer to the sender.
async fn receive_map_output(
    recv: &mut FrameReceiver,
    store: &Arc<ShuffleStore>,
    id: &flicker_protocol::MapOutputId,
    partitions: u32,
) -> Result<Result<flicker_protocol::bts::MapOutputInfo, BtsFailure>, TransportError> {
    let mut writer = match store.writer(id) {
        Ok(writer) => writer,
        Err(error) => return Ok(Err(failure(&error))),
    };
    for partition in 0..partitions {
        let header: BlockHeader = recv.recv().await?.ok_or(TransportError::NoResponse)?;
        let bytes = recv.recv_bytes(u64::from(header.stored_len), MAX_BLOCK).await?;
        let block = match EncodedBlock::verified(header, bytes) {
            Ok(block) => block,
            Err(error) => {
                return Ok(Err(BtsFailure::Corrupt { id: id.clone(), partition, reason: error.to_string() }));
            }
        };
        if let Err(error) = writer.push(&block) {
            return Ok(Err(failure(&error)));
        }
    }
    Ok(blocking(move || writer.finish()).await.map_err(|e| failure(&e)))
}

fn failure(error: &BtsError) -> BtsFailure {
    error.into()
}

/// Runs blocking file work off the async threads, starting it at once (not when first awaited).
fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, BtsError> + Send + 'static,
) -> impl Future<Output = Result<T, BtsError>> {
    let task = tokio::task::spawn_blocking(work);
    async move {
        task.await.unwrap_or_else(|join| {
            Err(BtsError::Io { path: Default::default(), source: std::io::Error::other(join.to_string()) })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BtsClient;
    use crate::block::PIECE;
    use flicker_protocol::{MapOutputId, StageId, TaskIndex};
    use flicker_transport::{EndpointConfig, EphemeralCa, Identity};
    use std::time::Duration;

    /// An executor's and the scheduler's identities, and an empty store in a directory of its own.
    fn fixture() -> (Identity, Identity, tempfile::TempDir, Arc<ShuffleStore>) {
        let ca = EphemeralCa::new().unwrap();
        let node = ca.identity("exec-0", Role::Executor).unwrap();
        let scheduler = ca.identity("scheduler", Role::Scheduler).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(ShuffleStore::new(dir.path()));
        (node, scheduler, dir, store)
    }

    /// Map output `map` of the tests' job.
    fn map_output(map: u32) -> MapOutputId {
        MapOutputId { job: JobId("job-1".into()), stage: StageId(0), map_task: TaskIndex(map) }
    }

    /// A block of several pieces in the page cache is sent mapped, and fetched as it was stored,
    /// like one read (and a block of one piece, always read, beside it in the same fetch).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cached_block_is_sent_from_the_page_cache_as_it_was_stored() {
        let (node, scheduler, _dir, store) = fixture();
        let ids = [map_output(0), map_output(1)];
        let (large, small) = (flicker_gen::Rng::new(4).bytes(5 * PIECE / 2), b"small".to_vec());
        store.write_map_output(&ids[0], std::slice::from_ref(&large)).unwrap();
        store.write_map_output(&ids[1], std::slice::from_ref(&small)).unwrap();
        let (header, reader) = store.open_block(&ids[0], 0).unwrap();
        assert!(reader.remaining() > MAP_ABOVE && reader.map_cached().is_some(), "{header:?} is mapped");
        let capability = scheduler.grant(&ids[0].job, Duration::from_secs(600)).unwrap();
        let loopback = "127.0.0.1:0".parse().unwrap();
        let client = BtsClient::new(Endpoint::bind(loopback, EndpointConfig::new(scheduler)).unwrap());
        let endpoint = Endpoint::bind(loopback, EndpointConfig::new(node.clone())).unwrap();
        let addr = endpoint.local_addr().unwrap();
        let server = tokio::spawn(serve(endpoint, store.clone(), Arc::new(CapabilityCheck::new(node))));
        let fetched = client.fetch(addr, &ids, 0, &capability);
        let fetched = tokio::time::timeout(Duration::from_secs(20), fetched).await.unwrap().unwrap();
        assert_eq!(fetched, vec![large, small]);
        server.abort();
    }

    /// Blocks of several pieces are sent whole whatever room the read-ahead budget has (none, one
    /// permit for two fetches at once, plenty), and every permit taken goes back once they are.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pieces_are_read_ahead_within_the_budget_and_its_permits_go_back() {
        let (node, scheduler, _dir, store) = fixture();
        let id = map_output(0);
        let large = flicker_gen::Rng::new(3).bytes(3 * PIECE + 1000);
        store.write_map_output(&id, &[large.clone(), b"after".to_vec()]).unwrap();
        let capability = scheduler.grant(&id.job, Duration::from_secs(600)).unwrap();
        let loopback = "127.0.0.1:0".parse().unwrap();
        let client = BtsClient::new(Endpoint::bind(loopback, EndpointConfig::new(scheduler)).unwrap());
        for permits in [0, 1, READ_AHEAD_PIECES] {
            let endpoint = Endpoint::bind(loopback, EndpointConfig::new(node.clone())).unwrap();
            let addr = endpoint.local_addr().unwrap();
            let read_ahead = Arc::new(Semaphore::new(permits));
            let check = Arc::new(CapabilityCheck::new(node.clone()));
            let service =
                Service { store: store.clone(), check, read_ahead: read_ahead.clone(), map_above: u64::MAX };
            let service = Arc::new(service);
            let server = tokio::spawn(serve_with(endpoint, service));
            let fetch = || client.fetch(addr, std::slice::from_ref(&id), 0, &capability);
            let fetched =
                tokio::time::timeout(Duration::from_secs(20), async { tokio::join!(fetch(), fetch()) });
            let (first, second) = fetched.await.unwrap();
            assert_eq!((first.unwrap(), second.unwrap()), (vec![large.clone()], vec![large.clone()]));
            assert_eq!(read_ahead.available_permits(), permits, "a budget of {permits}");
            server.abort();
        }
    }
}
