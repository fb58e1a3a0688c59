package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/rueidis"
	"github.com/redis/rueidis/rueidislock"
	singleflight "github.com/singleflight/singleflight/bindings/go"
)

// A contender makes one caller of a stampede: it returns the key's value,
// running work when it is the one to compute it.
type contender interface {
	do(ctx context.Context, key string, work func() []byte) ([]byte, error)
	close()
}

// contenderNames: the stampedes of a round take them in turn, each round
// starting one further along.
var contenderNames = []string{"fleet", "setnx-10ms", "setnx-100ms", "rueidislock", "floor"}

// polling are the contenders whose waiters poll: the latency target is
// against the best of them.
var polling = map[string]bool{"setnx-10ms": true, "setnx-100ms": true}

// notPeers are the contenders that no target is measured against: "floor"
// is what a design whose waiters a Redis message wakes costs at the least.
var notPeers = map[string]bool{"floor": true}

const (
	lease     = 5 * time.Second  // lock validity / fleet lease: far above the work
	resultTTL = 60 * time.Second // how long a computed value stays readable
)

func newContender(name, addr string) (contender, error) {
	switch name {
	case "fleet":
		// Linger keeps the outcome for callers that arrive after the work
		// ended, as the peers' result key with its TTL does.
		g, err := singleflight.OpenFleet("fleetpeers", singleflight.FleetOptions{
			URL:    "redis://" + addr,
			Lease:  lease,
			Linger: resultTTL,
		})
		if err != nil {
			return nil, err
		}
		return fleetContender{g}, nil
	case "setnx-10ms", "setnx-100ms":
		c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
		if err != nil {
			return nil, err
		}
		every := 10 * time.Millisecond
		if name == "setnx-100ms" {
			every = 100 * time.Millisecond
		}
		return setnxContender{c, every}, nil
	case "floor":
		return newFloorContender(addr)
	case "rueidislock":
		l, err := rueidislock.NewLocker(rueidislock.LockerOption{
			ClientOption: rueidis.ClientOption{InitAddress: []string{addr}},
			KeyValidity:  lease,
		})
		if err != nil {
			return nil, err
		}
		return lockContender{l}, nil
	}
	return nil, fmt.Errorf("unknown contender %q", name)
}

// fleetContender is this binding's fleet group: every process calls DoContext.
type fleetContender struct{ g *singleflight.Group }

func (f fleetContender) do(ctx context.Context, key string, work func() []byte) ([]byte, error) {
	v, err, _ := f.g.DoContext(ctx, key, func(context.Context) (any, error) { return work(), nil })
	if err != nil {
		return nil, err
	}
	return v.([]byte), nil
}

func (f fleetContender) close() { f.g.Close() }

// setnxContender is the recipe written by hand: read the result key; if it
// is missing, take a lock with SET NX PX, check the result again, compute,
// store the result with a TTL and release the lock (compare and delete);
// waiters poll every pollEvery: 100 ms is the usual default of the polling
// locks (redis-py's Lock, dogpile.cache's lock_sleep, the linear back-off of
// bsm/redislock's examples), 10 ms trades commands for latency.
type setnxContender struct {
	c         rueidis.Client
	pollEvery time.Duration
}

var releaseLock = rueidis.NewLuaScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

func (s setnxContender) do(ctx context.Context, key string, work func() []byte) ([]byte, error) {
	c := s.c
	resKey, lockKey := "setnx:val:"+key, "setnx:lock:"+key
	token := randomToken()
	for {
		v, err := c.Do(ctx, c.B().Get().Key(resKey).Build()).AsBytes()
		if err == nil {
			return v, nil
		}
		if !rueidis.IsRedisNil(err) {
			return nil, err
		}
		err = c.Do(ctx, c.B().Set().Key(lockKey).Value(token).Nx().PxMilliseconds(lease.Milliseconds()).Build()).Error()
		if err == nil {
			defer releaseLock.Exec(context.Background(), c, []string{lockKey}, []string{token})
			if v, err := c.Do(ctx, c.B().Get().Key(resKey).Build()).AsBytes(); err == nil {
				return v, nil // stored between our read and our lock
			}
			v := work()
			if err := c.Do(ctx, resultCmd(c, resKey, v)).Error(); err != nil {
				return nil, err
			}
			return v, nil
		}
		if !rueidis.IsRedisNil(err) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(s.pollEvery):
		}
	}
}

func (s setnxContender) close() { s.c.Close() }

// lockContender is rueidislock's distributed lock (waiters are woken by
// client-side-caching invalidations, not by polling) around the same
// double-checked read of the result key.
type lockContender struct{ l rueidislock.Locker }

