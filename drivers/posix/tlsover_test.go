package posix_test

import (
	"context"
	"encoding/json"
	"io"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/posix"
)

// countingDriver is a stream driver other than POSIX TCP for TLS to run
// over (as a modem's sockets would be): it dials through tcp and counts.
type countingDriver struct {
	driver.Driver
	dials *atomic.Int32
}

func (c countingDriver) Name() string { return "carrier" }

func (c countingDriver) Open(config []byte) (driver.Dialer, error) {
	var cfg struct {
		Tag string `json:"tag"`
	}
	if err := json.Unmarshal(config, &cfg); err != nil || cfg.Tag != "ok" {
		return nil, io.ErrUnexpectedEOF // proves over_config reached the inner driver
	}
	d, err := c.Driver.Open(nil)
	if err != nil {
		return nil, err
	}
	return dialerFunc(func(ctx context.Context, t driver.Transport, addr string) (driver.Conn, error) {
		c.dials.Add(1)
		return d.Dial(ctx, t, addr)
	}), nil
}

type dialerFunc func(ctx context.Context, t driver.Transport, addr string) (driver.Conn, error)

func (f dialerFunc) Dial(ctx context.Context, t driver.Transport, addr string) (driver.Conn, error) {
	return f(ctx, t, addr)
}

func TestTLSOverAnotherDriver(t *testing.T) {
	p := newPKI(t)
	srv := listen(t, p.serverTLS())
	reg := core.NewRegistry()
	var dials atomic.Int32
	require.NoError(t, reg.Register(countingDriver{Driver: posix.NewTCP(), dials: &dials}))
	require.NoError(t, reg.Register(posix.NewUDP()))

	dl := open(t, posix.NewTLSIn(reg), posix.TLSConfig{CAFile: p.caFile, ServerName: "localhost",
		Over: "carrier", OverConfig: json.RawMessage(`{"tag":"ok"}`)})
	c, err := dl.Dial(testCtx(t), driver.Stream, srv.addr())
	require.NoError(t, err)
	defer c.Close()
	assert.EqualValues(t, 1, dials.Load(), "the TCP connection came from the over driver")
	s := srv.accept(t)
	_, err = c.Write([]byte("ping"))
	require.NoError(t, err)
	buf := make([]byte, 4)
	_, err = io.ReadFull(s, buf)
	require.NoError(t, err)
	assert.Equal(t, "ping", string(buf))

	rows := []struct {
		name string
		cfg  string
		want string
	}{
		{"unknown driver", `{"over":"pigeon"}`, `over: `},
		{"itself", `{"over":"tls"}`, `cannot carry itself`},
		{"datagram only", `{"over":"udp"}`, `offers no stream transport`},
		{"config without driver", `{"over_config":{"tag":"ok"}}`, `set over too`},
		{"inner config refused", `{"over":"carrier","over_config":{"tag":"no"}}`, `tls: over carrier`},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			_, err := posix.NewTLSIn(reg).Open([]byte(row.cfg))
			require.Error(t, err)
			assert.Contains(t, err.Error(), row.want)
		})
	}
}
