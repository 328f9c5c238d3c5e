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

	"github.com/iotd/iotd/core/driver"
)

// Code is a numeric return code of the Tencent C SDK
// (include/exports/qcloud_iot_export_error.h, PROTOCOL.md §7). iotd reports
// it next to its own errors so that logs, support threads and applications
// ported from the C SDK keep speaking the same numbers. Negative codes are
// errors, 0 is success, positive codes are non-error MQTT states.
type Code int

// The C SDK's codes, v3.1.0–v3.2.3 (RRPC codes from v3.2.1).
const (
	CodeMQTTAlreadyConnected          Code = 4
	CodeMQTTConnackConnectionAccepted Code = 3
	CodeMQTTManuallyDisconnected      Code = 2
	CodeMQTTReconnected               Code = 1
	CodeSuccess                       Code = 0

	CodeFailure Code = -1001
	CodeInval   Code = -1002
	CodeDevInfo Code = -1003
	CodeMalloc  Code = -1004

	CodeHTTPClosed        Code = -3
	CodeHTTP              Code = -4
	CodeHTTPProtocol      Code = -5
	CodeHTTPUnresolvedDNS Code = -6
	CodeHTTPParse         Code = -7
	CodeHTTPConn          Code = -8
	CodeHTTPAuth          Code = -9
	CodeHTTPNotFound      Code = -10
	CodeHTTPTimeout       Code = -11

	CodeMQTTPushToListFailed                   Code = -102
	CodeMQTTNoConn                             Code = -103
	CodeMQTTUnknown                            Code = -104
	CodeMQTTAttemptingReconnect                Code = -105
	CodeMQTTReconnectTimeout                   Code = -106
	CodeMQTTMaxSubscriptions                   Code = -107
	CodeMQTTSub                                Code = -108
	CodeMQTTNothingToRead                      Code = -109
	CodeMQTTPacketRead                         Code = -110
	CodeMQTTRequestTimeout                     Code = -111
	CodeMQTTConnackUnknown                     Code = -112
	CodeMQTTConnackUnacceptableProtocolVersion Code = -113
	CodeMQTTConnackIdentifierRejected          Code = -114
	CodeMQTTConnackServerUnavailable           Code = -115
	CodeMQTTConnackBadUserdata                 Code = -116
	CodeMQTTConnackNotAuthorized               Code = -117
	CodeRxMessageInval                         Code = -118
	CodeBufTooShort                            Code = -119
	CodeMQTTQoSNotSupport                      Code = -120
	CodeMQTTUnsubFail                          Code = -121

	CodeJSONParse           Code = -132
	CodeJSONBufferTruncated Code = -133
	CodeJSONBufferTooSmall  Code = -134
	CodeJSON                Code = -135
	CodeMaxJSONToken        Code = -136
	CodeMaxAppendingRequest Code = -137
	CodeMaxTopicLength      Code = -138

	CodeCoAPNull            Code = -150
	CodeCoAPDataSize        Code = -151
	CodeCoAPInternal        Code = -152
	CodeCoAPBadMsg          Code = -153
	CodeDTLSPeerCloseNotify Code = -160

	CodeShadowPropertyExist    Code = -201
	CodeShadowNotPropertyExist Code = -202
	CodeShadowUpdateTimeout    Code = -203
	CodeShadowUpdateRejected   Code = -204
	CodeShadowGetTimeout       Code = -205
	CodeShadowGetRejected      Code = -206

	CodeGatewayCreateSessionFail Code = -221
	CodeGatewaySessionNoExist    Code = -222
	CodeGatewaySessionTimeout    Code = -223
	CodeGatewaySubdevOnline      Code = -224
	CodeGatewaySubdevOffline     Code = -225

	CodeRRPCReplyTimeout Code = -230
	CodeRRPCReplyErr     Code = -231

	CodeTCPSocketFailed  Code = -601
	CodeTCPUnknownHost   Code = -602
	CodeTCPConnect       Code = -603
	CodeTCPReadTimeout   Code = -604
	CodeTCPWriteTimeout  Code = -605
	CodeTCPReadFail      Code = -606
	CodeTCPWriteFail     Code = -607
	CodeTCPPeerShutdown  Code = -608
	CodeTCPNothingToRead Code = -609

	CodeSSLInit           Code = -701
	CodeSSLCert           Code = -702
	CodeSSLConnect        Code = -703
	CodeSSLConnectTimeout Code = -704
	CodeSSLWriteTimeout   Code = -705
	CodeSSLWrite          Code = -706
	CodeSSLReadTimeout    Code = -707
	CodeSSLRead           Code = -708
	CodeSSLNothingToRead  Code = -709
)

