package plugins

import (
	"io"
	"net"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/plugins/internal/wire"
)

// TestDataListener: a token admits one socket of each kind it was issued
// for, once; a wrong token, a kind not issued and a second socket of a kind
// are closed unheard.
func TestDataListener(t *testing.T) {
	dir, err := os.MkdirTemp("", "iotd-data-")
	require.NoError(t, err)
	defer os.RemoveAll(dir)
	l, err := listenData(dir)
	require.NoError(t, err)
	defer l.close()

	connect := func(token []byte, kind byte) net.Conn {
		c, err := net.Dial("unix", l.path)
		require.NoError(t, err)
		_, err = c.Write(append(append([]byte(nil), token...), kind))
		require.NoError(t, err)
		return c
	}
	refused := func(c net.Conn) {
		defer c.Close()
		_, err := c.Read(make([]byte, 1))
		assert.ErrorIs(t, err, io.EOF, "the listener should close a socket it does not admit")
	}

	token, framed, raw, cancel := l.expect(true)
	defer cancel()
	f := connect(token, wire.ChannelFramed)
	defer f.Close()
	r := connect(token, wire.ChannelRaw)
	defer r.Close()
	for _, got := range []<-chan net.Conn{framed, raw} {
		c := <-got
		_, err := c.Write([]byte("x")) // the pair works
		require.NoError(t, err)
		c.Close()
	}
	refused(connect(token, wire.ChannelFramed))         // a second one
	refused(connect(make([]byte, wire.TokenSize), 'F')) // a wrong token

	dgram, _, _, cancelDgram := l.expect(false)
	defer cancelDgram()
	refused(connect(dgram, wire.ChannelRaw)) // raw was not issued
	refused(connect(dgram, '?'))             // no such kind

	// A token forgotten before its socket came admits nothing.
	gone, _, _, forget := l.expect(false)
	forget()
	refused(connect(gone, wire.ChannelFramed))
}

func TestDataListenerRefusesAnOpenDirectory(t *testing.T) {
	dir, err := os.MkdirTemp("", "iotd-data-")
	require.NoError(t, err)
	defer os.RemoveAll(dir)
	require.NoError(t, os.Chmod(dir, 0o755))
	_, err = listenData(dir)
	assert.ErrorContains(t, err, "open to other users")
}
