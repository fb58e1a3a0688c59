/* The binding's C glue: the preamble of the cffi module
   singleflight._singleflight. _build.py has cffi generate that module's C
   source, which includes <Python.h> and then this file, and declares to
   Python the functions below that its cdef lists. So this file is compiled
   only as part of the generated module, never on its own. */

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <singleflight_binding.h>

/* GIL policy. cffi releases the GIL around every C call. For the glue calls
   below that never block (join, complete, a poll) that costs more than the
   call itself, and under contention each release hands the GIL to another
   thread. So the wrappers cffi generates for the sfpy_* glue keep the GIL, and
   the glue releases it itself exactly where it may wait: a blocking wait, and
   leaving a ticket whose callback may be firing on another thread (the engine
   waits for it, and it needs the GIL). This is safe because the engine never
   holds one of its locks while it calls back into Python. The raw sf_*
   functions keep cffi's default (the GIL is released). */
static int sfpy_keeps_gil(const char *wrapper)
{
    return strncmp(wrapper, "_cffi_f_sfpy_", 13) == 0;
}
#undef Py_BEGIN_ALLOW_THREADS
#undef Py_END_ALLOW_THREADS
#define Py_BEGIN_ALLOW_THREADS \
    {                          \
        PyThreadState *_save = \
            sfpy_keeps_gil(__func__) ? NULL : PyEval_SaveThread();
#define Py_END_ALLOW_THREADS         \
    if (_save != NULL)               \
        PyEval_RestoreThread(_save); \
    }

#define SFPY_NOGIL_BEGIN \
    {                    \
        PyThreadState *sfpy_ts_ = PyEval_SaveThread();
#define SFPY_NOGIL_END              \
    PyEval_RestoreThread(sfpy_ts_); \
    }

#if SF_VERSION_MAJOR != 0 || SF_VERSION_MINOR < 1
#error "singleflight (Python binding) needs singleflight.h 0.x with x >= 1"
#endif

/* extern "Python" functions, defined by cffi in the generated module after
   this file. */
static void _sfpy_release(void *handle);
static void _sfpy_notify(void *userdata);
static void _sfpy_abandoned(void *userdata);

/* One caller's tickets of a flight and what it read through them (see
   _build.py's cdef). */
typedef struct sfpy_tickets {
    intptr_t role;
    sf_ticket *wait;
    sf_ticket *work;
    sf_result result;
    void *native;
    int run_here; /* counted in sfpy_run_here_depth */
    int callback; /* a subscription or abandon callback is set on a ticket */
    struct sfpy_rv *rv; /* the flight's rendezvous, once met (sfpy_meet) */
    int slot; /* 1 + the rendezvous slot its waiters registered, or 0 */
    struct sfpy_tickets *below; /* those of the blocking call under it on
                                   this thread */
    intptr_t depth;             /* its place on this thread's stack, 1 up; 0:
                                not a blocking call (see sfpy_mark) */
} sfpy_tickets;

/* Bits of what the sfpy_finish*, sfpy_complete and sfpy_leave calls return. */
#define SFPY_REL_NATIVE 1 /* the native handle passed (or read) was released */
#define SFPY_REL_BYTES 2  /* the bytes owner handle passed was released */
#define SFPY_SHARED 4     /* the outcome went to more than one caller */

/* Handles the engine releases are Python objects kept alive in a set. While
   a Python thread is inside a glue call that expects to drop the handles of
   its own flight, their releases on that thread are noted here and reported
   in the return value, so Python drops them without a callback. Any other
   release (another flight, another thread: a Go, Rust or C caller dropping
   the last ticket) calls back into Python through _sfpy_release. */
typedef struct sfpy_sink {
    void *native;
    void *bytes;
    int released;
} sfpy_sink;

static __thread sfpy_sink *sfpy_current_sink;

static void sfpy_release_c(void *handle)
{
    sfpy_sink *sink = sfpy_current_sink;
    if (sink != NULL && handle != NULL) {
        if (handle == sink->native) {
            sink->released |= SFPY_REL_NATIVE;
            return;
        }
        if (handle == sink->bytes) {
            sink->released |= SFPY_REL_BYTES;
            return;
        }
    }
    _sfpy_release(handle);
}

/* The set of handles the engine holds (_engine._keep): the glue adds the
   handles it hands over and drops the ones released during its own call, so
   that no Python bytecode runs between the engine taking or releasing a
   handle and the set saying so (an exception from a signal handler, which
   runs between bytecodes, cannot leak one or free one early). */
