package singleflight

// Benchmarks of this binding against golang.org/x/sync/singleflight and
// resenje.org/singleflight (generic, pure Go), side by side in one run:
//
//	go test -run '^$' -bench . -benchmem -cpu 1,2 -count 10
//
// README.md records a table measured this way.

import (
	"context"
	"strconv"
	"sync"
	"testing"

	xsync "golang.org/x/sync/singleflight"
	resenje "resenje.org/singleflight"
)

// impl is one singleflight under test, seen through a common shape.
type impl struct {
	name string
	do   func(key string) // one call with a trivial fn
}

func impls() []impl {
	var xg xsync.Group
	var rg resenje.Group[string, int]
	var g Group
	var kg KeyedGroup[string, int]
	ctx := context.Background()
	anyFn := func() (any, error) { return 1, nil }
	intFn := func() (int, error) { return 1, nil }
	ctxFn := func(context.Context) (int, error) { return 1, nil }
	return []impl{
		{"x-sync", func(k string) { xg.Do(k, anyFn) }},
		{"resenje", func(k string) { rg.Do(ctx, k, ctxFn) }},
		{"Group", func(k string) { g.Do(k, anyFn) }},
		{"KeyedGroup", func(k string) { kg.Do(k, intFn) }},
	}
}

var benchKeys = func() []string {
	k := make([]string, 4096)
	for i := range k {
		k[i] = "key-" + strconv.Itoa(i)
	}
	return k
}()

// Every call leads a fresh flight (no contention): the fast path.
func BenchmarkUniqueKeys(b *testing.B) {
	for _, im := range impls() {
		b.Run(im.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				im.do(benchKeys[i&4095])
			}
		})
	}
}

// 1,000 goroutines call one key over and over: most calls follow.
func BenchmarkHotKey1000(b *testing.B) {
	const workers = 1000
	for _, im := range impls() {
		b.Run(im.name, func(b *testing.B) {
			b.ReportAllocs()
			per := b.N/workers + 1
			var wg sync.WaitGroup
			wg.Add(workers)
			start := make(chan struct{})
			for w := 0; w < workers; w++ {
				go func() {
					defer wg.Done()
					<-start
					for i := 0; i < per; i++ {
						im.do("hot")
					}
				}()
			}
			b.ResetTimer()
			close(start)
			wg.Wait()
		})
	}
}

// 64 keys under RunParallel: a mix of leading and following.
func BenchmarkParallel64Keys(b *testing.B) {
	for _, im := range impls() {
		b.Run(im.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					im.do(benchKeys[i&63])
					i++
				}
			})
		})
	}
}
