/* raw_status.c — the C side of raw_status.h: each function converts a plain
 * int to sf_status (defined in C for any int) and calls the engine, so the
 * engine receives exactly what a C caller can pass it. */
#include <singleflight_binding.h>

const char *sft_status_str(int status) { return sf_status_str((sf_status)status); }

sf_status sft_group_count_giveup(sf_group *group, int reason) {
  return sf_group_count_giveup(group, (sf_status)reason);
}

sf_status sft_complete(sf_ticket *work, int status, sf_bytes *value, sf_bytes *error) {
  return sf_complete(work, (sf_status)status, value, error);
}

sf_status sft_complete_native(sf_ticket *work, int status, sf_bytes *value, sf_bytes *error,
                              const sf_native_kind *kind, void *native) {
  return sf_complete_native(work, (sf_status)status, value, error, kind, native);
}

sf_status sft_finish(sf_ticket *wait, sf_ticket *work, int status, sf_bytes *value, sf_bytes *error,
                     const sf_native_kind *kind, void *native, sf_result *result) {
  return sf_finish(wait, work, (sf_status)status, value, error, kind, native, result);
}

int sft_finish_alone(sf_ticket *wait, sf_ticket *work, int status, int *shared) {
  return sf_finish_alone(wait, work, (sf_status)status, shared);
}

sf_status sft_raw_status_work(void *userdata, sf_bytes **value, sf_bytes **error) {
  (void)error;
  *value = sf_bytes_new("dropped", 7);
  return (sf_status) * (const int *)userdata;
}
