// Command go is the Go worker of the cross-language fleet tests: a process
// that opens a fleet group with singleflight.OpenFleet and stampedes one key
// with DoContext from several goroutines. It speaks the worker protocol of
// ../README.md (configuration in SF_FLEET_* variables, commands on stdin,
// JSON events on stdout).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	singleflight "github.com/singleflight/singleflight/bindings/go"
)

type event struct {
	Event  string              `json:"event"`
	Pid    int                 `json:"pid"`
	Lang   string              `json:"lang"`
	Token  uint64              `json:"token,omitempty"`
	Status *int                `json:"status,omitempty"`
	Shared bool                `json:"shared,omitempty"`
	Value  *string             `json:"value,omitempty"`
	Error  *string             `json:"error,omitempty"`
	Stats  *singleflight.Stats `json:"stats,omitempty"`
}

var (
	outMu sync.Mutex
	enc   = json.NewEncoder(os.Stdout)
)

func emit(e event) {
	e.Pid, e.Lang = os.Getpid(), "go"
	outMu.Lock()
	defer outMu.Unlock()
	enc.Encode(e)
}

func env(name, dflt string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return dflt
}

func main() { os.Exit(run()) }

func run() int {
	name, key, mode := env("SF_FLEET_GROUP", "cross"), env("SF_FLEET_KEY", "hot key"), env("SF_FLEET_MODE", "value")
	execFile := env("SF_FLEET_EXEC_FILE", os.DevNull)
	callers, _ := strconv.Atoi(env("SF_FLEET_CALLERS", "4"))
	leaseMs, _ := strconv.Atoi(env("SF_FLEET_LEASE_MS", "0"))
	g, err := singleflight.OpenFleet(name, singleflight.FleetOptions{
		URL: os.Getenv("SF_FLEET_URL"), Lease: time.Duration(leaseMs) * time.Millisecond})
	if err != nil || callers < 1 {
		fmt.Fprintln(os.Stderr, "go worker:", err, callers)
		return 2
	}
	start, release, exit := make(chan struct{}), make(chan struct{}), make(chan struct{})
	statsAsked := make(chan struct{})
	go func() {
		var startOnce, statsOnce sync.Once
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			switch sc.Text() {
			case "go":
				startOnce.Do(func() { close(start) })
			case "release":
				select {
				case <-release:
				default:
					close(release)
				}
			case "stats":
				statsOnce.Do(func() { close(statsAsked) })
			case "exit":
				close(exit)
				return
			}
		}
		// The end of stdin (the driver is gone): let everything go.
		select {
		case <-release:
		default:
			close(release)
		}
		statsOnce.Do(func() { close(statsAsked) })
		close(exit)
	}()
	emit(event{Event: "ready"})
	<-start

	work := func(ctx context.Context) (any, error) {
		if f, err := os.OpenFile(execFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err == nil {
			fmt.Fprintf(f, "go %d\n", os.Getpid())
			f.Close()
		}
		emit(event{Event: "leading", Token: singleflight.FenceToken(ctx)})
		<-release
		switch mode {
		case "error":
			return nil, fmt.Errorf("work failed in go %d", os.Getpid())
		case "panic":
			panic(fmt.Sprintf("boom in go %d", os.Getpid()))
		}
		return []byte(fmt.Sprintf("go %d", os.Getpid())), nil
	}

	var entered atomic.Int32
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // "joined": every caller has entered and joined the flight
		defer wg.Done()
		for i := 0; entered.Load() < int32(callers) || g.Stats().Followers+1 < uint64(callers); i++ {
			if i == 100000 {
				fmt.Fprintln(os.Stderr, "go worker: the callers never joined:", g.Stats())
				os.Exit(3)
			}
			time.Sleep(time.Millisecond)
		}
		emit(event{Event: "joined"})
	}()
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			entered.Add(1)
			emit(call(g, key, work))
		}()
	}
	wg.Wait()
	<-statsAsked
	st := g.Stats()
	emit(event{Event: "stats", Stats: &st})
	<-exit
	return 0
}

// call runs one DoContext and reports its outcome in the engine's terms.
func call(g *singleflight.Group, key string, work func(context.Context) (any, error)) (e event) {
	e.Event = "result"
	status := 0
	e.Status = &status
	defer func() {
		if r := recover(); r != nil {
			status = 2 // SF_EPANIC
			msg := fmt.Sprint(r)
			if v, _, ok := singleflight.PanicValue(r); ok {
				msg = fmt.Sprint(v)
				var fe *singleflight.Error
				if err, ok := v.(error); ok && errors.As(err, &fe) {
					msg = fe.Msg // another process's panic message
				}
			}
			e.Error = &msg
		}
	}()
	v, err, shared := g.DoContext(context.Background(), key, work)
	e.Shared = shared
	if err != nil {
		var fe *singleflight.Error
		msg := err.Error()
		switch {
		case errors.As(err, &fe):
			status, msg = int(fe.Status), fe.Msg
		default:
			status = 1 // SF_EWORK: this process's own work error
		}
		e.Error = &msg
		return e
	}
	switch x := v.(type) {
	case []byte:
		s := string(x)
		e.Value = &s
	case string:
		e.Value = &x
	}
	return e
}
