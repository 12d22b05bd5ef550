//! What both fuzz targets share: an allocation meter, so that "no unbounded allocation" is
//! checked on every input and not only by libFuzzer's `-rss_limit_mb`/`-malloc_limit_mb`,
//! and the check that an encoded error is the JSON it should be.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use chat_actors::ChatError;
use serde_json::Value;

/// The system allocator, counting the bytes live and the peak since [`measure`] began.
pub struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static WORST_RATIO: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    let live = LIVE.fetch_add(bytes, Relaxed) + bytes;
    PEAK.fetch_max(live, Relaxed);
}

// SAFETY: every call is forwarded to `System` unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = System.alloc(layout);
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = System.alloc_zeroed(layout);
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        LIVE.fetch_sub(layout.size(), Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = System.realloc(ptr, layout, new_size);
        if !new.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Relaxed);
            }
        }
        new
    }
}

/// Fixed allowance of heap bytes per input, whatever its length.
pub const ALLOC_BASE: usize = 256 * 1024;
/// Allowance per input byte. The node's own steps build one `serde_json::Value` at most (the
/// decoder reads the `ref` as a `Value`, whatever it holds), and a `Value` can cost ~100
/// bytes per input byte: each object, even `{"":0}` (7 bytes with its comma), allocates a
/// whole B-tree leaf of 11 `String` keys and 11 `Value`s, 632 bytes, plus its 32-byte slot,
/// doubled while its array grows. More than this per input byte is no longer that constant
/// factor but growth out of proportion to the input.
pub const ALLOC_PER_BYTE: usize = 128;

/// Runs `f` and fails the input (a panic, which libFuzzer reports as a crash) if the heap
/// grew by more than `ALLOC_BASE + ALLOC_PER_BYTE * input_len` at any moment during it.
/// With `FUZZ_ALLOC_STATS=1` in the environment, prints each new worst bytes-per-input-byte
/// (inputs of 256 bytes and more).
pub fn within_allocation_bound<R>(input_len: usize, what: &str, f: impl FnOnce() -> R) -> R {
    let base = LIVE.load(Relaxed);
    PEAK.store(base, Relaxed);
    let result = f();
    let peak = PEAK.load(Relaxed).saturating_sub(base);
    let bound = ALLOC_BASE + ALLOC_PER_BYTE * input_len;
    assert!(
        peak <= bound,
        "{what}: {peak} heap bytes for a {input_len}-byte input (bound {bound})"
    );
    // Below 256 bytes the fixed part dominates and says nothing about growth.
    if input_len >= 256 && std::env::var_os("FUZZ_ALLOC_STATS").is_some() {
        let ratio = peak / input_len;
        if ratio > WORST_RATIO.fetch_max(ratio, Relaxed) {
            eprintln!("alloc: {what}: new worst {ratio} B/byte ({peak} B for {input_len} B)");
        }
    }
    result
}

/// Parses an encoded frame or body back and returns it as a JSON object; panics if the
/// encoder produced anything else (such as its own "encoding failed" fallback).
pub fn parse_object(encoded: &[u8], what: &str) -> serde_json::Map<String, Value> {
    match serde_json::from_slice::<Value>(encoded) {
        Ok(Value::Object(map)) => map,
        other => panic!(
            "{what} is not a JSON object: {other:?} from {:?}",
            String::from_utf8_lossy(encoded)
        ),
    }
}

/// Checks that `encoded` carries `error` as `{"code": .., "message": ..}`, exactly.
pub fn assert_error_value(value: Option<&Value>, error: &ChatError, what: &str) {
    let expected = serde_json::json!({"code": error.code.as_str(), "message": error.message});
    assert_eq!(value, Some(&expected), "{what}: error not encoded as sent");
}