static PyObject *sfpy_keep;

static void sfpy_init(intptr_t keep)
{
    sfpy_keep = (PyObject *)keep;
    Py_INCREF(sfpy_keep);
}

/* With the GIL. A handle that cannot be added (no memory) is kept for good:
   the engine may read it at any time until it releases it. */
static void sfpy_keep_add(void *handle)
{
    if (handle == NULL)
        return;
    if (PySet_Add(sfpy_keep, (PyObject *)handle) < 0) {
        PyErr_Clear();
        Py_INCREF((PyObject *)handle);
    }
}

static void sfpy_keep_drop(void *handle)
{
    if (handle != NULL && PySet_Discard(sfpy_keep, (PyObject *)handle) < 0)
        PyErr_Clear();
}

/* The tag of this copy of the binding's native values. Static: it outlives
   every flight, whatever the order of interpreter shutdown. */
static const sf_native_kind sfpy_kind = { "python", sfpy_release_c };

#define SFPY_ENTER(n, b)                  \
    sfpy_sink sink_ = { (n), (b), 0 };    \
    sfpy_sink *prev_ = sfpy_current_sink; \
    sfpy_current_sink = &sink_
#define SFPY_EXIT() sfpy_current_sink = prev_
/* Drops from the keep set what the engine released during the call (the
   GIL held again). */
#define SFPY_DROP_RELEASED()                  \
    do {                                      \
        if (sink_.released & SFPY_REL_NATIVE) \
            sfpy_keep_drop(sink_.native);     \
        if (sink_.released & SFPY_REL_BYTES)  \
            sfpy_keep_drop(sink_.bytes);      \
    } while (0)

static long sfpy_live; /* sfpy_tickets allocated and not freed (leak checks) */

/* How many blocking leaders (SF_JOIN_RUN_HERE) this thread is running the
   work of: only then can a poll of this thread be a deadlock. */
static __thread int sfpy_run_here_depth;

/* The blocking calls (sfpy_join) of this thread that hold tickets, the
   latest on top: they nest, as the Python frames that made them do. A
   Python exception that lands anywhere in a blocking call's path (a signal
   handler's, at any bytecode) goes up through do(), which leaves the tickets
   of every call above its mark (sfpy_unwind): no ticket is ever lost
   between bytecodes. */
static __thread sfpy_tickets *sfpy_top;

static void sfpy_push(sfpy_tickets *c)
{
    c->below = sfpy_top;
    c->depth = sfpy_top != NULL ? sfpy_top->depth + 1 : 1;
    sfpy_top = c;
}

static void sfpy_pop(sfpy_tickets *c)
{
    sfpy_tickets **p = &sfpy_top;
    while (*p != NULL && *p != c)
        p = &(*p)->below;
    if (*p == c)
        *p = c->below;
}

/* What a failed join returns: per thread, so that no two threads write one. */
static __thread sfpy_tickets sfpy_failed[SF_ENOBYTES + 2];

static sfpy_tickets *sfpy_tickets_new(void)
{
    sfpy_tickets *c = (sfpy_tickets *)calloc(1, sizeof *c);
    if (c != NULL)
        __atomic_add_fetch(&sfpy_live, 1, __ATOMIC_RELAXED);
    return c;
}

static void sfpy_tickets_free(sfpy_tickets *c)
{
    if (c == NULL || c->role < 0)
        return;
    __atomic_sub_fetch(&sfpy_live, 1, __ATOMIC_RELAXED);
    if (c->run_here)
        sfpy_run_here_depth--;
    if (c->depth != 0)
        sfpy_pop(c);
    free(c);
}

static long sfpy_live_tickets(void)
{
    return __atomic_load_n(&sfpy_live, __ATOMIC_RELAXED);
}

/* Joins; never returns NULL: a failed join returns shared read-only
   sfpy_tickets whose role is -status. */
static sfpy_tickets *sfpy_join(sf_group *group, const char *key,
                               size_t key_len, unsigned flags)
{
    sf_status st;
    sfpy_tickets *c = sfpy_tickets_new();
    if (c == NULL) {
        c = &sfpy_failed[SF_ENOMEM];
        c->role = -(intptr_t)SF_ENOMEM;
        return c;
    }
    st = sf_join(group, key, key_len, flags, &c->wait, &c->work);
    if (st != SF_OK) {
        sfpy_tickets_free(c);
        c = &sfpy_failed[st <= SF_ENOBYTES ? st : SF_ENOBYTES + 1];
        c->role = -(intptr_t)st;
        return c;
    }
    c->role = c->work != NULL;
    if (c->role == 1 && (flags & SF_JOIN_RUN_HERE)) {
        c->run_here = 1;
        sfpy_run_here_depth++;
    }
    sfpy_push(c);
    return c;
}

