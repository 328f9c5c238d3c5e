// Package gateway is the gateway feature (PROTOCOL.md §2.5): a gateway
// device brings its sub-devices online and offline, binds and unbinds
// them, and lists the ones bound to it, over
// $gateway/operation/{pid}/{dn} (requests, QoS 0) and
// $gateway/operation/result/{pid}/{dn} (results, subscribed with QoS 1).
//
// Every operation waits at most Config.Timeout for its result and
// reports one [Result] per sub-device. Results are matched on the
// operation type and the sub-device's product id and name, so
// concurrent operations of one type for different sub-devices each get
// their own result (for the same sub-device, the oldest waiting
// operation gets the first result).
//
// Bind signs "{sub_pid}{sub_dn};{random};{timestamp}" with HMAC-SHA1 and
// sends the raw digest in base64; the key is the sub-device's secret
// text as written (not decoded) or, for a certificate sub-device, the
// lowercase hex MD5 of its whole certificate file. The timestamp comes
// from the clock given to New (the daemon's corrected clock).
//
// Sub-device traffic needs nothing from this package: once a sub-device
// is online, any feature publishes and subscribes on the sub-device's own
// topics ({sub_pid}/{sub_dn}/..., $shadow/operation/{sub_pid}/{sub_dn},
// $ota/...) through the gateway's bus and connection — for example
// shadow.New(cfg, bus, subPID, subDN, log).
//
// Sub-devices come from the configuration (any number), from the
// gateway's device_info.json (Config.WithDeviceInfo), from AddSubDevice
// at run time, and from describe_sub_devices results. With auto_online
// (the default) the configured ones are brought online at start; after
// every reconnect the hub has taken them offline with the old session,
// and the ones that were online are brought online again. A sub-device
// the hub refuses to bring online (non-zero result) is not retried; one
// that got no answer is, with a growing pause.
//
// Malformed results, results of unknown types, entries without names or
// result, and results for unknown sub-devices are logged with the reason
// and counted in Stats; they never disturb other operations.
package gateway
