"""Cross-language tests: C, Go, Rust, Python and C++ callers on one engine.

Every test drives real callers in each language through its own binding
(see examples/polyglot); the C side's "database" counts the work's runs.
"""
import asyncio
import threading
import time

import pytest

import polyglot as pg
import singleflight

LANGS = [pg.C, pg.GO, pg.PYTHON] + ([pg.RUST] if pg.HAVE_RUST else []) + ([pg.CPP] if pg.HAVE_CPP else [])
NATIVE_BUFFER = [l for l in LANGS if l != pg.GO]  # Go copies into Go memory


@pytest.fixture(autouse=True)
def _reset_db():
    pg.cside.sfx_db_delay(0)
    yield
    pg.cside.sfx_db_delay(0)
    pg.cside.sfx_db_release()


def ids(lang):
    return pg.LANGS[lang]


def test_rust_piece_is_built():
    assert pg.HAVE_RUST, "build-polyglot/libsfrust.so is missing: the Rust callers did not build"


def test_cpp_piece_is_built():
    assert pg.HAVE_CPP, "build-polyglot/libsfcpp.so is missing: the C++ callers did not build"


def test_one_engine_in_the_process():
    seen = pg.engine_ids()
    assert len(seen) == len(LANGS)
    assert len(set(seen.values())) == 1, seen


def test_named_group_counters_are_the_same_from_every_language():
    before = singleflight.Group.open("counters").stats().flights
    w = pg.wave({lang: 1 for lang in LANGS}, group="counters", leader=pg.C)
    assert w.queries == 1
    after = singleflight.Group.open("counters").stats()
    assert after.flights == before + 1  # the C leader's flight, seen from Python


def test_exactly_once_across_all_languages_same_buffer():
    w = pg.wave({lang: 12 for lang in LANGS})
    assert w.queries == 1
    assert len(w.entries) == 12 * len(LANGS)
    assert all(e.status == pg.SF_OK and e.text == "row user:42" for e in w.entries), w.entries
    assert all(e.shared for e in w.entries)
    assert len({e.addr for e in w.entries if e.lang in NATIVE_BUFFER}) == 1


@pytest.mark.parametrize("leader", LANGS, ids=ids)
def test_each_language_leads_the_others_follow(leader):
    w = pg.wave({lang: 4 for lang in LANGS}, leader=leader)
    assert w.queries == 1
    assert all(e.status == pg.SF_OK and e.text == "row user:42" for e in w.entries), w.entries
    for lang in LANGS:
        assert len(w.by_lang(lang)) == 4
    assert len({e.addr for e in w.entries if e.lang in NATIVE_BUFFER}) == 1


@pytest.mark.parametrize("leader,message", [(pg.GO, "Go work panicked"), (pg.C, "C work aborted")]
                         + ([(pg.RUST, "Rust work panicked")] if pg.HAVE_RUST else [])
                         + ([(pg.CPP, "C++ work threw")] if pg.HAVE_CPP else []), ids=lambda x: str(x))
def test_a_panic_reaches_every_language_with_its_message(leader, message):
    w = pg.wave({lang: 3 for lang in LANGS}, leader=leader, work=pg.PANIC)
    assert w.queries == 1
    for e in w.entries:
        assert e.status == pg.SF_EPANIC, (pg.LANGS[e.lang], e)
        assert message in e.text, (pg.LANGS[e.lang], e.text)


@pytest.mark.parametrize("leader,message", [(pg.PYTHON, "Python work failed"), (pg.GO, "Go work failed"),
                                            (pg.C, "C work failed")]
                         + ([(pg.CPP, "C++ work failed")] if pg.HAVE_CPP else []), ids=lambda x: str(x))
def test_a_work_error_reaches_every_language(leader, message):
    w = pg.wave({lang: 3 for lang in LANGS}, leader=leader, work=pg.ERROR)
    assert w.queries == 1
    for e in w.entries:
        assert e.status == pg.SF_EWORK, (pg.LANGS[e.lang], e)
        assert message in e.text, (pg.LANGS[e.lang], e.text)


