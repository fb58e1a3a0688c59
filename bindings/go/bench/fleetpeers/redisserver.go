package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// redisServer is a private redis-server on a free loopback port, with its
// files in a temporary directory.
type redisServer struct {
	cmd  *exec.Cmd
	dir  string
	addr string
}

// startRedis starts redis-server (no persistence) and waits until it answers.
func startRedis() (*redisServer, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server not found on PATH (scripts/bootstrap.sh installs it): %w", err)
	}
	dir, err := os.MkdirTemp("", "fleetpeers-")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s := &redisServer{dir: dir, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	s.cmd = exec.Command(bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port),
		"--save", "", "--appendonly", "no", "--dir", dir,
		"--maxclients", "10000", "--logfile", filepath.Join(dir, "redis.log"))
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	for i := 0; i < 500; i++ {
		if c, err := net.Dial("tcp", s.addr); err == nil {
			c.Close()
			return s, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.stop()
	return nil, fmt.Errorf("redis-server on %s did not answer", s.addr)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *redisServer) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
	}
	os.RemoveAll(s.dir)
}

// uncountedCommands are left out of a stampede's command count: the
// driver's own INFO, and the periodic keepalive PINGs of rueidis
// connections, which do not depend on the stampede.
var uncountedCommands = map[string]bool{"info": true, "ping": true}

// commandCounts are the calls the server has run per command, from INFO
// commandstats, less uncountedCommands.
func commandCounts(ctx context.Context, c rueidis.Client) (map[string]int64, error) {
	s, err := c.Do(ctx, c.B().Info().Section("commandstats").Build()).ToString()
	if err != nil {
		return nil, err
	}
	counts := map[string]int64{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		// cmdstat_get:calls=12,usec=...
		line := strings.TrimSpace(sc.Text())
		name, rest, ok := strings.Cut(strings.TrimPrefix(line, "cmdstat_"), ":")
		if !ok || !strings.HasPrefix(line, "cmdstat_") || uncountedCommands[name] {
			continue
		}
		calls, _, _ := strings.Cut(strings.TrimPrefix(rest, "calls="), ",")
		n, err := strconv.ParseInt(calls, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("commandstats line %q: %w", line, err)
		}
		counts[name] = n
	}
	return counts, nil
}

// serverVersion is the server's redis_version.
func serverVersion(ctx context.Context, c rueidis.Client) (string, error) {
	s, err := c.Do(ctx, c.B().Info().Section("server").Build()).ToString()
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(s, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			return v, nil
		}
	}
	return "(unknown)", nil
}

// commandsBetween is the total and the per-command calls from before to after.
func commandsBetween(before, after map[string]int64) (int64, map[string]int64) {
	var total int64
	diff := map[string]int64{}
	for name, n := range after {
		if d := n - before[name]; d != 0 {
			diff[name] = d
			total += d
		}
	}
	return total, diff
}
