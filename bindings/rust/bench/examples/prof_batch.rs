//! Throwaway: runs N batches of a contended scenario with one library.
use singleflight_bench::*;
use std::sync::Arc;
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let lib = a[1].clone();
    let keys: u64 = a[2].parse().unwrap();
    let n: u64 = a[3].parse().unwrap();
    let tasks = if keys == 1 { 1000 } else { 1024 };
    let rt = if std::env::var("ST").is_ok() {
        tokio::runtime::Builder::new_current_thread().build().unwrap()
    } else {
        runtime()
    };
    let g = singleflight::Group::new();
    let p1 = Arc::new(AsyncSf::new());
    let p2 = Arc::new(SfAsync::new());
    let t = rt
        .block_on(rt.spawn(async move {
            let start = std::time::Instant::now();
            for i in 0..n {
                let base = i * 1000;
                match lib.as_str() {
                    "ours" => batch(tasks, keys, base, &|k| ours(&g, k)).await,
                    "peer" => batch(tasks, keys, base, &|k| singleflight_async(&p2, k)).await,
                    "floor" => batch(tasks, keys, base, &work).await,
                    _ => batch(tasks, keys, base, &|k| async_singleflight(&p1, k)).await,
                }
            }
            start.elapsed() / n as u32
        }))
        .unwrap();
    println!("{:?} per batch", t);
}