def test_no_failure_poisons_the_key_across_languages():
    pg.wave({lang: 2 for lang in LANGS}, leader=pg.GO, work=pg.PANIC)
    w = pg.wave({lang: 2 for lang in LANGS}, leader=pg.C)
    assert w.queries == 1
    assert all(e.status == pg.SF_OK for e in w.entries)


def test_python_value_without_byte_form_is_a_clear_error_elsewhere():
    w = pg.wave({lang: 3 for lang in LANGS}, leader=pg.PYTHON, python_native=True)
    assert w.queries == 1
    for e in w.entries:
        if e.lang == pg.PYTHON:
            assert e.status == pg.SF_OK and e.text == "row user:42"  # the dict itself
        else:
            assert e.status == pg.SF_ENOBYTES, (pg.LANGS[e.lang], e)
            assert "python" in e.text and "no byte form" in e.text, e.text


@pytest.mark.parametrize("lang,timeout", [(pg.PYTHON, "python_timeout"), (pg.CPP, "cpp_timeout")],
                         ids=lambda x: str(x))
def test_follower_times_out_while_the_flight_completes_for_the_rest(lang, timeout):
    before = singleflight.Group.open("polyglot").stats().timeouts
    pg.cside.sfx_db_delay(300)
    w = pg.wave({pg.C: 1, pg.GO: 3, lang: 3}, leader=pg.C, **{timeout: 0.05})
    assert w.queries == 1
    for e in w.entries:
        if e.lang == lang:
            assert e.status == pg.SF_ETIMEDOUT, e
        else:
            assert e.status == pg.SF_OK and e.text == "row user:42", e
    assert singleflight.Group.open("polyglot").stats().timeouts >= before + 3


def test_cpp_typed_sharing_one_object_for_cpp_the_same_buffer_elsewhere():
    w = pg.wave({pg.CPP: 6, pg.C: 3, pg.PYTHON: 3}, leader=pg.CPP)
    assert w.queries == 1
    assert all(e.status == pg.SF_OK and e.text == "row user:42" and e.shared for e in w.entries), w.entries
    # The C++ leader's sf::bytes is the one object every C++ caller holds;
    # C and Python read its buffer itself.
    assert len({e.addr for e in w.entries}) == 1


def _followers(group):
    return singleflight.Group.open(group).stats().followers


def _prepare(group, followers):
    """A scenario on its own group: the database's query holds until
    `followers` more callers have followed; the log is empty, the gate open.
    Returns the group and its follower count before the scenario."""
    grp = singleflight.Group.open(group)
    base = grp.stats().followers
    pg.cside.sfx_db_configure(group.encode(), base + followers)
    pg.cside.sfx_log_reset()
    pg.from_gate.open()
    return grp, base


def _first_caller_gives_up(group, lang, start, cancel, followers, hold):
    """A caller in `lang` starts the flight of `group`'s key "k" (start(group
    bytes, key bytes) returns 0), three C and three Python callers follow,
    then that first caller gives up (cancel()). With `hold` the work outlives
    the caller: the query waits until the caller returned. Checks that it
    alone is cancelled and the others get the row, queried once; returns
    the group."""
    key = "k"
    grp, base = _prepare(group, followers)
    if hold:
        pg.cside.sfx_db_hold()
    assert start(group.encode(), key.encode()) == 0
    pg.flight_started(grp)
    pg.cside.sfx_c_stampede(group.encode(), key.encode(), 3, pg.VALUE)
    threads = pg.start_python(group, key, 3)
    while _followers(group) < base + 6:
        time.sleep(0.001)
    cancel()
    if hold:
        pg.cside.sfx_log_wait(1)  # the caller that gave up has returned
        pg.cside.sfx_db_release()
    pg.cside.sfx_log_wait(7)
    pg.join_all(threads)
    es = pg.entries()
    mine = [e for e in es if e.lang == lang]
    assert len(mine) == 1 and mine[0].status == pg.SF_ECANCELED, mine
    others = [e for e in es if e.lang != lang]
    assert len(others) == 6 and all(e.status == pg.SF_OK and e.text == "row k" for e in others), others
    assert pg.cside.sfx_db_queries() == 1
    return grp


