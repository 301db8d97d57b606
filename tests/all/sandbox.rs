//! The sandbox: each misbehaving plugin fails its call with the right error, within its limit, and
//! the same runtime then runs a good plugin.

use crate::support::{config, guest_plugin, runtime};
use flicker_batch::{BatchReader, BatchWriter, Schema, ValueRef};
use flicker_host::{CallError, HostError, Limit, Limits, MapInstance, OperatorError, Plugin, Runtime};
use std::time::{Duration, Instant};

fn test_plugin(runtime: &Runtime) -> std::sync::Arc<Plugin> {
    runtime.load(&guest_plugin("flicker-test-plugin")).expect("the test plugin loads")
}

fn small_batch() -> Vec<u8> {
    let mut batch = BatchWriter::new(&Schema::values(["n"]));
    batch.push_values([], [ValueRef::I64(42)]);
    batch.finish()
}

fn behaving(plugin: &Plugin, behave: &str, limits: Limits) -> MapInstance {
    plugin.map(&config(&[("behave", behave)]), limits).expect("the operator is created")
}

/// After a failure the same runtime still runs a well-behaved instance.
fn assert_runtime_still_works(runtime: &Runtime) {
    let plugin = test_plugin(runtime);
    let batch = small_batch();
    let echoed = behaving(&plugin, "echo", Limits::default()).map(&batch).expect("echo works");
    assert_eq!(echoed, batch);
    let max = runtime.load(flicker_plugins::std_plugin("std:max").unwrap()).unwrap();
    assert!(max.aggregate(&config(&[("field", "n")]), Limits::default()).is_ok());
}

#[test]
fn an_infinite_loop_hits_the_call_timeout() {
    let runtime = runtime();
    let plugin = test_plugin(&runtime);
    let timeout = Duration::from_millis(300);
    let mut looping = behaving(&plugin, "loop", Limits { call_timeout: timeout, ..Limits::default() });
    let started = Instant::now();
    let error = looping.map(&small_batch()).unwrap_err();
    let waited = started.elapsed();
    assert!(
        matches!(error, CallError::LimitExceeded(Limit::CallTimeout { after }) if after == timeout),
        "{error}"
    );
    assert!(error.to_string().contains("call timeout of 300ms"), "{error}");
    assert!(waited >= timeout, "stopped after {waited:?}, before the timeout");
    // Generous bound for a loaded machine: the point is that it stops at all.
    assert!(waited < timeout + Duration::from_secs(20), "stopped only after {waited:?}");
    assert!(matches!(looping.map(&small_batch()), Err(CallError::Poisoned)));
    assert_runtime_still_works(&runtime);
}

#[test]
fn unbounded_allocation_hits_the_memory_limit() {
    let runtime = runtime();
    let plugin = test_plugin(&runtime);
    let limit = 32 << 20;
    let error = behaving(&plugin, "alloc", Limits { memory: limit, ..Limits::default() })
        .map(&small_batch())
        .unwrap_err();
    assert!(matches!(error, CallError::LimitExceeded(Limit::Memory { bytes }) if bytes == limit), "{error}");
    assert!(error.to_string().contains("memory limit of 32 MiB"), "{error}");
    assert_runtime_still_works(&runtime);
}

/// `batches` batches of `rows` keyed rows each, every key distinct: `station-<n>` with value n.
fn distinct_keys(batches: u32, rows: u32) -> impl Iterator<Item = Vec<u8>> {
    (0..batches).map(move |b| {
        let mut batch = BatchWriter::new(&Schema::keyed(["station"], ["t"]));
        for n in b * rows..(b + 1) * rows {
            batch.push_values([ValueRef::Str(&format!("station-{n}"))], [ValueRef::I64(n.into())]);
        }
        batch.finish()
    })
}

fn rows_in(batch: &[u8]) -> usize {
    BatchReader::new(batch).unwrap().rows().count()
}

/// What a task does with an aggregate: after each update, if the state it reports passed the
/// spill threshold, the state is taken out. Far more keys than fit in the memory limit then go
/// through without reaching it, and every key comes out once; the same input without emptying
/// reaches the limit.
#[test]
fn an_aggregate_emptied_on_memory_pressure_stays_within_its_memory_limit() {
    let runtime = runtime();
    let max = runtime.load(flicker_plugins::std_plugin("std:max").unwrap()).unwrap();
    let limits = Limits { memory: 16 << 20, ..Limits::default() };
    let (batches, rows) = (100, 10_000);

    let mut aggregate = max.aggregate(&config(&[("field", "t")]), limits).unwrap();
    let (mut emptied, mut keys_out) = (0, 0);
    for batch in distinct_keys(batches, rows) {
        aggregate.update(&batch).expect("the update stays within the memory limit");
        if aggregate.state_bytes().unwrap() > limits.spill_threshold() {
            keys_out += rows_in(&aggregate.partials().expect("emptying stays within the memory limit"));
            emptied += 1;
        }
    }
    keys_out += rows_in(&aggregate.partials().expect("emptying stays within the memory limit"));
    assert_eq!(keys_out, (batches * rows) as usize, "every key comes out once");
    assert!(emptied >= 10, "emptied {emptied} times for 1M keys in 16 MiB");
    assert_eq!(aggregate.state_bytes().unwrap(), 0, "emptied by partials");

    let mut unbounded = max.aggregate(&config(&[("field", "t")]), limits).unwrap();
    let error = distinct_keys(batches, rows).find_map(|batch| unbounded.update(&batch).err());
    assert!(
        matches!(error, Some(CallError::LimitExceeded(Limit::Memory { .. }))),
        "without emptying, the same keys reach the limit: {error:?}"
    );
}

#[test]
fn the_filesystem_is_not_reachable() {
    let runtime = runtime();
    let plugin = test_plugin(&runtime);
    let error = behaving(&plugin, "read-file", Limits::default()).map(&small_batch()).unwrap_err();
    match &error {
        CallError::Operator(OperatorError::Failed(message)) => {
            assert!(message.starts_with("cannot read /etc/passwd"), "{message}");
            assert!(!message.contains("root:"), "{message}");
        }
        other => panic!("expected the operator's own error, got {other}"),
    }
    assert_runtime_still_works(&runtime);
}

