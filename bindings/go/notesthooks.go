//go:build !sftesthooks

package singleflight

// beforeSubscribe is a test hook (testhooks.go); without the sftesthooks
// build tag it does nothing and compiles away.
func beforeSubscribe() {}
