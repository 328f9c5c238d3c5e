package localapi

import (
	"context"
	"iter"
	"net/http"
	"net/url"
)

// Shadow returns the daemon's last known shadow document, without a round
// trip to the hub.
func (c *Client) Shadow(ctx context.Context) (ShadowDocument, error) {
	var doc ShadowDocument
	return doc, c.get(ctx, PathShadow+c.deviceQuery(), &doc)
}

// ShadowGet reads the shadow document from the hub.
func (c *Client) ShadowGet(ctx context.Context) (ShadowDocument, error) {
	var doc ShadowDocument
	return doc, c.post(ctx, PathShadowGet+c.deviceQuery(), nil, &doc)
}

// ShadowReport reports values and returns the document after the update.
func (c *Client) ShadowReport(ctx context.Context, req ShadowReport) (ShadowDocument, error) {
	var doc ShadowDocument
	return doc, c.post(ctx, PathShadowReport+c.deviceQuery(), req, &doc)
}

// ShadowClearDesired removes all desired state.
func (c *Client) ShadowClearDesired(ctx context.Context) (ShadowDocument, error) {
	var doc ShadowDocument
	return doc, c.post(ctx, PathShadowClearDesired+c.deviceQuery(), nil, &doc)
}

// ShadowWatch streams the shadow's deltas, as [Client.Subscribe] streams
// messages.
func (c *Client) ShadowWatch(ctx context.Context) iter.Seq2[ShadowDelta, error] {
	return stream[ShadowDelta](ctx, c, PathShadowWatch+c.deviceQuery())
}

// RRPCRequests streams the cloud's RRPC requests; answer each with
// [Client.RRPCReply] before its deadline.
func (c *Client) RRPCRequests(ctx context.Context) iter.Seq2[RRPCRequest, error] {
	return stream[RRPCRequest](ctx, c, PathRRPCRequests)
}

// RRPCReply answers the RRPC request with the given process id.
func (c *Client) RRPCReply(ctx context.Context, processID string, payload []byte) error {
	req := RRPCReply{ProcessID: processID}
	req.Payload, req.PayloadBase64 = TextOrBase64(payload)
	return c.post(ctx, PathRRPCReply, req, nil)
}

// Broadcasts streams the product's broadcast messages.
func (c *Client) Broadcasts(ctx context.Context) iter.Seq2[BroadcastMessage, error] {
	return stream[BroadcastMessage](ctx, c, PathBroadcast)
}

// OTA returns the firmware version and the state of an update.
func (c *Client) OTA(ctx context.Context) (OTAStatus, error) {
	var s OTAStatus
	return s, c.get(ctx, PathOTA, &s)
}

// OTABegin reports that the program starts installing version itself;
// it answers the state after the report.
func (c *Client) OTABegin(ctx context.Context, version string) (OTAStatus, error) {
	var s OTAStatus
	return s, c.post(ctx, PathOTABegin, OTAReport{Version: version}, &s)
}

// OTASuccess reports version installed, or confirms the install waiting
// for its reboot ("": that install's version).
func (c *Client) OTASuccess(ctx context.Context, version string) (OTAStatus, error) {
	var s OTAStatus
	return s, c.post(ctx, PathOTASuccess, OTAReport{Version: version}, &s)
}

// OTAFail reports that installing version failed (code 0: -5), or rejects
// the install waiting for its reboot ("": that install's version).
func (c *Client) OTAFail(ctx context.Context, r OTAReport) (OTAStatus, error) {
	var s OTAStatus
	return s, c.post(ctx, PathOTAFail, r, &s)
}

// GatewaySubDevices lists the gateway's known sub-devices and their state.
func (c *Client) GatewaySubDevices(ctx context.Context) ([]SubDevice, error) {
	var out []SubDevice
	return out, c.get(ctx, PathGateway, &out)
}

// GatewayDescribe asks the hub which sub-devices are bound to the gateway.
func (c *Client) GatewayDescribe(ctx context.Context) ([]DeviceRef, error) {
	var out []DeviceRef
	return out, c.get(ctx, PathGatewayDescribe, &out)
}

// GatewayOp runs op (GatewayOnline, GatewayOffline, GatewayBind or
// GatewayUnbind) for the named sub-devices ("PRODUCT/DEVICE"; none means
// all known, except for unbind). A sub-device's failure is in its result
// and in GatewayResults.Error, not in the error.
func (c *Client) GatewayOp(ctx context.Context, op string, devices []string) (GatewayResults, error) {
	var out GatewayResults
	return out, c.post(ctx, PathGateway+"/"+url.PathEscape(op), GatewayRequest{Devices: devices}, &out)
}

// GatewayAdd adds a sub-device at run time.
func (c *Client) GatewayAdd(ctx context.Context, sub SubDeviceConfig) error {
	return c.post(ctx, PathGatewaySubDevices, sub, nil)
}

// Outbox lists the queues' use and the parked messages (dead letters).
func (c *Client) Outbox(ctx context.Context) (OutboxList, error) {
	var out OutboxList
	return out, c.get(ctx, PathOutbox, &out)
}

// OutboxRetry queues the parked message id again.
func (c *Client) OutboxRetry(ctx context.Context, id string) error {
	return c.post(ctx, PathOutbox+"/"+url.PathEscape(id)+"/retry", nil, nil)
}

// OutboxDrop deletes the parked message id.
func (c *Client) OutboxDrop(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, PathOutbox+"/"+url.PathEscape(id), nil, nil)
}

// ATModems lists the AT modems the daemon's drivers have open; with
// refresh they are asked first (at most every 30 s each).
func (c *Client) ATModems(ctx context.Context, refresh bool) ([]ModemStatus, error) {
	var out []ModemStatus
	path := PathATModems
	if refresh {
		path += "?refresh=1"
	}
	return out, c.get(ctx, path, &out)
}

// ATSend runs one AT command on a modem the daemon holds. A command that
// failed (ERROR, a timeout, refused) comes back with Error set and no
// error; the error is for a request that could not be made.
func (c *Client) ATSend(ctx context.Context, req ATSendRequest) (ATSendResult, error) {
	var out ATSendResult
	return out, c.post(ctx, PathATSend, req, &out)
}

// ATTrace streams the trace of the modem on port ("" for every modem,
// including one opened later), as [Client.Subscribe] streams messages.
func (c *Client) ATTrace(ctx context.Context, port string) iter.Seq2[ATTraceEvent, error] {
	path := PathATTrace
	if port != "" {
		path += "?" + url.Values{"port": {port}}.Encode()
	}
	return stream[ATTraceEvent](ctx, c, path)
}
