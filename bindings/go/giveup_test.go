//go:build sftesthooks

package singleflight

// A DoContext caller whose context ends is counted in Stats (Timeouts for a
// deadline, Cancellations otherwise) once, whichever form of the group it
// called and whichever way it waited, and gets shared == true when it had
// joined a flight another caller started.

import (
	"context"
	"errors"
	"testing"
	"time"
)

// groupForm is one form of group (Group, KeyedGroup, Single): its
// DoContext and Do on one fixed key, and its stats.
type groupForm struct {
	doContext func(ctx context.Context, fn func(context.Context) (string, error)) (string, error, bool)
	do        func(fn func() (string, error)) (string, error, bool)
	stats     func() Stats
}

// groupForms makes a fresh group of each form (Group, KeyedGroup, Single).
func groupForms() map[string]func() groupForm {
	return map[string]func() groupForm{
		"Group": func() groupForm {
			g := new(Group)
			asAny := func(fn func() (string, error)) func() (any, error) {
				return func() (any, error) { return fn() }
			}
			str := func(v any, err error, shared bool) (string, error, bool) {
				s, _ := v.(string)
				return s, err, shared
			}
			return groupForm{
				doContext: func(ctx context.Context, fn func(context.Context) (string, error)) (string, error, bool) {
					return str(g.DoContext(ctx, "k", func(ctx context.Context) (any, error) { return fn(ctx) }))
				},
				do:    func(fn func() (string, error)) (string, error, bool) { return str(g.Do("k", asAny(fn))) },
				stats: g.Stats,
			}
		},
		"KeyedGroup": func() groupForm {
			g := new(KeyedGroup[int, string])
			return groupForm{
				doContext: func(ctx context.Context, fn func(context.Context) (string, error)) (string, error, bool) {
					return g.DoContext(ctx, 7, fn)
				},
				do:    func(fn func() (string, error)) (string, error, bool) { return g.Do(7, fn) },
				stats: g.Stats,
			}
		},
		"Single": func() groupForm {
			g := new(Single[string])
			return groupForm{
				doContext: g.DoContext,
				do:        g.Do,
				stats:     g.Stats,
			}
		},
	}
}

