//! Running `enricher` hosts for the tests: their admin address (read from
//! stderr, port 0 picks one), scrapes, and the statuses in output lines.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use super::prom::{Scrape, parse};

/// The binary (no arguments yet) with its admin API on a free port.
pub fn enricher() -> Command {
    let mut cmd = super::enricher(&[]);
    cmd.env("ENRICHER_ADMIN_BIND", "127.0.0.1:0");
    cmd
}

/// A fresh folder under the target dir, with a claims database of `claims` rows.
pub fn workdir(label: &str, claims: u64) -> (PathBuf, PathBuf) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("observe-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    // generate's default seed.
    let db = super::generated_db(&dir, claims, 42);
    (dir, db)
}

/// A started host and the admin address it printed.
pub struct Running {
    pub child: Child,
    pub admin: String,
    /// Its stderr so far.
    pub log: Arc<Mutex<String>>,
}

/// Start `cmd` (stderr is read for the admin address, then drained).
pub fn start(mut cmd: Command) -> Running {
    let mut child = cmd.stderr(Stdio::piped()).spawn().expect("spawn enricher");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    let log = Arc::new(Mutex::new(String::new()));
    let kept = Arc::clone(&log);
    std::thread::spawn(move || {
        let mut log = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(at) = line.find("admin API on http://") {
                let rest = &line[at + "admin API on http://".len()..];
                let addr = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                let _ = tx.send(Ok(addr));
            }
            log.push_str(&line);
            log.push('\n');
            let mut kept = kept.lock().unwrap_or_else(|e| e.into_inner());
            kept.push_str(&line);
            kept.push('\n');
        }
        let _ = tx.send(Err(log));
    });
    match rx.recv_timeout(Duration::from_secs(90)) {
        Ok(Ok(admin)) => Running { child, admin, log },
        Ok(Err(log)) => panic!("the host ended without an admin API:\n{log}"),
        Err(_) => panic!("no admin address within 90 s"),
    }
}

/// A file-mode host over `db` reading stdin (held open: the returned
/// handle), writing `enriched.jsonl` and `failed.jsonl` in `dir`, with `env`.
pub fn start_on_stdin(
    dir: &Path,
    db: &Path,
    env: &[(&str, &str)],
) -> (Running, std::process::ChildStdin) {
    let mut cmd = enricher();
    cmd.args(["run", "--input", "-", "--db"])
        .arg(db)
        .arg("--enriched-out")
        .arg(dir.join("enriched.jsonl"))
        .arg("--failed-out")
        .arg(dir.join("failed.jsonl"))
        .envs(env.iter().copied())
        .stdin(Stdio::piped());
    let mut host = start(cmd);
    let stdin = host.child.stdin.take().expect("stdin");
    (host, stdin)
}

pub fn get(url: &str) -> String {
    let mut answer = ureq::get(url)
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    answer.body_mut().read_to_string().expect("body")
}

impl Running {
    /// Its stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn scrape(&self) -> Scrape {
        parse(&get(&format!("http://{}/metrics", self.admin)))
    }

    /// Scrape until `done` holds (at most `limit`); the last scrape.
    pub fn scrape_until(&self, limit: Duration, done: impl Fn(&Scrape) -> bool) -> Scrape {
        let deadline = Instant::now() + limit;
        loop {
            let scrape = self.scrape();
            if done(&scrape) {
                return scrape;
            }
            assert!(
                Instant::now() < deadline,
                "not reached within {limit:?}: {scrape:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// `enrichment_status` → count over JSON lines.
pub fn statuses<'a>(lines: impl Iterator<Item = &'a str>) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON output line");
        let status = v["enrichment_status"]
            .as_str()
            .expect("enrichment_status")
            .to_owned();
        *counts.entry(status).or_insert(0) += 1;
    }
    counts
}

/// One HTTP/1.1 request written by hand to `admin`, with the `Host` and other
/// header lines as given (ureq sends the address it connects to as `Host`; a
/// browser after DNS rebinding sends its page's name): the status and body.
pub fn raw_request(admin: &str, request_line: &str, headers: &[&str], body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(admin).expect("connect to the admin API");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut head = format!("{request_line} HTTP/1.1\r\n");
    for h in headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    stream.write_all(head.as_bytes()).expect("send head");
    stream.write_all(body.as_bytes()).expect("send body");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}
