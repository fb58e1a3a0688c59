// alloc_count.cc — the allocation-counting malloc (see alloc_count.h).
//
// Deliberately includes no libc header that declares malloc, so these
// definitions need not match glibc's declarations attribute for attribute.
#include "alloc_count.h"

#include <cerrno>
#include <cstddef>

extern "C" {
void *__libc_malloc(std::size_t size);
void *__libc_calloc(std::size_t n, std::size_t size);
void *__libc_realloc(void *p, std::size_t size);
void *__libc_memalign(std::size_t align, std::size_t size);
void __libc_free(void *p);
}

namespace {
// Static TLS of the executable: reading it never allocates.
thread_local std::uint64_t t_allocations = 0;
}  // namespace

namespace bench {
std::uint64_t thread_allocations() noexcept { return t_allocations; }
}  // namespace bench

extern "C" {

void *malloc(std::size_t size) noexcept {
  ++t_allocations;
  return __libc_malloc(size);
}

void *calloc(std::size_t n, std::size_t size) noexcept {
  ++t_allocations;
  return __libc_calloc(n, size);
}

void *realloc(void *p, std::size_t size) noexcept {
  ++t_allocations;
  return __libc_realloc(p, size);
}

void *memalign(std::size_t align, std::size_t size) noexcept {
  ++t_allocations;
  return __libc_memalign(align, size);
}

void *aligned_alloc(std::size_t align, std::size_t size) noexcept {
  ++t_allocations;
  return __libc_memalign(align, size);
}

int posix_memalign(void **out, std::size_t align, std::size_t size) noexcept {
  if (align < sizeof(void *) || (align & (align - 1)) != 0) return EINVAL;
  ++t_allocations;
  void *p = __libc_memalign(align, size);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}

void free(void *p) noexcept { __libc_free(p); }

}  // extern "C"
