// Package dtls provides the "dtls" transport driver: DTLS 1.2 over UDP with
// pion/dtls, for the IoT Hub's CoAP channel (UDP port 5684).
//
// Two modes, chosen by the configuration ([Config]):
//
//   - PSK, when psk is set: the identity is the client id ("{productId}
//     {deviceName}" run together) and the key is the base64-decoded device
//     secret, exactly as device_info.json holds it. The hub speaks
//     TLS_PSK_WITH_AES_128_CBC_SHA and TLS_PSK_WITH_AES_256_CBC_SHA, which
//     pion does not ship; this package implements both ([PSKCipherSuites])
//     and offers them alongside pion's own PSK suites
//     (GCM, CCM, CBC_SHA256); the server picks.
//   - Certificates otherwise: the server is verified against ca_file (or the
//     system roots) and server_name, and cert_file/key_file give a client
//     certificate.
//
// Importing the package registers the driver in core.Default; [New] returns
// one for a registry of one's own. It lives apart from package posix so
// that only programs which want DTLS link pion.
package dtls
