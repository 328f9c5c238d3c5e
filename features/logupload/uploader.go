package logupload

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/core"
)

// ErrBadAnswer is wrapped by upload errors where the log service answered
// something other than {"Retcode":0}.
var ErrBadAnswer = errors.New("logupload: the log service did not accept the upload")

// ErrStopped is returned by Flush when Run is not running.
var ErrStopped = errors.New("logupload: not running")

// Stats are the uploader's counters since New, for `iotd status`.
type Stats struct {
	// Level is the upload level in force (-1: nothing is uploaded).
	Level int `json:"level"`
	// Accepted lines entered the queue; Dropped did not (queue full, or
	// held level-0 lines beyond the bound); Truncated were cut to
	// MaxLineBytes.
	Accepted  int64 `json:"accepted"`
	Dropped   int64 `json:"dropped"`
	Truncated int64 `json:"truncated"`
	// Uploaded lines were accepted by the log service in Posts POSTs.
	Uploaded int64 `json:"uploaded"`
	Posts    int64 `json:"posts"`
	// PostErrors are failed POSTs; BadAnswers those where the service
	// answered but not with Retcode 0.
	PostErrors int64 `json:"postErrors"`
	BadAnswers int64 `json:"badAnswers"`
	// Spooled batches wait to be sent again (SpooledBytes bytes of lines);
	// SpoolDropped batches (SpoolDroppedLines lines) were dropped from the
	// spool to stay within its bounds; SpoolErrors are disk errors.
	Spooled           int   `json:"spooled"`
	SpooledBytes      int   `json:"spooledBytes"`
	SpoolDropped      int64 `json:"spoolDropped"`
	SpoolDroppedLines int64 `json:"spoolDroppedLines"`
	SpoolErrors       int64 `json:"spoolErrors"`
	// LevelUpdates count log_level values received from the hub.
	LevelUpdates int64 `json:"levelUpdates"`
	// LastError is the last upload error, "" after a success.
	LastError string `json:"lastError,omitempty"`
}

type item struct {
	sev  int
	line string
}

// Uploader batches and uploads log lines. Create it with [New], run it with
// Run; Handler, Add and Stats are safe for concurrent use.
type Uploader struct {
	cfg    Config
	bus    *bus.Bus
	client *http.Client
	now    func() time.Time
	log    *slog.Logger
	sign   *signer
	pid    string
	dn     string

	queue   chan item
	flushes chan chan error
	level   atomic.Int64
	commErr atomic.Bool
	token   atomic.Int64

	accepted, dropped, truncated, uploaded, posts atomic.Int64
	postErrors, badAnswers, levelUpdates          atomic.Int64

	mu      sync.Mutex // guards the fields below
	spool   *spool
	lastErr string
	running bool
}

// New prepares an uploader for device info. b may be nil (no level
// service: Config.Level stays in force). client nil means
// http.DefaultClient; now is the clock of the header's timestamp (nil:
// time.Now). log may be nil; the uploader marks its records so its own
// handler ignores them. New reads the spool directory and, for a CERT
// device, the certificate (for the sign key); it sends nothing.
func New(cfg Config, b *bus.Bus, info *core.DeviceInfo, client *http.Client, now func() time.Time, log *slog.Logger) (*Uploader, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	if info == nil || info.ProductID == "" || info.DeviceName == "" {
		return nil, errors.New("logupload: a device identity is required")
	}
	if client == nil {
		client = http.DefaultClient
	}
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	u := &Uploader{cfg: cfg, bus: b, client: client, now: now, log: log.With(selfKey, selfValue),
		pid: info.ProductID, dn: info.DeviceName,
		queue: make(chan item, cfg.QueueLines), flushes: make(chan chan error)}
	u.level.Store(int64(*cfg.Level))
	if cfg.Disabled {
		u.level.Store(-1)
		return u, nil
	}
	var err error
	if u.sign, err = newSigner(info); err != nil {
		return nil, err
	}
	if u.spool, err = openSpool(cfg.SpoolDir, cfg.SpoolBytes, cfg.SpoolFiles); err != nil {
		return nil, err
	}
	return u, nil
}

