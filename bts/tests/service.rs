//! The BTS over real QUIC on loopback: fetch, put, remove; a block damaged on disk is caught by
//! the fetcher's checksum; a missing map output is a typed error.

use flicker_bts::{BtsClient, FetchError, FetchLimits, ShuffleStore, fetch_partition};
use flicker_protocol::bts::{BtsFailure, Capability};
use flicker_protocol::{JobId, MapOutputId, StageId, TaskIndex};
use flicker_transport::{CapabilityCheck, Endpoint, EndpointConfig, EphemeralCa, Identity, Role};
use std::sync::Arc;
use std::time::Duration;

fn id(map_task: u32) -> MapOutputId {
    MapOutputId { job: JobId("job-1".into()), stage: StageId(0), map_task: TaskIndex(map_task) }
}

struct Bts {
    store: Arc<ShuffleStore>,
    /// A client with the scheduler's certificate.
    client: Arc<BtsClient>,
    /// A client with another executor's certificate.
    executor: Arc<BtsClient>,
    addr: std::net::SocketAddr,
    /// The scheduler's capability for job-1.
    capability: Capability,
    /// The scheduler, to grant more.
    scheduler: Identity,
    _dir: tempfile::TempDir,
}

async fn start() -> Bts {
    let ca = EphemeralCa::new().unwrap();
    let node = ca.identity("exec-0", Role::Executor).unwrap();
    let scheduler = ca.identity("scheduler", Role::Scheduler).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(ShuffleStore::new(dir.path()));
    let loopback = "127.0.0.1:0".parse().unwrap();
    let server = Endpoint::bind(loopback, EndpointConfig::new(node.clone())).unwrap();
    let addr = server.local_addr().unwrap();
    let check = Arc::new(CapabilityCheck::new(node));
    tokio::spawn(flicker_bts::service::serve(server, store.clone(), check));
    let client =
        |identity| Arc::new(BtsClient::new(Endpoint::bind(loopback, EndpointConfig::new(identity)).unwrap()));
    let capability = scheduler.grant(&JobId("job-1".into()), Duration::from_secs(600)).unwrap();
    Bts {
        store,
        client: client(scheduler.clone()),
        executor: client(ca.identity("exec-1", Role::Executor).unwrap()),
        addr,
        capability,
        scheduler,
        _dir: dir,
    }
}

/// One block, fetched by a request of its own.
async fn fetch_one(bts: &Bts, id: MapOutputId, partition: u32) -> Result<Vec<u8>, FetchError> {
    match bts.client.fetch(bts.addr, &[id], partition, &bts.capability).await {
        Ok(mut blocks) => Ok(blocks.remove(0)),
        Err((at, error)) => {
            assert_eq!(at, 0, "the failure is about the only block");
            Err(error)
        }
    }
}

fn within<F: std::future::Future>(future: F) -> tokio::time::Timeout<F> {
    tokio::time::timeout(Duration::from_secs(20), future)
}

