package deadline_test

import (
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/iotd/iotd/core/driver/deadline"
)

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// expect fails the test unless the timer's state is passed.
func expect(t *testing.T, d *deadline.Timer, passed bool, when string) {
	t.Helper()
	if got := d.Passed(); got != passed {
		t.Fatalf("%s: Passed() = %v, want %v", when, got, passed)
	}
	if got := closed(d.Done()); got != passed {
		t.Fatalf("%s: Done() closed = %v, want %v", when, got, passed)
	}
}

// waiter blocks on d.Done() in a goroutine and reports, on the returned
// channel, the (bubble) time it woke.
func waiter(d *deadline.Timer) <-chan time.Time {
	woke := make(chan time.Time, 1)
	ch := d.Done()
	go func() {
		<-ch
		woke <- time.Now()
	}()
	return woke
}

func TestZeroTimerHasNoDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var d deadline.Timer
		expect(t, &d, false, "zero Timer")
		time.Sleep(24 * time.Hour)
		synctest.Wait()
		expect(t, &d, false, "zero Timer a day later")
		d.Set(time.Time{})
		expect(t, &d, false, "after Set(zero)")
		d.Stop()
		expect(t, &d, false, "after Stop")
	})
}

func TestPastOrPresentDeadlinePassesAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for _, at := range []time.Time{time.Now(), time.Now().Add(-time.Second), time.Unix(1, 0)} {
			var d deadline.Timer
			d.Set(at)
			expect(t, &d, true, "Set("+at.String()+")")
		}
	})
}

func TestDeadlinePassesOnTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var d deadline.Timer
		start := time.Now()
		d.Set(start.Add(time.Second))
		woke := waiter(&d)
		time.Sleep(time.Second - time.Nanosecond)
		synctest.Wait()
		expect(t, &d, false, "a nanosecond early")
		if at := <-woke; !at.Equal(start.Add(time.Second)) {
			t.Fatalf("waiter woke after %v, want 1s", at.Sub(start))
		}
		expect(t, &d, true, "at the deadline")
		time.Sleep(time.Hour)
		expect(t, &d, true, "an hour later")
	})
}

func TestClearWhileWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var d deadline.Timer
		start := time.Now()
		d.Set(start.Add(time.Second))
		woke := waiter(&d)
		before := d.Done()
		time.Sleep(500 * time.Millisecond)
		d.Set(time.Time{})
		if d.Done() != before {
			t.Fatal("clearing a deadline that has not passed replaced Done's channel")
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		expect(t, &d, false, "an hour after clearing")
		select {
		case <-woke:
			t.Fatal("a waiter woke although the deadline was cleared")
		default:
		}
		// The waiter still waits on the same channel: a new deadline wakes it.
		d.Set(time.Now().Add(time.Minute))
		if at := <-woke; at.Sub(start) != time.Hour+500*time.Millisecond+time.Minute {
			t.Fatalf("waiter woke at +%v", at.Sub(start))
		}
	})
}

func TestExtendWhileWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var d deadline.Timer
		start := time.Now()
		d.Set(start.Add(time.Second))
		var wakes []<-chan time.Time
		for range 5 {
			wakes = append(wakes, waiter(&d))
		}
		time.Sleep(900 * time.Millisecond)
		d.Set(start.Add(3 * time.Second))
		time.Sleep(time.Second)
		synctest.Wait()
		expect(t, &d, false, "after the first deadline, extended")
		for i, w := range wakes {
			if at := <-w; !at.Equal(start.Add(3 * time.Second)) {
				t.Errorf("waiter %d woke at +%v, want +3s", i, at.Sub(start))
			}
		}
		expect(t, &d, true, "at the extended deadline")
	})
}

func TestShortenWhileWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var d deadline.Timer
		start := time.Now()
		d.Set(start.Add(time.Hour))
		woke := waiter(&d)
		time.Sleep(time.Second)
		d.Set(start.Add(2 * time.Second))
		if at := <-woke; !at.Equal(start.Add(2 * time.Second)) {
			t.Fatalf("waiter woke at +%v, want +2s", at.Sub(start))
		}
		// Moving it into the past wakes at once.
		d.Set(time.Now().Add(time.Hour))
		woke = waiter(&d)
		d.Set(time.Now().Add(-time.Second))
		if at := <-woke; !at.Equal(start.Add(2 * time.Second)) {
			t.Fatalf("waiter woke at +%v, want at once (+2s)", at.Sub(start))
		}
	})
}

