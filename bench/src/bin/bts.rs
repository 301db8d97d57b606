//! Shuffle fetch throughput: a reducer fetching map output from a BTS over QUIC, next to a plain
//! loopback TCP copy of the same bytes, taking turns each round, median of the runs.
//!
//! The data: two map outputs of 16 partitions each (512 MiB per map output by default, so 32 MiB
//! blocks), every partition generated lines `station;temperature` as the reference job reads
//! them, so lz4 compresses them as much as it would real shuffle text. They are written into a
//! [`ShuffleStore`] under `bench/data/bts-<pid>` (removed at the end), and stay in the page cache.
//!
//! The server is a **child process** (`bts serve ...`): it serves the store with
//! [`flicker_bts::service::serve`] on a QUIC endpoint, and the same bytes, decompressed once at
//! start, on a TCP listener. A second process keeps the client's and the server's runtimes,
//! allocators and threads apart, as between two executors, rather than letting one tokio runtime
//! schedule both ends.
//!
//! - **BTS**: for each partition in turn, one [`fetch_partition`] of it from both map outputs
//!   with [`FetchLimits::default`], as the executor's reduce task does (both 32 MiB blocks in
//!   flight at once), each block checked and decompressed, and handed back once counted, as a
//!   reduce task hands back each block it has read (later blocks are decoded into its buffer).
//!   MiB/s of raw (decompressed) bytes.
//! - **TCP**: one connection; the server writes the raw bytes in 1 MiB writes, the client reads
//!   them into a 1 MiB buffer. MiB/s of the same raw bytes.
//!
//! `bts [MIB_PER_MAP_OUTPUT] [RUNS]` (defaults 512 and 3); the first round warms up and is not
//! counted. `bts serve STORE TLS MAP_OUTPUTS` is the server itself.

use anyhow::Context;
use flicker_bench::median;
use flicker_bts::{BtsClient, FetchLimits, MapOutputInfo, ShuffleStore, fetch_partition};
use flicker_gen::Weather;
use flicker_protocol::bts::Capability;
use flicker_protocol::{JobId, MapOutputId, StageId, TaskIndex};
use flicker_testkit::Process;
use flicker_transport::{CapabilityCheck, Endpoint, EndpointConfig, Identity, certs};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Map outputs written and fetched.
const MAP_OUTPUTS: u32 = 2;
/// Partitions (blocks) of each map output.
const PARTITIONS: u32 = 16;
/// One mebibyte.
const MIB: usize = 1 << 20;
/// The size of the TCP contender's writes and reads.
const TCP_CHUNK: usize = MIB;
/// The certificate both ends present, as executors do.
const CERT: &str = "executor";

/// Map output `map` of the benchmark's job.
fn map_output(map: u32) -> MapOutputId {
    MapOutputId { job: JobId("bench-bts".into()), stage: StageId(0), map_task: TaskIndex(map) }
}

/// A directory removed (with everything in it) when dropped.
struct ScratchDir(PathBuf);

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if let Err(error) = std::fs::remove_dir_all(&self.0) {
            eprintln!("cannot remove {}: {error}", self.0.display());
        }
    }
}

/// Writes `maps` map outputs of [`PARTITIONS`] blocks of at most `block_bytes` of generated lines
/// each, one block in memory at a time.
fn write_store(store: &ShuffleStore, maps: u32, block_bytes: usize) -> anyhow::Result<Vec<MapOutputInfo>> {
    (0..maps)
        .map(|map| -> anyhow::Result<MapOutputInfo> {
            let id = map_output(map);
            let weather = Weather::new(413, u64::from(map) + 1)?;
            let mut writer = store.writer(&id)?;
            for partition in 0..PARTITIONS {
                let mut lines = weather.lines(u64::from(partition));
                let mut block = Vec::with_capacity(block_bytes + 64);
                // Whole lines up to `block_bytes` and not beyond: two blocks of a partition fit
                // the default bound of bytes in flight exactly, as the module docs say.
                loop {
                    let whole = block.len();
                    lines.write(1, &mut block);
                    if block.len() > block_bytes {
                        block.truncate(whole);
                        break;
                    }
                }
                writer.push(&flicker_bts::block::encode(&block)?)?;
            }
            Ok(writer.finish()?)
        })
        .collect()
}