#[test]
fn a_panic_is_a_trap_carrying_the_panic_message() {
    let runtime = runtime();
    let plugin = test_plugin(&runtime);
    let mut panicking = plugin
        .map(&config(&[("behave", "panic"), ("message", "the sky is falling")]), Limits::default())
        .unwrap();
    let error = panicking.map(&small_batch()).unwrap_err();
    match &error {
        CallError::Trapped { stderr, .. } => assert!(stderr.contains("the sky is falling"), "{stderr}"),
        other => panic!("expected a trap, got {other}"),
    }
    assert!(error.to_string().contains("the sky is falling"), "{error}");
    assert_runtime_still_works(&runtime);
}

#[test]
fn a_panic_after_a_flood_of_stderr_is_still_shown() {
    let runtime = runtime();
    let plugin = test_plugin(&runtime);
    // 1 MiB of stderr, far past the 64 KiB kept, then the panic.
    let flooding = config(&[("behave", "panic"), ("message", "the sky is falling"), ("flood", "1048576")]);
    let error = plugin.map(&flooding, Limits::default()).unwrap().map(&small_batch()).unwrap_err();
    let shown = error.to_string();
    assert!(shown.starts_with("operator panicked at "), "{:.200}", shown);
    assert!(shown.contains("the sky is falling"), "{:.200}", shown);
    let CallError::Trapped { stderr, .. } = &error else { panic!("expected a trap, got {shown:.200}") };
    assert!(stderr.starts_with("~~~~"), "the start is kept: {:.40}", stderr);
    assert!(stderr.contains("bytes cut ...]"), "the cut is marked");
    assert!(stderr.len() < (64 << 10) + 64, "bounded: {} bytes", stderr.len());
    assert_runtime_still_works(&runtime);
}

#[test]
fn a_trap_names_its_kind_first() {
    let runtime = runtime();
    let plugin = test_plugin(&runtime);
    let error = behaving(&plugin, "recurse", Limits::default()).map(&small_batch()).unwrap_err();
    assert!(matches!(error, CallError::Trapped { .. }), "{error}");
    let shown = error.to_string();
    assert!(shown.starts_with("operator trapped: call stack exhausted"), "{shown}");
    assert_runtime_still_works(&runtime);
}

#[test]
fn texts_from_an_operator_arrive_bounded_with_their_start() {
    let runtime = runtime();
    let plugin = test_plugin(&runtime);
    let max = flicker_protocol::text::MAX_OPERATOR_TEXT;
    let failing = config(&[("behave", "fail"), ("size", "8388608")]);
    let error = plugin.map(&failing, Limits::default()).unwrap().map(&small_batch()).unwrap_err();
    let CallError::Operator(OperatorError::Failed(message)) = &error else { panic!("{error:.200}") };
    assert!(message.starts_with("failing as asked!!!"), "{message:.40}");
    assert!(message.len() < max + 64, "{} bytes", message.len());
    assert!(message.ends_with(&format!("… [{} bytes cut]", 16 + (8 << 20) - max)), "{}", &message[max - 8..]);
    let rejecting = config(&[("behave", "bad-record"), ("size", "1048576")]);
    let error = plugin.map(&rejecting, Limits::default()).unwrap().map(&small_batch()).unwrap_err();
    let CallError::Operator(OperatorError::BadRecord { index: 0, message, .. }) = &error else {
        panic!("{error:.200}")
    };
    assert!(message.starts_with("????") && message.len() < max + 64, "{} bytes", message.len());
    assert_runtime_still_works(&runtime);
}

#[test]
fn a_huge_output_hits_the_output_limit() {
    let runtime = runtime();
    let plugin = test_plugin(&runtime);
    let limits = Limits { output: 1 << 20, ..Limits::default() };
    let mut huge = plugin.map(&config(&[("behave", "huge-output"), ("bytes", "4194304")]), limits).unwrap();
    let error = huge.map(&small_batch()).unwrap_err();
    assert!(
        matches!(error, CallError::LimitExceeded(Limit::Output { bytes, returned }) if bytes == 1 << 20 && returned == Some(4 << 20)),
        "{error}"
    );
    assert_runtime_still_works(&runtime);
}

#[test]
fn the_output_limit_is_what_a_large_output_meets_first() {
    let runtime = runtime();
    let plugin = test_plugin(&runtime);
    let huge = |bytes: u64, limits: Limits| {
        let config = config(&[("behave", "huge-output"), ("bytes", &bytes.to_string())]);
        plugin.map(&config, limits).unwrap().map(&small_batch())
    };
    // Under the default output limit of 256 MiB: past wasmtime's own 128 MiB copy limit.
    let room = Limits { memory: 1 << 30, ..Limits::default() };
    assert_eq!(huge(200 << 20, room).map(|output| output.len()).unwrap(), 200 << 20);
    // Over it: flicker's limit, with what the call returned.
    let error = huge(512 << 20, room).unwrap_err();
    assert_eq!(
        error.to_string(),
        "operator stopped: output limit of 256 MiB exceeded (the call returned 512 MiB)"
    );
    // Far over it: not copied at all, and still the output limit.
    let small = Limits { output: 1 << 20, ..Limits::default() };
    let error = huge(100 << 20, small).unwrap_err();
    assert!(
        matches!(error, CallError::LimitExceeded(Limit::Output { bytes, returned: None }) if bytes == 1 << 20),
        "{error}"
    );
    assert!(error.to_string().starts_with("operator stopped: output limit of 1 MiB exceeded"), "{error}");
    assert_runtime_still_works(&runtime);
}

#[test]
fn an_operator_error_stays_an_operator_error() {
    let runtime = runtime();
    let plugin = test_plugin(&runtime);
    let error = behaving(&plugin, "fail", Limits::default()).map(&small_batch()).unwrap_err();
    assert_eq!(error.to_string(), "operator returned an error: failing as asked");
    let rejected = plugin.map(&config(&[("behave", "dance")]), Limits::default()).err().unwrap();
    assert!(
        matches!(&rejected, HostError::Create(CallError::Operator(OperatorError::InvalidConfig(m))) if m.contains("dance")),
        "{rejected}"
    );
}

