package singleflight

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// A private redis-server for the fleet tests, on a unix socket in the test's
// temporary directory, stopped when the test ends.
type testRedis struct {
	sock string
	cmd  *exec.Cmd
}

// startRedis starts the server; the test is skipped when redis-server is
// not installed.
func startRedis(t *testing.T) *testRedis {
	t.Helper()
	r := launchRedis(t, t.TempDir())
	t.Cleanup(r.stop)
	return r
}

var shared struct {
	once sync.Once
	r    *testRedis
	dir  string
}

// sharedRedis is one server for the tests that open a fleet group in the
// test process itself: such a group lives as long as the process (Close
// drops it only once it is garbage), so its server is stopped at the end of
// the test binary (TestMain), not of the test.
func sharedRedis(t *testing.T) *testRedis {
	t.Helper()
	shared.once.Do(func() {
		dir, err := os.MkdirTemp("", "sf-fleet-redis-")
		if err != nil {
			t.Fatal(err)
		}
		shared.dir = dir
		shared.r = launchRedis(t, dir)
	})
	if shared.r == nil {
		t.Fatal("the shared redis-server did not start")
	}
	return shared.r
}

func stopSharedRedis() {
	if shared.r != nil {
		shared.r.stop()
	}
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
}

func (r *testRedis) stop() {
	r.cmd.Process.Kill()
	r.cmd.Wait()
}

func launchRedis(t *testing.T, dir string) *testRedis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed (Debian: apt-get install redis-server; scripts/bootstrap.sh does it): the fleet tests need a real server")
	}
	r := &testRedis{sock: filepath.Join(dir, "redis.sock")}
	r.cmd = exec.Command(bin, "--port", "0", "--unixsocket", r.sock, "--unixsocketperm", "700",
		"--save", "", "--appendonly", "no", "--dir", dir, "--logfile", filepath.Join(dir, "redis.log"))
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("starting redis-server: %v", err)
	}
	// Ready when it answers PING (a bounded number of tries).
	for i := 0; ; i++ {
		c, err := r.dial()
		if err == nil {
			_, err = c.do("PING")
			c.close()
			if err == nil {
				return r
			}
		}
		if i == 5000 {
			log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
			t.Fatalf("redis-server does not answer on %s: %v\n%s", r.sock, err, log)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// url is the server's address as FleetOptions.URL takes it.
func (r *testRedis) url() string { return "unix://" + r.sock }

// redisConn is a minimal RESP client, enough for the tests' own questions
// (CLIENT LIST, GET, KEYS).
type redisConn struct {
	c net.Conn
	r *bufio.Reader
}

func (r *testRedis) dial() (*redisConn, error) {
	c, err := net.Dial("unix", r.sock)
	if err != nil {
		return nil, err
	}
	return &redisConn{c: c, r: bufio.NewReader(c)}, nil
}

func (c *redisConn) close() { c.c.Close() }

// do sends a command and returns its reply: a string, an int64, nil, or a
// []any for an array; a Redis error reply is an error.
func (c *redisConn) do(args ...string) (any, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.c.Write([]byte(b.String())); err != nil {
		return nil, err
	}
	return c.read()
}

func (c *redisConn) read() (any, error) {
	line, err := c.r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, fmt.Errorf("redis: empty reply line")
	}
	switch line[0] {
	case '+':
		return line[1:], nil
	case '-':
		return nil, fmt.Errorf("redis: %s", line[1:])
	case ':':
		return strconv.ParseInt(line[1:], 10, 64)
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return nil, err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(c.r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return nil, err
		}
		out := make([]any, n)
		for i := range out {
			if out[i], err = c.read(); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("redis: unexpected reply %q", line)
}

// clientsWithLastCommand counts the server's clients whose last command was
// cmd (CLIENT LIST's cmd= field, e.g. "evalsha").
func (r *testRedis) clientsWithLastCommand(t *testing.T, cmd string) int {
	t.Helper()
	c, err := r.dial()
	if err != nil {
		t.Fatalf("redis: %v", err)
	}
	defer c.close()
	v, err := c.do("CLIENT", "LIST")
	if err != nil {
		t.Fatalf("redis CLIENT LIST: %v", err)
	}
	n := 0
	for _, l := range strings.Split(v.(string), "\n") {
		for _, f := range strings.Fields(l) {
			if f == "cmd="+cmd {
				n++
			}
		}
	}
	return n
}

// waitNoLease waits until no fleet lease is held on the server (every key
// of a flight is "{prefix:group:key}:..."; the lease ends in ":lease").
func (r *testRedis) waitNoLease(t *testing.T) {
	t.Helper()
	c, err := r.dial()
	if err != nil {
		t.Fatalf("redis: %v", err)
	}
	defer c.close()
	for i := 0; ; i++ {
		v, err := c.do("KEYS", "*:lease")
		if err != nil {
			t.Fatalf("redis KEYS: %v", err)
		}
		if len(v.([]any)) == 0 {
			return
		}
		if i == 100000 {
			t.Fatalf("leases still held: %v", v)
		}
		time.Sleep(time.Millisecond)
	}
}