// Level is the upload level in force.
func (u *Uploader) Level() int { return int(u.level.Load()) }

func (u *Uploader) accepts(sev int) bool {
	switch l := u.level.Load(); l {
	case -1:
		return false
	case LevelCommErrors:
		return sev == LevelError
	default:
		return int64(sev) <= l
	}
}

// Add offers a line from a local application: level is its severity, source
// names the application (the line's file field), text the message. It
// reports whether the line was queued (false: below the upload level, or the
// queue is full).
func (u *Uploader) Add(level slog.Level, source, text string) bool {
	if source == "" {
		source = "app"
	}
	sev := Severity(level)
	if !u.accepts(sev) {
		return false
	}
	return u.offer(sev, FormatLine(sev, u.now(), source, "app", 0, text))
}

func (u *Uploader) offer(sev int, line string) bool {
	if u.cfg.Disabled || !u.accepts(sev) {
		return false
	}
	if strings.HasSuffix(line, TruncatedMarker+Delimiter) {
		u.truncated.Add(1)
	}
	select {
	case u.queue <- item{sev: sev, line: line}:
		u.accepted.Add(1)
		return true
	default:
		u.dropped.Add(1)
		return false
	}
}

// Stats returns the counters.
func (u *Uploader) Stats() Stats {
	s := Stats{Level: u.Level(), Accepted: u.accepted.Load(), Dropped: u.dropped.Load(),
		Truncated: u.truncated.Load(), Uploaded: u.uploaded.Load(), Posts: u.posts.Load(),
		PostErrors: u.postErrors.Load(), BadAnswers: u.badAnswers.Load(), LevelUpdates: u.levelUpdates.Load()}
	u.mu.Lock()
	defer u.mu.Unlock()
	s.LastError = u.lastErr
	if sp := u.spool; sp != nil {
		s.Spooled, s.SpooledBytes, s.SpoolDropped, s.SpoolDroppedLines, s.SpoolErrors =
			len(sp.batches), sp.bytes, sp.dropped, sp.droppedLines, sp.errs
	}
	return s
}

// Flush sends the waiting lines (kept batches first) now and returns the
// first error. It fails with ErrStopped unless Run is running.
func (u *Uploader) Flush(ctx context.Context) error {
	u.mu.Lock()
	running := u.running
	u.mu.Unlock()
	if !running {
		return ErrStopped
	}
	ch := make(chan error, 1)
	select {
	case u.flushes <- ch:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run batches and uploads lines and follows the hub's upload level until
// ctx ends; it returns nil then. Lines still waiting at the end are kept
// in the spool (on disk when a spool directory is set), not sent.
func (u *Uploader) Run(ctx context.Context) error {
	if u.cfg.Disabled {
		<-ctx.Done()
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	if u.bus != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u.followLevel(ctx)
		}()
	}
	u.mu.Lock()
	u.running = true
	u.mu.Unlock()
	defer func() {
		u.mu.Lock()
		u.running = false
		u.mu.Unlock()
	}()

	var buf []item
	size := 0
	t := time.NewTicker(u.cfg.FlushInterval)
	defer t.Stop()
	flush := func() error {
		var err error
		buf, size, err = u.flush(ctx, buf, size)
		return err
	}
	for {
		select {
		case <-ctx.Done():
			u.keep(buf)
			return nil
		case it := <-u.queue:
			buf = append(buf, it)
			size += len(it.line)
			if size >= u.cfg.FlushBytes {
				_ = flush()
			}
		case <-t.C:
			_ = flush()
		case ch := <-u.flushes:
			ch <- flush()
		}
	}
}

// flush sends kept batches, then buf; what cannot be sent is kept. At
// level 0 the lines are held until a communication error was seen.
func (u *Uploader) flush(ctx context.Context, buf []item, size int) ([]item, int, error) {
	if u.Level() == LevelCommErrors && !u.commErr.Load() && len(buf) > 0 {
		// Hold, bounded like the spool; drop the oldest.
		for size > u.cfg.SpoolBytes && len(buf) > 0 {
			size -= len(buf[0].line)
			buf = buf[1:]
			u.dropped.Add(1)
		}
		return buf, size, u.sendKept(ctx)
	}
	u.commErr.Store(false)
	if err := u.sendKept(ctx); err != nil {
		u.keep(buf)
		return nil, 0, err
	}
	chunks := split(buf, u.cfg.MaxPostBytes)
	for i, c := range chunks {
		if err := u.post(ctx, c); err != nil {
			u.mu.Lock()
			for _, rest := range chunks[i:] {
				u.spool.push(rest)
			}
			u.mu.Unlock()
			return nil, 0, err
		}
	}
	return nil, 0, nil
}

// sendKept sends the kept batches, oldest first, until one fails.
func (u *Uploader) sendKept(ctx context.Context) error {
	for {
		u.mu.Lock()
		if len(u.spool.batches) == 0 {
			u.mu.Unlock()
			return nil
		}
		b := u.spool.batches[0]
		u.mu.Unlock()
		if err := u.post(ctx, b.lines); err != nil {
			return err
		}
		u.mu.Lock()
		if len(u.spool.batches) > 0 && &u.spool.batches[0].lines[0] == &b.lines[0] {
			u.spool.remove()
		}
		u.mu.Unlock()
	}
}

// keep puts buf into the spool, split like an upload.
func (u *Uploader) keep(buf []item) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, c := range split(buf, u.cfg.MaxPostBytes) {
		u.spool.push(c)
	}
}

