//! 64 threads ask for one key at once; the work runs once and every caller
//! shares its value.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};

const CALLERS: usize = 64;

fn main() {
    let group = singleflight::Group::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(CALLERS));
    let threads: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (group, runs, start) = (group.clone(), runs.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                let probe = group.clone();
                let v = group.call("user:42", move || {
                    runs.fetch_add(1, Ordering::SeqCst);
                    // Open until every caller has joined (bounded by count).
                    for _ in 0..10_000 {
                        if probe.stats().followers >= (CALLERS - 1) as u64 {
                            break;
                        }
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                    Ok::<_, std::io::Error>(String::from("row 42"))
                });
                matches!(v, Ok(ref s) if s.as_str() == "row 42" && s.is_shared())
            })
        })
        .collect();
    let ok = threads.into_iter().filter_map(|t| t.join().ok()).filter(|&ok| ok).count();
    let runs = runs.load(Ordering::SeqCst);
    println!("rust: {CALLERS} callers, {runs} runs, {ok} shared results");
    std::process::exit(if runs == 1 && ok == CALLERS { 0 } else { 1 });
}
