// raw_status.h — calls that hand the engine a status as a plain integer,
// the way a C, cgo or cffi caller can (raw_status.c). In C an enum is an
// integer type, so any int converts to sf_status there; in C++ an sf_status
// outside the enum's range is undefined behaviour, so the C++ tests never
// hold one and go through these instead.
#pragma once

#include <singleflight_binding.h>

extern "C" {
const char *sft_status_str(int status);
sf_status sft_group_count_giveup(sf_group *group, int reason);
sf_status sft_complete(sf_ticket *work, int status, sf_bytes *value, sf_bytes *error);
sf_status sft_complete_native(sf_ticket *work, int status, sf_bytes *value, sf_bytes *error,
                              const sf_native_kind *kind, void *native);
sf_status sft_finish(sf_ticket *wait, sf_ticket *work, int status, sf_bytes *value, sf_bytes *error,
                     const sf_native_kind *kind, void *native, sf_result *result);
int sft_finish_alone(sf_ticket *wait, sf_ticket *work, int status, int *shared);
// A work function (sf_work_fn) that returns *(const int *)userdata as its status.
sf_status sft_raw_status_work(void *userdata, sf_bytes **value, sf_bytes **error);
}
