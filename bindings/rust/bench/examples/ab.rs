//! Throwaway: ours vs singleflight-async, alternating every 10 batches.
//! ab TASKS KEYS ROUNDS
use singleflight_bench::*;
use std::sync::Arc;
use std::time::{Duration, Instant};
fn main() {
    let a: Vec<u64> = std::env::args().skip(1).map(|x| x.parse().unwrap()).collect();
    let (tasks, keys, rounds) = (a[0] as usize, a[1], a[2] as usize);
    let rt = runtime();
    let g = singleflight::Group::new();
    let p = Arc::new(SfAsync::new());
    let mut ratios = vec![];
    let mut base = 0u64;
    for r in 0..rounds + 2 {
        let mut t = [Duration::ZERO; 2];
        for turn in 0..2 {
            let lib = (r + turn) % 2;
            base += 10_000_000;
            let (g, p) = (g.clone(), p.clone());
            t[lib] = rt
                .block_on(rt.spawn(async move {
                    let s = Instant::now();
                    for i in 0..10u64 {
                        if lib == 0 {
                            batch(tasks, keys, base + i * 100_000, &|k| ours(&g, k)).await
                        } else {
                            batch(tasks, keys, base + i * 100_000, &|k| singleflight_async(&p, k)).await
                        }
                    }
                    s.elapsed()
                }))
                .unwrap();
        }
        if r >= 2 {
            ratios.push(t[0].as_secs_f64() / t[1].as_secs_f64());
        }
    }
    ratios.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "{tasks}x{keys}: median {:.3} q1 {:.3} q3 {:.3}",
        ratios[ratios.len() / 2],
        ratios[ratios.len() / 4],
        ratios[3 * ratios.len() / 4]
    );
}
