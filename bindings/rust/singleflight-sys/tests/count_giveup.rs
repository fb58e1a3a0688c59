//! `sf_group_count_giveup` through these declarations: each reason bumps
//! its counter by one; bad input is refused and counts nothing.

use singleflight_sys::*;

fn stats(g: *mut sf_group) -> sf_stats {
    let mut s = sf_stats::default();
    // Safety: a live group and an output of the size we pass.
    assert_eq!(unsafe { sf_group_stats(g, &mut s, std::mem::size_of::<sf_stats>()) }, SF_OK);
    s
}

#[test]
fn each_reason_counts_once_and_bad_input_counts_nothing() {
    // Safety: no arguments; a new group we release below.
    let g = unsafe { sf_group_new() };
    assert!(!g.is_null());
    // Safety (all calls): `g` is live until released; NULL is documented input.
    unsafe {
        assert_eq!(sf_group_count_giveup(g, SF_ETIMEDOUT), SF_OK);
        assert_eq!(sf_group_count_giveup(g, SF_ECANCELED), SF_OK);
        assert_eq!(sf_group_count_giveup(g, SF_ECANCELED), SF_OK);
        assert_eq!(sf_group_count_giveup(g, SF_OK), SF_EINVAL);
        assert_eq!(sf_group_count_giveup(g, SF_EHANDOFF), SF_EINVAL);
        assert_eq!(sf_group_count_giveup(std::ptr::null_mut(), SF_ETIMEDOUT), SF_EINVAL);
    }
    let s = stats(g);
    assert_eq!((s.timeouts, s.cancellations, s.live), (1, 2, 0), "{s:?}");
    // Safety: the reference sf_group_new gave us.
    unsafe { sf_group_release(g) };
}
