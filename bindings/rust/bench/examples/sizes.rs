use singleflight_bench::*;
use std::sync::Arc;
fn size_of_val<T>(_: &T) -> usize {
    std::mem::size_of::<T>()
}
fn main() {
    let g = singleflight::Group::new();
    let p1 = Arc::new(AsyncSf::new());
    let p2 = Arc::new(SfAsync::new());
    let a = ours(&g, 1);
    let b = async_singleflight(&p1, 1);
    let c = singleflight_async(&p2, 1);
    println!("ours {} async_sf {} sf_async {}", size_of_val(&a), size_of_val(&b), size_of_val(&c));
}