func (m lockContender) do(ctx context.Context, key string, work func() []byte) ([]byte, error) {
	c := m.l.Client()
	resKey := "rueidislock:val:" + key
	get := func() ([]byte, error) { return c.Do(ctx, c.B().Get().Key(resKey).Build()).AsBytes() }
	if v, err := get(); err == nil {
		return v, nil
	} else if !rueidis.IsRedisNil(err) {
		return nil, err
	}
	_, unlock, err := m.l.WithContext(ctx, "lock:"+key)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if v, err := get(); err == nil {
		return v, nil
	} else if !rueidis.IsRedisNil(err) {
		return nil, err
	}
	v := work()
	if err := c.Do(ctx, resultCmd(c, resKey, v)).Error(); err != nil {
		return nil, err
	}
	return v, nil
}

func (m lockContender) close() { m.l.Close() }

// floorContender is the least a design whose waiters a Redis message wakes
// can do: SET NX PX picks the process that computes, which stores the
// value for late comers and PUBLISHes it (in the message) in one write as
// soon as the work ends; every other process waits for the message on a
// subscription it holds from the start, and takes the value from it. No lease renewal, no takeover of a dead
// leader, no fencing: a floor to read the other rows against, not a peer.
type floorContender struct {
	c       rueidis.Client
	mu      sync.Mutex
	arrived map[string]*floorWait // by key: a stampede's message, or who waits for it
}

type floorWait struct {
	done  chan struct{}
	value []byte
}

const floorChannel = "floor:done"

func newFloorContender(addr string) (*floorContender, error) {
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	if err != nil {
		return nil, err
	}
	f := &floorContender{c: c, arrived: map[string]*floorWait{}}
	// A channel of this process alone, subscribed by the same command: once
	// the server counts a subscriber of it, the subscription is live.
	hello := "floor:hello:" + randomToken()
	subscribed := make(chan error, 1)
	go func() {
		err := c.Receive(context.Background(), c.B().Subscribe().Channel(floorChannel, hello).Build(),
			func(m rueidis.PubSubMessage) {
				key, value, _ := strings.Cut(m.Message, " ")
				f.mu.Lock()
				// Nobody waits for it (this process computed it): dropped.
				if w := f.arrived[key]; w != nil && w.value == nil {
					w.value = []byte(value)
					close(w.done)
				}
				f.mu.Unlock()
			})
		subscribed <- err
	}()
	// Receive returns only when the subscription ends.
	for {
		n, err := c.Do(context.Background(), c.B().PubsubNumsub().Channel(hello).Build()).AsIntMap()
		if err == nil && n[hello] > 0 {
			break
		}
		select {
		case err := <-subscribed:
			c.Close()
			return nil, fmt.Errorf("subscribe: %v", err)
		case <-time.After(time.Millisecond):
		}
	}
	return f, nil
}

func (f *floorContender) do(ctx context.Context, key string, work func() []byte) ([]byte, error) {
	c := f.c
	resKey, lockKey := "floor:val:"+key, "floor:lock:"+key
	// Before any command, so that a message from now on is caught (a
	// process has one caller per stampede).
	w := &floorWait{done: make(chan struct{})}
	f.mu.Lock()
	f.arrived[key] = w
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.arrived, key)
		f.mu.Unlock()
	}()
	if v, err := c.Do(ctx, c.B().Get().Key(resKey).Build()).AsBytes(); err == nil {
		return v, nil
	} else if !rueidis.IsRedisNil(err) {
		return nil, err
	}
	err := c.Do(ctx, c.B().Set().Key(lockKey).Value("1").Nx().PxMilliseconds(lease.Milliseconds()).Build()).Error()
	if err == nil {
		v := work()
		// One write: the server stores the value before it publishes, so a
		// caller that comes after the message reads the value.
		for _, r := range c.DoMulti(ctx, resultCmd(c, resKey, v),
			c.B().Publish().Channel(floorChannel).Message(key+" "+string(v)).Build()) {
			if err := r.Error(); err != nil {
				return nil, err
			}
		}
		return v, nil
	}
	if !rueidis.IsRedisNil(err) {
		return nil, err
	}
	select {
	case <-w.done:
		return w.value, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (f *floorContender) close() { f.c.Close() }

// resultCmd keeps a computed value for resultTTL, for the callers that
// come after the work ended.
func resultCmd(c rueidis.Client, key string, v []byte) rueidis.Completed {
	return c.B().Set().Key(key).Value(rueidis.BinaryString(v)).PxMilliseconds(resultTTL.Milliseconds()).Build()
}

func randomToken() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(errors.New("no randomness: " + err.Error()))
	}
	return hex.EncodeToString(b[:])
}