// Aliases with the names of the original sketch of this API.
const (
	// Success is CodeSuccess.
	Success = CodeSuccess
	// ErrFailure is CodeFailure (QCLOUD_ERR_FAILURE), a Code, not an error.
	ErrFailure = CodeFailure
)

var codeNames = map[Code]string{
	CodeMQTTAlreadyConnected:          "QCLOUD_RET_MQTT_ALREADY_CONNECTED",
	CodeMQTTConnackConnectionAccepted: "QCLOUD_RET_MQTT_CONNACK_CONNECTION_ACCEPTED",
	CodeMQTTManuallyDisconnected:      "QCLOUD_RET_MQTT_MANUALLY_DISCONNECTED",
	CodeMQTTReconnected:               "QCLOUD_RET_MQTT_RECONNECTED",
	CodeSuccess:                       "QCLOUD_RET_SUCCESS",
	CodeFailure:                       "QCLOUD_ERR_FAILURE",
	CodeInval:                         "QCLOUD_ERR_INVAL",
	CodeDevInfo:                       "QCLOUD_ERR_DEV_INFO",
	CodeMalloc:                        "QCLOUD_ERR_MALLOC",
	CodeHTTPClosed:                    "QCLOUD_ERR_HTTP_CLOSED",
	CodeHTTP:                          "QCLOUD_ERR_HTTP",
	CodeHTTPProtocol:                  "QCLOUD_ERR_HTTP_PRTCL",
	CodeHTTPUnresolvedDNS:             "QCLOUD_ERR_HTTP_UNRESOLVED_DNS",
	CodeHTTPParse:                     "QCLOUD_ERR_HTTP_PARSE",
	CodeHTTPConn:                      "QCLOUD_ERR_HTTP_CONN",
	CodeHTTPAuth:                      "QCLOUD_ERR_HTTP_AUTH",
	CodeHTTPNotFound:                  "QCLOUD_ERR_HTTP_NOT_FOUND",
	CodeHTTPTimeout:                   "QCLOUD_ERR_HTTP_TIMEOUT",
	CodeMQTTPushToListFailed:          "QCLOUD_ERR_MQTT_PUSH_TO_LIST_FAILED",
	CodeMQTTNoConn:                    "QCLOUD_ERR_MQTT_NO_CONN",
	CodeMQTTUnknown:                   "QCLOUD_ERR_MQTT_UNKNOWN",
	CodeMQTTAttemptingReconnect:       "QCLOUD_ERR_MQTT_ATTEMPTING_RECONNECT",
	CodeMQTTReconnectTimeout:          "QCLOUD_ERR_MQTT_RECONNECT_TIMEOUT",
	CodeMQTTMaxSubscriptions:          "QCLOUD_ERR_MQTT_MAX_SUBSCRIPTIONS",
	CodeMQTTSub:                       "QCLOUD_ERR_MQTT_SUB",
	CodeMQTTNothingToRead:             "QCLOUD_ERR_MQTT_NOTHING_TO_READ",
	CodeMQTTPacketRead:                "QCLOUD_ERR_MQTT_PACKET_READ",
	CodeMQTTRequestTimeout:            "QCLOUD_ERR_MQTT_REQUEST_TIMEOUT",
	CodeMQTTConnackUnknown:            "QCLOUD_ERR_MQTT_CONNACK_UNKNOWN",
	CodeMQTTConnackUnacceptableProtocolVersion: "QCLOUD_ERR_MQTT_CONNACK_UNACCEPTABLE_PROTOCOL_VERSION",
	CodeMQTTConnackIdentifierRejected:          "QCLOUD_ERR_MQTT_CONNACK_IDENTIFIER_REJECTED",
	CodeMQTTConnackServerUnavailable:           "QCLOUD_ERR_MQTT_CONNACK_SERVER_UNAVAILABLE",
	CodeMQTTConnackBadUserdata:                 "QCLOUD_ERR_MQTT_CONNACK_BAD_USERDATA",
	CodeMQTTConnackNotAuthorized:               "QCLOUD_ERR_MQTT_CONNACK_NOT_AUTHORIZED",
	CodeRxMessageInval:                         "QCLOUD_ERR_RX_MESSAGE_INVAL",
	CodeBufTooShort:                            "QCLOUD_ERR_BUF_TOO_SHORT",
	CodeMQTTQoSNotSupport:                      "QCLOUD_ERR_MQTT_QOS_NOT_SUPPORT",
	CodeMQTTUnsubFail:                          "QCLOUD_ERR_MQTT_UNSUB_FAIL",
	CodeJSONParse:                              "QCLOUD_ERR_JSON_PARSE",
	CodeJSONBufferTruncated:                    "QCLOUD_ERR_JSON_BUFFER_TRUNCATED",
	CodeJSONBufferTooSmall:                     "QCLOUD_ERR_JSON_BUFFER_TOO_SMALL",
	CodeJSON:                                   "QCLOUD_ERR_JSON",
	CodeMaxJSONToken:                           "QCLOUD_ERR_MAX_JSON_TOKEN",
	CodeMaxAppendingRequest:                    "QCLOUD_ERR_MAX_APPENDING_REQUEST",
	CodeMaxTopicLength:                         "QCLOUD_ERR_MAX_TOPIC_LENGTH",
	CodeCoAPNull:                               "QCLOUD_ERR_COAP_NULL",
	CodeCoAPDataSize:                           "QCLOUD_ERR_COAP_DATA_SIZE",
	CodeCoAPInternal:                           "QCLOUD_ERR_COAP_INTERNAL",
	CodeCoAPBadMsg:                             "QCLOUD_ERR_COAP_BADMSG",
	CodeDTLSPeerCloseNotify:                    "QCLOUD_ERR_DTLS_PEER_CLOSE_NOTIFY",
	CodeShadowPropertyExist:                    "QCLOUD_ERR_SHADOW_PROPERTY_EXIST",
	CodeShadowNotPropertyExist:                 "QCLOUD_ERR_SHADOW_NOT_PROPERTY_EXIST",
	CodeShadowUpdateTimeout:                    "QCLOUD_ERR_SHADOW_UPDATE_TIMEOUT",
	CodeShadowUpdateRejected:                   "QCLOUD_ERR_SHADOW_UPDATE_REJECTED",
	CodeShadowGetTimeout:                       "QCLOUD_ERR_SHADOW_GET_TIMEOUT",
	CodeShadowGetRejected:                      "QCLOUD_ERR_SHADOW_GET_REJECTED",
	CodeGatewayCreateSessionFail:               "QCLOUD_ERR_GATEWAY_CREATE_SESSION_FAIL",
	CodeGatewaySessionNoExist:                  "QCLOUD_ERR_GATEWAY_SESSION_NO_EXIST",
	CodeGatewaySessionTimeout:                  "QCLOUD_ERR_GATEWAY_SESSION_TIMEOUT",
	CodeGatewaySubdevOnline:                    "QCLOUD_ERR_GATEWAY_SUBDEV_ONLINE",
	CodeGatewaySubdevOffline:                   "QCLOUD_ERR_GATEWAY_SUBDEV_OFFLINE",
	CodeRRPCReplyTimeout:                       "QCLOUD_ERR_RRPC_REPLY_TIMEOUT",
	CodeRRPCReplyErr:                           "QCLOUD_ERR_RRPC_REPLY_ERR",
	CodeTCPSocketFailed:                        "QCLOUD_ERR_TCP_SOCKET_FAILED",
	CodeTCPUnknownHost:                         "QCLOUD_ERR_TCP_UNKNOWN_HOST",
	CodeTCPConnect:                             "QCLOUD_ERR_TCP_CONNECT",
	CodeTCPReadTimeout:                         "QCLOUD_ERR_TCP_READ_TIMEOUT",
	CodeTCPWriteTimeout:                        "QCLOUD_ERR_TCP_WRITE_TIMEOUT",
	CodeTCPReadFail:                            "QCLOUD_ERR_TCP_READ_FAIL",
	CodeTCPWriteFail:                           "QCLOUD_ERR_TCP_WRITE_FAIL",
	CodeTCPPeerShutdown:                        "QCLOUD_ERR_TCP_PEER_SHUTDOWN",
	CodeTCPNothingToRead:                       "QCLOUD_ERR_TCP_NOTHING_TO_READ",
	CodeSSLInit:                                "QCLOUD_ERR_SSL_INIT",
	CodeSSLCert:                                "QCLOUD_ERR_SSL_CERT",
	CodeSSLConnect:                             "QCLOUD_ERR_SSL_CONNECT",
	CodeSSLConnectTimeout:                      "QCLOUD_ERR_SSL_CONNECT_TIMEOUT",
	CodeSSLWriteTimeout:                        "QCLOUD_ERR_SSL_WRITE_TIMEOUT",
	CodeSSLWrite:                               "QCLOUD_ERR_SSL_WRITE",
	CodeSSLReadTimeout:                         "QCLOUD_ERR_SSL_READ_TIMEOUT",
	CodeSSLRead:                                "QCLOUD_ERR_SSL_READ",
	CodeSSLNothingToRead:                       "QCLOUD_ERR_SSL_NOTHING_TO_READ"}

