//! The web UI in a real browser: headless Chromium, driven over WebDriver (`chromedriver`, which
//! `scripts/setup.sh` installs) with `fantoccini`, against a process cluster whose scheduler
//! serves HTTPS (`--http`). A user pastes a token, watches a job run (its list row, its stage DAG,
//! its progress changing without a reload), opens a stage's tasks and the executors, reads why a
//! job failed, and cancels a job. Names, causes and records that look like HTML stay text.

use crate::cluster::{Cluster, poll};
use crate::run::readings_job;
use crate::support::{toml_string, write_file, write_manifest};
use crate::tenants::small_files;
use fantoccini::{Client, ClientBuilder, Locator};
use flicker_testkit::Process;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

/// What a job's name and a bad record hold: markup that must reach the screen as text.
const SCRIPT: &str = "<script>alert(1)</script>";
const IMAGE: &str = "<img src=x onerror=alert(2)>";

/// A headless Chromium session, and the chromedriver that runs it on a free port of 127.0.0.1.
/// Dropping it ends the session (closing the browser), then kills chromedriver by its PID: also
/// when the test fails half-way.
struct Browser {
    runtime: tokio::runtime::Runtime,
    client: Option<Client>,
    /// Killed by its PID when dropped, after the session ended.
    _driver: Process,
}

impl Browser {
    /// Starts chromedriver (`$FLICKER_CHROMEDRIVER`, else `chromedriver` on the `PATH`) and a
    /// session of a 1400×1000 headless Chromium that accepts the scheduler's certificate (signed
    /// by the cluster CA, which the browser does not know).
    fn start() -> Browser {
        let program = std::env::var_os("FLICKER_CHROMEDRIVER").unwrap_or_else(|| "chromedriver".into());
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut command = Command::new(&program);
        command.arg(format!("--port={port}")).arg("--allowed-ips=127.0.0.1");
        let driver = Process::spawn("chromedriver", command)
            .unwrap_or_else(|e| panic!("{e:#}\n(scripts/setup.sh installs chromium and chromium-driver)"));
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let capabilities = json!({
            "browserName": "chrome",
            "acceptInsecureCerts": true,
            "goog:chromeOptions": {
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"],
            },
        });
        let Value::Object(capabilities) = capabilities else { unreachable!("an object") };
        let url = format!("http://127.0.0.1:{port}");
        let client = poll("chromedriver to start a browser session", || {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            let mut builder = ClientBuilder::new(connector);
            builder.capabilities(capabilities.clone());
            runtime
                .block_on(builder.connect(&url))
                .map_err(|e| format!("{e}; chromedriver says: {}", driver.log()))
        });
        Browser { runtime, client: Some(client), _driver: driver }
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("the session is open until the browser is dropped")
    }

    fn goto(&self, url: &str) {
        self.runtime.block_on(self.client().goto(url)).unwrap_or_else(|e| panic!("opening {url}: {e}"));
    }

