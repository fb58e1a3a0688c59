package singleflight_test

import (
	"context"
	"fmt"
	"sync"
	"time"

	singleflight "github.com/singleflight/singleflight/bindings/go"
)

// Concurrent callers of one key share a single run of the work.
func Example() {
	var g singleflight.Group
	var wg sync.WaitGroup
	started := make(chan struct{})
	release := make(chan struct{})
	runs := 0
	load := func() (any, error) {
		runs++
		close(started)
		<-release
		return "config v1", nil
	}

	results := make([]any, 3)
	wg.Add(1)
	go func() { // the leader
		defer wg.Done()
		results[0], _, _ = g.Do("config", load)
	}()
	<-started
	for i := 1; i < 3; i++ { // two followers join the running flight
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], _, _ = g.Do("config", load)
		}()
	}
	for g.Stats().Followers < 2 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	fmt.Println(results, "runs:", runs)
	// Output: [config v1 config v1 config v1] runs: 1
}

// A typed group: no interface{} and no type assertions.
func ExampleKeyedGroup() {
	var users singleflight.KeyedGroup[int, string]
	name, err, shared := users.Do(42, func() (string, error) {
		return "gopher", nil // e.g. a database query
	})
	fmt.Println(name, err, shared)
	// Output: gopher <nil> false
}

// DoContext: the caller may give up; the work goes on for the others and
// is cancelled only when nobody waits any more.
func ExampleGroup_DoContext() {
	var g singleflight.Group
	v, err, _ := g.DoContext(context.Background(), "report", func(ctx context.Context) (any, error) {
		return "built", ctx.Err()
	})
	fmt.Println(v, err)
	// Output: built <nil>
}

// A named group is shared with the Rust, Python and C callers of the
// process; []byte and string values reach them as bytes.
func ExampleOpen() {
	g, err := singleflight.Open("example/images")
	if err != nil {
		panic(err)
	}
	defer g.Close()
	v, _, _ := g.Do("thumb/1", func() (any, error) { return []byte("PNG..."), nil })
	fmt.Printf("%s\n", v)
	// Output: PNG...
}

// A fleet group shares its flights with every process that opens the same
// name on the same Redis server; the work reads its fencing token to guard
// its own writes. (Not run: it needs a server.)
func ExampleOpenFleet() {
	g, err := singleflight.OpenFleet("users", singleflight.FleetOptions{
		URL:   "redis://127.0.0.1:6379/0",
		Lease: 10 * time.Second,
	})
	if err != nil {
		fmt.Println(err) // bad options only
		return
	}
	defer g.Close()
	v, err, _ := g.DoContext(context.Background(), "user:42", func(ctx context.Context) (any, error) {
		token := singleflight.FenceToken(ctx) // 0 when the flight is local
		return []byte(fmt.Sprintf("row 42, written under token %d", token)), nil
	})
	fmt.Println(v, err)
}