#[test]
fn a_component_is_compiled_once_and_loaded_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let config =
        flicker_host::RuntimeConfig { cache_dir: Some(dir.path().to_path_buf()), ..Default::default() };
    let bytes = flicker_plugins::std_plugin("std:key-by").unwrap();
    let first = Runtime::new(config.clone()).unwrap();
    let digest = first.load(bytes).unwrap().digest();
    let cached: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(cached.len(), 1);
    assert!(cached[0].to_string_lossy().starts_with(&digest.to_hex()));
    // A second runtime (another process, say) deserializes the artifact instead of compiling.
    let second = Runtime::new(config).unwrap();
    let plugin = second.load(bytes).unwrap();
    let mut key_by = plugin.map(&crate::support::config(&[("fields", "n")]), Limits::default()).unwrap();
    let keyed = key_by.map(&small_batch()).unwrap();
    assert_eq!(BatchReader::new(&keyed).unwrap().schema().key_fields, ["n"]);
}

#[test]
fn bytes_that_are_not_a_component_are_refused() {
    let runtime = runtime();
    let error = runtime.load(b"\0asm\x01\0\0\0").err().unwrap();
    assert!(matches!(error, HostError::Compile { .. }), "{error}");
    let error = runtime.load(b"hello").err().unwrap();
    assert!(matches!(error, HostError::Compile { .. }), "{error}");
}

#[test]
fn the_deadline_holds_after_the_runtime_is_dropped() {
    let plugin = test_plugin(&runtime());
    // The runtime is gone; the plugin and its instances still run under a ticking deadline.
    let timeout = Duration::from_millis(200);
    let mut looping = behaving(&plugin, "loop", Limits { call_timeout: timeout, ..Limits::default() });
    let error = looping.map(&small_batch()).unwrap_err();
    assert!(matches!(error, CallError::LimitExceeded(Limit::CallTimeout { .. })), "{error}");
}

#[test]
fn runtimes_sharing_a_cache_directory_compile_concurrently() {
    let dir = tempfile::tempdir().unwrap();
    let config =
        flicker_host::RuntimeConfig { cache_dir: Some(dir.path().to_path_buf()), ..Default::default() };
    let bytes = flicker_plugins::std_plugin("std:count").unwrap();
    std::thread::scope(|scope| {
        let loads: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| Runtime::new(config.clone()).unwrap().load(bytes).map(|p| p.digest())))
            .collect();
        for load in loads {
            assert!(load.join().unwrap().is_ok());
        }
    });
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
}

/// The error text of a panic in the test plugin: the message once, then the operator's own frame,
/// named and demangled, and nothing of the frames, mangled names or advice a guest cannot use.
fn assert_panic_reported(error: &str, message: &str) {
    assert_eq!(error.matches(message).count(), 1, "the panic message is shown once:\n{error}");
    let frame = "(in <flicker_test_plugin::Misbehave as flicker_guest::operator::Map>::map";
    let at = error.find(frame).unwrap_or_else(|| panic!("the operator's frame is named:\n{error}"));
    assert!(error.find(message).unwrap() < at, "the message comes before the frames:\n{error}");
    for noise in ["RUST_BACKTRACE", "<unknown>", "wasm function", "wasm backtrace", "_ZN", "panicking"] {
        assert!(!error.contains(noise), "{noise:?} is shown:\n{error}");
    }
}

#[test]
fn a_panic_shows_its_message_then_where_the_operator_was() {
    let runtime = runtime();
    let plugin = test_plugin(&runtime);
    let error = plugin
        .map(&config(&[("behave", "panic"), ("message", "the sky is falling")]), Limits::default())
        .unwrap()
        .map(&small_batch())
        .unwrap_err();
    let CallError::Trapped { trap, panic: Some(panic), backtrace, .. } = &error else {
        panic!("expected a trap with a panic, got {error:?}")
    };
    assert_eq!(trap, "wasm `unreachable` instruction executed");
    assert_eq!(panic.message, "the sky is falling");
    assert!(panic.location.starts_with("plugins/test/src/lib.rs:"), "{panic:?}");
    assert!(
        matches!(backtrace, flicker_host::GuestBacktrace::Named(frames)
            if frames.first().is_some_and(|f| f == "<flicker_test_plugin::Misbehave as flicker_guest::operator::Map>::map")),
        "{backtrace:?}"
    );
    assert_panic_reported(&error.to_string(), "the sky is falling");

    // `flicker test` prints the guest's stderr (the panic), then the trap and where.
    let plugin = flicker_plugins::guest_artifact("flicker-test-plugin");
    let args = ["-c", "behave=panic", "-c", "message=kaboom", "--schema", "n:i64", "--input", "1"];
    let tested = crate::support::run_flicker(&[&["test", plugin.to_str().unwrap()][..], &args].concat());
    assert_panic_reported(&crate::support::assert_failed(&tested), "kaboom");
}

