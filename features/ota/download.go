package ota

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Failure is a download or install outcome that ends the update: Code is a
// protocol result code, Msg says what happened for the fail report.
type Failure struct {
	Code int
	Msg  string
	Err  error
}

func (f *Failure) Error() string { return "ota: " + f.Msg }
func (f *Failure) Unwrap() error { return f.Err }

// ErrDiskFull is wrapped by the Failure of a write that ran out of space.
var ErrDiskFull = errors.New("ota: disk full")

var errStalled = errors.New("no data received")

// syncEvery bounds how often a download fsyncs: flash wears, and an fsync
// per chunk made downloads several times slower than the network.
const syncEvery = time.Second

// sdkAccept is the Accept header of the C SDK's firmware download.
const sdkAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

// Downloader fetches a firmware file into a partial file with HTTP Range
// resume, checkpointing as it goes. Its fields must not change while a
// Download runs.
type Downloader struct {
	// Client performs the requests; its Transport decides how connections
	// are made (core.HTTPTransport for a driver).
	Client *http.Client
	// CheckpointEvery, StallTimeout and Retries are as in [Config]; zero
	// values mean the defaults.
	CheckpointEvery int
	StallTimeout    time.Duration
	Retries         int
	// RetryWait is the first wait after an attempt without progress; it
	// doubles up to 10s (default 500ms).
	RetryWait time.Duration
}

