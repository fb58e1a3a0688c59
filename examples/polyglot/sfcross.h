/* sfcross.h — the C side of the cross-language demo and tests.
 *
 * One shared library that every language's piece links: a start gate, a
 * "database" whose queries are counted, a log of what each caller got, and
 * the C callers themselves. The host (a Python program) loads it, the Go
 * c-shared library, the Rust cdylib and the C++ library, all over the one
 * libsingleflight.so.
 */
#ifndef SFCROSS_H
#define SFCROSS_H

#include <singleflight.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { SFX_C = 0, SFX_GO = 1, SFX_RUST = 2, SFX_PYTHON = 3, SFX_CPP = 4, SFX_LANGS = 5 };

/* What the work does: answer from the database, fail, or panic. */
enum { SFX_WORK_VALUE = 0, SFX_WORK_ERROR = 1, SFX_WORK_PANIC = 2 };

/* The start gate: callers block in sfx_gate_wait() until sfx_gate_open(). */
void sfx_gate_close(void);
void sfx_gate_open(void);
void sfx_gate_wait(void);

/* The database. A query on `group_name` holds until that group's flight has
 * `followers` followers (at most ~10 s, a safety net), so that every caller
 * of a wave joins the one flight, then answers "row <key>". */
void sfx_db_configure(const char *group_name, int followers);
/* Each query then takes `ms` more milliseconds (0 by default). */
void sfx_db_delay(int ms);
/* While held, a query that has its followers still waits for the release. */
void sfx_db_hold(void);
void sfx_db_release(void);
long sfx_db_queries(void);
sf_bytes *sfx_db_query(const void *key, size_t key_len);

/* The log: one entry per caller. `addr` is the address of the bytes the
 * caller received (its own copy's, for a language that copies), kept as a
 * number: the log never holds another language's pointer. */
typedef struct sfx_entry {
  int lang;
  int status; /* an sf_status */
  uintptr_t addr;
  size_t len;
  int shared;
  char text[160]; /* the value or message, NUL-terminated, cut to fit */
} sfx_entry;

void sfx_log_reset(void);
void sfx_log(int lang, int status, const void *data, size_t len, int shared);
int sfx_log_count(void);
int sfx_log_get(int i, sfx_entry *out);
/* Blocks until `n` entries are logged. */
void sfx_log_wait(int n);

/* C callers: `n` threads that each pass the gate and call sf_do on `key` of
 * the named group, doing `work` if they lead. Returns at once. */
int sfx_c_stampede(const char *group_name, const char *key, int n, int work);
/* Joins the threads of every stampede started. */
void sfx_c_join(void);

#ifdef __cplusplus
}
#endif
#endif
