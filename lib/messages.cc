// messages.cc — the engine's readable texts: status names and the message
// of a work function's bad status.
#include <cstdio>

#include "bytes.h"
#include "group.h"

namespace sf {

sf_bytes *bad_status_message(int status) noexcept {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "the work returned status %d (%s); a work function must return SF_OK, "
                "SF_EWORK or SF_EPANIC",
                status, status_name(status));
  return bytes_from_string(buf);
}

const char *status_name(int status) noexcept {
  switch (status) {
    case SF_OK: return "SF_OK: the work succeeded";
    case SF_EWORK: return "SF_EWORK: the work returned an error";
    case SF_EPANIC: return "SF_EPANIC: the work aborted";
    case SF_EINVAL: return "SF_EINVAL: a bad argument";
    case SF_ENOMEM: return "SF_ENOMEM: out of memory";
    case SF_EDEADLK: return "SF_EDEADLK: the calling thread leads the flight it waits for";
    case SF_ETIMEDOUT: return "SF_ETIMEDOUT: the wait reached its deadline";
    case SF_ECANCELED: return "SF_ECANCELED: the wait was cancelled";
    case SF_EHANDOFF: return "SF_EHANDOFF: the leader left without completing";
    case SF_ENOBYTES: return "SF_ENOBYTES: the value is a native value with no byte form";
    default: return "unknown sf_status";
  }
}

}  // namespace sf
