package localapi

// The paths of the local API, all under /v1. A path that takes a value
// ({op}, {id}) is written with it by the client.
const (
	PathStatus             = "/v1/status"
	PathDrivers            = "/v1/drivers"
	PathPublish            = "/v1/publish"
	PathSubscribe          = "/v1/subscribe"
	PathShadow             = "/v1/shadow"
	PathShadowGet          = "/v1/shadow/get"
	PathShadowReport       = "/v1/shadow/report"
	PathShadowClearDesired = "/v1/shadow/clear-desired"
	PathShadowWatch        = "/v1/shadow/watch"
	PathRRPCRequests       = "/v1/rrpc/requests"
	PathRRPCReply          = "/v1/rrpc/reply"
	PathBroadcast          = "/v1/broadcast"
	PathOTA                = "/v1/ota"
	PathOTABegin           = "/v1/ota/begin"
	PathOTASuccess         = "/v1/ota/success"
	PathOTAFail            = "/v1/ota/fail"
	PathGateway            = "/v1/gateway"
	PathGatewayDescribe    = "/v1/gateway/describe"
	PathGatewaySubDevices  = "/v1/gateway/subdevices"
	PathLog                = "/v1/log"
	PathOutbox             = "/v1/outbox"
	PathATModems           = "/v1/at/modems"
	PathATTrace            = "/v1/at/trace"
	PathATSend             = "/v1/at/send"
)