/* The depth of this thread's stack of blocking calls, for sfpy_unwind. */
static intptr_t sfpy_mark(void)
{
    return sfpy_top != NULL ? sfpy_top->depth : 0;
}

static int sfpy_leave(sfpy_tickets *c);

/* Leaves the tickets of every blocking call of this thread above `mark` (a
   leader's work ticket left uncompleted hands the flight off) and frees
   them. Returns how many calls there were. */
static int sfpy_unwind(intptr_t mark)
{
    int n = 0;
    while (sfpy_top != NULL && sfpy_top->depth > mark) {
        sfpy_leave(sfpy_top);
        n++;
    }
    return n;
}

/* Moves the work ticket to sfpy_tickets of its own (the asyncio runner's). */
static sfpy_tickets *sfpy_split_work(sfpy_tickets *c)
{
    sfpy_tickets *w = sfpy_tickets_new();
    if (w == NULL)
        return NULL;
    w->role = 1;
    w->work = c->work;
    c->work = NULL;
    c->role = 0;
    return w;
}

static sf_bytes *sfpy_bytes(const char *data, size_t len, void *ctx)
{
    if (data == NULL)
        return NULL;
    if (ctx != NULL) /* zero-copy: ctx keeps the Python bytes object alive */
        return sf_bytes_wrap((void *)data, len, sfpy_release_c, ctx);
    return sf_bytes_new(data, len);
}

/* A leader's whole ending (complete, its own outcome for the shared flag,
   leave both tickets) in one engine call: sf_finish, one short critical
   section when nobody else holds a ticket of the flight. Frees `c`. */
static int sfpy_finish_in(sfpy_tickets *c, sf_status status, void *native,
                          const char *data, size_t len, void *ctx)
{
    sf_result r = { NULL, NULL, 0 };
    sf_bytes *b = sfpy_bytes(data, len, ctx);
    sf_status st = sf_finish(c->wait, c->work, status,
                             status == SF_OK ? b : NULL,
                             status == SF_OK ? NULL : b,
                             native != NULL ? &sfpy_kind : NULL, native, &r);
    if (st == SF_EINVAL) { /* nothing completed or left (cannot happen for
                              tickets from sfpy_join: both match) */
        sf_leave(c->work);
        sf_leave(c->wait);
    }
    sf_bytes_release(r.value);
    sf_bytes_release(r.error);
    c->work = NULL;
    c->wait = NULL;
    sfpy_tickets_free(c);
    return r.shared ? SFPY_SHARED : 0;
}

/* A leader's end when nobody else holds a ticket of its flight
   (sf_finish_alone): nobody to hand the outcome to, so the binding builds
   nothing (no handle, no bytes). Returns 1 and frees `c` if so, |
   SFPY_SHARED if a caller joined through the leader's own ticket
   (sf_join_or_meet); else 0, nothing changed, and the leader ends with
   sfpy_finish*. */
static int sfpy_finish_alone(sfpy_tickets *c, sf_status status)
{
    int shared = 0;
    if (!sf_finish_alone(c->wait, c->work, status, &shared))
        return 0;
    c->work = NULL;
    c->wait = NULL;
    sfpy_tickets_free(c);
    return 1 | (shared ? SFPY_SHARED : 0);
}

/* sfpy_finish_alone for the sfpy_tickets at an address (what
   sfpy_join_async returns): no cdata for an asyncio leader whose work
   completed at once. */
static int sfpy_finish_alone_at(intptr_t tickets, sf_status status)
{
    return sfpy_finish_alone((sfpy_tickets *)tickets, status);
}

/* A leader's end (a blocking leader's, or an asyncio leader whose work
   completed without suspending), for a value with no byte form (or None: a
   NULL native). One crossing, one engine call. want_shared is kept for the
   interface: sf_finish reports the shared flag anyway. */
static int sfpy_finish(sfpy_tickets *c, void *native, int want_shared)
{
    int shared;
    (void)want_shared;
    sfpy_keep_add(native);
    SFPY_ENTER(native, NULL);
    shared = sfpy_finish_in(c, SF_OK, native, NULL, 0, NULL);
    SFPY_EXIT();
    SFPY_DROP_RELEASED();
    return sink_.released | shared;
}

