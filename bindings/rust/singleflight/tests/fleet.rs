//! Fleet groups across real processes: a `redis-server` this test starts on a
//! unix socket in a temporary directory (stopped at the end; the test skips,
//! saying so, when `redis-server` is missing), and copies of this test binary
//! run as worker processes (`examples/fleet_worker.rs`, the cross-language
//! worker protocol). Its own `main` (harness = false) runs each case.

#[path = "../examples/fleet_worker.rs"]
mod fleet_worker;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const WORKER_ENV: &str = "SF_RUST_FLEET_WORKER";

struct Redis {
    child: Child,
    dir: PathBuf,
    sock: PathBuf,
}

impl Redis {
    fn start(dir: PathBuf) -> Redis {
        let sock = dir.join("redis.sock");
        let child = Command::new("redis-server")
            .args(["--port", "0", "--unixsocket"])
            .arg(&sock)
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(&dir)
            .arg("--logfile")
            .arg(dir.join("redis.log"))
            .spawn()
            .expect("redis-server starts");
        let r = Redis { child, dir, sock };
        for _ in 0..5000 {
            if r.command(&["PING"]).is_some_and(|p| p == "PONG") {
                return r;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        panic!("redis-server does not answer on {}", r.sock.display());
    }

    fn url(&self) -> String {
        format!("unix://{}", self.sock.display())
    }

    /// One command; its simple or bulk string reply.
    fn command(&self, args: &[&str]) -> Option<String> {
        let mut s = UnixStream::connect(&self.sock).ok()?;
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(req.as_bytes()).ok()?;
        let mut r = BufReader::new(s);
        let mut line = String::new();
        r.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if let Some(simple) = line.strip_prefix('+') {
            return Some(simple.to_string());
        }
        let n: usize = line.strip_prefix('$')?.parse().ok()?;
        let mut buf = vec![0; n + 2];
        r.read_exact(&mut buf).ok()?;
        buf.truncate(n);
        String::from_utf8(buf).ok()
    }

    /// Clients whose last command was `cmd`.
    fn clients_last(&self, cmd: &str) -> usize {
        let list = self.command(&["CLIENT", "LIST"]).unwrap_or_default();
        list.lines().filter(|l| l.split_whitespace().any(|w| w == format!("cmd={cmd}"))).count()
    }

    /// Waits until `n` processes have asked the server (their join script).
    fn all_joined(&self, n: usize) {
        for _ in 0..100_000 {
            if self.clients_last("evalsha") >= n {
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        panic!("not every process asked the server");
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The value of field `name` of a JSON event line (number, bool or string).
fn field(line: &str, name: &str) -> Option<String> {
    let at = line.find(&format!("\"{name}\":"))? + name.len() + 3;
    let rest = &line[at..];
    if let Some(s) = rest.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => return Some(out),
                '\\' => match chars.next()? {
                    'u' => {
                        let hex: String = chars.by_ref().take(4).collect();
                        out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                    }
                    c => out.push(c),
                },
                c => out.push(c),
            }
        }
        return None;
    }
    Some(rest.chars().take_while(|c| c.is_ascii_alphanumeric()).collect())
}

fn num(line: &str, name: &str) -> u64 {
    field(line, name).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("no {name} in {line}"))
}

struct Worker {
    child: Child,
    pid: u32,
    inbox: Vec<String>,
    events: mpsc::Receiver<Option<String>>,
    killed: bool,
}

impl Worker {
    fn start(url: &str, group: &str, exec: &PathBuf, mode: &str, lease_ms: u64, timeout_ms: Option<u64>) -> Worker {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.env(WORKER_ENV, "1")
            .env("SF_FLEET_URL", url)
            .env("SF_FLEET_GROUP", group)
            .env("SF_FLEET_KEY", "hot key")
            .env("SF_FLEET_CALLERS", "4")
            .env("SF_FLEET_MODE", mode)
            .env("SF_FLEET_LEASE_MS", lease_ms.to_string())
            .env("SF_FLEET_EXEC_FILE", exec)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        if let Some(t) = timeout_ms {
            cmd.env("SF_FLEET_TIMEOUT_MS", t.to_string());
        }
        let mut child = cmd.spawn().expect("a worker starts");
        let out = child.stdout.take().unwrap();
        let (tx, events) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(Some(line));
            }
            let _ = tx.send(None);
        });
        let pid = child.id();
        Worker { child, pid, inbox: Vec::new(), events, killed: false }
    }

    fn send(&mut self, line: &str) {
        if !self.killed {
            let stdin = self.child.stdin.as_mut().unwrap();
            let _ = writeln!(stdin, "{line}");
            let _ = stdin.flush();
        }
    }

    fn pump(&mut self) -> bool {
        match self.events.recv_timeout(Duration::from_millis(10)) {
            Ok(Some(l)) => {
                self.inbox.push(l);
                true
            }
            Ok(None) => panic!("worker {} ended early: {:?}", self.pid, self.child.wait()),
            Err(_) => false,
        }
    }

    fn find(&mut self, kind: &str) -> Option<String> {
        let tag = format!("\"event\":\"{kind}\"");
        let i = self.inbox.iter().position(|l| l.contains(&tag))?;
        Some(self.inbox.remove(i))
    }

    fn take(&mut self, kind: &str) -> String {
        loop {
            if let Some(e) = self.find(kind) {
                return e;
            }
            self.pump();
        }
    }

    /// The 4 callers' outcomes, then the counters.
    fn results(&mut self) -> (Vec<String>, String) {
        let rs = (0..4).map(|_| self.take("result")).collect();
        self.send("stats");
        (rs, self.take("stats"))
    }

    fn kill(&mut self) {
        self.killed = true;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn exit(mut self) {
        self.send("exit");
        assert!(self.child.wait().unwrap().success(), "worker {} exit status", self.pid);
        assert!(self.find("leading").is_none(), "an unexpected lead in {}", self.pid);
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

struct Run {
    url: String,
    group: String,
    exec: PathBuf,
}

impl Run {
    fn new(url: String, dir: &std::path::Path, name: &str) -> Run {
        Run { url, group: format!("rust-{}-{name}", std::process::id()), exec: dir.join(format!("exec-{name}")) }
    }
    fn start(&self, n: usize, mode: &str, lease_ms: u64, timeout_ms: Option<u64>) -> Vec<Worker> {
        let mut ws: Vec<_> =
            (0..n).map(|_| Worker::start(&self.url, &self.group, &self.exec, mode, lease_ms, timeout_ms)).collect();
        ws.iter_mut().for_each(|w| drop(w.take("ready")));
        ws.iter_mut().for_each(|w| w.send("go"));
        ws.iter_mut().for_each(|w| drop(w.take("joined")));
        ws
    }
    fn executions(&self) -> Vec<String> {
        std::fs::read_to_string(&self.exec).unwrap_or_default().lines().map(str::to_string).collect()
    }
}

/// The index of the one worker that leads, and its `leading` event.
fn leader(ws: &mut [Worker]) -> (usize, String) {
    loop {
        let leading: Vec<usize> =
            (0..ws.len()).filter(|&i| ws[i].inbox.iter().any(|l| l.contains("\"event\":\"leading\""))).collect();
        if !leading.is_empty() {
            assert_eq!(leading.len(), 1, "more than one process leads");
            let lead = ws[leading[0]].take("leading");
            return (leading[0], lead);
        }
        for w in ws.iter_mut() {
            w.pump();
        }
    }
}

fn stampede_runs_once(redis: &Redis, dir: &std::path::Path) {
    let run = Run::new(redis.url(), dir, "stampede");
    let mut ws = run.start(4, "value", 0, None);
    let (l, _) = leader(&mut ws);
    redis.all_joined(ws.len());
    ws.iter_mut().for_each(|w| w.send("release"));
    let want = format!("rust {}", ws[l].pid);
    for (i, w) in ws.iter_mut().enumerate() {
        let (rs, st) = w.results();
        for r in &rs {
            assert_eq!(num(r, "status"), 0, "{r}");
            assert_eq!(field(r, "value").as_deref(), Some(want.as_str()), "{r}");
            assert_eq!(field(r, "shared").as_deref(), Some("true"), "{r}");
        }
        if i == l {
            assert_eq!(num(&st, "fleet_led"), 1, "{st}");
        } else {
            assert_eq!((num(&st, "fleet_led"), num(&st, "fleet_joined")), (0, 1), "{st}");
        }
    }
    assert_eq!(run.executions(), vec![want]);
    ws.into_iter().for_each(Worker::exit);
}

fn remote_failure(redis: &Redis, dir: &std::path::Path, mode: &str, status: u64, text: &str) {
    let run = Run::new(redis.url(), dir, mode);
    let mut ws = run.start(3, mode, 0, None);
    let (l, _) = leader(&mut ws);
    redis.all_joined(ws.len());
    ws.iter_mut().for_each(|w| w.send("release"));
    let want = format!("{text} rust {}", ws[l].pid);
    for w in ws.iter_mut() {
        let (rs, _) = w.results();
        for r in &rs {
            assert_eq!(num(r, "status"), status, "{r}");
            assert!(field(r, "error").is_some_and(|e| e.contains(&want)), "{r} lacks {want}");
        }
    }
    assert_eq!(run.executions().len(), 1);
    ws.into_iter().for_each(Worker::exit);
}

fn waiter_deadline(redis: &Redis, dir: &std::path::Path) {
    let run = Run::new(redis.url(), dir, "deadline");
    let mut first = run.start(1, "value", 0, None);
    let _ = leader(&mut first);
    let mut waiters = run.start(2, "value", 0, Some(300));
    for w in waiters.iter_mut() {
        let (rs, st) = w.results();
        for r in &rs {
            assert_eq!(num(r, "status"), 6, "a waiter's deadline: {r}");
        }
        assert_eq!(num(&st, "timeouts"), 4, "each caller counted once: {st}");
    }
    first[0].send("release");
    let (rs, _) = first[0].results();
    assert!(rs.iter().all(|r| num(r, "status") == 0), "{rs:?}");
    assert_eq!(run.executions().len(), 1);
    first.into_iter().chain(waiters).for_each(Worker::exit);
}

fn killed_leader_taken_over(redis: &Redis, dir: &std::path::Path) {
    let run = Run::new(redis.url(), dir, "takeover");
    let mut first = run.start(1, "value", 500, None);
    let (_, lead1) = leader(&mut first);
    let mut rest = run.start(2, "value", 500, None);
    redis.all_joined(3);
    let killed = first[0].pid;
    first[0].kill();
    let (n, lead2) = leader(&mut rest);
    assert!(num(&lead2, "token") > num(&lead1, "token") && num(&lead1, "token") > 0, "{lead1} {lead2}");
    rest.iter_mut().for_each(|w| w.send("release"));
    let want = format!("rust {}", rest[n].pid);
    for (i, w) in rest.iter_mut().enumerate() {
        let (rs, st) = w.results();
        assert!(rs.iter().all(|r| field(r, "value").as_deref() == Some(want.as_str())), "{rs:?}");
        if i == n {
            assert_eq!(num(&st, "fleet_taken_over"), 1, "{st}");
        }
    }
    assert_eq!(run.executions(), vec![format!("rust {killed}"), want]);
    rest.into_iter().for_each(Worker::exit);
}

fn unreachable_server_falls_back(dir: &std::path::Path) {
    let url = format!("unix://{}", dir.join("no-such-server.sock").display());
    let run = Run::new(url, dir, "fallback");
    let mut ws = run.start(2, "value", 0, None);
    for w in ws.iter_mut() {
        let lead = w.take("leading");
        assert_eq!(num(&lead, "token"), 0, "a local flight: {lead}");
        w.send("release");
        let (rs, st) = w.results();
        let want = format!("rust {}", w.pid);
        assert!(rs.iter().all(|r| num(r, "status") == 0 && field(r, "value").as_deref() == Some(&*want)), "{rs:?}");
        assert!(num(&st, "fleet_fallbacks") >= 1, "{st}");
    }
    assert_eq!(run.executions().len(), 2, "each process ran its own flight");
    ws.into_iter().for_each(Worker::exit);
}

/// In this process: a split-API leader of a fleet group reads its token, and
/// a typed value crosses through a codec; bad options are refused.
fn split_leader_token_and_codec(redis: &Redis) {
    use singleflight::{Bytes, Codec, FleetOptions, Group, Join};
    struct Le;
    impl Codec<u64> for Le {
        fn encode(&self, v: &u64) -> Bytes {
            Bytes::copy_from_slice(&v.to_le_bytes())
        }
        fn decode(&self, b: &[u8]) -> Result<u64, String> {
            Ok(u64::from_le_bytes(b.try_into().map_err(|_| "not 8 bytes".to_string())?))
        }
    }
    let options = FleetOptions { url: Some(redis.url()), ..FleetOptions::default() };
    let group = Group::open_fleet(format!("rust-{}-split", std::process::id()), options.clone()).unwrap();
    let token = loop {
        match group.join::<Bytes, String>("k").unwrap() {
            Join::Leader(leader) => {
                let token = leader.fence_token();
                leader.complete(Ok(Bytes::from_static(b"v"))).unwrap();
                break token;
            }
            Join::Follower(f) => match f.wait(None) {
                Err(singleflight::Error::HandedOff) => continue,
                other => panic!("a lone caller of a fleet group leads, got {other:?}"),
            },
        }
    };
    assert!(token > 0, "a fleet leader's token");
    let n = group.call_coded("n", &Le, || Ok::<_, String>(42u64)).unwrap();
    assert_eq!(n, 42);
    let bad = FleetOptions { lease: Duration::ZERO, ..options };
    assert!(Group::open_fleet("rust-bad-options", bad).is_err());
}

fn main() {
    if std::env::var_os(WORKER_ENV).is_some() {
        std::process::exit(fleet_worker::run());
    }
    if Command::new("redis-server").arg("--version").output().is_err() {
        println!("fleet: SKIPPED, redis-server is not installed (scripts/bootstrap.sh installs it)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("sf-rust-fleet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let redis = Redis::start(dir.clone());
    let cases: [(&str, &dyn Fn()); 7] = [
        ("split_leader_token_and_codec", &|| split_leader_token_and_codec(&redis)),
        ("stampede_runs_once", &|| stampede_runs_once(&redis, &dir)),
        ("remote_error", &|| remote_failure(&redis, &dir, "error", 1, "work failed in")),
        ("remote_panic", &|| remote_failure(&redis, &dir, "panic", 2, "boom in")),
        ("waiter_deadline", &|| waiter_deadline(&redis, &dir)),
        ("killed_leader_taken_over", &|| killed_leader_taken_over(&redis, &dir)),
        ("unreachable_server_falls_back", &|| unreachable_server_falls_back(&dir)),
    ];
    let mut failed = 0;
    for (name, case) in cases {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(case)) {
            Ok(()) => println!("test {name} ... ok"),
            Err(_) => {
                println!("test {name} ... FAILED");
                failed += 1;
            }
        }
    }
    drop(redis);
    assert_eq!(failed, 0, "{failed} fleet cases failed");
}
