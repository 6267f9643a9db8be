//! The fault tests' own broker (nisshi on `ENRICHER_TEST_FAULT_KAFKA_PORT`,
//! started, paused, killed and restarted through scripts/kafka-up and
//! kafka-down, one test at a time) and `enricher run` against it
//! (at-least-once, its log in a file, its admin API on a free port). A
//! fixture made [`Fixture::on_postgres`] keeps the broker's data in a fresh
//! database of the test PostgreSQL (`ENRICHER_TEST_POSTGRES`), so a broker
//! killed and started again comes back with it.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::kafka::payment_id_counts;
use super::{Dir, enricher, generated_db, ids, ok};

/// The tests share one broker port: one at a time.
pub static BROKER: Mutex<()> = Mutex::new(());

pub fn port() -> String {
    std::env::var("ENRICHER_TEST_FAULT_KAFKA_PORT").unwrap_or_else(|_| {
        panic!(
            "no port for the fault tests' own broker: run scripts/test, or set \
             ENRICHER_TEST_FAULT_KAFKA_PORT to a free port (the tests start, pause and kill it)"
        )
    })
}

pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scripts")
        .join(name)
}

/// The test's broker and working folder.
pub struct Fixture {
    pub dir: Dir,
    pub port: String,
    pub db: PathBuf,
    /// The broker's storage (`KAFKA_STORAGE` of scripts/kafka-up); memory when none.
    pub storage: Option<String>,
    _lock: std::sync::MutexGuard<'static, ()>,
}

impl Fixture {
    pub fn new(label: &str) -> Self {
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
            storage: None,
            _lock: lock,
        };
        f.broker("kafka-down");
        f
    }

    /// A fixture whose broker keeps its topics, records and committed
    /// offsets in a new database of the test PostgreSQL.
    pub fn on_postgres(label: &str) -> Self {
        let mut f = Self::new(label);
        f.storage = Some(fresh_database(&format!(
            "faults_{label}_{}",
            std::process::id()
        )));
        f
    }

    /// Small record batches and a small prefetch for every client of the
    /// fixture: what the host has handled stays close to what it has read
    /// from the broker (librdkafka would otherwise fetch megabytes ahead).
    pub fn small_fetches(&self) {
        std::fs::write(
            self.dir.join("enricher.toml"),
            "[kafka.properties]\n\"session.timeout.ms\" = \"6000\"\n\
             \"batch.num.messages\" = \"10\"\n\"max.partition.fetch.bytes\" = \"2048\"\n\
             \"queued.max.messages.kbytes\" = \"8\"\n",
        )
        .expect("config");
    }

    pub fn broker(&self, action: &str) {
        let status = Command::new(script(action))
            .env("KAFKA_PORT", &self.port)
            .env("ENRICHER_KAFKA_STATE", self.dir.join("broker"))
            .envs(self.storage.iter().map(|url| ("KAFKA_STORAGE", url)))
            .stderr(Stdio::null())
            .status()
            .expect("broker script");
        assert!(status.success(), "{action} failed");
    }

    /// Pause (`-STOP`) or resume (`-CONT`) the broker process.
    pub fn signal_broker(&self, signal: &str) {
        let pid_file = self.dir.join("broker").join(&self.port).join("pid");
        let pid = std::fs::read_to_string(pid_file).expect("broker pid");
        send(signal, pid.trim());
    }

    pub fn command(&self, args: &[&str]) -> Command {
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

    pub fn ok(&self, args: &[&str]) -> String {
        ok(self.command(args))
    }

    /// `count` events of `seed` into the input topic.
    pub fn produce(&self, seed: u64, count: u64) {
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
    pub fn start_run(&self, env: &[(&str, &str)]) -> Running {
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

    /// The names of the topics the broker holds now (nisshi's own listing).
    pub fn topics(&self) -> String {
        let nisshi = std::env::var_os("HOME")
            .map(|home| Path::new(&home).join(".cargo/bin/nisshi"))
            .filter(|p| p.exists())
            .unwrap_or_else(|| PathBuf::from("nisshi"));
        let out = Command::new(nisshi)
            .args(["topic", "list", "--broker"])
            .arg(format!("tcp://127.0.0.1:{}", self.port))
            .output()
            .expect("nisshi topic list");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// How often each payment_id appears on the two output topics.
    pub fn output_counts(&self) -> HashMap<String, usize> {
        let tails = ["enriched-payments", "failed-payments"]
            .map(|topic| self.ok(&["topic", "tail", topic, "--values"]));
        payment_id_counts(tails.iter().map(String::as_str))
    }

    /// Wait until every id of `seed` (`count` of them) is out; the missing ones otherwise.
    pub fn wait_for_ids(&self, seed: u64, count: u64, limit: Duration) -> Vec<String> {
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
    /// The broker stops before the folder (or database) holding its state goes.
    fn drop(&mut self) {
        self.broker("kafka-down");
        if let Some(url) = &self.storage {
            let name = url.rsplit('/').next().unwrap_or_default();
            let _ = admin_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

/// A running `enricher run` and its log.
pub struct Running {
    pub child: Child,
    pub log: PathBuf,
}

impl Running {
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Wait until the log holds `text`; false after `limit`.
    pub fn wait_for_log(&self, text: &str, limit: Duration) -> bool {
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
    pub fn admin(&self) -> String {
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

    /// SIGKILL (no last commit, no leaving the group), and wait until it is gone.
    pub fn kill(mut self) {
        send("-KILL", &self.child.id().to_string());
        let _ = self.child.wait();
    }

    /// SIGTERM, then the exit status and how long it took.
    pub fn stop(mut self) -> (std::process::ExitStatus, Duration, String) {
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

pub fn send(signal: &str, pid: &str) {
    let status = Command::new("kill")
        .args([signal, pid])
        .status()
        .expect("kill");
    assert!(status.success(), "kill {signal} {pid}");
}

/// The test PostgreSQL's URL (`ENRICHER_TEST_POSTGRES`, a `postgres` database).
fn test_postgres() -> String {
    std::env::var("ENRICHER_TEST_POSTGRES").unwrap_or_else(|_| {
        panic!(
            "no test PostgreSQL for the broker's storage: run scripts/test, or start one with \
             `PG_PORT=19432 scripts/pg-up` and set \
             ENRICHER_TEST_POSTGRES=postgres://postgres@127.0.0.1:19432/postgres"
        )
    })
}

/// Run `statement` on the test PostgreSQL.
fn admin_sql(statement: &str) -> Result<(), String> {
    let base = test_postgres();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
            .await
            .map_err(|e| format!("connecting to the test PostgreSQL {base}: {e}"))?;
        tokio::spawn(connection);
        (client.batch_execute(statement).await).map_err(|e| format!("{statement}: {e}"))
    })
}

/// `postgres://…/<name>` on the test PostgreSQL, created empty.
pub fn fresh_database(name: &str) -> String {
    for statement in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("CREATE DATABASE {name}"),
    ] {
        admin_sql(&statement).unwrap_or_else(|e| panic!("{e}"));
    }
    let base = test_postgres();
    let server = base.rsplit_once('/').expect("a URL with a database").0;
    format!("{server}/{name}")
}

/// `GET path` on the admin API: the status and the body.
pub fn get(addr: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect to the admin API");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
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
pub fn wait_for_status(addr: &str, path: &str, status: u16, limit: Duration) -> (u16, String) {
    let deadline = Instant::now() + limit;
    loop {
        let answer = get(addr, path);
        if answer.0 == status || Instant::now() > deadline {
            return answer;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}
