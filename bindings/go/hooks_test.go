//go:build !sftesthooks

package singleflight

import "testing"

// The tests that play callers of other languages with C threads, or switch
// the rendezvous off, need the C test glue of the sftesthooks build tag.
func TestBindingNeedsTestHooksTag(t *testing.T) {
	t.Skip("the foreign-caller, engine-path, rendezvous, give-up and stress tests need -tags sftesthooks (bindings/go/test.sh sets it)")
}
