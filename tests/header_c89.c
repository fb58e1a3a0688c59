/* The public header compiles as strict C89 with every warning an error. */
#include <singleflight.h>

static sf_status work(void *userdata, sf_bytes **value, sf_bytes **error) {
  (void)userdata;
  (void)error;
  *value = sf_bytes_new("c89", 3);
  return SF_OK;
}

int main(void) {
  sf_result result;
  sf_status status;
  sf_group *group = sf_group_new();
  if (!group) return 1;
  status = sf_do(group, "key", 3, work, 0, &result);
  sf_bytes_release(result.value);
  sf_bytes_release(result.error);
  sf_group_release(group);
  return status == SF_OK && SF_VERSION_NUMBER == sf_version() ? 0 : 1;
}
