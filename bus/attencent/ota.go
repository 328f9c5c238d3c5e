package attencent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/iotd/iotd/drivers/at"
)

// OTA through the module (tencent.md §3 "OTA"). The host has no network of
// its own on this channel, so the module downloads the image: AT+TCOTASET
// turns its OTA task on and reports the host's version; the task ends
// after one download, whatever its outcome, so the host turns it on again
// (with the new version after an install). The image is then read out of
// the module's flash with AT+TCFWINFO? and AT+TCREADFWDATA, one 4096-byte
// chunk per turn of the session loop, so publishes go on meanwhile. Only
// the session goroutine sends the commands; the API below hands it work.

// OTAEventKind says what the module reported about its download.
type OTAEventKind int

const (
	// OTADownloading: +TCOTASTATUS:ENTERUPDATE, the hub pushed an update
	// and the module is downloading it (it reports progress to the hub
	// itself).
	OTADownloading OTAEventKind = iota + 1
	// OTADownloaded: +TCOTASTATUS:UPDATESUCCESS, the image is in the
	// module's flash and matched the MD5 the hub sent; the module has
	// reported "done" to the hub already. Read it with ReadFirmware.
	OTADownloaded
	// OTAFailed: +TCOTASTATUS:UPDATEFAIL,<code>; the module has reported
	// the failure to the hub.
	OTAFailed
)

// OTAEvent is one report of the module's OTA task.
type OTAEvent struct {
	Kind OTAEventKind
	// Code is UPDATEFAIL's: 205 MD5 mismatch, 207 too big for the
	// module's flash, 213 HTTP error, 208 stopped.
	Code int
}

// FailReason says what an UPDATEFAIL code means.
func FailReason(code int) string {
	switch code {
	case 205:
		return "the image did not match the MD5 the hub sent"
	case 207:
		return "the image does not fit the module's OTA space"
	case 213:
		return "the module's HTTPS download failed"
	case 208:
		return "the module stopped the download"
	}
	return fmt.Sprintf("the module's download failed (code %d)", code)
}

// downloadLimit bounds the wait for the outcome of the module's download,
// during which it refuses most commands (200): the firmware retries a
// failed download three times, each over a link of its own speed.
const downloadLimit = 10 * time.Minute

// cmeDealing is the firmware's "previous command not finished": an OTA
// download runs.
const cmeDealing = 200

// otaSide is what the API and the session goroutine share.
type otaSide struct {
	events chan OTAEvent // to the OTAEvents reader
	data   chan []byte   // a +TCREADFWDATA's bytes, from the reader goroutine

	mu   sync.Mutex
	want string // the version to turn the module's OTA on with; "" not now
	gen  int    // bumped by SetOTAVersion
	read *fwRead
}

func newOTASide() *otaSide {
	return &otaSide{events: make(chan OTAEvent, 16), data: make(chan []byte, 1)}
}

// fwRead is one ReadFirmware call.
type fwRead struct {
	open    func(FirmwareInfo) (io.Writer, error)
	info    FirmwareInfo
	w       io.Writer
	off     int
	started bool
	done    chan error // capacity 1
}

// SetOTAVersion turns the module's OTA on with version v (AT+TCOTASET=1),
// in this session and every later one, which reports v to the hub. After
// each download the module's task ends: call it again, with the new
// version once the image is installed, or the old one.
func (u *Uplink) SetOTAVersion(v string) {
	u.ota.mu.Lock()
	u.ota.want, u.ota.gen = v, u.ota.gen+1
	u.ota.mu.Unlock()
	u.poke()
}

// OTAEvents delivers what the module reports about its downloads. Events
// that find the channel full (16) are dropped with a warning.
func (u *Uplink) OTAEvents() <-chan OTAEvent { return u.ota.events }

