package singleflight

/*
#cgo pkg-config: singleflight
#include "gosf.h"

#if SF_VERSION_MAJOR != 0 || SF_VERSION_MINOR < 1
#error "this binding needs libsingleflight 0.x with x >= 1 (check PKG_CONFIG_PATH)"
#endif
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// The library must be the one this package was built against: same major,
// at least the minor the header promised.
func init() {
	v := uint(C.sf_version())
	if v/10000 != uint(C.SF_VERSION_MAJOR) || v < uint(C.SF_VERSION_NUMBER) {
		panic(fmt.Sprintf("singleflight: libsingleflight %s is loaded, but this package was built for %d.%d.x",
			C.GoString(C.sf_version_string()), C.SF_VERSION_MAJOR, C.SF_VERSION_MINOR))
	}
}

// EngineVersion is the version of the loaded libsingleflight ("MAJOR.MINOR.PATCH").
func EngineVersion() string { return C.GoString(C.sf_version_string()) }

// EngineID identifies the loaded copy of the engine. Every binding in one
// process must report the same value; two values mean two engines, and named
// groups would silently stop being shared.
func EngineID() uintptr { return uintptr(C.sf_engine_id()) }

// strPtr returns a C view of s's bytes for the length of one cgo call.
func strPtr(s string) *C.char {
	return (*C.char)(unsafe.Pointer(unsafe.StringData(s)))
}

func bytesPtr(b []byte) *C.char {
	return (*C.char)(unsafe.Pointer(unsafe.SliceData(b)))
}
