package core

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core/driver"
)

func TestCodeString(t *testing.T) {
	// Pairs restated from PROTOCOL.md §7 (qcloud_iot_export_error.h).
	tests := []struct {
		code Code
		num  int
		name string
	}{
		{CodeMQTTAlreadyConnected, 4, "QCLOUD_RET_MQTT_ALREADY_CONNECTED"},
		{CodeSuccess, 0, "QCLOUD_RET_SUCCESS"},
		{Success, 0, "QCLOUD_RET_SUCCESS"},
		{ErrFailure, -1001, "QCLOUD_ERR_FAILURE"},
		{CodeDevInfo, -1003, "QCLOUD_ERR_DEV_INFO"},
		{CodeHTTPProtocol, -5, "QCLOUD_ERR_HTTP_PRTCL"},
		{CodeHTTPTimeout, -11, "QCLOUD_ERR_HTTP_TIMEOUT"},
		{CodeMQTTReconnectTimeout, -106, "QCLOUD_ERR_MQTT_RECONNECT_TIMEOUT"},
		{CodeMQTTRequestTimeout, -111, "QCLOUD_ERR_MQTT_REQUEST_TIMEOUT"},
		{CodeMQTTConnackUnacceptableProtocolVersion, -113, "QCLOUD_ERR_MQTT_CONNACK_UNACCEPTABLE_PROTOCOL_VERSION"},
		{CodeMQTTConnackNotAuthorized, -117, "QCLOUD_ERR_MQTT_CONNACK_NOT_AUTHORIZED"},
		{CodeMQTTUnsubFail, -121, "QCLOUD_ERR_MQTT_UNSUB_FAIL"},
		{CodeMaxJSONToken, -136, "QCLOUD_ERR_MAX_JSON_TOKEN"},
		{CodeMaxTopicLength, -138, "QCLOUD_ERR_MAX_TOPIC_LENGTH"},
		{CodeCoAPBadMsg, -153, "QCLOUD_ERR_COAP_BADMSG"},
		{CodeDTLSPeerCloseNotify, -160, "QCLOUD_ERR_DTLS_PEER_CLOSE_NOTIFY"},
		{CodeShadowGetRejected, -206, "QCLOUD_ERR_SHADOW_GET_REJECTED"},
		{CodeGatewaySubdevOffline, -225, "QCLOUD_ERR_GATEWAY_SUBDEV_OFFLINE"},
		{CodeRRPCReplyErr, -231, "QCLOUD_ERR_RRPC_REPLY_ERR"},
		{CodeTCPUnknownHost, -602, "QCLOUD_ERR_TCP_UNKNOWN_HOST"},
		{CodeTCPNothingToRead, -609, "QCLOUD_ERR_TCP_NOTHING_TO_READ"},
		{CodeSSLConnect, -703, "QCLOUD_ERR_SSL_CONNECT"},
		{CodeSSLNothingToRead, -709, "QCLOUD_ERR_SSL_NOTHING_TO_READ"},
		{Code(-4242), -4242, "Code(-4242)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.num, int(tt.code))
			assert.Equal(t, tt.name, tt.code.String())
		})
	}
}

func TestCodeTableComplete(t *testing.T) {
	// §7 lists 81 codes: 5 non-negative, 4 generic, 9 HTTP, 20 MQTT (-102..-121),
	// 7 JSON/limits, 5 CoAP/DTLS, 6 shadow, 5 gateway, 2 RRPC, 9 TCP, 9 SSL.
	assert.Len(t, codeNames, 5+4+9+20+7+5+6+5+2+9+9)
	seen := map[string]bool{}
	for c, name := range codeNames {
		assert.True(t, strings.HasPrefix(name, "QCLOUD_RET_") == (c >= 0), "%s = %d", name, c)
		assert.True(t, strings.HasPrefix(name, "QCLOUD_"), name)
		assert.False(t, seen[name], "duplicate name %s", name)
		seen[name] = true
		assert.Equal(t, c < 0, c.IsError())
	}
}

