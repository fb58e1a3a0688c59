// A Go program of a user of the installed engine: the module is required by
// its path and found through a replace directive (install/run.sh writes
// go.mod). 100 goroutines ask for one key at once; the work runs once.
package main

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	singleflight "github.com/singleflight/singleflight/bindings/go"
)

const callers = 100

func main() {
	var g singleflight.Group
	var runs atomic.Int64
	var start, done sync.WaitGroup
	start.Add(1)
	shared := make([]bool, callers)
	values := make([]any, callers)
	for i := 0; i < callers; i++ {
		done.Add(1)
		go func(i int) {
			defer done.Done()
			start.Wait()
			v, err, sh := g.Do("user:42", func() (any, error) {
				runs.Add(1)
				// Open until every caller has joined (bounded by count).
				for n := 0; n < 10000 && g.Stats().Followers < callers-1; n++ {
					time.Sleep(time.Millisecond)
				}
				return "row 42", nil
			})
			if err == nil {
				values[i], shared[i] = v, sh
			}
		}(i)
	}
	start.Done()
	done.Wait()
	ok := 0
	for i := range values {
		if values[i] == "row 42" && shared[i] {
			ok++
		}
	}
	fmt.Printf("go: %d callers, %d runs, %d shared results, engine %s id %#x\n",
		callers, runs.Load(), ok, singleflight.EngineVersion(), singleflight.EngineID())
	if runs.Load() != 1 || ok != callers {
		os.Exit(1)
	}
}
