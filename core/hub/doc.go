// Package hub holds what iotd knows of the real Tencent Cloud IoT Hub that
// is not in a device's own files: the regions and the endpoints of each
// service in them (region.go), and the CA certificates the official SDKs
// embed to verify the hub's servers (trust.go, certs/).
//
// Every fact here is read from the official SDKs
// (tencentyun/qcloud-iot-sdk-embedded-c v3.2.3 and its newer mirror
// TencentCloud/tencentcloud-iot-sdk-embedded-c, the explorer SDK that adds
// MQTT over WebSocket, and tencentyun/iot-device-python); the comment of each
// fact names its source. It depends on the standard library only.
package hub
