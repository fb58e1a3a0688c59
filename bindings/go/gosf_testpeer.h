/*
 * gosf_testpeer.h — for the Go binding's tests only (build tag
 * sftesthooks, which also defines GOSF_TESTHOOKS for the C glue):
 * a C participant in a flight, standing for a caller in another language,
 * and a switch that sends Go followers down the engine path.
 */
#ifndef GOSF_TESTPEER_H
#define GOSF_TESTPEER_H

#include "gosf.h"

/* Tests set this to make Go participants attach no rendezvous, so that Go
 * followers take the engine path (one subscription each). */
extern int gosf_test_no_attach;

/* Test helpers: a C participant of a flight (a "foreign" caller) that
 * lives on threads of its own, as a Rust or Python caller would. */
typedef struct gosf_cpeer gosf_cpeer;
/* Joins `key` on this thread; leads if the key is free. */
gosf_cpeer *gosf_cpeer_join(sf_group *g, const char *key, size_t key_len);
int gosf_cpeer_leads(const gosf_cpeer *p);
/* Leader: completes and leaves from a new C thread (status, message/value);
 * status -1 completes with a native value of another kind and no bytes. */
void gosf_cpeer_complete_async(gosf_cpeer *p, int status, const char *data, size_t len);
/* Leader: leaves the work ticket without completing (a hand-off). */
void gosf_cpeer_handoff(gosf_cpeer *p);
/* Follower: a new C thread blocks in sf_wait until the outcome. */
void gosf_cpeer_wait_async(gosf_cpeer *p);
/* Joins that thread; returns its outcome (release with
 * gosf_outcome_release) and frees the peer. */
gosf_outcome gosf_cpeer_finish(gosf_cpeer *p);

#endif