#[tokio::test]
async fn blocks_are_fetched_put_and_removed() {
    within(async {
        let bts = start().await;
        let big: Vec<u8> = (0..3_000_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        bts.store.write_map_output(&id(0), &[b"alpha".to_vec(), Vec::new(), big.clone()]).unwrap();
        assert_eq!(fetch_one(&bts, id(0), 0).await.unwrap(), b"alpha");
        assert_eq!(fetch_one(&bts, id(0), 1).await.unwrap(), b"");
        assert_eq!(fetch_one(&bts, id(0), 2).await.unwrap(), big);

        let info = bts
            .client
            .put(bts.addr, &id(1), &[b"x".to_vec(), b"yy".to_vec()], &bts.capability)
            .await
            .unwrap();
        assert_eq!(info.raw_bytes, [1, 2]);
        assert_eq!(bts.store.read_partition(&id(1), 1).unwrap(), b"yy");

        assert!(bts.client.remove_job(bts.addr, &JobId("job-1".into())).await.unwrap() > 0);
        assert!(!bts.store.has_map_output(&id(0)));
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_block_damaged_on_disk_is_detected_by_the_fetcher() {
    within(async {
        let bts = start().await;
        bts.store.write_map_output(&id(0), &[b"first block".to_vec(), b"second block".to_vec()]).unwrap();
        // The file starts with the first block's stored bytes.
        let file = bts.store.root().join("job-1/0/0.out");
        let mut bytes = std::fs::read(&file).unwrap();
        bytes[0] ^= 0x40;
        std::fs::write(&file, bytes).unwrap();
        assert_eq!(fetch_one(&bts, id(0), 1).await.unwrap(), b"second block");
        let error = fetch_one(&bts, id(0), 0).await.unwrap_err();
        assert!(matches!(error, FetchError::Corrupt(_)), "{error:?}");
        assert!(!error.is_retryable());
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn missing_map_outputs_and_partitions_are_typed_errors() {
    within(async {
        let bts = start().await;
        let error = fetch_one(&bts, id(7), 0).await.unwrap_err();
        assert!(
            matches!(&error, FetchError::Remote(BtsFailure::NoSuchMapOutput { id: missing }) if *missing == id(7)),
            "{error:?}"
        );
        bts.store.write_map_output(&id(0), &[b"a".to_vec()]).unwrap();
        let error = fetch_one(&bts, id(0), 5).await.unwrap_err();
        assert!(
            matches!(error, FetchError::Remote(BtsFailure::NoSuchPartition { partition: 5, partitions: 1, .. })),
            "{error:?}"
        );
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn one_request_fetches_the_blocks_of_several_map_outputs_in_order_up_to_a_missing_one() {
    within(async {
        let bts = start().await;
        for map_task in 0..3 {
            bts.store.write_map_output(&id(map_task), &[format!("block of {map_task}").into_bytes()]).unwrap();
        }
        let blocks = bts.client.fetch(bts.addr, &[id(2), id(0), id(1)], 0, &bts.capability).await.unwrap();
        assert_eq!(blocks, [b"block of 2".to_vec(), b"block of 0".to_vec(), b"block of 1".to_vec()]);

        let (at, error) = bts.client.fetch(bts.addr, &[id(0), id(7), id(1)], 0, &bts.capability).await.unwrap_err();
        assert_eq!(at, 1, "the failure names the missing block's place");
        assert!(matches!(error, FetchError::Remote(BtsFailure::NoSuchMapOutput { id: missing }) if missing == id(7)));
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_partition_is_fetched_from_every_map_output_and_a_lost_one_ends_it() {
    within(async {
        let bts = start().await;
        for map_task in 0..20 {
            let blocks =
                vec![format!("p0 of {map_task}").into_bytes(), format!("p1 of {map_task}").into_bytes()];
            bts.store.write_map_output(&id(map_task), &blocks).unwrap();
        }
        let sources: Vec<_> = (0..20).map(|m| (id(m), bts.addr, 8)).collect();
        let limits = FetchLimits { max_in_flight: 3, max_bytes_in_flight: 20 };
        let mut blocks =
            fetch_partition(bts.client.clone(), 1, sources.clone(), limits, bts.capability.clone());
        let mut got = Vec::new();
        while let Some(block) = blocks.recv().await {
            got.push(String::from_utf8(block.unwrap()).unwrap());
        }
        got.sort();
        let mut expected: Vec<_> = (0..20).map(|m| format!("p1 of {m}")).collect();
        expected.sort();
        assert_eq!(got, expected);

        let mut with_lost = sources;
        with_lost.insert(10, (id(99), bts.addr, 8));
        let mut blocks =
            fetch_partition(bts.client.clone(), 0, with_lost, FetchLimits::default(), bts.capability.clone());
        let mut failure = None;
        while let Some(block) = blocks.recv().await {
            if let Err(e) = block {
                failure = Some(e);
            }
        }
        let failure = failure.expect("the lost map output ends the fetch");
        assert_eq!((failure.map_output, failure.bts), (id(99), bts.addr));
        assert!(matches!(failure.error, FetchError::Remote(BtsFailure::NoSuchMapOutput { .. })));
    })
    .await
    .unwrap();
}

/// Blocks are read and written only with their job's capability from the scheduler, and only the
/// scheduler removes a job's: another executor's certificate alone reads, alters or deletes
/// nothing.
#[tokio::test]
async fn a_jobs_blocks_take_its_capability_and_only_the_scheduler_removes_them() {
    within(async {
        let bts = start().await;
        bts.store.write_map_output(&id(0), &[b"secret".to_vec()]).unwrap();
        let forbidden = |error: FetchError, expected: &str| match error {
            FetchError::Remote(BtsFailure::Forbidden { reason }) => {
                assert!(reason.contains(expected), "{reason}")
            }
            other => panic!("expected a refusal, got {other:?}"),
        };
        let other_job = bts.scheduler.grant(&JobId("job-2".into()), Duration::from_secs(600)).unwrap();
        let (_, error) = bts.executor.fetch(bts.addr, &[id(0)], 0, &other_job).await.unwrap_err();
        forbidden(error, "for job job-2, not job-1");
        let forged = Capability { signature: vec![1; 70], ..bts.capability.clone() };
        let (_, error) = bts.executor.fetch(bts.addr, &[id(0)], 0, &forged).await.unwrap_err();
        forbidden(error, "signature is not valid");
        let error = bts.executor.put(bts.addr, &id(0), &[b"forged".to_vec()], &other_job).await.unwrap_err();
        forbidden(error, "for job job-2");
        let error = bts.executor.remove_job(bts.addr, &JobId("job-1".into())).await.unwrap_err();
        forbidden(error, "only the scheduler may remove");
        // Untouched, and readable with the job's capability, by any executor that has it.
        let blocks = bts.executor.fetch(bts.addr, &[id(0)], 0, &bts.capability).await.unwrap();
        assert_eq!(blocks, vec![b"secret".to_vec()]);
    })
    .await
    .unwrap();
}

/// Bytes that lz4 cannot shrink much, so a block of them is many pieces of stored bytes.
fn noise(len: usize) -> Vec<u8> {
    flicker_gen::Rng::new(2).bytes(len)
}

/// A block of many pieces is decoded as it arrives (on a blocking thread, fed as the stream
/// receives); a byte damaged in any piece, early or last, makes it corrupt, never data.
#[tokio::test]
async fn a_large_block_is_decoded_as_it_arrives_and_damage_in_any_piece_is_caught() {
    within(async {
        let bts = start().await;
        let large = noise(3 * flicker_bts::block::PIECE + 1000);
        bts.store.write_map_output(&id(0), &[large.clone(), b"after".to_vec()]).unwrap();
        assert_eq!(fetch_one(&bts, id(0), 0).await.unwrap(), large);
        let blocks = bts.client.fetch(bts.addr, &[id(0), id(0)], 0, &bts.capability).await.unwrap();
        assert_eq!(blocks, [large.clone(), large.clone()]);

        let file = bts.store.root().join("job-1/0/0.out");
        let whole = std::fs::read(&file).unwrap();
        let (header, _) = bts.store.read_block(&id(0), 0).unwrap();
        for at in [100, header.stored_len as usize / 2, header.stored_len as usize - 1] {
            let mut damaged = whole.clone();
            damaged[at] ^= 0x08;
            std::fs::write(&file, damaged).unwrap();
            let error = fetch_one(&bts, id(0), 0).await.unwrap_err();
            assert!(matches!(error, FetchError::Corrupt(_)), "byte {at}: {error:?}");
            assert_eq!(fetch_one(&bts, id(0), 1).await.unwrap(), b"after");
        }
    })
    .await
    .unwrap();
}
