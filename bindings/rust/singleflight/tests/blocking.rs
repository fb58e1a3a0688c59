//! The blocking API: exactly-once, errors, panics, timeouts, hand-off,
//! deadlock, bad input.

mod common;
use common::*;

use singleflight::{Bytes, Error, Group, Join};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;

type CallResult<T, E> = Result<singleflight::Shared<T>, Error<E>>;

/// Runs `n` threads calling `key` whose leader waits until all the others
/// joined; returns their results and the number of runs.
fn many_threads<T, E>(
    n: usize,
    make: impl Fn() -> Result<T, E> + Send + Sync + 'static,
) -> (Vec<CallResult<T, E>>, usize)
where
    T: Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    let group = Group::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let make = Arc::new(make);
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let (group, runs, make) = (group.clone(), runs.clone(), make.clone());
            thread::spawn(move || {
                let g2 = group.clone();
                group.call("key", move || {
                    runs.fetch_add(1, Ordering::SeqCst);
                    wait_followers(&g2, (n - 1) as u64);
                    make()
                })
            })
        })
        .collect();
    let results = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let runs = runs.load(Ordering::SeqCst);
    assert_eq!(group.stats().live, 0, "a ticket leaked");
    (results, runs)
}

#[test]
fn exactly_once_under_many_threads() {
    let (results, runs) = many_threads(32, || Ok::<_, ()>(String::from("value")));
    assert_eq!(runs, 1);
    let first = results[0].as_ref().unwrap().arc().unwrap().clone();
    for r in &results {
        let v = r.as_ref().unwrap();
        assert!(Arc::ptr_eq(v.arc().unwrap(), &first), "every caller shares one Arc");
        assert!(v.is_shared());
        assert_eq!(v.as_str(), "value");
    }
}

#[derive(Debug, PartialEq)]
struct MyError(u32);

#[test]
fn errors_are_shared() {
    let (results, runs) = many_threads(8, || Err::<u32, _>(MyError(7)));
    assert_eq!(runs, 1);
    let mut first: Option<Arc<MyError>> = None;
    for r in results {
        match r {
            Err(Error::Work(e)) => {
                assert_eq!(*e, MyError(7));
                if let Some(f) = &first {
                    assert!(Arc::ptr_eq(f, &e));
                }
                first = Some(e);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn lone_caller_is_not_shared() {
    let group = Group::new();
    let v = group.call("k", || Ok::<_, ()>(1u8)).unwrap();
    assert!(!v.is_shared());
    assert_eq!(group.stats().flights, 1);
}

#[test]
fn lone_caller_owns_its_value() {
    // Nobody else received it: no Arc was made, and the value moves out.
    let group = Group::new();
    let text = String::from("mine");
    let at = text.as_ptr();
    let v = group.call("k", move || Ok::<_, ()>(text)).unwrap();
    assert!(v.arc().is_none() && !v.is_shared());
    let copy = v.clone();
    assert_ne!(copy.as_ptr(), at, "cloning an owned value copies it");
    let owned = v.into_inner();
    assert_eq!(owned.as_ptr(), at, "moved out, not copied");
    assert_eq!(*copy.into_arc(), "mine");
}

#[test]
fn panics_reraise_in_every_caller_and_do_not_poison() {
    let group = Group::new();
    let n = 6;
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let group = group.clone();
            thread::spawn(move || {
                let g2 = group.clone();
                catch_unwind(AssertUnwindSafe(|| {
                    group.call("k", move || -> Result<u32, ()> {
                        wait_followers(&g2, (n - 1) as u64);
                        panic!("boom {}", 42)
                    })
                }))
            })
        })
        .collect();
    for h in handles {
        let payload = h.join().unwrap().expect_err("the call must panic");
        assert_eq!(panic_text(&*payload), "boom 42");
    }
    assert_eq!(group.stats().panics, 1);
    // The key is not poisoned.
    assert_eq!(*group.call("k", || Ok::<_, ()>(5)).unwrap(), 5);
}

#[test]
fn timeout_leaves_the_flight_running() {
    let group = Group::new();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let leader = {
        let group = group.clone();
        thread::spawn(move || {
            group.call("slow", move || {
                release_rx.recv().unwrap();
                Ok::<_, ()>(9)
            })
        })
    };
    wait_until(|| group.stats().in_table == 1);
    let r = group.call_timeout("slow", std::time::Duration::from_millis(5), || -> Result<u32, ()> {
        unreachable!("a follower does not run the work")
    });
    assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
    release_tx.send(()).unwrap();
    assert_eq!(*leader.join().unwrap().unwrap(), 9);
    assert_eq!(group.stats().timeouts, 1);
    assert_eq!(group.stats().live, 0);
}

#[test]
fn blocking_leader_giving_up_hands_off() {
    let group = Group::new();
    let leader = lead::<u32, ()>(&group, "k");
    let ran = Arc::new(AtomicUsize::new(0));
    let follower = {
        let (group, ran) = (group.clone(), ran.clone());
        thread::spawn(move || {
            group.call("k", move || {
                ran.fetch_add(1, Ordering::SeqCst);
                Ok::<_, ()>(2)
            })
        })
    };
    wait_followers(&group, 1);
    drop(leader); // gives up: the follower must not be stranded
    assert_eq!(*follower.join().unwrap().unwrap(), 2);
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    assert_eq!(group.stats().handoffs, 1);
}

#[test]
fn split_api_follower_sees_hand_off() {
    let group = Group::new();
    let leader = lead::<u32, ()>(&group, "k");
    let Join::Follower(follower) = group.join::<u32, ()>("k").unwrap() else { unreachable!() };
    drop(leader);
    assert!(matches!(follower.wait(None), Err(Error::HandedOff)));
}

#[test]
fn reentering_own_key_is_deadlock_not_hang() {
    let group = Group::new();
    let g2 = group.clone();
    let inner =
        group.call("k", move || Ok::<_, ()>(matches!(g2.call("k", || Ok::<u8, ()>(1)), Err(Error::Deadlock)))).unwrap();
    assert!(*inner);
}

#[test]
fn different_types_of_one_key() {
    let group = Group::new();
    let leader = lead::<u32, ()>(&group, "k");
    let follower = follower_thread(&group, |group| group.call("k", || Ok::<String, ()>("mine".into())));
    leader.complete(Ok(1)).unwrap();
    let r = follower.join().unwrap();
    assert!(matches!(r, Err(Error::TypeMismatch { .. })), "{r:?}");
}

#[test]
fn byte_values_convert_between_rust_byte_types() {
    let group = Group::new();
    let leader = lead::<Vec<u8>, ()>(&group, "k");
    let follower = follower_thread(&group, |group| group.call("k", || Ok::<Bytes, ()>(Bytes::new())));
    leader.complete(Ok(b"abc".to_vec())).unwrap();
    assert_eq!(&**follower.join().unwrap().unwrap(), b"abc");
}

#[test]
fn keys_are_arbitrary_bytes() {
    let group = Group::new();
    let runs = AtomicUsize::new(0);
    for key in [&b"a\0b"[..], b"a\0c", b"", b"a"] {
        group
            .call(key, || {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok::<_, ()>(())
            })
            .unwrap();
    }
    assert_eq!(runs.load(Ordering::SeqCst), 4);
    let long = vec![b'x'; 10_000];
    assert_eq!(*group.call(&long, || Ok::<_, ()>(3)).unwrap(), 3);
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let e = Group::open("").unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)));
    assert!(!e.to_string().is_empty());
    let e: &dyn std::error::Error = &e;
    assert!(!e.to_string().is_empty());
}

