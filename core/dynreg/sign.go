package dynreg

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"strconv"
)

// Request is the JSON body of a registration request.
type Request struct {
	DeviceName string `json:"deviceName"`
	Nonce      int64  `json:"nonce"`
	ProductID  string `json:"productId"`
	Timestamp  int64  `json:"timestamp"`
	Signature  string `json:"signature"`
}

// SignString is the text the signature is computed over: the four fields
// in alphabetical order of their names.
func SignString(deviceName string, nonce int64, productID string, timestamp int64) string {
	return "deviceName=" + deviceName + "&nonce=" + strconv.FormatInt(nonce, 10) +
		"&productId=" + productID + "&timestamp=" + strconv.FormatInt(timestamp, 10)
}

// Sign returns the request signature: base64 of the lowercase hex
// HMAC-SHA1 of [SignString] keyed by the product secret text as is (not
// base64-decoded). Base64 of the raw digest is what the hub rejects with
// 1010.
func Sign(productSecret, deviceName string, nonce int64, productID string, timestamp int64) string {
	m := hmac.New(sha1.New, []byte(productSecret))
	m.Write([]byte(SignString(deviceName, nonce, productID, timestamp)))
	return base64.StdEncoding.EncodeToString([]byte(hex.EncodeToString(m.Sum(nil))))
}

// NewRequest builds a signed request.
func NewRequest(productSecret, productID, deviceName string, nonce, timestamp int64) Request {
	return Request{DeviceName: deviceName, Nonce: nonce, ProductID: productID, Timestamp: timestamp,
		Signature: Sign(productSecret, deviceName, nonce, productID, timestamp)}
}
