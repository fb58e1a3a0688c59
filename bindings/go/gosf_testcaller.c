//go:build sftesthooks

/* gosf_testcaller.c — see gosf_testcaller.h. Compiled only with the
 * sftesthooks build tag (the Go tests). */
#include "gosf_testcaller.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct gosf_ccaller {
  sf_ticket *wait, *work;
  pthread_t thread;
  int has_thread;
  int status;
  char *data;
  size_t len;
  gosf_outcome out;
};

gosf_ccaller *gosf_ccaller_join(sf_group *g, const char *key, size_t key_len) {
  gosf_ccaller *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  if (sf_join(g, key, key_len, 0, &p->wait, &p->work) != SF_OK) {
    free(p);
    return NULL;
  }
  return p;
}

int gosf_ccaller_leads(const gosf_ccaller *p) { return p && p->work != NULL; }

static void foreign_release(void *v) { free(v); }
/* Another binding's native values, as the Rust or Python binding has. */
static const sf_native_kind foreign_kind = {"c-test", foreign_release};

static void *complete_main(void *arg) {
  gosf_ccaller *p = arg;
  sf_bytes *b = sf_bytes_new(p->data, p->len);
  if (p->status == -1) { /* a native value with no byte form */
    sf_bytes_release(b);
    sf_complete_native(p->work, SF_OK, NULL, NULL, &foreign_kind, malloc(1));
  } else if (p->status == SF_OK) sf_complete(p->work, SF_OK, b, NULL);
  else sf_complete(p->work, (sf_status)p->status, NULL, b);
  sf_leave(p->work);
  p->work = NULL;
  return NULL;
}

void gosf_ccaller_complete_async(gosf_ccaller *p, int status, const char *data, size_t len) {
  p->status = status;
  p->data = malloc(len ? len : 1);
  if (len) memcpy(p->data, data, len);
  p->len = len;
  if (pthread_create(&p->thread, NULL, complete_main, p) == 0) p->has_thread = 1;
  else complete_main(p);
}

void gosf_ccaller_handoff(gosf_ccaller *p) {
  sf_leave(p->work);
  p->work = NULL;
}

static void *wait_main(void *arg) {
  gosf_ccaller *p = arg;
  sf_result r;
  memset(&p->out, 0, sizeof p->out);
  p->out.status = sf_wait(p->wait, -1, &r);
  p->out.shared = r.shared != 0;
  p->out.value = r.value;
  p->out.error = r.error;
  p->out.val_data = sf_bytes_data(r.value);
  p->out.val_len = sf_bytes_len(r.value);
  p->out.err_data = sf_bytes_data(r.error);
  p->out.err_len = sf_bytes_len(r.error);
  return NULL;
}

void gosf_ccaller_wait_async(gosf_ccaller *p) {
  if (pthread_create(&p->thread, NULL, wait_main, p) == 0) p->has_thread = 1;
  else wait_main(p);
}

gosf_outcome gosf_ccaller_finish(gosf_ccaller *p) {
  gosf_outcome o;
  if (p->has_thread) pthread_join(p->thread, NULL);
  o = p->out;
  sf_leave(p->work);
  sf_leave(p->wait);
  free(p->data);
  free(p);
  return o;
}
