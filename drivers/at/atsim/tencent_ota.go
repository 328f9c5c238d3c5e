package atsim

import (
	"context"
	"crypto/md5"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"

	"github.com/iotd/iotd/core/hub"
)

// The OTA service of the firmware (qcloud_at_ota.c, the doc's "TC OTA 命令"):
// AT+TCOTASET=1 subscribes $ota/update/{pid}/{dn} and reports the MCU's
// version on $ota/report/{pid}/{dn}; an update_firmware from the hub
// starts a real HTTPS download into the module's flash
// (+TCOTASTATUS:ENTERUPDATE, then UPDATESUCCESS or UPDATEFAIL,<err>), with
// the SDK's report_progress messages (PROTOCOL.md §2.3); the host reads
// the image back with AT+TCFWINFO? and AT+TCREADFWDATA.

// tcFirmware is the MCU image cached in the module's flash.
type tcFirmware struct {
	version, md5 string
	data         []byte
	valid        bool // OTA_FW_MCU_VALID; false: a download failed half-way
	stored       bool // the flash holds firmware info at all
}

// tcFWReading is AT+TCREADFWDATA's state (g_fw_size_bytes and
// g_fw_fetched_bytes); AT+TCFWINFO? resets it.
type tcFWReading struct{ size, off int }

// tcOTA is the running OTA task.
type tcOTA struct {
	version     string // the MCU's version, reported to the hub
	downloading bool
	ctx         context.Context
	cancel      context.CancelFunc
}

// tcOTAFlags are what AT+TCOTASET? shows (g_ota_enable and
// g_user_fw_version, in RAM).
type tcOTAFlags struct {
	enabled bool
	version string
}

func (d *tencent) otaRead() reply {
	return tcOK(fmt.Sprintf(`+TCOTASET:%d,"%s"`, b2i(d.otaFlags.enabled), d.otaFlags.version))
}

func (d *tencent) otaSet(c *command) reply {
	on, ver, fail := parseOTASet(c.args)
	if fail != tcPass {
		return fail.reply()
	}
	d.otaFlags.enabled = on
	if on {
		switch {
		case !d.connected():
			return tcCME(tcErrState)
		case d.downloading():
			return tcCME(tcErrDealing)
		}
	}
	d.otaFlags.version = ver
	r := tcReply("OK")
	if !on {
		d.stopOTALocked()
		r.units = append(r.units, tcLine("+TCOTASET:OK"))
		return r
	}
	s := d.sess
	o := d.ota
	if o == nil {
		ctx, cancel := context.WithCancel(s.ctx)
		o = &tcOTA{ctx: ctx, cancel: cancel}
		d.ota = o
	}
	o.version = ver
	r.after = func() { d.async(func() string { return "+TCOTASET:" + s.startOTA(o) }) }
	return r
}

// startOTA subscribes the update topic (the SDK's IOT_OTA_Init) and
// reports the version (do_fw_ota_update); FAIL,209 when either fails.
func (s *tcSession) startOTA(o *tcOTA) string {
	m := s.d.m
	sub := "$ota/update/" + s.dev.pid + "/" + s.dev.dn
	m.mu.Lock()
	subscribed := s.find(sub) >= 0
	m.mu.Unlock()
	if !subscribed && s.subscribe(tcSub{topic: sub, qos: 1, ota: true}) != "OK" {
		return fmt.Sprintf("FAIL,%d", tcErrExec)
	}
	report := map[string]any{"type": "report_version", "report": map[string]string{"version": o.version}}
	if !s.report(report, 1) {
		return fmt.Sprintf("FAIL,%d", tcErrExec)
	}
	return "OK"
}

// report publishes a message on $ota/report and waits for it to be
// written (QoS 0) or acknowledged (QoS 1).
func (s *tcSession) report(msg any, qos byte) bool {
	m := s.d.m
	m.mu.Lock()
	l := s.link
	m.mu.Unlock()
	if l == nil {
		return false
	}
	b, _ := json.Marshal(msg)
	return waitToken(s.ctx, l.client.Publish("$ota/report/"+s.dev.pid+"/"+s.dev.dn, qos, false, b), s.params.timeout)
}

func progress(state, version, code, msg string, percent int) map[string]any {
	p := map[string]string{"state": state, "result_code": code, "result_msg": msg}
	if percent >= 0 {
		p["percent"] = strconv.Itoa(percent)
	}
	return map[string]any{"type": "report_progress", "report": map[string]any{"progress": p, "version": version}}
}

// stopOTALocked ends the OTA task (AT+TCOTASET=0, the MQTT task's end).
func (d *tencent) stopOTALocked() {
	if d.ota != nil {
		d.ota.cancel()
		d.ota = nil
	}
}

// otaUpdate is update_firmware (PROTOCOL.md §2.3).
type otaUpdate struct {
	Type     string `json:"type"`
	Version  string `json:"version"`
	URL      string `json:"url"`
	MD5      string `json:"md5sum"`
	FileSize int    `json:"file_size"`
}

// otaMessageLocked takes a message on the update topic; an update_firmware
// while no download runs starts one.
func (d *tencent) otaMessageLocked(payload []byte) {
	var u otaUpdate
	o, s := d.ota, d.sess
	if o == nil || o.downloading || json.Unmarshal(payload, &u) != nil || u.Type != "update_firmware" {
		return
	}
	o.downloading = true
	d.m.emitLocked(tcLine("+TCOTASTATUS:ENTERUPDATE"))
	gen := d.m.gen
	d.m.goAsync(func() { s.download(o, u, gen) })
}