// String returns the C SDK's name of c, e.g.
// "QCLOUD_ERR_MQTT_CONNACK_NOT_AUTHORIZED", or "Code(n)" for a number the
// SDK does not define.
func (c Code) String() string {
	if n, ok := codeNames[c]; ok {
		return n
	}
	return fmt.Sprintf("Code(%d)", int(c))
}

// IsError reports whether c is an error code (negative).
func (c Code) IsError() bool { return c < 0 }

// ConnackError is an MQTT CONNACK that refused the connection.
type ConnackError struct {
	// ReturnCode is the CONNACK's return code (1..5 in MQTT 3.1.1).
	ReturnCode byte
}

func (e *ConnackError) Error() string {
	var why string
	switch e.ReturnCode {
	case 1:
		why = "unacceptable protocol version: the broker does not speak MQTT 3.1.1"
	case 2:
		why = "identifier rejected: the client id (productId + deviceName) is wrong or unknown to the hub"
	case 3:
		why = "server unavailable: the hub cannot take the connection now; retrying later may work"
	case 4:
		why = "bad username or password: the device secret is wrong or the username has expired (check the clock)"
	case 5:
		why = "not authorized: the hub does not allow this device to connect (disabled, deleted or wrong credentials)"
	default:
		why = "unknown refusal"
	}
	return fmt.Sprintf("core: mqtt connect refused (CONNACK return code %d): %s", e.ReturnCode, why)
}