func TestConnackError(t *testing.T) {
	tests := []struct {
		rc    byte
		code  Code
		class Class
		says  string
	}{
		{0, CodeMQTTConnackUnknown, ClassUnknown, "unknown refusal"},
		{1, CodeMQTTConnackUnacceptableProtocolVersion, ClassNotSupported, "unacceptable protocol version"},
		{2, CodeMQTTConnackIdentifierRejected, ClassInvalidConfig, "identifier rejected: the client id"},
		{3, CodeMQTTConnackServerUnavailable, ClassUnavailable, "server unavailable"},
		{4, CodeMQTTConnackBadUserdata, ClassUnauthenticated, "bad username or password: the device secret is wrong or the username has expired"},
		{5, CodeMQTTConnackNotAuthorized, ClassUnauthenticated, "not authorized"},
		{6, CodeMQTTConnackUnknown, ClassUnknown, "unknown refusal"},
		{0x80, CodeMQTTConnackUnknown, ClassUnknown, "unknown refusal"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.rc), func(t *testing.T) {
			e := &ConnackError{ReturnCode: tt.rc}
			assert.Equal(t, tt.code, e.Code())
			assert.Equal(t, tt.class, e.Class())
			assert.Equal(t, tt.class, ClassOf(fmt.Errorf("connect: %w", e)), "core.ClassOf sees it through wrapping")
			assert.Contains(t, e.Error(), tt.says)
			assert.True(t, strings.HasPrefix(e.Error(), fmt.Sprintf("core: mqtt connect refused (CONNACK return code %d): ", tt.rc)), e.Error())
		})
	}
}

// loopbackPair returns both ends of a real TCP connection on loopback.
func loopbackPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	server = <-accepted
	require.NotNil(t, server)
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func TestCodeOf(t *testing.T) {
	// A real refused dial: listen, note the port, close, dial it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	_, dialErr := net.Dial("tcp", addr)
	require.Error(t, dialErr)
	refused := &OpError{Op: "dial", Driver: "tcp", Addr: addr, Err: fmt.Errorf("%w: %w", driver.ErrRefused, dialErr)}

	// A real read deadline on a loopback connection.
	client, _ := loopbackPair(t)
	require.NoError(t, client.SetReadDeadline(time.Now().Add(-time.Second)))
	_, readErr := client.Read(make([]byte, 1))
	require.ErrorIs(t, readErr, os.ErrDeadlineExceeded)

	// A real device_info.json error.
	_, devErr := ParseDeviceInfo([]byte(`{"auth_mode":"KEY"`), "")
	require.Error(t, devErr)
	_, loadErr := LoadDeviceInfo(filepath.Join(t.TempDir(), "gw.json"))
	require.Error(t, loadErr)

	dnsErr := &net.DNSError{Err: "no such host", Name: "nohost.invalid", IsNotFound: true}
	tests := []struct {
		name string
		err  error
		want Code
	}{
		{"nil", nil, CodeSuccess},
		{"plain", errors.New("boom"), CodeFailure},
		{"canceled", context.Canceled, CodeFailure},
		{"connack in op error", &OpError{Op: "connect", Err: &ConnackError{ReturnCode: 5}}, CodeMQTTConnackNotAuthorized},
		{"connack rc 4", fmt.Errorf("mqtt: %w", &ConnackError{ReturnCode: 4}), CodeMQTTConnackBadUserdata},
		{"connack rc 9", &ConnackError{ReturnCode: 9}, CodeMQTTConnackUnknown},
		{"device_info.json parse", devErr, CodeDevInfo},
		{"device info under another name", loadErr, CodeDevInfo},
		{"yaml config", &ConfigError{Source: "iotd.yaml", Field: "link.driver", Msg: "missing"}, CodeInval},
		{"handshake", &OpError{Op: "dial", Driver: "tls", Err: fmt.Errorf("%w: bad certificate", driver.ErrHandshake)}, CodeSSLConnect},
		{"refused (real dial)", refused, CodeTCPConnect},
		{"unreachable", fmt.Errorf("%w: no route", driver.ErrUnreachable), CodeTCPConnect},
		{"unknown host", &OpError{Op: "dial", Err: fmt.Errorf("%w: %w", driver.ErrUnreachable, dnsErr)}, CodeTCPUnknownHost},
		{"reset", fmt.Errorf("%w: rst", driver.ErrReset), CodeTCPPeerShutdown},
		{"eof", &OpError{Op: "read", Err: io.EOF}, CodeTCPPeerShutdown},
		{"read deadline (real)", &OpError{Op: "read", Driver: "tcp", Err: readErr}, CodeTCPReadTimeout},
		{"write deadline", &OpError{Op: "write", Err: os.ErrDeadlineExceeded}, CodeTCPWriteTimeout},
		{"handshake deadline", &OpError{Op: "handshake", Err: context.DeadlineExceeded}, CodeSSLConnectTimeout},
		{"connect deadline", &OpError{Op: "connect", Err: context.DeadlineExceeded}, CodeMQTTRequestTimeout},
		{"bare deadline", context.DeadlineExceeded, CodeMQTTRequestTimeout},
		{"dns timeout is a timeout", &net.DNSError{Err: "timeout", Name: "h", IsTimeout: true}, CodeMQTTRequestTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, CodeOf(tt.err), "got %v for %v", CodeOf(tt.err), tt.err)
		})
	}
}