// download fetches and checks the image, reports the result to the hub
// and to the host. The firmware retries a failed download up to three
// times before UPDATEFAIL; the simulator reports the first failure.
func (s *tcSession) download(o *tcOTA, u otaUpdate, gen int) {
	m := s.d.m
	s.report(progress("downloading", u.Version, "0", "", 0), 0)
	data, code := s.fetch(o.ctx, u)
	if code == 0 {
		sum := md5.Sum(data)
		if hex.EncodeToString(sum[:]) != u.MD5 {
			code = tcErrFirmware
			s.report(progress("fail", u.Version, "-4", "time_out", -1), 1)
		} else {
			s.report(progress("downloading", u.Version, "0", "", 100), 0)
			s.report(progress("done", u.Version, "0", "success", -1), 1)
		}
	} else if o.ctx.Err() == nil {
		s.report(progress("fail", u.Version, "-5", "time_out", -1), 1)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if gen != m.gen || m.closed {
		return
	}
	o.downloading = false
	if o.ctx.Err() != nil {
		code = tcErrState // stopped during the download
	}
	switch code {
	case 0:
		s.d.fw = tcFirmware{version: u.Version, md5: u.MD5, data: data, valid: true, stored: true}
		m.emitLocked(tcLine("+TCOTASTATUS:UPDATESUCCESS"))
	default:
		s.d.fw = tcFirmware{version: u.Version, stored: true}
		m.emitLocked(tcLine(fmt.Sprintf("+TCOTASTATUS:UPDATEFAIL,%d", code)))
	}
	s.d.fwRead = tcFWReading{}
	// the task ends after a download (the firmware's _ota_update_task)
	if s.d.ota == o {
		s.d.stopOTALocked()
	}
}

// fetch downloads u over HTTPS through this process, resolving and
// dialling as the sockets do; the code is the UPDATEFAIL error.
func (s *tcSession) fetch(ctx context.Context, u otaUpdate) ([]byte, int) {
	d := s.d
	if u.FileSize > tcFWMaxSize {
		return nil, tcErrFlash // does not fit the module's OTA partition
	}
	roots := d.m.cfg.Tencent.RootCAs
	if roots == nil {
		roots = hub.Pool(systemRoots(), hub.PublicCAs())
	}
	tr := &http.Transport{
		DialTLSContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			c, _, err := d.dialTLS(ctx, addr, roots)
			if err != nil {
				return nil, err
			}
			return c, nil
		},
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			ip, err := d.m.resolve(host)
			if err != nil {
				return nil, err
			}
			return d.m.cfg.Dial(ctx, "tcp", net.JoinHostPort(ip, port))
		},
		TLSClientConfig: &tls.Config{RootCAs: roots},
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.URL, nil)
	if err != nil {
		return nil, tcErrHTTP
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return nil, tcErrHTTP
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, tcErrHTTP
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, tcFWMaxSize+1))
	if err != nil || len(data) > tcFWMaxSize {
		return nil, tcErrHTTP
	}
	return data, 0
}

// systemRoots is the system's CA pool, or nil when there is none.
func systemRoots() *x509.CertPool {
	p, err := x509.SystemCertPool()
	if err != nil {
		return nil
	}
	return p
}

// fwInfo is AT+TCFWINFO?: OK, then the cached image's version, size, MD5
// and the module's limit; the read position goes back to 0.
func (d *tencent) fwInfo() reply {
	if r, bad := d.fwState(); bad {
		return r
	}
	d.fwRead = tcFWReading{size: len(d.fw.data)}
	return tcReply("OK", fmt.Sprintf(`+TCFWINFO:"%s",%d,"%s",%d`, d.fw.version, len(d.fw.data), d.fw.md5, tcFWMaxSize))
}

// fwState refuses a firmware read: 200 while downloading, 207 when the
// flash holds no firmware info, 208 when the image is not valid.
func (d *tencent) fwState() (reply, bool) {
	switch {
	case d.downloading():
		return tcCME(tcErrDealing), true
	case !d.fw.stored:
		return tcCME(tcErrFlash), true
	case !d.fw.valid:
		return tcCME(tcErrState), true
	}
	return reply{}, false
}

// readFW is AT+TCREADFWDATA=<len>: OK, then +TCREADFWDATA:<n>, and n raw
// bytes of the image and CR LF (at_read_fw_data_setup writes the bytes
// as they are, though the doc calls them hex data). A short read is the
// end; one more read is an error until AT+TCFWINFO? rewinds.
func (d *tencent) readFW(c *command) reply {
	if d.fwRead.size == 0 {
		if r, bad := d.fwState(); bad {
			return r
		}
		if d.fwRead.size = len(d.fw.data); d.fwRead.size == 0 {
			return tcCME(tcErrFirmware)
		}
	} else if d.downloading() {
		return tcCME(tcErrDealing)
	}
	if d.fwRead.off == d.fwRead.size {
		return tcCME(tcErrState)
	}
	n, fail := parseReadFW(c.args)
	if fail != tcPass {
		return fail.reply()
	}
	n = min(n, d.fwRead.size-d.fwRead.off)
	chunk := d.fw.data[d.fwRead.off : d.fwRead.off+n]
	d.fwRead.off += n
	r := tcReply("OK")
	r.units = append(r.units, concat([]byte(fmt.Sprintf("+TCREADFWDATA:%d,", n)), chunk, []byte("\r\n")))
	return r
}