/* The same with value bytes (status SF_OK) or error bytes (SF_EWORK); a
   non-NULL bytes_ctx adopts `data` without a copy. */
static int sfpy_finish_bytes(sfpy_tickets *c, sf_status status, void *native,
                             const char *data, size_t len, void *bytes_ctx,
                             int want_shared)
{
    int shared;
    (void)want_shared;
    sfpy_keep_add(native);
    sfpy_keep_add(bytes_ctx);
    SFPY_ENTER(native, bytes_ctx);
    shared = sfpy_finish_in(c, status, native, data, len, bytes_ctx);
    SFPY_EXIT();
    SFPY_DROP_RELEASED();
    return sink_.released | shared;
}

/* Completes with work-only tickets (the asyncio runner's) and frees them. */
static int sfpy_complete(sfpy_tickets *w, sf_status status, void *native,
                         const char *data, size_t len, void *bytes_ctx)
{
    sf_bytes *b;
    sfpy_keep_add(native);
    sfpy_keep_add(bytes_ctx);
    b = sfpy_bytes(data, len, bytes_ctx);
    SFPY_ENTER(native, bytes_ctx);
    if (status == SF_OK)
        sf_complete_native(w->work, SF_OK, b, NULL,
                           native != NULL ? &sfpy_kind : NULL, native);
    else
        sf_complete_native(w->work, status, NULL, b,
                           native != NULL ? &sfpy_kind : NULL, native);
    SFPY_NOGIL_BEGIN /* the abandon callback may be firing on another thread */
        sf_leave(w->work);
    SFPY_NOGIL_END
    sfpy_tickets_free(w);
    SFPY_EXIT();
    SFPY_DROP_RELEASED();
    return sink_.released;
}

/* Leaves work-only tickets without completing (a hand-off) and frees them. */
static void sfpy_handoff(sfpy_tickets *w)
{
    SFPY_NOGIL_BEGIN
    sf_leave(w->work);
    SFPY_NOGIL_END
    sfpy_tickets_free(w);
}

static sf_status sfpy_wait(sfpy_tickets *c, int64_t timeout_ns)
{
    sf_status st;
    sf_bytes_release(c->result.value);
    sf_bytes_release(c->result.error);
    c->result.value = NULL;
    c->result.error = NULL;
    if (timeout_ns == 0 || timeout_ns == 1) /* never sleeps */
        return sf_wait_native(c->wait, timeout_ns, &sfpy_kind, &c->result,
                              &c->native);
    /* The outcome is often there already: take it without giving up the GIL
       (a poll is not counted as a timeout). */
    st = sf_wait_native(c->wait, 0, &sfpy_kind, &c->result, &c->native);
    if (st != SF_ETIMEDOUT)
        return st;
    SFPY_NOGIL_BEGIN
    st = sf_wait_native(c->wait, timeout_ns, &sfpy_kind, &c->result,
                        &c->native);
    SFPY_NOGIL_END
    return st;
}

/* sf_wait() that does not block. The engine answers a zero timeout with
   SF_ETIMEDOUT even when this thread runs the flight's work (SF_JOIN_RUN_HERE),
   so where this thread runs some blocking leader's work, a 1 ns timeout lets
   the engine say SF_EDEADLK instead. */
static sf_status sfpy_poll(sfpy_tickets *c)
{
    return sfpy_wait(c, sfpy_run_here_depth > 0 ? 1 : 0);
}

/* Drops what the caller did not take from its outcome, leaves the tickets it
   still holds (a work ticket: a hand-off) and frees `c`. Reports
   SFPY_REL_NATIVE if the native value it read was released here. */
static void sfpy_unregister(sfpy_tickets *c);

static int sfpy_leave(sfpy_tickets *c)
{
    SFPY_ENTER(c->native, NULL);
    sfpy_unregister(c); /* before the GIL may go: nobody meets it any more */
    sf_bytes_release(c->result.value);
    sf_bytes_release(c->result.error);
    if (c->callback) {
        SFPY_NOGIL_BEGIN
        sf_leave(c->work);
        sf_leave(c->wait);
        SFPY_NOGIL_END
    } else {
        sf_leave(c->work);
        sf_leave(c->wait);
    }
    sfpy_tickets_free(c);
    SFPY_EXIT();
    SFPY_DROP_RELEASED();
    return sink_.released;
}

/* sfpy_poll(), and if the outcome is not there yet, subscribes `userdata`
   to it (SF_ETIMEDOUT is returned then). */