    /// Runs `script` in the page with `args` (as `arguments[..]`); returns what it returns.
    fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.runtime.block_on(self.client().execute(script, args)).unwrap_or_else(|e| panic!("{script}: {e}"))
    }

    /// The text of the first element `css` selects, if one does.
    fn text(&self, css: &str) -> Option<String> {
        let script = "const e = document.querySelector(arguments[0]); return e ? e.textContent : null;";
        self.js(script, vec![json!(css)]).as_str().map(str::to_owned)
    }

    /// How many elements `css` selects.
    fn count(&self, css: &str) -> usize {
        let count = self.js("return document.querySelectorAll(arguments[0]).length;", vec![json!(css)]);
        count.as_u64().expect("a count") as usize
    }

    /// Waits (bounded) until the first element `css` selects has a text that `ready` accepts;
    /// returns that text.
    fn wait_text(&self, css: &str, ready: impl Fn(&str) -> bool) -> String {
        poll(&format!("the text of {css}"), || match self.text(css) {
            Some(text) if ready(&text) => Ok(text),
            seen => Err(format!("{seen:?} on {}", self.page())),
        })
    }

    /// Waits (bounded) until `css` selects at least `count` elements.
    fn wait_count(&self, css: &str, count: usize) {
        poll(&format!("{count} of {css}"), || match self.count(css) {
            seen if seen >= count => Ok(()),
            seen => Err(format!("{seen} on {}", self.page())),
        });
    }

    /// Clicks the element `css` selects, as a user does (WebDriver's click, at its centre).
    /// Clicks the element `css` selects. The page redraws parts of itself as the job moves (the
    /// DAG, the stage table): an element replaced between finding and clicking it is found again
    /// (bounded); any other error fails the test.
    fn click(&self, css: &str) {
        poll(&format!("a click on {css}"), || match self.runtime.block_on(self.find(css).click()) {
            Ok(_) => Ok(()),
            Err(fantoccini::error::CmdError::Standard(e))
                if e.error == fantoccini::error::ErrorStatus::StaleElementReference =>
            {
                Err(format!("{css} was redrawn before the click"))
            }
            Err(e) => panic!("clicking {css}: {e}"),
        });
    }

    /// Types `text` into the element `css` selects.
    fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css);
        self.runtime.block_on(element.send_keys(text)).unwrap_or_else(|e| panic!("typing into {css}: {e}"));
    }

    /// The element `css` selects, waiting (bounded) for it to be there.
    fn find(&self, css: &str) -> fantoccini::elements::Element {
        poll(&format!("an element {css}"), || {
            self.runtime
                .block_on(self.client().find(Locator::Css(css)))
                .map_err(|e| format!("{e} on {}", self.page()))
        })
    }

    /// The page's route and main text, for failure messages.
    fn page(&self) -> String {
        let seen =
            self.js("return location.href + '\\n' + document.body.innerText.slice(0, 2000);", Vec::new());
        seen.as_str().unwrap_or_default().to_owned()
    }

    /// A PNG of the window.
    fn screenshot(&self) -> Vec<u8> {
        self.runtime.block_on(self.client().screenshot()).expect("a screenshot")
    }

    /// Asserts that no dialog is open (an injected `alert` would have opened one) and that the
    /// page holds no element that markup in the data would have made: its one script is app.js.
    fn assert_nothing_injected(&self) {
        match self.runtime.block_on(self.client().get_alert_text()) {
            Err(error) if error.is_no_such_alert() => {}
            other => panic!("a dialog is open: {other:?}"),
        }
        let scripts = self.js("return Array.from(document.scripts, s => s.src);", Vec::new());
        assert_eq!(scripts.as_array().map(Vec::len), Some(1), "scripts in the page: {scripts}");
        assert!(scripts[0].as_str().unwrap().ends_with("/ui/app.js"), "{scripts}");
        assert_eq!(self.count("#main img, #main script, #main iframe"), 0, "injected elements");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            // Best effort: chromedriver is killed next in any case.
            let _ = self.runtime.block_on(client.close());
        }
    }
}

/// A job over `<dir>/data` named `name`: parse, then the test plugin sleeping `millis` ms per
/// call (one call per task: each input file is one small batch), key by station and take each
/// station's maximum in two partitions. Two stages: the map stage and the reduce stage reading
/// its shuffle. Written to `<dir>/<file>.toml`.
fn napping_job(dir: &Path, file: &str, name: &str, millis: u64) -> PathBuf {
    let plugin = flicker_plugins::guest_artifact("flicker-test-plugin");
    let job = format!(
        r#"{head}
[[step]]
id = "nap"
input = "parse"
plugin = {plugin}
config = {{ behave = "sleep", millis = "{millis}" }}

[[step]]
id = "by-station"
input = "nap"
plugin = "std:key-by"
config = {{ fields = "station" }}

[[step]]
id = "max"
input = "by-station"
plugin = "std:max"
partitions = 2
config = {{ field = "temperature" }}

[[sink]]
id = "out"
input = "max"
url = "out-{file}/"
plugin = "std:format-csv"
"#,
        head = crate::run::parse_readings(name, ""),
        plugin = toml_string(plugin.to_str().unwrap()),
    );
    let path = dir.join(format!("{file}.toml"));
    write_file(&path, &job);
    path
}

/// Submits `manifest`; returns the job's id.
fn submit(cluster: &Cluster, manifest: &Path) -> String {
    cluster.json(&["submit", manifest.to_str().unwrap()])["job"].as_str().expect("a job id").to_owned()
}

/// Waits (bounded) until `job`'s state, as `flicker status` shows it, is one `ready` accepts.
fn wait_state(cluster: &Cluster, job: &str, ready: impl Fn(&Value) -> bool) -> Value {
    poll(&format!("job {job}'s state"), || {
        let status = cluster.json(&["status", job])[0].clone();
        if ready(&status["state"]) { Ok(status) } else { Err(status["state"].to_string()) }
    })
}

/// Where the job page's screenshot goes: a test artifact, and with `FLICKER_UPDATE_SCREENSHOT=1`
/// also the README's picture.
fn save_screenshot(png: &[u8]) {
    let artifact = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web-ui-job.png");
    std::fs::write(&artifact, png).unwrap();
    println!("screenshot of the job page: {}", artifact.display());
    if std::env::var("FLICKER_UPDATE_SCREENSHOT").as_deref() == Ok("1") {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/ui-job.png");
        std::fs::write(&docs, png).unwrap();
        println!("and {}", docs.display());
    }
}

