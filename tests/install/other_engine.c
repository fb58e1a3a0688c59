/*
 * other_engine.c — another user of the engine in a Python process, standing
 * for any binding's library (a Go c-shared library, a Rust cdylib, a C
 * library): linked against an installed libsingleflight.so.0 with an rpath
 * to it, and loaded by wheel_engine.py through ctypes.
 *
 *   cc -shared -fPIC other_engine.c -I<prefix>/include -L<libdir> -lsingleflight -Wl,-rpath,<libdir>
 */
#include <stdint.h>
#include <string.h>

#include <singleflight.h>

/* The engine this library's sf_* calls reach. */
uintptr_t other_engine_id(void) { return (uintptr_t)sf_engine_id(); }

/* The flights of the named group `name`, as this library's engine counts
 * them; UINT64_MAX if it cannot tell. */
uint64_t other_flights(const char *name) {
  sf_group *group = sf_group_open(name, strlen(name));
  sf_stats stats;
  uint64_t flights = UINT64_MAX;
  if (group && sf_group_stats(group, &stats, sizeof stats) == SF_OK) flights = stats.flights;
  sf_group_release(group);
  return flights;
}
