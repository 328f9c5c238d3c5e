package serial_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/drivers/serial"
	"github.com/iotd/iotd/drivers/serial/serialtest"
)

func openPair(t *testing.T) (*serialtest.Pair, serial.Port) {
	t.Helper()
	pair := serialtest.New(t)
	p, err := serial.Open(serial.Config{Name: pair.Path})
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	return pair, p
}

// readFull reads n bytes, skipping ErrNoData, giving up after many timeouts.
func readFull(t *testing.T, p serial.Port, n int) []byte {
	t.Helper()
	var out []byte
	buf := make([]byte, 256)
	for idle := 0; len(out) < n; {
		k, err := p.Read(buf)
		out = append(out, buf[:k]...)
		if errors.Is(err, serial.ErrNoData) {
			idle++
			require.Less(t, idle, 50, "no data after many read timeouts; have %d of %d bytes", len(out), n)
			continue
		}
		require.NoError(t, err)
	}
	return out
}

func TestPortEveryByteValueBothWays(t *testing.T) {
	pair, p := openPair(t)
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	require.NoError(t, pair.Send(string(all)))
	assert.Equal(t, all, readFull(t, p, len(all)))

	n, err := p.Write(all)
	require.NoError(t, err)
	require.Equal(t, len(all), n)
	got, err := pair.ReadUntil([]byte{0xff}, 5*time.Second)
	require.NoError(t, err)
	assert.Equal(t, all, got)
}

func TestPortReadTimeoutIsNoDataNotEOF(t *testing.T) {
	_, p := openPair(t)
	n, err := p.Read(make([]byte, 16))
	assert.Equal(t, 0, n)
	require.ErrorIs(t, err, serial.ErrNoData)
	assert.NotErrorIs(t, err, io.EOF)
	var te interface{ Timeout() bool }
	require.ErrorAs(t, err, &te)
	assert.True(t, te.Timeout())
}

func TestPortCloseUnblocksPendingRead(t *testing.T) {
	_, p := openPair(t)
	errc := make(chan error, 1)
	go func() {
		buf := make([]byte, 16)
		for {
			_, err := p.Read(buf)
			if !errors.Is(err, serial.ErrNoData) {
				errc <- err
				return
			}
		}
	}()
	require.NoError(t, p.Close())
	select {
	case err := <-errc:
		assert.ErrorIs(t, err, os.ErrClosed)
	case <-time.After(10 * time.Second):
		t.Fatal("Read still blocked after Close")
	}
	assert.NoError(t, p.Close(), "second Close")
	_, err := p.Write([]byte("AT\r"))
	assert.ErrorIs(t, err, os.ErrClosed)
}

func TestOpenErrors(t *testing.T) {
	for name, c := range map[string]serial.Config{
		"no name":      {},
		"missing path": {Name: "/nonexistent/ttyUSB9"},
		"bad baud":     {Name: os.DevNull, Baud: 12345},
	} {
		t.Run(name, func(t *testing.T) {
			p, err := serial.Open(c)
			require.Error(t, err)
			assert.Nil(t, p)
			assert.Contains(t, err.Error(), "serial: open")
		})
	}
}

func TestPortWriteThenReadLines(t *testing.T) {
	pair, p := openPair(t)
	_, err := p.Write([]byte("AT\r"))
	require.NoError(t, err)
	cmd, err := pair.ReadCommand(5 * time.Second)
	require.NoError(t, err)
	assert.Equal(t, "AT", cmd)
	require.NoError(t, pair.Send("\r\nOK\r\n"))
	assert.True(t, bytes.Equal([]byte("\r\nOK\r\n"), readFull(t, p, 6)))
}

func TestPortHangupIsEOFNotNoData(t *testing.T) {
	pair, p := openPair(t)
	require.NoError(t, pair.Hangup())
	buf := make([]byte, 16)
	var err error
	for i := 0; i < 50; i++ {
		if _, err = p.Read(buf); !errors.Is(err, serial.ErrNoData) {
			break
		}
	}
	require.ErrorIs(t, err, io.EOF)
	assert.NotErrorIs(t, err, serial.ErrNoData)
}
