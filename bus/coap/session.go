package coap

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/plgd-dev/go-coap/v3/message/codes"

	"github.com/iotd/iotd/core/driver"
)

// session is the core.Link session: auth over conn, then send the queue one
// request at a time until the connection fails, the channel goes dead, or
// ctx ends (nil).
func (u *Uplink) session(ctx context.Context, conn driver.Conn, ready func()) (err error) {
	defer func() {
		u.mu.Lock()
		u.up, u.since, u.authedAt = false, time.Time{}, time.Time{}
		if err != nil {
			u.lastErr = err.Error()
		}
		u.mu.Unlock()
	}()
	cfg := u.cfg
	if mp, lerr := driver.Lookup[driver.MaxPayloader](conn); lerr == nil && mp.MaxPayload() > 0 && mp.MaxPayload() < cfg.MaxPayload {
		cfg.MaxPayload = mp.MaxPayload()
	}
	e := newEngine(conn, cfg, &u.stats, u.log)
	var reader sync.WaitGroup
	reader.Go(e.read)
	defer func() {
		_ = conn.Close() // stops the reader
		reader.Wait()
	}()

	s := &sess{u: u, e: e}
	if err := s.authenticate(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	u.mu.Lock()
	u.up, u.since = true, time.Now()
	u.mu.Unlock()
	u.log.Info("coap: session up", "path", AuthPath(cfg.ProductID, cfg.DeviceName))
	ready()

	if u.cfg.OTAPoll > 0 {
		poll := time.NewTicker(u.cfg.OTAPoll)
		defer poll.Stop()
		var pollers sync.WaitGroup
		stop := make(chan struct{})
		defer func() {
			close(stop)
			pollers.Wait()
		}()
		pollers.Go(func() {
			for {
				select {
				case <-poll.C:
					u.pollOTA()
				case <-stop:
					return
				}
			}
		})
	}
	timeouts := 0
	for {
		m := u.pop(ctx.Done(), e.dead)
		if m == nil {
			if ctx.Err() != nil {
				return nil
			}
			return e.deadErr
		}
		rsp, err := s.publish(ctx, m)
		switch {
		case err != nil && ctx.Err() != nil:
			u.requeue(m)
			return nil
		case isConnErr(err):
			u.requeue(m) // nothing reached the hub, or the answer was lost with the connection
			return err
		case errors.Is(err, ErrTimeout):
			timeouts++
			if timeouts < cfg.DeadAfter {
				u.done(m, nil, err)
				continue
			}
			if m.resent {
				u.done(m, nil, err)
			} else {
				m.resent = true
				u.requeue(m) // once more, on a fresh session
			}
			return fmt.Errorf("coap: channel dead: %d exchanges in a row got no answer: %w", timeouts, err)
		}
		timeouts = 0
		u.done(m, rsp, err)
		var ae *authError
		if errors.As(err, &ae) {
			return err // re-auth refused: the Link retries with backoff
		}
	}
}

// done replies to a sent message and feeds its response to subscribers.
func (u *Uplink) done(m *outMsg, rsp *Response, err error) {
	u.mu.Lock()
	u.inflight = 0
	u.mu.Unlock()
	if err != nil {
		u.replyErr(m.req, err)
		return
	}
	u.remember(m)
	if rsp.Code == codes.Content {
		u.feed(m.topic, rsp.Payload)
	}
	u.reply(m.req, rsp.Payload)
}

func isConnErr(err error) bool {
	var ce *connError
	return errors.As(err, &ce) || errors.Is(err, driver.ErrBadConn) ||
		(err != nil && errors.Is(err, errConnLost))
}

// errConnLost is wrapped by the engine's error when its reader stopped.
var errConnLost = errors.New("coap: connection lost")

// sess is the per-connection state: the engine and the auth token.
type sess struct {
	u        *Uplink
	e        *engine
	token    string
	authedAt time.Time
}

func (s *sess) authenticate(ctx context.Context) error {
	tok, err := s.e.auth(ctx)
	if err != nil {
		return err
	}
	s.token, s.authedAt = tok, time.Now()
	s.u.mu.Lock()
	s.u.authedAt = s.authedAt
	s.u.mu.Unlock()
	return nil
}

// publish sends m, re-authenticating first when the token is older than
// TokenRefresh, and once more with a retry when the hub answers 4.01.
func (s *sess) publish(ctx context.Context, m *outMsg) (*Response, error) {
	if r := s.u.cfg.TokenRefresh; r > 0 && time.Since(s.authedAt) >= r {
		s.e.stats.reauths.Add(1)
		if err := s.authenticate(ctx); err != nil {
			return nil, err
		}
	}
	for attempt := 0; ; attempt++ {
		rsp, err := s.e.roundTrip(ctx, Request{Path: m.topic, AuthToken: s.token, NeedResponse: m.needRsp, Payload: m.payload}, m.needRsp)
		if err != nil {
			return nil, err
		}
		if rsp.Code == codes.Unauthorized && attempt == 0 {
			s.e.stats.reauths.Add(1)
			s.u.log.Info("coap: the hub refused the auth token (4.01); authenticating again", "topic", m.topic)
			if err := s.authenticate(ctx); err != nil {
				return nil, err
			}
			continue
		}
		if byte(rsp.Code)>>5 != 2 {
			s.e.stats.refused.Add(1)
			return nil, &StatusError{Path: m.topic, Code: rsp.Code, Payload: printable(rsp.Payload)}
		}
		return &rsp, nil
	}
}
