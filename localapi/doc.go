// Package localapi is the local API of iotd, the daemon: the wire types of
// every endpoint and a Go client. It imports only the standard library, so
// a program that talks to a running iotd links none of the daemon, the
// bus, watermill or the features.
//
// The API is HTTP/1.1 over the daemon's Unix socket (mode 0600: whoever can
// use it can publish as the device), JSON in and out. A refusal is a
// non-200 status with {"error": "..."}; the client returns it as an
// *[Error]. Streams are NDJSON, one value per line, open until the client
// goes away; the client yields them as iterators. Request bodies are at
// most [MaxRequestBody] bytes.
//
//	GET    /v1/devices                  → []DeviceSummary
//	ANY    /v1/devices/{name}/X         → the device's /v1/X (a daemon of several devices)
//	GET    /v1/status                   → Status
//	GET    /v1/drivers                  → []ProbeResult
//	POST   /v1/publish                  ← PublishRequest → PublishResponse
//	POST   /v1/publish/stream           ← NDJSON PublishStreamRequest → NDJSON PublishStreamResult (full duplex)
//	GET    /v1/subscribe?filter=F&qos=N → stream of Message
//	DELETE /v1/subscribe?filter=F       → UnsubscribeResult
//	GET    /v1/shadow[?device=P/D]      → ShadowDocument (the daemon's copy)
//	POST   /v1/shadow/get[?device=P/D]  → ShadowDocument (read from the hub)
//	POST   /v1/shadow/report[?device=]  ← ShadowReport → ShadowDocument
//	POST   /v1/shadow/clear-desired     → ShadowDocument
//	GET    /v1/shadow/watch[?device=]   → stream of ShadowDelta
//	GET    /v1/rrpc/requests            → stream of RRPCRequest
//	POST   /v1/rrpc/reply               ← RRPCReply
//	GET    /v1/broadcast                → stream of BroadcastMessage
//	GET    /v1/ota                      → OTAStatus
//	GET    /v1/gateway                  → []SubDevice
//	GET    /v1/gateway/describe         → []DeviceRef
//	POST   /v1/gateway/subdevices       ← SubDeviceConfig
//	POST   /v1/gateway/{op}             ← GatewayRequest → GatewayResults (online, offline, bind, unbind)
//	POST   /v1/log                      ← LogLine → LogResult
//	GET    /v1/outbox                   → OutboxList
//	POST   /v1/outbox/{id}/retry
//	DELETE /v1/outbox/{id}
//	GET    /v1/at/modems[?refresh=1]    → []ModemStatus
//	GET    /v1/at/trace[?port=P]        → stream of ATTraceEvent
//	POST   /v1/at/send                  ← ATSendRequest → ATSendResult
//
// A daemon that runs several devices serves each one's routes under
// /v1/devices/{name} ([Client.ForDevice]), and refuses the unprefixed ones
// with 400 except /v1/devices, /v1/drivers and /v1/at/..., which are the
// daemon's; one that runs a single device serves it at both.
//
// Every path is under /v1; a change that breaks a client will come as
// /v2 beside it. The JSON field names are those iotd has always sent
// (some counters are camelCase for that reason).
//
// A program that publishes and reads the status through the running
// daemon:
//
//	c := localapi.New(localapi.DefaultSocket())
//	rep, err := c.Publish(ctx, localapi.PublishRequest{Topic: "event", Payload: `{"t":21.5}`, QoS: 1})
//	if err != nil {
//		return err // *localapi.PublishError: refused or not sent; errors.Is(err, localapi.ErrNotRunning): no daemon
//	}
//	fmt.Println(rep.Result, rep.Topic) // acknowledged PRODUCT/DEVICE/event
//	st, err := c.Status(ctx)
//	if err != nil {
//		return err
//	}
//	fmt.Println(st.Link.State, st.QueueDepth)
//	for m, err := range c.Subscribe(ctx, "control", 1) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(m.Topic, m.Payload)
//	}
package localapi