/// The server process: the store on a BTS endpoint, its raw bytes on a TCP listener. Says where
/// each listens on stderr, TCP first.
fn serve(store: &Path, tls: &Path, maps: u32) -> anyhow::Result<()> {
    let store = Arc::new(ShuffleStore::new(store));
    let mut raw = Vec::new();
    for map in 0..maps {
        for partition in 0..PARTITIONS {
            raw.push(store.read_partition(&map_output(map), partition)?);
        }
    }
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot bind a TCP listener")?;
    eprintln!("tcp listening on {}", listener.local_addr()?);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let sent = stream.and_then(|mut stream| {
                raw.iter()
                    .flat_map(|block| block.chunks(TCP_CHUNK))
                    .try_for_each(|chunk| stream.write_all(chunk))
            });
            if let Err(error) = sent {
                eprintln!("tcp copy failed: {error}");
            }
        }
    });

    let identity = Identity::load(tls, CERT).context("cannot load the server's certificate")?;
    let check = Arc::new(CapabilityCheck::new(identity.clone()));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let endpoint = Endpoint::bind("127.0.0.1:0".parse()?, EndpointConfig::new(identity))?;
        eprintln!("bts listening on {}", endpoint.local_addr()?);
        flicker_bts::service::serve(endpoint, store, check).await;
        Ok(())
    })
}

/// Fetches every partition of the map outputs from `bts` with the job's `capability`, one reduce
/// partition after the other; returns the raw bytes received.
async fn fetch_all(
    client: &Arc<BtsClient>,
    bts: SocketAddr,
    maps: &[MapOutputInfo],
    capability: &Capability,
) -> anyhow::Result<u64> {
    let mut received = 0;
    for partition in 0..PARTITIONS {
        let sources = (0..)
            .zip(maps)
            .map(|(map, info)| (map_output(map), bts, info.raw_bytes[partition as usize]))
            .collect();
        let mut blocks =
            fetch_partition(client.clone(), partition, sources, FetchLimits::default(), capability.clone());
        while let Some(block) = blocks.recv().await {
            let block = block.map_err(|failure| {
                anyhow::anyhow!("cannot fetch {} from {}: {}", failure.map_output, failure.bts, failure.error)
            })?;
            received += block.len() as u64;
            // As a reduce task does once it has read a block.
            client.buffers().give_back(block);
        }
    }
    Ok(received)
}

/// Reads everything the TCP server sends; returns the bytes received.
fn tcp_copy(server: SocketAddr) -> anyhow::Result<u64> {
    let mut stream = TcpStream::connect(server).context("cannot connect to the TCP server")?;
    let mut buffer = vec![0; TCP_CHUNK];
    let mut received = 0;
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return Ok(received),
            Ok(n) => received += n as u64,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error).context("the TCP copy failed"),
        }
    }
}