def test_cancelled_go_leader_the_work_goes_on_for_c_and_python():
    # The Go caller that started the flight gives up: its DoContext returns.
    _first_caller_gives_up(
        "cancel-go", pg.GO,
        lambda g, k: pg.golib.GoStartCancellable(pg.ffi.new("char[]", g), pg.ffi.new("char[]", k)),
        pg.golib.GoCancelAll, 6, hold=True)


def test_cancelled_cpp_async_leader_the_work_goes_on_for_c_and_python():
    # Its stop token: the C++ caller gives up, its future holds
    # sf::error(SF_ECANCELED).
    grp = _first_caller_gives_up("cancel-cpp", pg.CPP, pg.cpplib.cpp_start_cancellable,
                                 pg.cpplib.cpp_cancel_all, 6, hold=True)
    assert grp.stats().cancellations >= 1


def test_cancelled_asyncio_leader_the_work_goes_on_for_c():
    group, key = "cancel-asyncio", "k"
    grp, base = _prepare(group, 4)

    caller_gone = threading.Event()

    def query_after_cancel():
        caller_gone.wait()  # the work outlives the caller who started it
        return pg._query(key, pg.VALUE)

    async def work():
        return await asyncio.to_thread(query_after_cancel)

    async def leader():
        task = asyncio.ensure_future(grp.do_async(key, work))
        while grp.stats().in_table == 0:
            await asyncio.sleep(0.001)
        pg.cside.sfx_c_stampede(group.encode(), key.encode(), 4, pg.VALUE)
        while _followers(group) < base + 4:
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        caller_gone.set()
        # The work is still running for the C callers: let it finish here.
        while pg.cside.sfx_log_count() < 4:
            await asyncio.sleep(0.005)

    asyncio.run(leader())
    pg.cside.sfx_c_join()
    es = pg.entries()
    assert len(es) == 4 and all(e.lang == pg.C and e.status == pg.SF_OK and e.text == "row k" for e in es)
    assert pg.cside.sfx_db_queries() == 1


def test_python_thread_leader_interrupted_hands_off_to_c():
    group, key = "handoff", "k"
    # The fresh run's query waits for the two other C callers to rejoin:
    # three joined the first flight, two follow the second.
    grp, base = _prepare(group, 3 + 2)
    interrupted = []

    def work():
        while _followers(group) < base + 3:
            time.sleep(0.001)
        raise KeyboardInterrupt  # the thread is told to stop: not an outcome

    def leader():
        try:
            grp.do(key, work)
        except KeyboardInterrupt:
            interrupted.append(True)

    t = threading.Thread(target=leader)
    t.start()
    pg.flight_started(grp)
    pg.cside.sfx_c_stampede(group.encode(), key.encode(), 3, pg.VALUE)
    t.join()
    pg.cside.sfx_log_wait(3)
    pg.cside.sfx_c_join()
    assert interrupted == [True]
    es = pg.entries()
    assert all(e.status == pg.SF_OK and e.text == "row k" for e in es), es
    assert pg.cside.sfx_db_queries() == 1  # a C caller led the fresh run, once
    assert grp.stats().handoffs == 1


def test_dropped_rust_future_hands_off_to_c_and_python():
    # The Rust caller's future is dropped: its work never queried; after the
    # hand-off, 5 of the 6 others follow the one that leads anew.
    grp = _first_caller_gives_up("cancel-rust", pg.RUST, pg.rustlib.rust_start_cancellable,
                                 pg.rustlib.rust_cancel_all, 6 + 5, hold=False)
    assert grp.stats().handoffs >= 1
