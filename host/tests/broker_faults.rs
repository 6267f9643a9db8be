//! The `enricher` process against a broker that fails (nisshi, at-least-once):
//! started before the broker, it names the address it cannot reach within
//! seconds and stops at once on SIGTERM, then processes everything once the
//! broker is there; a paused broker (SIGSTOP) logs a stall warning and loses
//! nothing; a broker killed and restarted (nisshi keeps topics in memory, so
//! it comes back empty) turns `/readyz` 503 while down and 200 after, and the
//! records produced after the restart all come out.
//!
//! Each test owns the broker on `ENRICHER_TEST_FAULT_KAFKA_PORT` (started and
//! stopped here through scripts/kafka-up and kafka-down), one test at a time.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[path = "support/mod.rs"]
mod support;

use support::kafka::payment_id_counts;
use support::{Dir, enricher, generated_db, ids, ok};

/// The tests share one broker port: one at a time.
static BROKER: Mutex<()> = Mutex::new(());

fn port() -> String {
    std::env::var("ENRICHER_TEST_FAULT_KAFKA_PORT").unwrap_or_else(|_| {
        panic!(
            "no port for the fault tests' own broker: run scripts/test, or set \
             ENRICHER_TEST_FAULT_KAFKA_PORT to a free port (the tests start, pause and kill it)"
        )
    })
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scripts")
        .join(name)
}

/// The test's broker and working folder.
struct Fixture {
    dir: Dir,
    port: String,
    db: PathBuf,
    _lock: std::sync::MutexGuard<'static, ()>,
}

impl Fixture {
    fn new(label: &str) -> Self {
        let lock = BROKER.lock().unwrap_or_else(|e| e.into_inner());
        let dir = Dir::new(&format!("faults-{label}"));
        // A lost member leaves the group quickly; the stall warning comes early.
        std::fs::write(
            dir.join("enricher.toml"),
            "[kafka.properties]\n\"session.timeout.ms\" = \"6000\"\n",
        )
        .expect("config");
        let f = Self {
            db: generated_db(&dir.0, 10_000, 5),
            dir,
            port: port(),
            _lock: lock,
        };
        f.broker("kafka-down");
        f
    }

    fn broker(&self, action: &str) {
        let status = Command::new(script(action))
            .env("KAFKA_PORT", &self.port)
            .env("ENRICHER_KAFKA_STATE", self.dir.join("broker"))
            .stderr(Stdio::null())
            .status()
            .expect("broker script");
        assert!(status.success(), "{action} failed");
    }

    /// Pause (`-STOP`) or resume (`-CONT`) the broker process.
    fn signal_broker(&self, signal: &str) {
        let pid_file = self.dir.join("broker").join(&self.port).join("pid");
        let pid = std::fs::read_to_string(pid_file).expect("broker pid");
        send(signal, pid.trim());
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = enricher(args);
        cmd.env(
            "KAFKA_BOOTSTRAP_SERVERS",
            format!("127.0.0.1:{}", self.port),
        )
        .env("KAFKA_GROUP_ID", "faults")
        .env("ENRICHER_DELIVERY", "at-least-once")
        .env("RUST_LOG", "warn")
        .env("ENRICHER_ADMIN_BIND", "127.0.0.1:0")
        .env("ENRICHER_PLUGIN_TOPIC", "off")
        .env("ENRICHER_CONFIG", self.dir.join("enricher.toml"));
        cmd
    }

    fn ok(&self, args: &[&str]) -> String {
        ok(self.command(args))
    }

    /// `count` events of `seed` into the input topic.
    fn produce(&self, seed: u64, count: u64) {
        let (seed, count) = (seed.to_string(), count.to_string());
        let claims = self.dir.join("claims-again.csv");
        self.ok(&[
            "generate",
            "--count",
            &count,
            "--claims",
            "10000",
            "--seed",
            &seed,
            "--topic",
            "payment-events",
            "--claims-out",
            claims.to_str().expect("path"),
        ]);
    }