// split joins lines into chunks of at most max bytes, on line boundaries.
func split(buf []item, max int) [][]byte {
	var out [][]byte
	var cur []byte
	for _, it := range buf {
		if len(cur) > 0 && len(cur)+len(it.line) > max {
			out = append(out, cur)
			cur = nil
		}
		cur = append(cur, it.line...)
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// post sends one signed POST of lines.
func (u *Uploader) post(ctx context.Context, lines []byte) error {
	err := u.doPost(ctx, lines)
	u.mu.Lock()
	defer u.mu.Unlock()
	if err != nil {
		u.postErrors.Add(1)
		if errors.Is(err, ErrBadAnswer) {
			u.badAnswers.Add(1)
		}
		if u.lastErr != err.Error() {
			// Its own records are ignored by its handler: no feedback.
			u.log.Warn("log upload failed; the lines are kept and sent again later", "err", err)
		}
		u.lastErr = err.Error()
		return err
	}
	u.posts.Add(1)
	u.uploaded.Add(int64(bytes.Count(lines, []byte(Delimiter))))
	u.lastErr = ""
	return nil
}

func (u *Uploader) doPost(ctx context.Context, lines []byte) error {
	ctx, cancel := context.WithTimeout(ctx, u.cfg.Timeout)
	defer cancel()
	body := u.sign.body(lines, u.now())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("logupload: url %q: %w", u.cfg.URL, err)
	}
	// The C SDK's headers (sdk_src/services/log/log_upload.c): Accept and
	// Content-Type, no User-Agent (an empty one makes net/http send none),
	// one connection per POST.
	req.Header.Set("Accept", "application/json;*/*")
	req.Header.Set("Content-Type", "text/plain;charset=utf-8")
	req.Header["User-Agent"] = []string{""}
	req.Close = true
	resp, err := u.client.Do(req)
	if err != nil {
		return fmt.Errorf("logupload: post to %s: %w", u.cfg.URL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return fmt.Errorf("logupload: read the answer of %s: %w", u.cfg.URL, err)
	}
	var a struct {
		Retcode *int   `json:"Retcode"`
		Msg     string `json:"Msg"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(data, &a) != nil || a.Retcode == nil || *a.Retcode != 0 {
		code := "none"
		if a.Retcode != nil {
			code = fmt.Sprint(*a.Retcode)
		}
		return fmt.Errorf("%w: HTTP %d, Retcode %s %s", ErrBadAnswer, resp.StatusCode, code, snippet(data))
	}
	return nil
}

func snippet(b []byte) string {
	s := strings.ToValidUTF8(string(b), "?")
	if len(s) > 60 {
		s = s[:60] + "..."
	}
	return fmt.Sprintf("%q", s)
}