#[test]
fn named_groups_are_process_wide() {
    let a = Group::open(b"tests-named\0x").unwrap();
    let b = Group::open(b"tests-named\0x").unwrap();
    let c = Group::open(b"tests-named\0y").unwrap();
    assert!(a.same_as(&b));
    assert!(!a.same_as(&c));
    let a2 = a.clone();
    assert!(a2.same_as(&a));
}

#[test]
fn forget_starts_a_new_flight() {
    let group = Group::new();
    let first = lead::<u32, ()>(&group, "k");
    assert!(group.forget_unshared("k"));
    let second = lead::<u32, ()>(&group, "k");
    group.forget("k");
    assert_eq!(*second.complete(Ok(2)).unwrap(), 2);
    assert_eq!(*first.complete(Ok(1)).unwrap(), 1);
}

#[test]
fn bytes_are_released_exactly_once() {
    struct Owner(Vec<u8>, #[allow(dead_code)] DropCounter);
    impl AsRef<[u8]> for Owner {
        fn as_ref(&self) -> &[u8] {
            &self.0
        }
    }
    let drops = Arc::new(AtomicUsize::new(0));
    let (results, runs) = {
        let drops = drops.clone();
        many_threads(16, move || Ok::<_, ()>(Bytes::from_owner(Owner(b"payload".to_vec(), DropCounter(drops.clone())))))
    };
    assert_eq!(runs, 1);
    let ptr = results[0].as_ref().unwrap().as_ptr();
    for r in &results {
        assert_eq!(r.as_ref().unwrap().as_ptr(), ptr, "no copy per caller");
    }
    let extra = (**results[3].as_ref().unwrap()).clone();
    drop(results);
    assert_eq!(drops.load(Ordering::SeqCst), 0, "still referenced");
    assert_eq!(&*extra, b"payload");
    drop(extra);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn vec_into_bytes_is_zero_copy() {
    let v = vec![5u8; 1000];
    let p = v.as_ptr();
    let b = Bytes::from(v);
    assert_eq!(b.as_ptr(), p);
    let c = b.clone();
    assert_eq!(c.as_ptr(), p);
    assert_eq!(Bytes::from_static(b"").len(), 0);
    assert_eq!(&*Bytes::copy_from_slice(b"xy"), b"xy");
}