    /// `enricher run` with stderr kept in a file; `env` added.
    fn start_run(&self, env: &[(&str, &str)]) -> Running {
        let log = self
            .dir
            .join(&format!("run-{}.log", Instant::now().elapsed().as_nanos()));
        let file = std::fs::File::create(&log).expect("log file");
        let child = self
            .command(&["run", "--db", self.db.to_str().expect("path")])
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("spawn enricher run");
        Running { child, log }
    }

    /// How often each payment_id appears on the two output topics.
    fn output_counts(&self) -> HashMap<String, usize> {
        let tails = ["enriched-payments", "failed-payments"]
            .map(|topic| self.ok(&["topic", "tail", topic, "--values"]));
        payment_id_counts(tails.iter().map(String::as_str))
    }

    /// Wait until every id of `seed` (`count` of them) is out; the missing ones otherwise.
    fn wait_for_ids(&self, seed: u64, count: u64, limit: Duration) -> Vec<String> {
        let deadline = Instant::now() + limit;
        loop {
            let counts = self.output_counts();
            let missing: Vec<String> = ids(seed, count)
                .filter(|id| !counts.contains_key(id))
                .collect();
            if missing.is_empty() || Instant::now() > deadline {
                return missing;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for Fixture {
    /// The broker stops before the folder holding its state goes.
    fn drop(&mut self) {
        self.broker("kafka-down");
    }
}

/// A running `enricher run` and its log.
struct Running {
    child: Child,
    log: PathBuf,
}

impl Running {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Wait until the log holds `text`; false after `limit`.
    fn wait_for_log(&self, text: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.log().contains(text) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// The admin API's address, from the line `run` prints.
    fn admin(&self) -> String {
        assert!(
            self.wait_for_log("admin API on http://", Duration::from_secs(60)),
            "no admin address:\n{}",
            self.log()
        );
        let log = self.log();
        let at = log.find("admin API on http://").expect("line") + "admin API on http://".len();
        log[at..]
            .split_whitespace()
            .next()
            .expect("addr")
            .to_owned()
    }

    /// SIGTERM, then the exit status and how long it took.
    fn stop(mut self) -> (std::process::ExitStatus, Duration, String) {
        send("-TERM", &self.child.id().to_string());
        let asked = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            if asked.elapsed() > Duration::from_secs(60) {
                let _ = self.child.kill();
                panic!("SIGTERM ignored for 60 s:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        (status, asked.elapsed(), self.log())
    }
}

impl Drop for Running {
    /// A failed test leaves no `enricher run` behind.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn send(signal: &str, pid: &str) {
    let status = Command::new("kill")
        .args([signal, pid])
        .status()
        .expect("kill");
    assert!(status.success(), "kill {signal} {pid}");
}

/// `GET path` on the admin API: the status and the body.
fn get(addr: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect to the admin API");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    (status, body)
}

/// Wait until `GET path` answers `status`; the last answer otherwise.
fn wait_for_status(addr: &str, path: &str, status: u16, limit: Duration) -> (u16, String) {
    let deadline = Instant::now() + limit;
    loop {
        let answer = get(addr, path);
        if answer.0 == status || Instant::now() > deadline {
            return answer;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn started_before_the_broker_it_names_the_address_stops_on_sigterm_and_later_catches_up() {
    let f = Fixture::new("early");
    let address = format!("cannot reach Kafka at 127.0.0.1:{}", f.port);

    let run = f.start_run(&[]);
    assert!(
        run.wait_for_log(&address, Duration::from_secs(10)),
        "no warning naming the address:\n{}",
        run.log()
    );
    // It keeps retrying with a visible, growing pause.
    assert!(
        run.wait_for_log("retrying in 2s", Duration::from_secs(10)),
        "no backoff:\n{}",
        run.log()
    );
    let (status, took, log) = run.stop();
    assert!(
        status.success(),
        "SIGTERM while waiting: exit 0, got {status:?}\n{log}"
    );
    assert!(
        took < Duration::from_secs(5),
        "SIGTERM took {took:?}:\n{log}"
    );

    // Started again before the broker, it waits, then processes everything.
    let run = f.start_run(&[]);
    assert!(run.wait_for_log(&address, Duration::from_secs(10)));
    f.broker("kafka-up");
    f.produce(5, 3000);
    let missing = f.wait_for_ids(5, 3000, Duration::from_secs(120));
    let (status, _, log) = run.stop();
    assert!(
        missing.is_empty(),
        "lost {} ids, e.g. {:?}\n{log}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(status.success(), "{log}");
    assert!(
        log.contains("reachable after"),
        "the recovery is logged:\n{log}"
    );
}

#[test]
fn a_paused_broker_logs_a_stall_and_loses_nothing() {
    let f = Fixture::new("pause");
    f.broker("kafka-up");
    let events = 60_000;
    f.produce(5, events);
    // Small batches without a cache: slow enough that the pause lands mid-stream.
    let run = f.start_run(&[
        ("ENRICHER_KAFKA_STALL_WARNING", "3s"),
        ("ENRICHER_BATCH_SIZE", "20"),
        ("LOOKUP_CACHE", "none"),
    ]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let before = loop {
        let n = f.output_counts().len();
        if n >= 2000 || Instant::now() > deadline {
            break n;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        before >= 2000,
        "no progress before the pause:\n{}",
        run.log()
    );
    f.signal_broker("-STOP");
    let paused = Instant::now();
    // The group session times out while the broker is paused and the commit
    // before revocation waits and retries inside the rebalance callback: those
    // loops ask the broker watch too, so the warning comes within seconds of
    // the stall time (3 s), not after them.
    let stalled = run.wait_for_log("Kafka stalled", Duration::from_secs(12));
    eprintln!(
        "stall warning after {:.1} s of pause",
        paused.elapsed().as_secs_f64()
    );
    std::thread::sleep(Duration::from_secs(5));
    f.signal_broker("-CONT");
    let missing = f.wait_for_ids(5, events, Duration::from_secs(180));
    let (status, _, log) = run.stop();
    assert!(stalled, "no stall warning while paused:\n{log}");
    assert!(before < events as usize, "the pause landed mid-stream");
    assert!(
        missing.is_empty(),
        "lost {} ids, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(status.success(), "{log}");
}

#[test]
fn a_broker_killed_and_restarted_is_recovered_and_readiness_follows() {
    let f = Fixture::new("restart");
    f.broker("kafka-up");
    f.produce(5, 2000);
    let run = f.start_run(&[("ENRICHER_KAFKA_STALL_WARNING", "3s")]);
    let admin = run.admin();
    assert!(
        f.wait_for_ids(5, 2000, Duration::from_secs(60)).is_empty(),
        "{}",
        run.log()
    );
    let (ready, body) = wait_for_status(&admin, "/readyz", 200, Duration::from_secs(30));
    assert_eq!(ready, 200, "ready before the fault: {body}");

    f.broker("kafka-down");
    let (down, body) = wait_for_status(&admin, "/readyz", 503, Duration::from_secs(30));
    assert_eq!(down, 503, "not ready while the broker is down: {body}");
    assert!(body.contains("not reachable"), "{body}");
    assert_eq!(get(&admin, "/healthz").0, 200, "alive while waiting");

    // nisshi comes back empty (in-memory): new records after the restart must all come out.
    f.broker("kafka-up");
    f.produce(6, 3000);
    let missing = f.wait_for_ids(6, 3000, Duration::from_secs(120));
    let (ready, body) = wait_for_status(&admin, "/readyz", 200, Duration::from_secs(60));
    assert_eq!(get(&admin, "/healthz").0, 200);
    let (status, took, log) = run.stop();
    assert!(
        missing.is_empty(),
        "lost {} ids after the restart, e.g. {:?}\n{log}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert_eq!(ready, 200, "ready again after the restart: {body}\n{log}");
    assert!(log.contains("unreachable"), "the outage is logged:\n{log}");
    assert!(
        log.contains("reachable again"),
        "the recovery is logged:\n{log}"
    );
    assert!(status.success(), "{log}");
    assert!(took < Duration::from_secs(35), "SIGTERM took {took:?}");
    let seen: HashSet<String> = f.output_counts().into_keys().collect();
    assert!(ids(6, 3000).all(|id| seen.contains(&id)));
}
