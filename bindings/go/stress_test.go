//go:build sftesthooks

package singleflight

import (
	"context"
	"errors"
	"math/rand"
	"runtime"
	"strconv"
	"sync"
	"testing"
)

// Many goroutines mix Do, DoChan and DoContext (some cancelled) on a few
// keys, with leaders on both paths (rendezvous and engine). Every call must
// get its flight's value or its own ctx.Err(), and no ticket may be left
// behind.
func TestBindingStressMixed(t *testing.T) {
	for _, engine := range []bool{false, true} {
		name := "rendezvous"
		if engine {
			name = "engine path"
		}
		t.Run(name, func(t *testing.T) {
			setNoAttach(engine)
			defer setNoAttach(false)
			var g Group
			const workers, iters = 16, 150
			var wg sync.WaitGroup
			for w := 0; w < workers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewSource(int64(w)))
					for i := 0; i < iters; i++ {
						key := strconv.Itoa(rng.Intn(4))
						want := "v" + key
						fn := func() (any, error) {
							for k := 0; k < 3; k++ {
								runtime.Gosched() // let others join
							}
							return want, nil
						}
						switch rng.Intn(3) {
						case 0:
							if v, err, _ := g.Do(key, fn); v != want || err != nil {
								t.Errorf("Do(%s) = %v, %v", key, v, err)
							}
						case 1:
							if r := <-g.DoChan(key, fn); r.Val != want || r.Err != nil {
								t.Errorf("DoChan(%s) = %+v", key, r)
							}
						case 2:
							ctx, cancel := context.WithCancel(context.Background())
							if rng.Intn(2) == 0 {
								go cancel() // gives up at some point of the call
							}
							v, err, _ := g.DoContext(ctx, key, func(ctx context.Context) (any, error) {
								v, err := fn()
								if ctx.Err() != nil {
									return nil, ctx.Err() // abandoned: a hand-off
								}
								return v, err
							})
							if err != nil && !errors.Is(err, context.Canceled) || err == nil && v != want {
								t.Errorf("DoContext(%s) = %v, %v", key, v, err)
							}
							cancel()
						}
					}
				}()
			}
			wg.Wait()
			s := g.Stats()
			t.Logf("%+v", s)
			if s.Followers == 0 {
				t.Error("no call ever followed another: the test exercised nothing")
			}
			idle(t, g.Stats)
		})
	}
}