// Download fetches cp's update into cp.Partial from cp.Written on, calling
// save after every chunk (cp.Written and cp.HashState updated; cp.Synced
// too when the chunk was fsynced) and
// progress with the bytes written so far. It retries dropped connections
// and server errors, resuming where the file ends, and finally checks the
// MD5. A result that ends the update is a *Failure; ctx ending returns
// ctx's error with the checkpoint consistent.
func (d *Downloader) Download(ctx context.Context, cp *Checkpoint, save func(*Checkpoint) error, progress func(int64)) error {
	h, n, err := restoreHash(cp)
	if err != nil {
		return &Failure{Code: CodeInstallFailed, Msg: err.Error(), Err: err}
	}
	cp.Written, cp.HashState = n, marshalHash(h)
	if cp.Synced > n {
		cp.Synced, cp.SyncedHashState = n, cp.HashState
	}
	f, err := os.OpenFile(cp.Partial, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return &Failure{Code: CodeInstallFailed, Msg: fmt.Sprintf("open partial file: %v", err), Err: err}
	}
	defer f.Close()

	retries := d.Retries
	if retries == 0 {
		retries = DefaultRetries
	}
	wait := d.RetryWait
	if wait == 0 {
		wait = 500 * time.Millisecond
	}
	fruitless := 0
	for cp.Written < cp.Size {
		before := cp.Written
		err := d.attempt(ctx, cp, f, h, save, progress)
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var fl *Failure
		if errors.As(err, &fl) {
			return fl
		}
		if cp.Written > before {
			fruitless = 0
		} else {
			fruitless++
		}
		if fruitless >= retries {
			return &Failure{Code: CodeTimeout, Err: err,
				Msg: fmt.Sprintf("download stopped at byte %d of %d after %d attempts without progress: %v", cp.Written, cp.Size, fruitless, err)}
		}
		w := time.Duration(0)
		if fruitless > 0 {
			w = min(wait<<(fruitless-1), 10*time.Second)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(w):
		}
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != cp.MD5 {
		return &Failure{Code: CodeMD5Mismatch, Msg: fmt.Sprintf("MD5 mismatch: the %d bytes downloaded hash to %s, the update says %s", cp.Size, sum, cp.MD5)}
	}
	return nil
}

// attempt makes one request from cp.Written and writes what arrives.
func (d *Downloader) attempt(ctx context.Context, cp *Checkpoint, f *os.File, h hash.Hash, save func(*Checkpoint) error, progress func(int64)) error {
	stall := d.StallTimeout
	if stall == 0 {
		stall = DefaultStallTimeout
	}
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	watchdog := time.AfterFunc(stall, func() { cancel(fmt.Errorf("%w for %s", errStalled, stall)) })
	defer watchdog.Stop()

	req, err := http.NewRequestWithContext(actx, http.MethodGet, cp.URL, nil)
	if err != nil {
		return &Failure{Code: CodeNotFound, Msg: fmt.Sprintf("url %q: %v", cp.URL, err), Err: err}
	}
	// The C SDK's request (sdk_src/services/ota/ota_fetch.c) with two of
	// its bugs fixed (PROTOCOL.md §8.3 item 9): the Range end is size-1,
	// the inclusive end of RFC 9110, not size; and Accept-Encoding is
	// identity, not "gzip, deflate", which the SDK sends without
	// decompressing the answer. Its Accept is kept, and like it iotd sends
	// no User-Agent (an empty one makes net/http send none).
	req.Header.Set("Accept", sdkAccept)
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", cp.Written, cp.Size-1))
	req.Header.Set("Accept-Encoding", "identity")
	req.Header["User-Agent"] = []string{""}
	client := d.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		if c := context.Cause(actx); c != nil && ctx.Err() == nil {
			return c
		}
		return err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return &Failure{Code: CodeNotFound, Msg: fmt.Sprintf("firmware not found: GET %s answered 404", redact(cp.URL))}
	case resp.StatusCode == http.StatusForbidden:
		return &Failure{Code: CodeForbidden, Msg: fmt.Sprintf("access denied: GET %s answered 403 (an expired signed URL?)", redact(cp.URL))}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		// The file is not what the checkpoint says: start again from 0.
		return d.reset(cp, f, h, save, fmt.Errorf("server refused range from byte %d (416); starting over", cp.Written))
	case resp.StatusCode >= 500:
		return fmt.Errorf("server error: %s", resp.Status)
	case resp.StatusCode == http.StatusOK:
		if cp.Written > 0 {
			// The server ignored Range: the body starts at byte 0.
			if err := d.reset(cp, f, h, save, nil); err != nil {
				return err
			}
		}
		if resp.ContentLength >= 0 && resp.ContentLength != cp.Size {
			return &Failure{Code: CodeMD5Mismatch, Msg: fmt.Sprintf("the server's file is %d bytes, the update says %d", resp.ContentLength, cp.Size)}
		}
	case resp.StatusCode == http.StatusPartialContent:
		start, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != cp.Written {
			return fmt.Errorf("server sent Content-Range %q for a request from byte %d", resp.Header.Get("Content-Range"), cp.Written)
		}
		if total >= 0 && total != cp.Size {
			return &Failure{Code: CodeMD5Mismatch, Msg: fmt.Sprintf("the server's file is %d bytes, the update says %d", total, cp.Size)}
		}
	default:
		return &Failure{Code: CodeNotFound, Msg: fmt.Sprintf("GET %s answered %s", redact(cp.URL), resp.Status)}
	}

	if _, err := f.Seek(cp.Written, io.SeekStart); err != nil {
		return diskFailure(cp, err)
	}
	// Bytes past the checkpoint were never vouched for: drop them.
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > cp.Written {
		if err := f.Truncate(cp.Written); err != nil {
			return diskFailure(cp, err)
		}
	}
	every := d.CheckpointEvery
	if every == 0 {
		every = DefaultCheckpointEvery
	}
	body := &kickReader{r: resp.Body, kick: func() { watchdog.Reset(stall) }}
	rerr, werr := d.pipe(body, cp, f, h, every, save, progress)
	if werr != nil {
		return diskFailure(cp, werr)
	}
	if rerr != nil {
		if c := context.Cause(actx); c != nil && ctx.Err() == nil {
			return c
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			return fmt.Errorf("connection closed at byte %d of %d", cp.Written, cp.Size)
		}
		return rerr
	}
	return nil
}

// blockSize is how much one read of the body takes at most; blocks are
// written and hashed while the next is read.
const blockSize = 128 << 10

// block is bytes read from the body, in order; last marks the final block
// of an attempt that ended with a read error.
type block struct {
	buf  []byte
	last bool
}

