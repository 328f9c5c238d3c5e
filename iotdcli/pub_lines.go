package iotdcli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/iotd/iotd/localapi"
)

// linesOptions are pub's --lines flags.
type linesOptions struct {
	on, json, quiet, noWait bool
	topic                   string
	qos                     int
}

// jsonLine is a line of pub --lines --json: a stream request whose topic
// and qos default to the flags'.
type jsonLine struct {
	ID            string `json:"id,omitempty"`
	Topic         string `json:"topic"`
	Payload       string `json:"payload,omitempty"`
	PayloadBase64 string `json:"payload_base64,omitempty"`
	QoS           *int   `json:"qos"`
	NoWait        bool   `json:"no_wait,omitempty"`
}

// linesTally counts the outcomes of pub --lines.
type linesTally struct {
	count, acknowledged, stored, refused, notSent int
}

func (t *linesTally) add(r localapi.PublishResult) {
	t.count++
	switch r {
	case localapi.Acknowledged:
		t.acknowledged++
	case localapi.Stored:
		t.stored++
	case localapi.NotSent:
		t.notSent++
	default:
		t.refused++
	}
}

// pubLines runs pub --lines: stdin's lines through one publish stream.
func pubLines(cmd *cobra.Command, api *localapi.Client, o linesOptions) error {
	if !o.json && o.topic == "" {
		return errors.New("--lines needs --topic (or --json, with a topic on each line)")
	}
	start := time.Now()
	s, err := api.PublishStream(cmd.Context())
	if err != nil {
		return err
	}
	out := &lockedWriter{w: bufio.NewWriterSize(cmd.OutOrStdout(), 64<<10)}
	stopFlush := out.flushEvery(100 * time.Millisecond)
	var mu sync.Mutex
	var tally linesTally
	inputLine := map[int64]int64{} // the stream's line → stdin's
	report := func(n int64, id string, res localapi.PublishResult, topic, reason string) {
		tally.add(res)
		if res == localapi.Acknowledged || res == localapi.Stored {
			if !o.quiet {
				out.printf("line %d: %s %s%s\n", n, res, topic, idSuffix(id))
			}
			return
		}
		out.printf("line %d: %s: %s%s\n", n, res, reason, idSuffix(id))
	}
	sendErr := make(chan error, 1)
	var sent int64
	go func() {
		defer s.Close()
		sendErr <- readLines(cmd.InOrStdin(), func(n int64, line []byte) error {
			req, err := o.request(line)
			if err != nil {
				mu.Lock()
				report(n, "", localapi.Refused, "", err.Error())
				mu.Unlock()
				return nil
			}
			// Noted before Send (its result may come before Send returns),
			// whose line is the next: this goroutine is the only sender.
			// Send may block until results are read: mu is not held.
			sent++
			mu.Lock()
			inputLine[sent] = n
			mu.Unlock()
			_, err = s.Send(req)
			return err
		})
	}()
	var streamErr error
	for r, err := range s.Results() {
		if err != nil {
			streamErr = err
			break
		}
		mu.Lock()
		n := inputLine[r.Line]
		delete(inputLine, r.Line)
		report(n, r.ID, r.Result, r.Topic, r.Error)
		mu.Unlock()
	}
	if err := <-sendErr; err != nil && streamErr == nil {
		streamErr = err
	}
	stopFlush()
	elapsed := time.Since(start)
	mu.Lock()
	t := tally
	mu.Unlock()
	fmt.Fprintf(cmd.ErrOrStderr(), "%d messages: %d acknowledged, %d stored, %d refused, %d not sent; %.0f msgs/s (%s)\n",
		t.count, t.acknowledged, t.stored, t.refused, t.notSent, float64(t.count)/elapsed.Seconds(), elapsed.Round(time.Millisecond))
	switch {
	case streamErr != nil:
		return streamErr
	case t.refused+t.notSent > 0:
		return fmt.Errorf("%d of %d messages refused or not sent", t.refused+t.notSent, t.count)
	}
	return nil
}

func idSuffix(id string) string {
	if id == "" {
		return ""
	}
	return " [" + id + "]"
}

// request makes the stream request of an input line.
func (o linesOptions) request(line []byte) (localapi.PublishStreamRequest, error) {
	req := localapi.PublishStreamRequest{PublishRequest: localapi.PublishRequest{Topic: o.topic, QoS: o.qos, NoWait: o.noWait}}
	if !o.json {
		req.Payload = string(line)
		return req, nil
	}
	var jl jsonLine
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&jl); err != nil {
		return req, fmt.Errorf("bad JSON request: %w", err)
	}
	req.ID, req.Payload, req.PayloadBase64 = jl.ID, jl.Payload, jl.PayloadBase64
	req.NoWait = req.NoWait || jl.NoWait
	if jl.Topic != "" {
		req.Topic = jl.Topic
	}
	if jl.QoS != nil {
		req.QoS = *jl.QoS
	}
	if req.Topic == "" {
		return req, errors.New("no topic: set \"topic\" or --topic")
	}
	return req, nil
}

// readLines calls fn with each non-empty line of r (without "\n" or
// "\r\n") and its number from 1. A line over the local API's limit is
// passed as it is: the daemon refuses it.
func readLines(r io.Reader, fn func(n int64, line []byte) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var n int64
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		buf = append(buf, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if len(buf) > 0 {
			n++
			line := bytes.TrimSuffix(bytes.TrimSuffix(buf, []byte("\n")), []byte("\r"))
			if len(line) > 0 {
				if ferr := fn(n, line); ferr != nil {
					return ferr
				}
			}
		}
		buf = buf[:0]
		if err != nil {
			return nil
		}
	}
}

// lockedWriter is a buffered output written from several goroutines and
// flushed periodically, so that results show while a long stream runs.
type lockedWriter struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func (l *lockedWriter) printf(format string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format, a...)
}

// flushEvery flushes every d until the returned function is called, which
// flushes a last time.
func (l *lockedWriter) flushEvery(d time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-t.C:
			case <-done:
				return
			}
			l.mu.Lock()
			_ = l.w.Flush()
			l.mu.Unlock()
		}
	})
	return func() {
		close(done)
		wg.Wait()
		l.mu.Lock()
		_ = l.w.Flush()
		l.mu.Unlock()
	}
}