static sf_status sfpy_poll_subscribe(sfpy_tickets *c, void *userdata)
{
    sf_status st = sfpy_poll(c);
    if (st != SF_ETIMEDOUT)
        return st;
    c->callback = 1;
    if (sf_subscribe(c->wait, _sfpy_notify, userdata) != SF_OK)
        return SF_EINVAL;
    return SF_ETIMEDOUT;
}

static int sfpy_on_abandoned(sfpy_tickets *w, void *userdata)
{
    w->callback = 1;
    return sf_on_abandoned(w->work, _sfpy_abandoned, userdata);
}

/* ---- asyncio waiters: one per flight and event loop ----------------------

   The asyncio callers of one event loop who wait on one flight share one
   wait ticket and one subscription (a Python "_Waiters" object, see _aio.py):
   the engine's completion wakes the loop once, and the loop resolves every
   caller's future. They meet through a rendezvous attached to the flight
   (sf_attach): a table of event loops and their waiters. It is read and
   written only inside sfpy_* calls, which keep the GIL, and freed by the
   engine with the flight's last ticket (a ticket is held while a slot is
   registered: sfpy_leave clears the slot first). */

#define SFPY_RV_LOOPS 4 /* more loops on one flight: a waiters object each */

typedef struct sfpy_rv {
    intptr_t loop[SFPY_RV_LOOPS];    /* id() of the loop; 0: a free slot */
    intptr_t waiters[SFPY_RV_LOOPS]; /* id() of its _Waiters (alive while
                                        registered: _aio._waiting) */
} sfpy_rv;

static void sfpy_rv_release(void *rv) { free(rv); }

static const sf_native_kind sfpy_rv_kind = { "python", sfpy_rv_release };

/* What sfpy_meet returns to a caller who found its loop's waiters: their
   id() as its role; its own ticket is left already. Per thread. */
static __thread sfpy_tickets sfpy_merged;

/* A rendezvous ready for this thread's next sf_attach: most attaches find
   the flight's own, so one allocation serves many. Freed at thread exit. */
static __thread sfpy_rv *sfpy_rv_spare;
static pthread_key_t sfpy_rv_key;
static pthread_once_t sfpy_rv_once = PTHREAD_ONCE_INIT;

static void sfpy_rv_key_init(void) { pthread_key_create(&sfpy_rv_key, free); }

static sfpy_rv *sfpy_rv_take(void)
{
    sfpy_rv *rv = sfpy_rv_spare;
    if (rv == NULL) {
        rv = (sfpy_rv *)calloc(1, sizeof *rv);
        pthread_once(&sfpy_rv_once, sfpy_rv_key_init);
    }
    sfpy_rv_spare = NULL;
    return rv;
}

static void sfpy_rv_keep(sfpy_rv *rv)
{
    sfpy_rv_spare = rv;
    pthread_setspecific(sfpy_rv_key, rv); /* for the thread exit */
}

/* Meets the flight's rendezvous with the wait ticket of `c`. If the waiters
   of `loop` are registered there, leaves the ticket, frees `c` and returns
   sfpy_merged naming them (role > 1); else returns `c` (role 0), ready for
   sfpy_register. Without a rendezvous (no memory, or every attach slot of
   the flight taken by other kinds) `c` simply makes waiters of its own. */
static sfpy_tickets *sfpy_meet(sfpy_tickets *c, intptr_t loop)
{
    sfpy_rv *mine = sfpy_rv_take();
    void *cur = NULL;
    int i;
    if (mine == NULL)
        return c;
    if (sf_attach(c->wait, &sfpy_rv_kind, mine, &cur) != SF_OK ||
        cur == NULL) {
        sfpy_rv_keep(mine);
        return c;
    }
    if (cur != mine)
        sfpy_rv_keep(mine); /* not taken: the flight has one */
    else
        pthread_setspecific(sfpy_rv_key, NULL); /* the engine's now */
    c->rv = (sfpy_rv *)cur;
    for (i = 0; i < SFPY_RV_LOOPS; i++) {
        if (c->rv->loop[i] == loop) {
            sfpy_merged.role = c->rv->waiters[i];
            /* The waiters hold a ticket: this is not the flight's last one,
               and a ticket without subscription is left without waiting. */
            sf_leave(c->wait);
            c->wait = NULL;
            sfpy_tickets_free(c);
            return &sfpy_merged;
        }
    }
    return c;
}

/* The id() of the waiters of `loop` registered on a flight's rendezvous,
   else 0. Read with the GIL held, as every write of the table is made
   (registered waiters hold a wait ticket, so they stay). */
