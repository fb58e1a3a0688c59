package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"time"
)

// workerEnv, when set to the server's address, makes the program a worker
// process: it opens every contender, then runs one call per line of its
// standard input, "<contender> <key>", and answers each with one line:
// "ok <ran> <workEndNs> <returnNs> <fallbacks>" or "err <message>".
const workerEnv = "FLEETPEERS_WORKER"

// workTime is how long the work of a stampede takes (a database query).
const workTime = 50 * time.Millisecond

var value = bytes.Repeat([]byte("v"), 64)

func runWorker(addr string) error {
	cs := map[string]contender{}
	for _, name := range contenderNames {
		c, err := newContender(name, addr)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		defer c.close()
		cs[name] = c
	}
	in := bufio.NewScanner(os.Stdin)
	out := bufio.NewWriter(os.Stdout)
	for in.Scan() {
		name, key, ok := strings.Cut(in.Text(), " ")
		c := cs[name]
		if !ok || c == nil {
			return fmt.Errorf("bad request %q", in.Text())
		}
		fallbacks := fleetFallbacks(cs)
		ran, workEnd := 0, int64(0)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		v, err := c.do(ctx, key, func() []byte {
			time.Sleep(workTime)
			ran++
			workEnd = time.Now().UnixNano()
			return value
		})
		ret := time.Now().UnixNano()
		cancel()
		if err == nil && !bytes.Equal(v, value) {
			err = fmt.Errorf("%s returned %d bytes, not the value", name, len(v))
		}
		if err != nil {
			fmt.Fprintf(out, "err %s: %s\n", name, strings.ReplaceAll(err.Error(), "\n", " "))
		} else {
			fmt.Fprintf(out, "ok %d %d %d %d\n", ran, workEnd, ret, fleetFallbacks(cs)-fallbacks)
		}
		if err := out.Flush(); err != nil {
			return err
		}
	}
	return in.Err()
}

// fleetFallbacks counts the fleet group's local flights (Redis not used).
func fleetFallbacks(cs map[string]contender) uint64 {
	if f, ok := cs["fleet"].(fleetContender); ok {
		return f.g.Stats().FleetFallbacks
	}
	return 0
}
