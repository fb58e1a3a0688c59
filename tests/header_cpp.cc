// The public header compiles as C++ with every warning an error, and its
// declarations have C linkage.
#include <singleflight.h>

#include <type_traits>

static_assert(SF_OK == 0 && SF_ENOBYTES == 9, "status numbers are pinned");
static_assert(std::is_same<decltype(&sf_do), sf_status (*)(sf_group *, const void *, size_t,
                                                           sf_work_fn, void *, sf_result *)>::value,
              "sf_do keeps the signature DESIGN.md fixes");

int main() { return sf_version() == SF_VERSION_NUMBER ? 0 : 1; }