/// Times `copy`, checking that it received `expected` bytes.
fn timed(expected: u64, copy: impl FnOnce() -> anyhow::Result<u64>) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let received = copy()?;
    let elapsed = started.elapsed();
    anyhow::ensure!(received == expected, "received {received} bytes, expected {expected}");
    Ok(elapsed)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("serve") {
        let usage = || anyhow::anyhow!("usage: bts serve STORE TLS MAP_OUTPUTS");
        let maps = args.get(3).ok_or_else(usage)?.parse()?;
        return serve(
            Path::new(args.get(1).ok_or_else(usage)?),
            Path::new(args.get(2).ok_or_else(usage)?),
            maps,
        );
    }
    let mib_per_map: usize = args.first().map_or(Ok(512), |a| a.parse())?;
    let runs: usize = args.get(1).map_or(Ok(3), |a| a.parse())?;
    let block_bytes = mib_per_map * MIB / PARTITIONS as usize;
    anyhow::ensure!(
        (1..u32::MAX as usize / 2).contains(&block_bytes),
        "{mib_per_map} MiB per map output makes blocks of {block_bytes} bytes; a block holds 1 byte to 2 GiB"
    );

    let scratch = ScratchDir(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data").join(format!("bts-{}", std::process::id())),
    );
    let (tls, store_dir) = (scratch.0.join("tls"), scratch.0.join("store"));
    certs::init_cluster(&tls)?;
    eprintln!("writing {MAP_OUTPUTS} map outputs of {PARTITIONS} × {} MiB", block_bytes / MIB);
    let maps = write_store(&ShuffleStore::new(&store_dir), MAP_OUTPUTS, block_bytes)?;
    let raw: u64 = maps.iter().flat_map(|info| &info.raw_bytes).sum();
    let stored: u64 = maps.iter().map(|info| info.stored_bytes).sum();

    let mut command = Command::new(std::env::current_exe()?);
    command.arg("serve").arg(&store_dir).arg(&tls).arg(MAP_OUTPUTS.to_string());
    let server = Process::spawn("the bts server", command)?;
    let tcp: SocketAddr = server.listening_on(0, Duration::from_secs(120))?.parse()?;
    let bts: SocketAddr = server.listening_on(1, Duration::from_secs(60))?.parse()?;

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let identity = Identity::load(&tls, CERT).context("cannot load the client's certificate")?;
    // The job's capability, as the scheduler grants it to the executors of its tasks.
    let scheduler = Identity::load(&tls, "scheduler").context("cannot load the scheduler's certificate")?;
    let capability = scheduler.grant(&map_output(0).job, Duration::from_secs(3600))?;
    let client = runtime.block_on(async {
        anyhow::Ok(Arc::new(BtsClient::new(Endpoint::bind(
            "127.0.0.1:0".parse()?,
            EndpointConfig::new(identity),
        )?)))
    })?;

    let (mut bts_runs, mut tcp_runs) = (Vec::new(), Vec::new());
    for run in 0..runs + 1 {
        let bts_time = timed(raw, || runtime.block_on(fetch_all(&client, bts, &maps, &capability)))?;
        let tcp_time = timed(raw, || tcp_copy(tcp))?;
        eprintln!(
            "round {run}{}: bts {:.2} s, tcp {:.2} s",
            if run == 0 { " (warm-up)" } else { "" },
            bts_time.as_secs_f64(),
            tcp_time.as_secs_f64()
        );
        // The first round opens the QUIC connection and warms the page cache; it is not counted.
        if run > 0 {
            bts_runs.push(bts_time);
            tcp_runs.push(tcp_time);
        }
    }
    let server_rss = server.peak_rss_kib()?;
    drop(server);

    let (bts_median, tcp_median) = (median(bts_runs), median(tcp_runs));
    let mib_per_s = |bytes: u64, d: Duration| bytes as f64 / MIB as f64 / d.as_secs_f64();
    let mib = |bytes: u64| bytes as f64 / MIB as f64;
    println!(
        "shuffle fetch, {MAP_OUTPUTS} map outputs × {PARTITIONS} partitions, {:.0} MiB raw, {:.0} MiB stored (lz4 {:.2}:1), median of {runs} runs",
        mib(raw),
        mib(stored),
        raw as f64 / stored as f64
    );
    println!("| contender | wall | raw MiB/s | on-the-wire MiB/s | ratio to TCP |");
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| BTS over QUIC, one reducer per partition in turn | {:.2} s | {:.0} | {:.0} | {:.2} |",
        bts_median.as_secs_f64(),
        mib_per_s(raw, bts_median),
        mib_per_s(stored, bts_median),
        tcp_median.as_secs_f64() / bts_median.as_secs_f64()
    );
    println!(
        "| plain TCP, 1 MiB writes | {:.2} s | {:.0} | {:.0} | 1.00 |",
        tcp_median.as_secs_f64(),
        mib_per_s(raw, tcp_median),
        mib_per_s(raw, tcp_median)
    );
    println!("\nserver process peak RSS (VmHWM; holds the raw bytes for TCP): {} MiB", server_rss / 1024);
    Ok(())
}
