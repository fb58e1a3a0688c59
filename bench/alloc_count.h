// alloc_count.h — counts heap allocations, per thread.
//
// alloc_count.cc defines malloc, calloc, realloc, aligned_alloc,
// posix_memalign and memalign in the benchmark executable. By ELF symbol
// interposition the executable's definitions win over libc's for every
// object in the process: the engine inside libsingleflight.so (which
// allocates with malloc), libstdc++'s operator new, and the benchmark itself.
// Each counts one allocation on the calling thread, then forwards to glibc's
// own __libc_* allocator.
#pragma once

#include <cstdint>

namespace bench {

// Allocations made so far by the calling thread (any size, any allocator
// entry point; free is not counted).
std::uint64_t thread_allocations() noexcept;

}  // namespace bench
