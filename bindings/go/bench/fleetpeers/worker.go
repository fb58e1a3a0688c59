package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// workerEnv, when set to the server's address, makes the program a worker
// process: it opens every contender, then runs one call per line of its
// standard input, "<contender> <key> <arrivalNs> <workNs>": at the wall
// clock's arrivalNs (Unix time) it calls, with work that sleeps workNs (a
// database query). It answers each with one line:
// "ok <ran> <workEndNs> <returnNs> <fallbacks> <lateNs>" (lateNs: how long
// after arrivalNs the call started) or "err <message>".
const workerEnv = "FLEETPEERS_WORKER"

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
		f := strings.Fields(in.Text())
		if len(f) != 4 || cs[f[0]] == nil {
			return fmt.Errorf("bad request %q", in.Text())
		}
		name, key, c := f[0], f[1], cs[f[0]]
		arrival, err1 := strconv.ParseInt(f[2], 10, 64)
		workNs, err2 := strconv.ParseInt(f[3], 10, 64)
		if err1 != nil || err2 != nil {
			return fmt.Errorf("bad request %q", in.Text())
		}
		fallbacks := fleetFallbacks(cs)
		time.Sleep(time.Until(time.Unix(0, arrival)))
		late := max(time.Now().UnixNano()-arrival, 0)
		ran, workEnd := 0, int64(0)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		v, err := c.do(ctx, key, func() []byte {
			time.Sleep(time.Duration(workNs))
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
			fmt.Fprintf(out, "ok %d %d %d %d %d\n", ran, workEnd, ret, fleetFallbacks(cs)-fallbacks, late)
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
