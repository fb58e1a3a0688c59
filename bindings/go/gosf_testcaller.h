/*
 * gosf_testcaller.h — for the Go binding's tests only (build tag
 * sftesthooks, which also defines GOSF_TESTHOOKS for the C glue):
 * a C participant in a flight, standing for a caller in another language,
 * and a switch that sends Go followers down the engine path.
 */
#ifndef GOSF_TESTCALLER_H
#define GOSF_TESTCALLER_H

#include "gosf.h"

/* Tests set this to make Go participants attach no rendezvous, so that Go
 * followers take the engine path (one subscription each). */
extern int gosf_test_no_attach;

/* Test helpers: a C participant of a flight (a "foreign" caller) that
 * lives on threads of its own, as a Rust or Python caller would. */
typedef struct gosf_ccaller gosf_ccaller;
/* Joins `key` on this thread; leads if the key is free. */
gosf_ccaller *gosf_ccaller_join(sf_group *g, const char *key, size_t key_len);
int gosf_ccaller_leads(const gosf_ccaller *p);
/* Leader: completes and leaves from a new C thread (status, message/value);
 * status -1 completes with a native value of another kind and no bytes. */
void gosf_ccaller_complete_async(gosf_ccaller *p, int status, const char *data, size_t len);
/* Leader: leaves the work ticket without completing (a hand-off). */
void gosf_ccaller_handoff(gosf_ccaller *p);
/* Follower: a new C thread blocks in sf_wait until the outcome. */
void gosf_ccaller_wait_async(gosf_ccaller *p);
/* Joins that thread; returns its outcome (release with
 * gosf_outcome_release) and frees the caller. */
gosf_outcome gosf_ccaller_finish(gosf_ccaller *p);

#endif