static intptr_t sfpy_rv_waiters_of(const sfpy_rv *rv, intptr_t loop)
{
    int i;
    for (i = 0; i < SFPY_RV_LOOPS; i++)
        if (rv->loop[i] == loop)
            return rv->waiters[i];
    return 0;
}

/* An asyncio caller's join, one engine call (sf_join_or_meet) in the
   common cases: a follower whose loop's waiters wait on the flight already
   joins through them, with no ticket of its own (the engine hands over the
   rendezvous in a meeting and the glue decides after the engine's locks are
   released); else it joins with tickets, and a follower meets its loop's
   waiters (sfpy_meet) if they registered meanwhile. The answer
   is a number, so that the common follower costs no cdata and no field
   read in Python:
     > 0 and even   it met its loop's waiters: their id() (objects are at
                    least 8-byte aligned); it holds no ticket;
     odd            the address of its sfpy_tickets (calloc'ed: 16-byte
                    aligned) + 1 when it leads, + 3 when it is the loop's
                    first follower;
     < 0            -status: the join failed. */
static intptr_t sfpy_join_async(sf_group *group, const char *key,
                                size_t key_len, intptr_t loop)
{
    sf_meeting *meeting = NULL;
    void *rv = NULL;
    sf_ticket *wait = NULL, *work = NULL;
    sfpy_tickets *c;
    sf_status st = sf_join_or_meet(group, key, key_len, 0, &sfpy_rv_kind,
                                   &meeting, &rv, &wait, &work);
    if (st != SF_OK)
        return -(intptr_t)st;
    if (meeting != NULL) {
        intptr_t waiters = sfpy_rv_waiters_of((const sfpy_rv *)rv, loop);
        sf_meeting_end(meeting, waiters != 0);
        if (waiters != 0)
            return waiters;
        st = sf_join(group, key, key_len, 0, &wait, &work);
        if (st != SF_OK)
            return -(intptr_t)st;
    }
    c = sfpy_tickets_new();
    if (c == NULL) { /* a leader's work ticket left uncompleted hands off */
        sf_leave(work);
        sf_leave(wait);
        return -(intptr_t)SF_ENOMEM;
    }
    c->wait = wait;
    c->work = work;
    c->role = work != NULL;
    if (c->role == 1)
        return (intptr_t)c + 1;
    c = sfpy_meet(c, loop);
    if (c->role > 1)
        return c->role;
    return (intptr_t)c + 3;
}

/* Registers `waiters` (the id() of the _Waiters whose ticket is c's) as the
   waiters of `loop` on the flight. Returns 0 when there is no rendezvous or
   no free slot: they then wait on their own. */
static int sfpy_register(sfpy_tickets *c, intptr_t loop, intptr_t waiters)
{
    int i;
    if (c->rv == NULL || c->slot != 0)
        return 0;
    for (i = 0; i < SFPY_RV_LOOPS; i++) {
        if (c->rv->loop[i] == 0) {
            c->rv->loop[i] = loop;
            c->rv->waiters[i] = waiters;
            c->slot = i + 1;
            return 1;
        }
    }
    return 0;
}

/* The identity of the flight `c` holds a ticket of: the address of its
   rendezvous, attached now if it has none (valid while a ticket of the
   flight is held; two flights held at once never share one). 0 if it
   cannot have one (no memory, or every attach slot taken by other kinds). */
static intptr_t sfpy_flight_of(sfpy_tickets *c)
{
    sf_ticket *t = c->wait != NULL ? c->wait : c->work;
    sfpy_rv *mine;
    void *cur = NULL;
    if (c->rv != NULL)
        return (intptr_t)c->rv;
    if (t == NULL || (mine = sfpy_rv_take()) == NULL)
        return 0;
    if (sf_attach(t, &sfpy_rv_kind, mine, &cur) != SF_OK || cur == NULL) {
        sfpy_rv_keep(mine);
        return 0;
    }
    if (cur != mine)
        sfpy_rv_keep(mine);
    else
        pthread_setspecific(sfpy_rv_key, NULL);
    c->rv = (sfpy_rv *)cur;
    return (intptr_t)cur;
}

static intptr_t sfpy_flight_of_at(intptr_t tickets)
{
    return sfpy_flight_of((sfpy_tickets *)tickets);
}

static void sfpy_unregister(sfpy_tickets *c)
{
    if (c->slot != 0) {
        c->rv->loop[c->slot - 1] = 0;
        c->rv->waiters[c->slot - 1] = 0;
        c->slot = 0;
    }
}
