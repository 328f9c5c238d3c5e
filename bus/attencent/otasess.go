package attencent

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/iotd/iotd/drivers/at"
)

// The session's side of OTA (ota.go): turning the module's OTA on, the
// download's outcome, and reading the image a chunk at a time.

// sessOTA is one session's OTA state.
type sessOTA struct {
	// armed is the SetOTAVersion generation the module's OTA was turned
	// on with in this session (0: not yet).
	armed int
	// downloading is set while the module downloads: it refuses most
	// commands then (200), so they wait.
	downloading bool
	limit       <-chan time.Time // ends the wait for an outcome that never came
}

// otaStep runs one piece of OTA work: a chunk of a firmware read, or
// turning the module's OTA on.
func (s *sess) otaStep(ctx context.Context) error {
	if s.ota.downloading {
		return nil
	}
	if r := s.u.ota.current(); r != nil {
		err := s.readStep(ctx, r)
		s.u.poke() // the next chunk, after the next queued request
		return err
	}
	return s.arm(ctx)
}

// arm turns the module's OTA on with the wanted version, once per
// SetOTAVersion and session, while the client is connected (208 else).
func (s *sess) arm(ctx context.Context) error {
	u := s.u
	u.mu.Lock()
	up := u.up
	u.mu.Unlock()
	v, gen := u.ota.wanted()
	if !up || v == "" || gen == s.ota.armed {
		return nil
	}
	s.ota.armed = gen
	err := s.m.tc(ctx, "AT+TCOTASET=1,"+espQuote(v), "+TCOTASET")
	switch {
	case err == nil:
		u.log.Info("attencent: the module's OTA is on; it reported the version", "version", v)
		return nil
	case cme(err) == cmeDealing:
		s.ota.armed = 0 // again once the download in progress ends
	case ctx.Err() == nil:
		u.log.Warn("attencent: the module's OTA could not be turned on (AT+TCOTASET); updates are not heard until the next session", "version", v, "err", err)
	}
	return s.trouble(ctx, err)
}

// readStep reads the firmware info, or the next chunk, for r.
func (s *sess) readStep(ctx context.Context, r *fwRead) error {
	u := s.u
	if !r.started {
		info, err := s.fwInfo(ctx)
		if err != nil {
			u.ota.finish(r, s.readErr(r, err))
			return s.trouble(ctx, err)
		}
		u.ota.opened(r, info)
		return nil
	}
	want := min(maxFWChunk, r.info.Size-r.off)
	b, err := s.fwChunk(ctx, want)
	if err == nil && len(b) != want {
		err = fmt.Errorf("attencent: AT+TCREADFWDATA=%d: the module sent %d bytes; it holds less than the %d AT+TCFWINFO? announced", want, len(b), r.info.Size)
	}
	if err != nil {
		u.ota.finish(r, s.readErr(r, err))
		return s.trouble(ctx, err)
	}
	u.ota.write(r, b)
	return nil
}

// readErr says why a read failed, a reboot first: it explains the rest.
func (s *sess) readErr(r *fwRead, err error) error {
	if s.u.ev.has(evReboot) {
		return fmt.Errorf("attencent: the module rebooted during the firmware read, at byte %d of %d: %w", r.off, r.info.Size, err)
	}
	return fmt.Errorf("attencent: reading the firmware from the module failed at byte %d of %d: %w", r.off, r.info.Size, err)
}

// fwInfo is AT+TCFWINFO?; the firmware prints OK before the info line.
func (s *sess) fwInfo(ctx context.Context) (FirmwareInfo, error) {
	resp, err := s.m.eng.Do(ctx, at.Command{
		Text:  "AT+TCFWINFO?",
		Await: func(l string) bool { return strings.HasPrefix(l, "+TCFWINFO:") },
	})
	if err != nil {
		return FirmwareInfo{}, fwStateErr(err)
	}
	info, ok := parseFWInfo(resp.Result)
	if !ok {
		return FirmwareInfo{}, fmt.Errorf("attencent: AT+TCFWINFO?: unreadable or impossible answer %q", resp.Result)
	}
	return info, nil
}

// fwStateErr explains the module's refusals of a firmware read.
func fwStateErr(err error) error {
	switch cme(err) {
	case 207:
		return fmt.Errorf("attencent: the module holds no firmware (+CME ERROR:207): %w", err)
	case cmeState:
		return fmt.Errorf("attencent: the module's firmware image is not valid, or was read to its end (+CME ERROR:208): %w", err)
	case cmeDealing:
		return fmt.Errorf("attencent: the module is downloading (+CME ERROR:200): %w", err)
	}
	return err
}

// fwChunk is AT+TCREADFWDATA=n: OK, then "+TCREADFWDATA:<k>," and k raw
// bytes, which the URC registration reads (otaURCs). A module that prints
// them before its OK is read through the command's Raw instead.
func (s *sess) fwChunk(ctx context.Context, n int) ([]byte, error) {
	data := s.u.ota.data
	select {
	case <-data: // a chunk a failed read left
	default:
	}
	resp, err := s.m.eng.Do(ctx, at.Command{
		Text: fmt.Sprintf("AT+TCREADFWDATA=%d", n),
		Raw: func(l string) int {
			k, _ := parseFWDataHeader(l, n)
			return k
		},
	})
	if err != nil {
		return nil, fwStateErr(err)
	}
	for _, l := range resp.Lines {
		if strings.HasPrefix(l, fwDataPrefix) {
			return resp.Data, nil
		}
	}
	t := time.NewTimer(s.u.cfg.CommandTimeout)
	defer t.Stop()
	select {
	case b := <-data:
		return b, nil
	case <-t.C:
		return nil, fmt.Errorf("%w: no +TCREADFWDATA data within %s of the OK", at.ErrTimeout, s.u.cfg.CommandTimeout)
	case <-s.m.eng.Done():
		return nil, fmt.Errorf("%w: %w", at.ErrClosed, s.m.eng.Err())
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// onOTA takes a +TCOTASTATUS: the module downloads, or its task ended.
func (s *sess) onOTA(ctx context.Context, ev OTAEvent) error {
	u := s.u
	if ev.Kind == OTADownloading {
		u.log.Info("attencent: the module is downloading a firmware update; commands other than short publishes wait")
		s.busy()
	} else {
		s.ota.downloading, s.ota.limit = false, nil
		u.ota.ended()
	}
	if !u.ota.emit(ev) {
		u.log.Warn("attencent: OTA event dropped: nobody reads them", "kind", ev.Kind)
	}
	u.mu.Lock()
	up := u.up
	u.mu.Unlock()
	if ev.Kind == OTADownloading || !up {
		return nil
	}
	return s.syncSubs(ctx) // what waited for the download
}

// busy notes that the module downloads (its ENTERUPDATE, or a 200).
func (s *sess) busy() {
	if !s.ota.downloading {
		s.ota.downloading, s.ota.limit = true, time.After(downloadLimit)
	}
}

// downloadTimedOut gives up waiting for an outcome.
func (s *sess) downloadTimedOut() {
	s.ota.downloading, s.ota.limit = false, nil
	s.u.log.Warn("attencent: the module's download gave no outcome (+TCOTASTATUS)", "within", downloadLimit)
	s.u.poke()
}

// held reports whether o must wait for the module's download: everything
// but a publish short enough for AT+TCMQTTPUB, which the firmware serves
// meanwhile.
func (s *sess) held(o *op) bool {
	if !s.ota.downloading {
		return false
	}
	if o.kind != opPublish {
		return true
	}
	p, err := publishCmd(o.topic, o.qos, o.payload)
	return err == nil && p.payload != nil
}
