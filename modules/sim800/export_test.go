package sim800

// The parsers, for the fuzz target in package sim800_test.
var (
	LinkResult    = linkResult
	RxHeader      = rxHeader
	ReceiveHeader = receiveHeader
	StatusState   = statusState
)