// ended returns a context that ends by its deadline (timeout) or by a
// cancel, after d (at once for d == 0).
func ended(timeout bool, d time.Duration) (context.Context, context.CancelFunc) {
	if timeout {
		return context.WithTimeout(context.Background(), d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if d == 0 {
		cancel()
	} else {
		time.AfterFunc(d, cancel)
	}
	return ctx, cancel
}

func wantCtxErr(timeout bool) error {
	if timeout {
		return context.DeadlineExceeded
	}
	return context.Canceled
}

func checkGiveUps(t *testing.T, s Stats, timeouts, cancellations uint64) {
	t.Helper()
	if s.Timeouts != timeouts || s.Cancellations != cancellations {
		t.Fatalf("stats count timeouts %d, cancellations %d; want %d, %d (%+v)",
			s.Timeouts, s.Cancellations, timeouts, cancellations, s)
	}
}

func TestBindingGiveUpsCounted(t *testing.T) {
	for form, mk := range groupForms() {
		t.Run(form, func(t *testing.T) {
			// The caller who started the flight gives up: nobody else
			// joined, so its outcome is given to nobody else.
			t.Run("starter", func(t *testing.T) {
				c := mk()
				var timeouts, cancels uint64
				for _, timeout := range []bool{true, false} {
					stopped := make(chan struct{})
					ctx, cancel := ended(timeout, time.Millisecond)
					_, err, shared := c.doContext(ctx, func(ctx context.Context) (string, error) {
						defer close(stopped)
						<-ctx.Done() // abandoned once its only caller left
						return "", ctx.Err()
					})
					cancel()
					<-stopped
					if !errors.Is(err, wantCtxErr(timeout)) || shared {
						t.Fatalf("starter got %v, shared %v; want %v, not shared", err, shared, wantCtxErr(timeout))
					}
					if timeout {
						timeouts++
					} else {
						cancels++
					}
				}
				idle(t, c.stats)
				checkGiveUps(t, c.stats(), timeouts, cancels)
			})
			// Twenty followers of a Do leader give up, half by deadline,
			// half by cancel, through a Go rendezvous or (engine path)
			// each through an engine subscription of its own.
			for _, engine := range []bool{false, true} {
				name := "followers of Do"
				if engine {
					name += ", engine path"
				}
				t.Run(name, func(t *testing.T) {
					setNoAttach(engine)
					defer setNoAttach(false)
					c := mk()
					release := make(chan struct{})
					leader := make(chan bool, 1)
					go func() {
						_, _, shared := c.do(func() (string, error) { <-release; return "v", nil })
						leader <- shared
					}()
					until(func() bool { return c.stats().InTable == 1 })
					const n = 20
					errs := make(chan error, n)
					for i := 0; i < n; i++ {
						go func() {
							ctx, cancel := ended(i%2 == 0, time.Duration(1+i%5)*time.Millisecond)
							defer cancel()
							_, err, shared := c.doContext(ctx, func(context.Context) (string, error) { return "mine", nil })
							if err == nil || !shared {
								t.Errorf("follower %d got %v, shared %v; want its context's error, shared", i, err, shared)
							}
							errs <- err
						}()
					}
					var timeouts, cancels uint64
					for i := 0; i < n; i++ {
						switch err := <-errs; {
						case errors.Is(err, context.DeadlineExceeded):
							timeouts++
						case errors.Is(err, context.Canceled):
							cancels++
						default:
							t.Errorf("follower got %v", err)
						}
					}
					if timeouts != n/2 || cancels != n/2 {
						t.Fatalf("followers got %d deadlines, %d cancels; want %d each", timeouts, cancels, n/2)
					}
					close(release)
					if !<-leader {
						t.Error("the leader of a flight that followers joined reports it unshared")
					}
					idle(t, c.stats)
					checkGiveUps(t, c.stats(), timeouts, cancels)
				})
			}
			// A follower of a flight that a DoContext caller started (its
			// rendezvous is the starter's) gives up; the starter waits on.
			t.Run("follower of DoContext", func(t *testing.T) {
				c := mk()
				release := make(chan struct{})
				starter := make(chan string, 1)
				go func() {
					v, _, _ := c.doContext(context.Background(), func(context.Context) (string, error) { <-release; return "v", nil })
					starter <- v
				}()
				until(func() bool { return c.stats().InTable == 1 })
				for _, timeout := range []bool{true, false} {
					ctx, cancel := ended(timeout, time.Millisecond)
					_, err, shared := c.doContext(ctx, func(context.Context) (string, error) { return "mine", nil })
					cancel()
					if !errors.Is(err, wantCtxErr(timeout)) || !shared {
						t.Fatalf("follower got %v, shared %v; want %v, shared", err, shared, wantCtxErr(timeout))
					}
				}
				close(release)
				if v := <-starter; v != "v" {
					t.Fatalf("starter got %q", v)
				}
				idle(t, c.stats)
				checkGiveUps(t, c.stats(), 1, 1)
			})
			// A context that has ended before the call: the caller gives up
			// at once, and counts as well.
			t.Run("ended before the call", func(t *testing.T) {
				c := mk()
				for _, timeout := range []bool{true, false} {
					ctx, cancel := ended(timeout, 0)
					<-ctx.Done()
					_, err, shared := c.doContext(ctx, func(context.Context) (string, error) {
						t.Error("fn ran for a caller whose context had ended")
						return "", nil
					})
					cancel()
					if !errors.Is(err, wantCtxErr(timeout)) || shared {
						t.Fatalf("got %v, shared %v; want %v, not shared", err, shared, wantCtxErr(timeout))
					}
				}
				idle(t, c.stats)
				checkGiveUps(t, c.stats(), 1, 1)
			})
			// A caller who gets the outcome is no give-up, even when its
			// context ends afterwards.
			t.Run("outcome", func(t *testing.T) {
				c := mk()
				ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
				v, err, _ := c.doContext(ctx, func(context.Context) (string, error) { return "v", nil })
				cancel()
				if v != "v" || err != nil {
					t.Fatalf("got %q, %v", v, err)
				}
				idle(t, c.stats)
				checkGiveUps(t, c.stats(), 0, 0)
			})
		})
	}
}

// A named group counts its Go callers' give-ups in the engine's counters,
// which every language reads.
func TestBindingGiveUpsCountedNamed(t *testing.T) {
	g, err := Open(t.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	_, err, _ = g.DoContext(ctx, "k", func(ctx context.Context) (any, error) { <-ctx.Done(); return nil, ctx.Err() })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
	idle(t, g.Stats)
	checkGiveUps(t, g.Stats(), 1, 0)
}
