//go:build sftesthooks

package singleflight

// Go followers of a Do leader meet on a rendezvous the first of them made:
// one of their wait tickets is subscribed to the engine for all of them.
// These tests take that subscription through its corner cases.

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"
)

// startLeader runs g.Do(key) with a fn that waits for release, once the
// flight is in the table.
func startLeader(g *Group, key string, release <-chan struct{}) <-chan Result {
	done := make(chan Result, 1)
	go func() {
		v, err, shared := g.Do(key, func() (any, error) { <-release; return "v", nil })
		done <- Result{v, err, shared}
	}()
	until(func() bool { return g.Stats().InTable == 1 })
	return done
}

// goFollowContext runs g.DoContext(ctx, key) in a goroutine; the channel
// receives its error. Its fn ("a ran") only runs if it leads.
func goFollowContext(g *Group, ctx context.Context, key string) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err, _ := g.DoContext(ctx, key, func(context.Context) (any, error) { return "a ran", nil })
		done <- err
	}()
	return done
}

// goFollow runs g.Do(key) in a goroutine; the channel receives its result.
// Its fn ("b ran") only runs if it leads.
func goFollow(g *Group, key string) <-chan Result {
	done := make(chan Result, 1)
	go func() {
		v, err, shared := g.Do(key, func() (any, error) { return "b ran", nil })
		done <- Result{v, err, shared}
	}()
	return done
}

// checkShared fails unless r is the leader's value "v", shared.
func checkShared(t *testing.T, who string, r Result) {
	t.Helper()
	if r.Val != "v" || r.Err != nil || !r.Shared {
		t.Fatalf("%s: got %+v; want the leader's value, shared", who, r)
	}
}

// The follower whose ticket is subscribed gives up while another follower
// waits: the subscription stays (its ticket is left later), and the other
// follower still gets the value.
func TestBindingRendezvousSubscriberLeaves(t *testing.T) {
	var g Group
	subscribed := make(chan struct{}, 4)
	testHookSubscribe = func() { subscribed <- struct{}{} }
	defer func() { testHookSubscribe = nil }()
	release := make(chan struct{})
	leader := startLeader(&g, "k", release)

	ctx, cancel := context.WithCancel(context.Background())
	aDone := goFollowContext(&g, ctx, "k")
	<-subscribed // A made the rendezvous and subscribes its ticket
	bDone := goFollow(&g, "k")
	until(func() bool { return g.Stats().Followers == 2 })
	cancel()
	if err := <-aDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("A: got %v; want context.Canceled", err)
	}
	close(release)
	checkShared(t, "B", <-bDone)
	checkShared(t, "leader", <-leader)
	if n := len(subscribed); n != 0 {
		t.Fatalf("%d more subscriptions; want A's only", n)
	}
	idle(t, g.Stats)
}

// The only follower gives up: its subscription is dropped and its ticket
// left (nobody holds the flight for it). A follower who comes later to the
// same rendezvous subscribes again and gets the value.
func TestBindingRendezvousResubscribes(t *testing.T) {
	var g Group
	var subs atomic.Int32
	testHookSubscribe = func() { subs.Add(1) }
	defer func() { testHookSubscribe = nil }()
	release := make(chan struct{})
	leader := startLeader(&g, "k", release)

	ctx, cancel := context.WithCancel(context.Background())
	aDone := goFollowContext(&g, ctx, "k")
	until(func() bool { return subs.Load() == 1 })
	cancel()
	if err := <-aDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("A: got %v; want context.Canceled", err)
	}
	// A's ticket is left (before its DoContext returned) with the
	// subscription: only the leader's tickets hold the flight.
	bDone := goFollow(&g, "k")
	until(func() bool { return subs.Load() == 2 })
	close(release)
	checkShared(t, "B", <-bDone)
	checkShared(t, "leader", <-leader)
	idle(t, g.Stats)
}

// The outcome arrives between a follower's join and its subscription: the
// subscription fires at once, on the follower's own goroutine, and the
// follower gets the outcome (here from a leader in another language).
func TestBindingRendezvousSubscribesAfterOutcome(t *testing.T) {
	g := openT(t)
	p := cCallerJoin(g.testHandle(), "k")
	if !p.leads() {
		t.Fatal("the C caller does not lead a fresh key")
	}
	testHookSubscribe = func() {
		p.completeAsync(StatusOK, "from C")
		o := p.finish() // joins the thread: the flight is complete
		o.release()
	}
	defer func() { testHookSubscribe = nil }()
	v, err, shared := g.Do("k", func() (any, error) { return "go ran", nil })
	if b, ok := v.([]byte); !ok || !bytes.Equal(b, []byte("from C")) || err != nil || !shared {
		t.Fatalf("got %v (%T), %v, %v; want the C leader's bytes, shared", v, v, err, shared)
	}
}
