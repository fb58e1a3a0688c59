//go:build !cgo

package singleflight

// This package is cgo over libsingleflight: without cgo there is no engine
// to call, so every other file of the package needs cgo. A build with cgo
// off (CGO_ENABLED=0, or no C compiler found, where the go command turns
// cgo off) compiles this file alone and stops at its one error, the name
// below:
//
//	undefined: singleflight_requires_cgo__set_CGO_ENABLED_1
var _ = singleflight_requires_cgo__set_CGO_ENABLED_1