// pipe reads the body up to cp.Size into blocks while a second goroutine
// writes each to f, hashes it, advances cp and saves it every `every`
// bytes (and at the end): the MD5 and the disk run beside the network
// instead of between its reads. Two blocks circulate, so memory stays at
// 2 × blockSize. It returns the read error that ended the body early and
// the write error that stopped the download, if any; cp is consistent
// with what was written and hashed either way.
func (d *Downloader) pipe(body io.Reader, cp *Checkpoint, f *os.File, h hash.Hash, every int,
	save func(*Checkpoint) error, progress func(int64)) (rerr, werr error) {
	size := min(blockSize, every)
	free := make(chan []byte, 2)
	free <- make([]byte, size)
	free <- make([]byte, size)
	full := make(chan block, 2)
	stored := make(chan error, 1)
	var failed atomic.Bool
	go func() {
		var err error
		saved, lastSync := cp.Written, time.Now()
		for b := range full {
			if err == nil {
				err = d.store(cp, f, h, b, every, &saved, &lastSync, save, progress)
				failed.Store(err != nil)
			}
			free <- b.buf[:cap(b.buf)]
		}
		// Keep the hash state with Written for whoever saves cp next.
		cp.HashState = marshalHash(h)
		stored <- err
	}()
	pos := cp.Written
	for pos < cp.Size && !failed.Load() {
		buf := <-free
		n, err := io.ReadFull(body, buf[:min(int64(size), cp.Size-pos)])
		if n == 0 {
			free <- buf
		} else {
			pos += int64(n)
			full <- block{buf: buf[:n], last: err != nil}
		}
		if err != nil {
			rerr = err
			break
		}
	}
	close(full)
	return rerr, <-stored
}

// store writes and hashes one block, then checkpoints when every bytes
// passed since the last one, at the end of the file and after the last
// block of an attempt. The partial file is fsynced at most once a second
// and at those ends: every checkpoint survives the process dying; the
// synced point survives a power cut (see Checkpoint).
func (d *Downloader) store(cp *Checkpoint, f *os.File, h hash.Hash, b block, every int, saved *int64, lastSync *time.Time,
	save func(*Checkpoint) error, progress func(int64)) error {
	if _, err := f.Write(b.buf); err != nil {
		return err
	}
	h.Write(b.buf)
	cp.Written += int64(len(b.buf))
	end := cp.Written == cp.Size || b.last
	if !end && cp.Written-*saved < int64(every) {
		return nil
	}
	cp.HashState = marshalHash(h)
	if end || time.Since(*lastSync) >= syncEvery {
		if err := f.Sync(); err != nil {
			return err
		}
		cp.Synced, cp.SyncedHashState = cp.Written, cp.HashState
		*lastSync = time.Now()
	}
	if err := save(cp); err != nil {
		return err
	}
	*saved = cp.Written
	if progress != nil {
		progress(cp.Written)
	}
	return nil
}

// reset empties the partial file and the hash. cause, when not nil, is
// returned so that the caller retries.
func (d *Downloader) reset(cp *Checkpoint, f *os.File, h hash.Hash, save func(*Checkpoint) error, cause error) error {
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		if err := f.Truncate(0); err != nil {
			return diskFailure(cp, err)
		}
	}
	h.Reset()
	cp.Written, cp.Synced = 0, 0
	cp.HashState, cp.SyncedHashState = marshalHash(h), nil
	if err := save(cp); err != nil {
		return diskFailure(cp, err)
	}
	return cause
}

func diskFailure(cp *Checkpoint, err error) *Failure {
	if errors.Is(err, syscall.ENOSPC) {
		return &Failure{Code: CodeInstallFailed, Err: errors.Join(ErrDiskFull, err),
			Msg: fmt.Sprintf("disk full at byte %d of %d writing %s: free %d bytes there; the partial file is kept and the download resumes when the update is sent again",
				cp.Written, cp.Size, cp.Partial, cp.Size-cp.Written)}
	}
	return &Failure{Code: CodeInstallFailed, Err: err, Msg: fmt.Sprintf("writing the download: %v", err)}
}

// parseContentRange reads "bytes START-END/TOTAL"; total is -1 for "*".
func parseContentRange(s string) (start, total int64, ok bool) {
	rest, found := strings.CutPrefix(s, "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, tot, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, false
	}
	a, _, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, false
	}
	start, err := strconv.ParseInt(a, 10, 64)
	if err != nil || start < 0 {
		return 0, 0, false
	}
	if tot == "*" {
		return start, -1, true
	}
	total, err = strconv.ParseInt(tot, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return start, total, true
}

// redact drops a URL's query, which for signed URLs holds the signature.
func redact(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i] + "?…"
	}
	return u
}

// kickReader calls kick after every read that returned data.
type kickReader struct {
	r    io.Reader
	kick func()
}

func (k *kickReader) Read(p []byte) (int, error) {
	n, err := k.r.Read(p)
	if n > 0 {
		k.kick()
	}
	return n, err
}