// Code maps the return code like the C SDK: 1..5 to -113..-117, anything
// else to -112 (QCLOUD_ERR_MQTT_CONNACK_UNKNOWN).
func (e *ConnackError) Code() Code {
	if e.ReturnCode >= 1 && e.ReturnCode <= 5 {
		return CodeMQTTConnackUnknown - Code(e.ReturnCode)
	}
	return CodeMQTTConnackUnknown
}

// Class classifies the refusal: 4 and 5 are Unauthenticated, 2 is
// InvalidConfig (the client id is wrong), 3 is Unavailable, 1 is
// NotSupported.
func (e *ConnackError) Class() Class {
	switch e.ReturnCode {
	case 1:
		return ClassNotSupported
	case 2:
		return ClassInvalidConfig
	case 3:
		return ClassUnavailable
	case 4, 5:
		return ClassUnauthenticated
	}
	return ClassUnknown
}

// CodeOf returns the C SDK code that best describes err:
//
//   - nil: CodeSuccess
//   - *ConnackError: its Code
//   - *ConfigError: CodeDevInfo when its Source is a .json file (the device
//     identity), else CodeInval
//   - driver.ErrHandshake: CodeSSLConnect (as the C SDK from v3.2.3)
//   - a *net.DNSError: CodeTCPUnknownHost
//   - driver.ErrRefused, driver.ErrUnreachable: CodeTCPConnect
//   - driver.ErrReset, io.EOF, io.ErrUnexpectedEOF: CodeTCPPeerShutdown
//   - a deadline: by the *OpError's Op — "read" CodeTCPReadTimeout, "write"
//     CodeTCPWriteTimeout, "handshake" CodeSSLConnectTimeout, otherwise
//     CodeMQTTRequestTimeout
//   - anything else: CodeFailure
func CodeOf(err error) Code {
	if err == nil {
		return CodeSuccess
	}
	var ce *ConnackError
	if errors.As(err, &ce) {
		return ce.Code()
	}
	var cfg *ConfigError
	if errors.As(err, &cfg) {
		if strings.EqualFold(filepath.Ext(cfg.Source), ".json") {
			return CodeDevInfo
		}
		return CodeInval
	}
	var dns *net.DNSError
	switch {
	case errors.Is(err, driver.ErrHandshake):
		return CodeSSLConnect
	case errors.As(err, &dns) && !dns.IsTimeout:
		return CodeTCPUnknownHost
	case errors.Is(err, driver.ErrRefused), errors.Is(err, driver.ErrUnreachable):
		return CodeTCPConnect
	case errors.Is(err, driver.ErrReset), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return CodeTCPPeerShutdown
	case isDeadline(err):
		var op *OpError
		if errors.As(err, &op) {
			switch op.Op {
			case "read":
				return CodeTCPReadTimeout
			case "write":
				return CodeTCPWriteTimeout
			case "handshake":
				return CodeSSLConnectTimeout
			}
		}
		return CodeMQTTRequestTimeout
	}
	return CodeFailure
}

func isDeadline(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