func TestRearmAfterPassing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var d deadline.Timer
		d.Set(time.Now().Add(-time.Second))
		old := d.Done()
		expect(t, &d, true, "past deadline")

		start := time.Now()
		d.Set(start.Add(time.Second))
		expect(t, &d, false, "re-armed")
		if !closed(old) {
			t.Fatal("re-arming reopened the channel of the deadline that passed")
		}
		if d.Done() == old {
			t.Fatal("re-arming kept the closed channel")
		}
		if at := <-waiter(&d); !at.Equal(start.Add(time.Second)) {
			t.Fatalf("re-armed deadline passed at +%v, want +1s", at.Sub(start))
		}

		d.Set(time.Time{})
		expect(t, &d, false, "cleared after passing")
		d.Set(time.Now())
		expect(t, &d, true, "set to now after clearing")
		d.Set(time.Now().Add(-time.Hour))
		expect(t, &d, true, "set to the past again")
	})
}

func TestStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var d deadline.Timer
		d.Set(time.Now().Add(time.Second))
		d.Stop()
		time.Sleep(time.Hour)
		synctest.Wait()
		expect(t, &d, false, "an hour after Stop")

		d.Set(time.Now().Add(time.Second))
		time.Sleep(2 * time.Second)
		synctest.Wait()
		expect(t, &d, true, "Set after Stop arms again")
		d.Stop()
		expect(t, &d, true, "Stop after passing")
	})
}

// A timer func that has started when Set or Stop replaces its deadline must
// not pass the new one: this is what time.Timer.Stop cannot promise. Each
// Timer gets a deadline a few microseconds away, replaced at once.
func TestReplacedTimerNeverFires(t *testing.T) {
	timers := make([]deadline.Timer, 20000)
	for i := range timers {
		d := &timers[i]
		d.Set(time.Now().Add(time.Duration(1+i%8) * time.Microsecond))
		if i%2 == 0 {
			d.Set(time.Now().Add(time.Hour))
		} else {
			d.Stop()
			if d.Passed() {
				d.Set(time.Now().Add(time.Hour)) // it passed before Stop
			}
		}
	}
	time.Sleep(50 * time.Millisecond)
	for i := range timers {
		if timers[i].Passed() {
			t.Fatalf("timer %d: a replaced deadline passed", i)
		}
		timers[i].Stop()
	}
}

// Run with -race: every method from many goroutines at once, with waiters;
// at the end one deadline in the past wakes every waiter.
func TestConcurrentUse(t *testing.T) {
	var d deadline.Timer
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				switch (g + i) % 5 {
				case 0:
					d.Set(time.Now().Add(time.Duration(i%100) * time.Microsecond))
				case 1:
					d.Set(time.Time{})
				case 2:
					d.Set(time.Now().Add(-time.Millisecond))
				case 3:
					d.Stop()
				default:
					_ = d.Passed()
				}
			}
		})
	}
	var waiters sync.WaitGroup
	for range 16 {
		waiters.Go(func() {
			for {
				if d.Passed() {
					select {
					case <-stop:
						return
					default:
					}
				}
				select {
				case <-d.Done():
				case <-time.After(time.Millisecond):
				}
			}
		})
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	d.Set(time.Now().Add(-time.Second))
	waiters.Wait()
	d.Stop()
}

// A Timer costs no goroutine while it waits: only an expiring deadline runs
// one, for a moment, and Stop leaves nothing behind.
func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	timers := make([]deadline.Timer, 1000)
	for i := range timers {
		timers[i].Set(time.Now().Add(time.Hour))
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d pending deadlines hold %d goroutines", len(timers), n-before)
	}
	for i := range timers {
		if i%2 == 0 {
			timers[i].Set(time.Now().Add(time.Millisecond))
		}
	}
	for i := range timers {
		if i%2 == 0 {
			<-timers[i].Done()
		}
		timers[i].Stop()
	}
	for end := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > before; {
		if time.Now().After(end) {
			t.Fatalf("%d goroutines left after Stop (%d before)", runtime.NumGoroutine(), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
