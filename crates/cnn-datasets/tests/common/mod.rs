//! A loopback HTTP/1.1 server for download tests, with scripted faults per request. It binds
//! 127.0.0.1 only, closes every connection after one response, and stops when dropped or after
//! two minutes, whichever comes first.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Whether a real-data path exists: in CI it must (the test fails), elsewhere the test is
/// skipped with a message.
pub fn require(path: &std::path::Path) -> bool {
    if path.exists() {
        return true;
    }
    assert!(
        std::env::var("CI").is_err(),
        "{} is required in CI",
        path.display()
    );
    eprintln!("skipping: {} not present", path.display());
    false
}

/// What to do with one request for a path.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer with this status and an empty body.
    Status(u16),
    /// Send the headers for the whole body, then only this many bytes, then close.
    CutAfter(usize),
    /// Send the headers, then nothing for this long.
    Stall(Duration),
    /// Ignore a Range header (answer 200 with the whole body).
    IgnoreRange,
}

struct Route {
    body: Vec<u8>,
    faults: VecDeque<Fault>,
}

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    /// Every request as `"GET /path range=..."`.
    pub log: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    routes: Arc<Mutex<HashMap<String, Route>>>,
}

impl Server {
    pub fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let routes: Arc<Mutex<HashMap<String, Route>>> = Arc::new(Mutex::new(HashMap::new()));
        let (s, l, r) = (stop.clone(), log.clone(), routes.clone());
        std::thread::spawn(move || {
            let t0 = Instant::now();
            while !s.load(Ordering::Relaxed) && t0.elapsed() < Duration::from_secs(120) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (l, r) = (l.clone(), r.clone());
                        std::thread::spawn(move || handle(stream, &l, &r));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Server {
            addr,
            log,
            stop,
            routes,
        }
    }

    /// Serves `body` at `path`, applying `faults` to the first requests in order.
    pub fn route(&self, path: &str, body: Vec<u8>, faults: Vec<Fault>) {
        self.routes.lock().unwrap().insert(
            path.to_string(),
            Route {
                body,
                faults: faults.into(),
            },
        );
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn handle(mut s: TcpStream, log: &Mutex<Vec<String>>, routes: &Mutex<HashMap<String, Route>>) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16384 {
        match s.read(&mut b) {
            Ok(1) => head.push(b[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let range: Option<u64> = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("range: bytes=")
                .map(|v| v.trim_end_matches('-').trim().to_string())
        })
        .and_then(|v| v.trim_end_matches('-').parse().ok());
    log.lock().unwrap().push(format!(
        "GET {path} range={}",
        range.map_or("-".into(), |r| r.to_string())
    ));
    let (body, fault) = {
        let mut r = routes.lock().unwrap();
        match r.get_mut(&path) {
            Some(route) => (route.body.clone(), route.faults.pop_front()),
            None => {
                let _ = s.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                return;
            }
        }
    };
    if let Some(Fault::Status(code)) = fault {
        let _ = write!(
            s,
            "HTTP/1.1 {code} Scripted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        return;
    }
    let ignore_range = matches!(fault, Some(Fault::IgnoreRange));
    let (status, start) = match range {
        Some(r) if !ignore_range && (r as usize) < body.len() => {
            ("206 Partial Content", r as usize)
        }
        Some(r) if !ignore_range && r as usize >= body.len() => {
            let _ = write!(
                s,
                "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                body.len()
            );
            return;
        }
        _ => ("200 OK", 0),
    };
    let rest = &body[start..];
    let mut headers = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        rest.len()
    );
    if start > 0 {
        headers.push_str(&format!(
            "Content-Range: bytes {start}-{}/{}\r\n",
            body.len() - 1,
            body.len()
        ));
    }
    headers.push_str("\r\n");
    if s.write_all(headers.as_bytes()).is_err() {
        return;
    }
    match fault {
        Some(Fault::CutAfter(n)) => {
            let _ = s.write_all(&rest[..n.min(rest.len())]);
            let _ = s.flush();
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
        Some(Fault::Stall(d)) => std::thread::sleep(d),
        _ => {
            let _ = s.write_all(rest);
        }
    }
}