#[test]
fn the_web_ui_shows_jobs_live_as_text_and_cancels_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::scheduler(dir.path(), "127.0.0.1:0", &["--http", "127.0.0.1:0"]);
    for n in 0..2 {
        cluster.add_executor(n, &["--slots", "2"]);
    }
    cluster.wait_for_nodes(2);
    let base = format!("https://{}/", cluster.http_address());
    let output = cluster.client(&["token", "create", "--ttl", "1h"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();

    let browser = Browser::start();
    browser.goto(&base);
    browser.type_into("[data-testid=token-input]", &token);
    browser.click("[data-testid=token-submit]");
    browser.wait_text("[data-testid=whoami]", |who| !who.is_empty());

    // 16 map tasks of 3 s on 4 slots: long enough to watch its progress move. Submitted once the
    // browser is up and signed in, so that however long a loaded machine takes to start Chromium,
    // the job's ~12 s are left for the list to show it and its page to open.
    small_files(dir.path(), 16);
    let name = format!("watch {SCRIPT}{IMAGE}");
    let watched = submit(&cluster, &napping_job(dir.path(), "watch", &name, 3_000));

    // The list shows the job, its name as the very text it was given.
    let row = format!("[data-testid=job-row][data-job={}]", json!(watched));
    let shown = browser.wait_text(&format!("{row} [data-testid=job-name]"), |_| true);
    assert_eq!(shown, name);
    browser.assert_nothing_injected();

    // Its page: the DAG (a node per stage, an arrow for the shuffle), its progress moving while
    // the page stays the same document.
    browser.click(&format!("{row} [data-testid=job-name]"));
    assert_eq!(browser.wait_text("[data-testid=job-title]", |title| !title.is_empty()), name);
    browser.wait_count("svg[data-testid=dag] [data-testid=dag-node]", 2);
    assert_eq!(browser.count("svg[data-testid=dag] [data-testid=dag-edge][data-from='0'][data-to='1']"), 1);
    let progress = "[data-testid=stage-progress-0]";
    let before = browser.wait_text(progress, |text| text.ends_with("/16"));
    assert_ne!(before, "16/16", "the job ended before its page showed it running");
    browser.js("window.stillTheSamePage = true;", Vec::new());
    let after = browser.wait_text(progress, |text| text != before);
    assert_eq!(browser.js("return window.stillTheSamePage === true;", Vec::new()), json!(true), "reloaded");
    println!("stage 0 went from {before} to {after} live");
    browser.assert_nothing_injected();
    save_screenshot(&browser.screenshot());

    // A stage's tasks, with the quantiles of those that succeeded.
    browser.click("[data-testid=dag-node][data-stage='0']");
    browser.wait_count("#task-table [data-testid=task-row]", 16);
    browser.wait_count("#task-summary [data-testid=quantile-duration_ms]", 1);

    // The executors.
    browser.click("[data-testid=nav-executors]");
    browser.wait_count("#executor-table [data-testid=executor-row]", 2);
    wait_state(&cluster, &watched, |state| state == "succeeded");

    // A record with markup in it: the cause says so, as text.
    let bad = dir.path().join("bad");
    write_file(&bad.join("data/r.txt"), &format!("s1;1.0\n{SCRIPT}{IMAGE};abc\n"));
    let failed = submit(&cluster, &write_manifest(&bad, &readings_job("std:max", "", "out/")));
    wait_state(&cluster, &failed, |state| state.get("failed").is_some());
    browser.goto(&format!("{base}#/jobs/{failed}"));
    let cause = browser.wait_text("[data-testid=failure-cause]", |_| true);
    assert!(cause.contains(&format!("{SCRIPT}{IMAGE};abc")), "{cause}");
    assert_eq!(browser.text("[data-testid=job-state]").as_deref(), Some("failed"));
    browser.assert_nothing_injected();

    // Cancelling a running job with its button, confirmed in the dialog.
    let long = submit(&cluster, &napping_job(dir.path(), "long", "long", 20_000));
    wait_state(&cluster, &long, |state| state == "running");
    browser.goto(&format!("{base}#/jobs/{long}"));
    browser.click("[data-testid=cancel-job]");
    browser.click("[data-testid=confirm-yes]");
    browser.wait_text("[data-testid=job-state]", |state| state == "cancelled");
    assert_eq!(
        browser.count("[data-testid=cancel-job]:not([hidden])"),
        0,
        "a cancelled job offers no cancel"
    );
    wait_state(&cluster, &long, |state| state == "cancelled");
}
