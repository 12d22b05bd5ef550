//! The heap an idle, joined WebSocket session costs the node: the test that fails without
//! the actix-http patch (`patches/README.md`).
//!
//! Unpatched, actix-http's HTTP/1 dispatcher keeps an 8 KiB read and an 8 KiB write buffer
//! for the life of every connection, and a WebSocket is one long response: about 23 KB of
//! heap per session in all (22.0 KB measured). Patched, the buffers hold memory only while
//! they hold bytes: 5.7 KB, and 4.4 KB since actix-web's `http2` feature is off. The bound
//! below sits between the two.
//!
//! Its own test binary because it counts every live heap byte of the process (a counting
//! global allocator): tests running beside it in one process would count too. The node runs
//! in this process; the clients are raw blocking sockets that hold no heap while idle, so
//! what grows is the node's.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use chat_node::config::Config;
use clap::Parser;

/// Heap bytes in use, as the program asked for them (not counting malloc's own overhead).
static LIVE: AtomicIsize = AtomicIsize::new(0);

struct Counting;

// SAFETY: every call is forwarded to the system allocator unchanged; the counter only
// observes the sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, which is the system's.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Sessions measured, after `WARM_UP` more that pay for what is allocated once.
const SESSIONS: usize = 300;
const WARM_UP: usize = 30;
const PER_ROOM: usize = 10;
/// Heap per idle joined session: 4.4 KB patched (5.7 KB with `http2`), 22 KB without.
const BOUND_BYTES: isize = 12 * 1024;

#[test]
fn an_idle_joined_session_holds_no_connection_buffers() {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let data = tempfile::tempdir().unwrap();
    let args = [
        "chat-node",
        "--bind",
        "127.0.0.1:0",
        "--data-dir",
        data.path().to_str().unwrap(),
        "--static-dir",
        "/nonexistent",
        "--workers",
        "1",
        "--room-threads",
        "1",
        "--send-rate",
        "0",
        "--room-create-rate",
        "0",
    ];
    let config = Config::parse_from(args);
    let node = std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let node = chat_node::start(config).await.expect("node starts");
            addr_tx.send(node.addr()).unwrap();
            let _ = stop_rx.await;
            node.shutdown().await;
        });
    });
    let addr: SocketAddr = addr_rx.recv().unwrap();

    let rooms: Vec<String> = (0..(WARM_UP + SESSIONS).div_ceil(PER_ROOM))
        .map(|_| create_room(addr))
        .collect();
    let mut clients = Vec::with_capacity(WARM_UP + SESSIONS);
    for i in 0..WARM_UP {
        clients.push(joined_session(addr, &rooms[i / PER_ROOM], i));
    }
    settle(&mut clients);
    let before = LIVE.load(Ordering::Relaxed);
    for i in WARM_UP..WARM_UP + SESSIONS {
        clients.push(joined_session(addr, &rooms[i / PER_ROOM], i));
    }
    settle(&mut clients);
    let after = LIVE.load(Ordering::Relaxed);
    let per_session = (after - before) / SESSIONS as isize;
    eprintln!("heap per idle joined session: {per_session} bytes");
    assert!(
        per_session < BOUND_BYTES,
        "an idle joined session holds {per_session} bytes of heap (bound {BOUND_BYTES}): \
         is the actix-http patch of patches/ applied?"
    );

    drop(clients);
    let _ = stop_tx.send(());
    node.join().unwrap();
}

/// `POST /api/rooms`; the new room's code.
fn create_room(addr: SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST /api/rooms HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let start = response.find("\"code\":\"").expect("a room code") + 8;
    let end = start + response[start..].find('"').unwrap();
    response[start..end].to_owned()
}

/// A WebSocket that has joined `room`, its join acked.
fn joined_session(addr: SocketAddr, room: &str, i: usize) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "upgrade refused");
    let join =
        format!(r#"{{"event":"room:join","ref":1,"data":{{"code":"{room}","nickname":"m{i}"}}}}"#);
    stream.write_all(&client_frame(join.as_bytes())).unwrap();
    loop {
        let payload = server_frame(&mut stream);
        let text = String::from_utf8_lossy(&payload);
        if text.contains(r#""event":"ack""#) {
            assert!(text.contains(r#""ok":true"#), "join refused: {text}");
            return stream;
        }
    }
}

/// A masked text frame (mask key 0: the payload goes as is).
fn client_frame(payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mut frame = vec![0x81, 0x80 | payload.len() as u8, 0, 0, 0, 0];
    frame.extend_from_slice(payload);
    frame
}

/// One unmasked frame from the node; its payload.
fn server_frame(stream: &mut TcpStream) -> Vec<u8> {
    let mut header = [0u8; 2];
    stream.read_exact(&mut header).unwrap();
    let len = match header[1] & 0x7F {
        126 => {
            let mut ext = [0u8; 2];
            stream.read_exact(&mut ext).unwrap();
            usize::from(u16::from_be_bytes(ext))
        }
        127 => {
            let mut ext = [0u8; 8];
            stream.read_exact(&mut ext).unwrap();
            u64::from_be_bytes(ext) as usize
        }
        short => usize::from(short),
    };
    let mut payload = vec![0; len];
    stream.read_exact(&mut payload).unwrap();
    payload
}

/// Lets the node finish the joins' presence pushes, and reads them, so that nothing waits
/// in the node for a client to read.
fn settle(clients: &mut [TcpStream]) {
    std::thread::sleep(Duration::from_millis(300));
    let mut sink = [0u8; 4096];
    for stream in clients.iter_mut() {
        stream.set_nonblocking(true).unwrap();
        loop {
            match stream.read(&mut sink) {
                Ok(0) => panic!("the node closed a session"),
                Ok(_) => {}
                Err(error) if error.kind() == ErrorKind::WouldBlock => break,
                Err(error) => panic!("read: {error}"),
            }
        }
        stream.set_nonblocking(false).unwrap();
    }
    std::thread::sleep(Duration::from_millis(100));
}