#[test]
fn a_job_whose_operator_panics_fails_with_the_panic_then_where() {
    let dir = tempfile::tempdir().unwrap();
    crate::run::write_readings(&dir.path().join("data"), &crate::run::generate_readings(1_000, 4), false);
    let job = crate::run::test_plugin_job(r#"{ behave = "panic", message = "the sky is falling" }"#, "");
    let shown = crate::support::assert_failed(&crate::support::run_job(
        &crate::support::write_manifest(dir.path(), &job),
        &[],
    ));
    let error = shown.lines().find(|line| line.starts_with("error: job")).expect("the job's error");
    assert!(error.contains(": step \"spin\" ("), "{error}");
    assert!(error.contains("failed: operator panicked at plugins/test/src/lib.rs:"), "{error}");
    assert_panic_reported(error, "the sky is falling");
}

/// LEB128 of `n`, appended to `out`.
fn leb128(mut n: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// The LEB128 number at `*at` of `bytes`, moving `*at` past it.
fn read_leb128(bytes: &[u8], at: &mut usize) -> u64 {
    let (mut n, mut shift) = (0, 0);
    loop {
        let byte = bytes[*at];
        *at += 1;
        n |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return n;
        }
        shift += 7;
    }
}

/// A binary section: its id, its size, its bytes.
fn section(id: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![id];
    leb128(content.len() as u64, &mut out);
    out.extend_from_slice(content);
    out
}

/// `component` with `instances` more core instances, appended after everything it has, of a
/// core module that defines one linear memory of `pages` 64 KiB pages (or none, for 0): what a
/// hostile component made of several core modules, or using multi-memory, holds.
fn with_core_instances(component: &[u8], instances: u64, pages: u64) -> Vec<u8> {
    // The component's own core modules (top-level sections of id 1) come first in its index
    // space: the appended module's index is their count.
    let (mut at, mut modules) = (8, 0);
    while at < component.len() {
        let id = component[at];
        at += 1;
        let size = read_leb128(component, &mut at);
        modules += u64::from(id == 1);
        at += size as usize;
    }
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    if pages > 0 {
        let mut memories = vec![1, 0x00];
        leb128(pages, &mut memories);
        module.extend(section(5, &memories));
    }
    let mut instantiations = Vec::new();
    leb128(instances, &mut instantiations);
    for _ in 0..instances {
        instantiations.push(0x00);
        leb128(modules, &mut instantiations);
        instantiations.push(0);
    }
    [component.to_vec(), section(1, &module), section(2, &instantiations)].concat()
}

/// The test plugin with `memories` more linear memories of `mib` MiB each.
fn test_plugin_with_memories(memories: u64, mib: u64) -> Vec<u8> {
    with_core_instances(&guest_plugin("flicker-test-plugin"), memories, mib * 16)
}

/// The memory limit holds for all of an instance's memories together: three memories of 12 MiB
/// each fit under a 32 MiB limit one by one, not together.
#[test]
fn an_operators_memories_count_together_against_its_memory_limit() {
    let runtime = runtime();
    let plugin = runtime.load(&test_plugin_with_memories(3, 12)).expect("four memories fit a sandbox");
    let echo = config(&[("behave", "echo")]);
    let error = plugin.map(&echo, Limits { memory: 32 << 20, ..Limits::default() }).err().unwrap();
    assert!(
        matches!(&error, HostError::Create(CallError::LimitExceeded(Limit::Memory { bytes })) if *bytes == 32 << 20),
        "{error}"
    );
    assert!(error.to_string().contains("memory limit of 32 MiB reached"), "{error}");
    let mut fits = plugin.map(&echo, Limits { memory: 64 << 20, ..Limits::default() }).unwrap();
    assert_eq!(fits.map(&small_batch()).unwrap(), small_batch());
    assert_runtime_still_works(&runtime);
}

/// A component that needs more memories or core instances than a sandbox holds is refused when
/// it is loaded, before any task, with the sandbox's caps named; a job using it is refused with
/// its step's line.
#[test]
fn a_component_needing_more_than_a_sandbox_holds_is_refused_when_loaded() {
    use crate::run::{generate_readings, test_plugin_job, write_readings};
    use crate::support::{assert_failed, header_line, run_job, write_manifest};
    let runtime = runtime();
    let too_many_memories = test_plugin_with_memories(u64::from(flicker_host::MAX_MEMORIES), 1);
    let too_many_instances = with_core_instances(
        &guest_plugin("flicker-test-plugin"),
        u64::from(flicker_host::MAX_CORE_INSTANCES),
        0,
    );
    for (what, bytes) in [("memories", &too_many_memories), ("core module instances", &too_many_instances)] {
        let error = runtime.load(bytes).err().unwrap();
        assert!(matches!(error, HostError::OverSandbox { .. }), "{what}: {error}");
        for expected in ["needs more than an operator sandbox holds", what] {
            assert!(error.to_string().contains(expected), "{expected:?} in {error}");
        }
    }

    let dir = tempfile::tempdir().unwrap();
    write_readings(&dir.path().join("data"), &generate_readings(1_000, 3), false);
    std::fs::write(dir.path().join("wide.wasm"), &too_many_memories).unwrap();
    let plugin = flicker_plugins::guest_artifact("flicker-test-plugin");
    let job = test_plugin_job(r#"{ behave = "echo" }"#, "")
        .replace(&crate::support::toml_string(plugin.to_str().unwrap()), "\"wide.wasm\"");
    let stderr = assert_failed(&run_job(&write_manifest(dir.path(), &job), &[]));
    let line = header_line(&job, "spin");
    for expected in [format!("job.toml:{line}: step \"spin\""), "needs more than an operator sandbox".into()]
    {
        assert!(stderr.contains(&expected), "{expected:?} in {stderr}");
    }
}

/// An operator that sleeps (waits on the WASI monotonic clock) is stopped at its call timeout
/// like one that loops, in a call and in `create`, and a cancel wakes it.
#[test]
fn a_sleeping_operator_is_stopped_at_its_call_timeout_or_when_cancelled() {
    let runtime = runtime();
    let plugin = test_plugin(&runtime);
    let ten_minutes = config(&[("behave", "sleep"), ("millis", "600000")]);
    let timeout = Duration::from_millis(300);
    let limits = Limits { call_timeout: timeout, ..Limits::default() };
    // Generous bounds for a loaded machine: the point is that nobody waits ten minutes.
    let bound = Duration::from_secs(60);

    let mut sleeping = plugin.map(&ten_minutes, limits).unwrap();
    let started = Instant::now();
    let error = sleeping.map(&small_batch()).unwrap_err();
    assert!(matches!(error, CallError::LimitExceeded(Limit::CallTimeout { .. })), "{error}");
    assert!(started.elapsed() < bound, "stopped after {:?}", started.elapsed());

    let in_create = config(&[("behave", "echo"), ("on-create", "sleep"), ("millis", "600000")]);
    let started = Instant::now();
    let error = plugin.map(&in_create, limits).err().unwrap();
    assert!(error.to_string().contains("call timeout of 300ms reached"), "{error}");
    assert!(started.elapsed() < bound, "stopped after {:?}", started.elapsed());

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hour = Limits { call_timeout: Duration::from_secs(3600), ..Limits::default() };
    let mut sleeping =
        plugin.map(&ten_minutes, flicker_host::Sandbox::stopped_by(hour, stop.clone())).unwrap();
    let started = Instant::now();
    let error = std::thread::scope(|scope| {
        let call = scope.spawn(|| sleeping.map(&small_batch()));
        std::thread::sleep(Duration::from_millis(200));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        call.join().unwrap().unwrap_err()
    });
    assert!(matches!(error, CallError::Stopped), "{error}");
    assert!(started.elapsed() < bound, "stopped after {:?}", started.elapsed());
    assert_runtime_still_works(&runtime);
}

/// A `create` that sleeps while the job is checked is stopped at the step's call timeout: the
/// check, and the command, end long before the sleep would.
#[test]
fn a_create_that_sleeps_is_stopped_when_the_job_is_checked() {
    use crate::run::{generate_readings, test_plugin_job, write_readings};
    use crate::support::{assert_failed, run_job, write_manifest};
    let dir = tempfile::tempdir().unwrap();
    write_readings(&dir.path().join("data"), &generate_readings(1_000, 3), false);
    let job = test_plugin_job(
        r#"{ behave = "echo", on-create = "sleep", millis = "600000" }"#,
        r#"limits = { call_timeout = "300ms" }"#,
    );
    let started = Instant::now();
    let stderr = assert_failed(&run_job(&write_manifest(dir.path(), &job), &[]));
    assert!(stderr.contains("step \"spin\""), "{stderr}");
    assert!(stderr.contains("call timeout of 300ms reached"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(120), "took {:?}", started.elapsed());
}

/// The maps of a job, `count` of them chained after `parse`, the last one `last` (an inline
/// table), each the plugin at `plugin`, the sink reading the last.
fn chained_maps(plugin: &str, count: usize, last: &str, limits: &str) -> String {
    let mut job = String::new();
    for n in 0..count {
        let input = if n == 0 { "parse".to_owned() } else { format!("m{}", n - 1) };
        let config = if n + 1 == count { last } else { r#"{ behave = "echo" }"# };
        job += &format!(
            "[[step]]\nid = \"m{n}\"\ninput = \"{input}\"\nplugin = \"{plugin}\"\nconfig = {config}\n{limits}\n\n"
        );
    }
    job + &format!(
        "[[sink]]\nid = \"out\"\ninput = \"m{}\"\nurl = \"out/\"\nplugin = \"std:format-csv\"\n",
        count - 1
    )
}

/// A manifest reading `data/` with `std:parse-csv`, then `maps`.
fn parsed_then(maps: &str) -> String {
    format!(
        "name = \"chained\"\n\n[[source]]\nid = \"readings\"\nurl = \"data/\"\n\n[[step]]\nid = \"parse\"\n\
         input = \"readings\"\nplugin = \"std:parse-csv\"\n\
         config = {{ delimiter = \";\", schema = \"station:string,temperature:f64\" }}\n\n{maps}"
    )
}

/// A stage whose tasks would hold more operator instances than one task may is refused at
/// submit, naming the step that is one too many.
#[test]
fn a_stage_of_more_operators_than_a_task_may_hold_is_refused_at_submit() {
    use crate::run::{generate_readings, write_readings};
    use crate::support::{assert_failed, header_line, run_job, write_manifest};
    let dir = tempfile::tempdir().unwrap();
    write_readings(&dir.path().join("data"), &generate_readings(1_000, 3), false);
    std::fs::write(dir.path().join("test.wasm"), guest_plugin("flicker-test-plugin")).unwrap();
    let max = flicker_host::MAX_TASK_SANDBOXES as usize;
    // parse, `max - 1` maps and the sink: one operator too many, the sink.
    let job = parsed_then(&chained_maps("test.wasm", max - 1, r#"{ behave = "echo" }"#, ""));
    let stderr = assert_failed(&run_job(&write_manifest(dir.path(), &job), &[]));
    let line = header_line(&job, "out");
    for expected in [
        format!("job.toml:{line}: sink \"out\""),
        format!("run {} operators in each task, more than the {max} one task may hold", max + 1),
    ] {
        assert!(stderr.contains(&expected), "{expected:?} in {stderr}");
    }
    // One map fewer fits, and runs.
    let job = parsed_then(&chained_maps("test.wasm", max - 2, r#"{ behave = "echo" }"#, ""));
    crate::support::assert_succeeded(&run_job(&write_manifest(dir.path(), &job), &[]));
}

/// On a cluster, a job whose one task holds as many sandboxes as a task may, each with as many
/// memories as a sandbox holds, and sleeps in the last of them, does not keep a good job from
/// running beside it on the same executor; a cancel then wakes the sleeper, and the executor
/// and scheduler keep serving.
#[test]
fn a_job_holding_its_whole_share_of_sandboxes_leaves_room_for_another_jobs_tasks() {
    use crate::cluster::{Cluster, expected_max, readings_in, wait_for_status};
    use crate::run::{output_max, readings_job};
    use crate::support::{stderr, write_file, write_manifest};
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), 1, 2);
    let readings = readings_in(dir.path(), 2_000, 21);
    write_file(&dir.path().join("few").join("one.txt"), "a;1.0\nb;2.0\n");
    std::fs::write(
        dir.path().join("wide.wasm"),
        test_plugin_with_memories(u64::from(flicker_host::MAX_MEMORIES) - 1, 1),
    )
    .unwrap();
    let maps = flicker_host::MAX_TASK_SANDBOXES as usize - 2;
    let hog = parsed_then(&chained_maps(
        "wide.wasm",
        maps,
        r#"{ behave = "sleep", millis = "600000" }"#,
        r#"limits = { call_timeout = "1h" }"#,
    ))
    .replace("url = \"data/\"", "url = \"few/\"")
    .replace("url = \"out/\"", "url = \"hog/\"");
    let submitted = cluster.json(&["submit", write_manifest(dir.path(), &hog).to_str().unwrap()]);
    let hog = submitted["job"].as_str().unwrap().to_owned();
    wait_for_status(&cluster, &hog, "its task to run", |s| s["stages"][0]["running"].as_u64().unwrap() >= 1);

    let good = write_manifest(dir.path(), &readings_job("std:max", "", "good/"));
    let output = cluster.client(&["submit", good.to_str().unwrap(), "--wait"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(output_max(&dir.path().join("good")), expected_max(&readings));

    let cancelled = cluster.client(&["cancel", &hog]);
    assert!(cancelled.status.success(), "{}", stderr(&cancelled));
    let status = cluster.json(&["status", &hog]);
    assert_eq!(status[0]["state"], "cancelled", "{status}");
    assert_eq!(status[0]["stages"][0]["running"], 0, "{status}");
    cluster.wait_for_nodes(1);
}

/// An executor that loses its scheduler stops the operator code it runs for it: nobody would
/// take the task's report, and the scheduler runs the task again when it is back.
#[test]
fn an_executor_that_loses_its_scheduler_stops_the_operators_running_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let (mut cluster, _job) = crate::cluster::looping_on_a_cluster(dir.path());
    cluster.kill("scheduler");
    // The looping call is stopped: the task returns, and its report finds the connection gone.
    // (The harness's wait gives up after two minutes; the loop's timeout is an hour.)
    cluster.wait_for_log("exec-0", |log| {
        let stopping = log.find("stopping the tasks running here")?;
        log[stopping..].contains("a request from the scheduler failed").then_some(())
    });
}

/// Every hostile operator of this file, run as a job on a cluster, fails its own job with its
/// cause named (at submit or in its task), and the scheduler and executor keep serving: a good
/// job runs after them all.
#[test]
fn hostile_operators_on_a_cluster_fail_their_jobs_and_the_cluster_keeps_serving() {
    use crate::cluster::{Cluster, expected_max, readings_in};
    use crate::run::{output_max, readings_job, test_plugin_job};
    use crate::support::{stderr, write_manifest};
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), 1, 2);
    let readings = readings_in(dir.path(), 1_000, 23);
    std::fs::write(
        dir.path().join("wide.wasm"),
        test_plugin_with_memories(u64::from(flicker_host::MAX_MEMORIES), 1),
    )
    .unwrap();
    let quick = r#"limits = { call_timeout = "300ms" }"#;
    let hostile = [
        (r#"{ behave = "loop" }"#, quick, "call timeout of 300ms reached"),
        (r#"{ behave = "sleep", millis = "600000" }"#, quick, "call timeout of 300ms reached"),
        (
            r#"{ behave = "echo", on-create = "sleep", millis = "600000" }"#,
            quick,
            "call timeout of 300ms reached",
        ),
        (r#"{ behave = "alloc" }"#, r#"limits = { memory = "32MiB" }"#, "memory limit of 32 MiB reached"),
        (
            r#"{ behave = "echo", on-create = "alloc" }"#,
            r#"limits = { memory = "32MiB" }"#,
            "memory limit of 32 MiB",
        ),
        (r#"{ behave = "recurse" }"#, "", "call stack exhausted"),
        (r#"{ behave = "panic", message = "the end", flood = "200000" }"#, "", "the end"),
        (
            r#"{ behave = "huge-output", bytes = "209715200" }"#,
            r#"limits = { output = "64MiB" }"#,
            "output limit of 64 MiB exceeded",
        ),
        (r#"{ behave = "malformed", shape = "garbage" }"#, "", "step \"spin\" returned a "),
        (r#"{ behave = "fail", size = "8388608" }"#, "", "bytes cut]"),
        (r#"{ behave = "bad-record", size = "1048576" }"#, "", "bytes cut]"),
        (r#"{ behave = "read-file" }"#, "", "cannot read /etc/passwd"),
    ];
    let plugin = flicker_plugins::guest_artifact("flicker-test-plugin");
    let plugin = crate::support::toml_string(plugin.to_str().unwrap());
    let wide = (
        test_plugin_job(r#"{ behave = "echo" }"#, "").replace(&plugin, "\"wide.wasm\""),
        "needs more than an operator sandbox holds",
    );
    let jobs = hostile
        .iter()
        .map(|(config, limits, expected)| {
            (format!("max_attempts = 1\n{}", test_plugin_job(config, limits)), *expected)
        })
        .chain([wide]);
    for (job, expected) in jobs {
        let output =
            cluster.client(&["submit", write_manifest(dir.path(), &job).to_str().unwrap(), "--wait"]);
        assert!(!output.status.success(), "{expected}: the job succeeded");
        let error = stderr(&output);
        assert!(error.contains(expected), "{expected:?} in {error:.2000}");
        assert!(error.len() < 256 << 10, "{expected}: {} bytes of error", error.len());
        assert!(!dir.path().join("out").join("_SUCCESS").exists(), "{expected}");
    }
    assert_eq!(cluster.wait_for_nodes(1).as_array().unwrap().len(), 1);
    let good = write_manifest(dir.path(), &readings_job("std:max", "", "good/"));
    let output = cluster.client(&["submit", good.to_str().unwrap(), "--wait"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(output_max(&dir.path().join("good")), expected_max(&readings));
}

/// A node whose sandboxes are all in use makes a new instance wait for one, then fail as the
/// node's condition, not the operator's; the sandbox a dropped instance frees is taken again.
#[test]
fn an_instance_waits_for_a_free_sandbox_then_fails_as_the_nodes_condition() {
    let runtime = Runtime::new(flicker_host::RuntimeConfig {
        cache_dir: Some(crate::support::cache_dir()),
        sandboxes: 1,
        sandbox_wait: Duration::from_millis(100),
        ..Default::default()
    })
    .unwrap();
    let plugin = test_plugin(&runtime);
    let held = behaving(&plugin, "echo", Limits::default());
    let error = plugin.map(&config(&[("behave", "echo")]), Limits::default()).err().unwrap();
    assert!(matches!(error, HostError::NoSandbox { sandboxes: 1, .. }), "{error}");
    assert!(error.to_string().contains("all 1 operator sandboxes of this node are in use"), "{error}");
    drop(held);
    let mut again = behaving(&plugin, "echo", Limits::default());
    assert_eq!(again.map(&small_batch()).unwrap(), small_batch(), "the freed sandbox is taken");
}

/// Creating an operator runs under its step's limits, also when the job is checked before any
/// task runs: a `create` that loops is stopped at the step's `call_timeout` (not the cluster's
/// 30 s), one that allocates at the step's `memory`.
#[test]
fn create_runs_under_the_steps_limits_when_a_job_is_checked() {
    use crate::run::{generate_readings, test_plugin_job, write_readings};
    use crate::support::{assert_failed, run_job, write_manifest};
    let dir = tempfile::tempdir().unwrap();
    write_readings(&dir.path().join("data"), &generate_readings(1_000, 5), false);

    let looping = test_plugin_job(
        r#"{ behave = "echo", on-create = "loop" }"#,
        r#"limits = { call_timeout = "300ms" }"#,
    );
    let stderr = assert_failed(&run_job(&write_manifest(dir.path(), &looping), &["--call-timeout", "30s"]));
    assert!(stderr.contains("step \"spin\""), "{stderr}");
    assert!(stderr.contains("call timeout of 300ms reached"), "{stderr}");

    let hoarding =
        test_plugin_job(r#"{ behave = "echo", on-create = "alloc" }"#, r#"limits = { memory = "32MiB" }"#);
    let stderr = assert_failed(&run_job(&write_manifest(dir.path(), &hoarding), &[]));
    assert!(stderr.contains("memory limit of 32 MiB reached"), "{stderr}");
    assert!(!dir.path().join("out").join("_SUCCESS").exists());
}

/// The problem `BatchReader::check` finds in a batch the test plugins broke in each shape.
const MALFORMED_SHAPES: [(&str, &str); 2] = [
    ("extra-value", "a row has another number of values than the batch has fields"),
    ("garbage", "field name runs past the end of the batch"),
];

/// A producer of batches among the test plugins, in a job over `data/` that writes its rows out.
struct Producer {
    /// The job, given the producing step's config (an inline table).
    job: fn(&str) -> String,
    /// The producing step.
    step: &'static str,
    /// Its config when it behaves, inside the braces.
    behaving: &'static str,
    /// The header of the output, and its number of rows when the producer behaves.
    output: (&'static str, usize),
    /// Its config (inside the braces, without the shape) for each call that returns a malformed
    /// batch, with the stage the task that calls it belongs to.
    malformed: &'static [(&'static str, &'static str)],
}

/// The producers: the map `spin` (`flicker-test-plugin`), the aggregate `count`
/// (`flicker-test-aggregate` counting the readings per station: `partials` on the map side of its
/// shuffle, stage 0, `finish` on the reduce side, stage 1) and the parser `lines`
/// (`flicker-test-parse`, straight to the sink: its rows meet no other operator before the
/// format). A user's plugin is never fused into `std:parse-csv`, so the aggregate's map side
/// `update`s the parser's rows and its own `partials` are what it returns.
fn producers(readings: usize, stations: usize) -> [Producer; 3] {
    use crate::run::{guest_step_job, parse_readings, readings_source, test_plugin_job};
    [
        Producer {
            job: |config| test_plugin_job(config, ""),
            step: "spin",
            behaving: r#"behave = "echo""#,
            output: ("station,temperature", readings),
            malformed: &[(r#"behave = "malformed""#, "stage 0")],
        },
        Producer {
            job: |config| {
                let head = parse_readings("blame-aggregate", r#", key = "station""#);
                let config = format!("config = {config}");
                guest_step_job(&head, "count", "parse", "flicker-test-aggregate", &config)
            },
            step: "count",
            behaving: r#"malformed = "none""#,
            output: ("station,count", stations),
            malformed: &[(r#"malformed = "partials""#, "stage 0"), (r#"malformed = "finish""#, "stage 1")],
        },
        Producer {
            job: |config| {
                let head = readings_source("blame-parse");
                let config = format!("config = {config}");
                guest_step_job(&head, "lines", "readings", "flicker-test-parse", &config)
            },
            step: "lines",
            behaving: r#"malformed = "none""#,
            output: ("line", readings),
            malformed: &[(r#"malformed = "parse""#, "stage 0")],
        },
    ]
}

/// Each producer of batches (a map, an aggregate's partials and final rows, a parser) that
/// returns a malformed batch, in each shape, fails the job with the framing problem, blamed on
/// its own step in the stage that called it, before anything reads the batch; the job commits
/// nothing and the process does not panic. Each first runs behaving, so the failures are the
/// malformed batches' own.
#[test]
fn a_malformed_batch_is_blamed_on_the_operator_that_returned_it() {
    use crate::support::{
        assert_failed, assert_mentions, assert_succeeded, read_csv_output, run_job, write_manifest,
    };
    let dir = tempfile::tempdir().unwrap();
    let readings = crate::run::generate_readings(1_000, 4);
    crate::run::write_readings(&dir.path().join("data"), &readings, false);
    let stations = crate::run::stats_by_station(&readings).len();
    let out = dir.path().join("out");
    for producer in producers(readings.len(), stations) {
        let behaving = (producer.job)(&format!("{{ {} }}", producer.behaving));
        assert_succeeded(&run_job(&write_manifest(dir.path(), &behaving), &[]));
        let (header, rows) = producer.output;
        assert_eq!(read_csv_output(&out, header).len(), rows, "{}", producer.step);
        std::fs::remove_dir_all(&out).unwrap();

        for (asked, stage) in producer.malformed {
            for (shape, problem) in MALFORMED_SHAPES {
                let job = (producer.job)(&format!(r#"{{ {asked}, shape = "{shape}" }}"#));
                let stderr = assert_failed(&run_job(&write_manifest(dir.path(), &job), &[]));
                let error = stderr.lines().find(|line| line.starts_with("error: job")).unwrap_or(&stderr);
                let blamed = format!("{stage} task ");
                let returned = format!(": step \"{}\" returned a malformed batch at byte ", producer.step);
                assert_mentions(error, &[blamed.as_str(), &returned, problem]);
                assert!(!stderr.contains("panicked"), "{asked}, {shape}: {stderr}");
                assert!(!out.join("_SUCCESS").exists(), "{asked}, {shape}");
            }
        }
    }
}

/// The scheduler's side of one executor, played by the test: registers it, hands it the
/// components it fetches, and launches tasks on it.
struct PlayedScheduler {
    identity: flicker_transport::Identity,
    connection: flicker_transport::Connection,
    _executor: tokio::task::JoinHandle<()>,
}

impl PlayedScheduler {
    /// Starts an executor of one slot, working in `dir`, with the test runtime, and takes its
    /// registration; `components` are what it may fetch.
    async fn start(dir: &std::path::Path, components: Vec<Vec<u8>>) -> PlayedScheduler {
        use flicker_transport::{EndpointConfig, EphemeralCa, Role};
        let ca = EphemeralCa::new().unwrap();
        let identity = ca.identity("scheduler", Role::Scheduler).unwrap();
        let loopback = "127.0.0.1:0".parse().unwrap();
        let endpoint =
            flicker_transport::Endpoint::bind(loopback, EndpointConfig::new(identity.clone())).unwrap();
        let config = flicker_executor::ExecutorConfig {
            id: flicker_protocol::ExecutorId("budgeted".into()),
            scheduler: endpoint.local_addr().unwrap(),
            listen: loopback,
            identity: ca.identity("budgeted", Role::Executor).unwrap(),
            slots: 1,
            memory: 1 << 30,
            work_dir: dir.join("executor"),
            bts: None,
            faults: flicker_executor::Faults::default(),
            storage: flicker_storage::NodeStorage::unrestricted(Default::default()),
        };
        let executor =
            flicker_executor::Executor::start(config, std::sync::Arc::new(runtime())).await.unwrap();
        let executor = tokio::spawn(executor.run());
        let connection = endpoint.accept().await.unwrap().establish(&[Role::Executor]).await.unwrap();
        tokio::spawn(Self::answer(connection.clone(), components));
        PlayedScheduler { identity, connection, _executor: executor }
    }

    /// Answers the executor's registration, heartbeats and component fetches.
    async fn answer(connection: flicker_transport::Connection, components: Vec<Vec<u8>>) {
        use flicker_protocol::scheduler::{SchedulerRequest, SchedulerResponse};
        while let Ok(Some((mut recv, mut send))) = connection.accept_stream().await {
            let response = match recv.recv::<SchedulerRequest>().await.unwrap() {
                Some(SchedulerRequest::Register(_)) => SchedulerResponse::Registered { heartbeat_ms: 60_000 },
                Some(SchedulerRequest::Heartbeat { .. }) => SchedulerResponse::Alive,
                Some(SchedulerRequest::FetchPlugin { digest }) => {
                    let bytes =
                        components.iter().find(|c| flicker_host::PluginDigest::of(c) == digest).unwrap();
                    send.send(&SchedulerResponse::Plugin { len: bytes.len() as u64 }).await.unwrap();
                    send.send_bytes(bytes).await.unwrap();
                    send.finish().unwrap();
                    continue;
                }
                other => panic!("the executor asked {other:?}"),
            };
            send.send(&response).await.unwrap();
            send.finish().unwrap();
        }
    }

    /// Runs `spec` on the executor; returns its answer.
    async fn launch(
        &self,
        spec: flicker_protocol::task::TaskSpec,
    ) -> (flicker_protocol::task::TaskReport, flicker_protocol::tenant::TaskUsage) {
        use flicker_protocol::scheduler::{ExecutorRequest, ExecutorResponse};
        let capability = self.identity.grant(&spec.task.job, Duration::from_secs(3600)).unwrap();
        let (mut send, mut recv) = self.connection.open().await.unwrap();
        send.send(&ExecutorRequest::Launch { spec: Box::new(spec), capability }).await.unwrap();
        send.finish().unwrap();
        match recv.recv::<ExecutorResponse>().await.unwrap() {
            Some(ExecutorResponse::Task(report, _log, usage)) => (report, usage),
            other => panic!("the executor answered {other:?}"),
        }
    }
}

/// The one task of a job whose step `spin` is the test plugin with `config` under a call timeout
/// of a minute, reading `<dir>/data/readings.txt`, with a CPU budget of `cpu_budget_us`.
fn spin_task(
    dir: &std::path::Path,
    job: &str,
    config: &str,
    cpu_budget_us: Option<u64>,
) -> flicker_protocol::task::TaskSpec {
    use flicker_protocol::task::{JobDefaults, JobDescriptor, TaskInput, TaskSpec};
    use flicker_protocol::{AttemptId, JobId, StageId, TaskId, TaskIndex};
    let manifest = crate::run::test_plugin_job(config, r#"limits = { call_timeout = "60s" }"#)
        .replace("split_size = \"64KiB\"", "");
    let plugin = flicker_plugins::guest_artifact("flicker-test-plugin");
    let digest = flicker_host::PluginDigest::of(&guest_plugin("flicker-test-plugin"));
    let input = dir.join("data/readings.txt");
    let object_size = std::fs::metadata(&input).unwrap().len();
    let job = JobId(job.into());
    TaskSpec {
        task: TaskId { job: job.clone(), stage: StageId(0), index: TaskIndex(0) },
        attempt: AttemptId(0),
        job: JobDescriptor {
            job,
            manifest_path: "job.toml".into(),
            manifest,
            base_dir: dir.to_str().unwrap().into(),
            plugins: vec![(plugin.to_str().unwrap().into(), digest)],
            defaults: JobDefaults::default(),
        },
        input: TaskInput::Split {
            source: "readings".into(),
            object: object_store::path::Path::from_absolute_path(&input).unwrap().to_string(),
            object_size,
            start: 0,
            end: object_size,
        },
        part: 0,
        kept: Vec::new(),
        boundaries: Vec::new(),
        broadcasts: Vec::new(),
        cpu_budget_us,
    }
}

/// A task given a CPU budget whose operator loops fails naming its budget, a tick or two of CPU
/// past it rather than at its call timeout, and reports what it consumed; a task that
/// succeeds reports its consumption too.
#[test]
fn a_task_past_its_cpu_budget_fails_naming_it_long_before_its_call_timeout() {
    use flicker_protocol::failure::{Blame, FailureKind};
    use flicker_protocol::task::TaskReport;
    let dir = tempfile::tempdir().unwrap();
    let lines: String = crate::run::generate_readings(1_000, 5).iter().map(|r| r.line() + "\n").collect();
    crate::support::write_file(&dir.path().join("data/readings.txt"), &lines);
    let io = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    io.block_on(async {
        let scheduler = PlayedScheduler::start(dir.path(), vec![guest_plugin("flicker-test-plugin")]).await;

        let started = Instant::now();
        let budget_us = 300_000;
        let looping = spin_task(dir.path(), "loops", r#"{ behave = "loop" }"#, Some(budget_us));
        let (report, usage) = scheduler.launch(looping).await;
        let TaskReport::Failed(failure) = report else { panic!("{report:?}") };
        let FailureKind::CpuBudget { used_us, budget_us: hit } = failure.kind else { panic!("{failure:?}") };
        assert_eq!(hit, budget_us);
        assert!(used_us > budget_us, "stopped at {used_us} µs");
        assert_eq!(failure.kind.blame(), Blame::Job);
        assert_eq!(failure.step.as_deref(), Some("spin"));
        assert!(failure.message.contains("CPU budget of 300ms used up"), "{}", failure.message);
        assert!(usage.cpu_us >= used_us, "{usage:?}");
        assert!(usage.peak_memory > 0, "{usage:?}");
        // Generous bounds for a loaded machine: the kind says the budget, not the timeout, ended it.
        assert!(used_us < budget_us + 5_000_000, "stopped at {used_us} µs");
        assert!(usage.wall_ms < 60_000, "{usage:?}");
        assert!(started.elapsed() < Duration::from_secs(120), "took {:?}", started.elapsed());

        let echo = spin_task(dir.path(), "echoes", r#"{ behave = "echo" }"#, None);
        let (report, usage) = scheduler.launch(echo).await;
        assert!(matches!(report, TaskReport::Succeeded { .. }), "{report:?}");
        assert!(usage.cpu_us > 0 && usage.peak_memory > 0, "{usage:?}");
    });
}