// ReadFirmware reads the image the module downloaded out of its flash:
// AT+TCFWINFO?, then AT+TCREADFWDATA chunks. open gets the module's info
// before the first byte and returns where the bytes go, or an error that
// refuses the image. ReadFirmware waits for a session when none runs; it
// returns once the last byte was written, ctx ended, or the read failed
// (the module rebooted, stopped answering, sent less than it said). A read
// is not resumed: call again to read from the start. The MD5 is not checked
// here; the caller hashes what it writes.
func (u *Uplink) ReadFirmware(ctx context.Context, open func(FirmwareInfo) (io.Writer, error)) (FirmwareInfo, error) {
	r := &fwRead{open: open, done: make(chan error, 1)}
	o := u.ota
	o.mu.Lock()
	if o.read != nil {
		o.mu.Unlock()
		return FirmwareInfo{}, errors.New("attencent: a firmware read is in progress already")
	}
	o.read = r
	o.mu.Unlock()
	u.poke()
	select {
	case err := <-r.done:
		return r.info, err
	case <-ctx.Done():
		o.mu.Lock()
		if o.read == r {
			o.read = nil // the session no longer writes to r.w
		}
		o.mu.Unlock()
		return FirmwareInfo{}, ctx.Err()
	}
}

// otaURCs registers the OTA task's status and AT+TCREADFWDATA's data,
// which the firmware prints after the command's OK (at_read_fw_data_setup).
func (u *Uplink) otaURCs() []at.URC {
	return []at.URC{
		{Prefix: "+TCOTASTATUS:", Line: func(l string) int {
			if ev, ok := parseOTAStatus(l); ok {
				u.ev.push(event{kind: evOTA, ota: ev})
			} else {
				u.log.Warn("attencent: unreadable OTA status dropped", "line", l)
			}
			return 0
		}},
		{Prefix: fwDataPrefix, HeaderEnd: ',', Line: func(l string) int {
			n, ok := parseFWDataHeader(l, maxFWChunk)
			switch {
			case !ok:
				u.log.Warn("attencent: unreadable +TCREADFWDATA header dropped", "line", l)
			case n == 0:
				u.ota.gotData([]byte{})
			}
			return n
		}, Data: func(_ string, b []byte) { u.ota.gotData(b) }},
	}
}

// gotData runs on the reader goroutine: it must not block.
func (o *otaSide) gotData(b []byte) {
	select {
	case o.data <- b:
	default: // a chunk nobody read: the session times out and resyncs
	}
}

func (o *otaSide) wanted() (string, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.want, o.gen
}

// ended notes that the module's OTA task ended (after a download): it is
// off until the host turns it on again.
func (o *otaSide) ended() {
	o.mu.Lock()
	o.want = ""
	o.mu.Unlock()
}

func (o *otaSide) current() *fwRead {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.read
}

func (o *otaSide) finishLocked(r *fwRead, err error) {
	if o.read == r {
		o.read = nil
		r.done <- err
	}
}

func (o *otaSide) finish(r *fwRead, err error) {
	o.mu.Lock()
	o.finishLocked(r, err)
	o.mu.Unlock()
}

// opened hands the module's info to the reader's open.
func (o *otaSide) opened(r *fwRead, info FirmwareInfo) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.read != r {
		return // abandoned
	}
	w, err := r.open(info)
	if err != nil {
		o.finishLocked(r, err)
		return
	}
	r.info, r.w, r.started = info, w, true
}

// write hands one chunk to the reader; the lock keeps it from writing
// after ReadFirmware gave up.
func (o *otaSide) write(r *fwRead, b []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.read != r {
		return
	}
	if _, err := r.w.Write(b); err != nil {
		o.finishLocked(r, fmt.Errorf("attencent: writing the firmware read from the module: %w", err))
		return
	}
	if r.off += len(b); r.off == r.info.Size {
		o.finishLocked(r, nil)
	}
}

// sessionEnded fails a read the session had started: the module's read
// position does not survive a new session (AT+TCFWINFO? rewinds it).
func (o *otaSide) sessionEnded(cause error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if r := o.read; r != nil && r.started {
		if cause == nil {
			cause = errors.New("the session ended")
		}
		o.finishLocked(r, fmt.Errorf("attencent: the firmware read stopped at byte %d of %d: %w", r.off, r.info.Size, cause))
	}
}

func (o *otaSide) emit(ev OTAEvent) bool {
	select {
	case o.events <- ev:
		return true
	default:
		return false
	}
}
