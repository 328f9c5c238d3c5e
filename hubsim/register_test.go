package hubsim

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func postRegister(t *testing.T, h *Hub, body []byte) RegisterAnswer {
	t.Helper()
	resp, err := http.Post(h.AdminURL()+"/register/dev", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	var a RegisterAnswer
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&a))
	return a
}

func signedRegister(secret, pid, dn string) []byte {
	r := RegisterRequest{DeviceName: dn, Nonce: 42, ProductID: pid, Timestamp: 1700000000}
	r.Signature = RegisterSignature(secret, r)
	b, _ := json.Marshal(r)
	return b
}

func TestRegisterEndpoint(t *testing.T) {
	dir := t.TempDir()
	h := startHub(t, dir)
	c := NewClient(h.AdminURL())
	ctx := context.Background()
	p, err := h.Store().CreateProduct("PREG000001")
	require.NoError(t, err)
	s, err := c.Dynreg(ctx, "PREG000001")
	require.NoError(t, err)
	assert.Equal(t, DynregOff, s.Mode, "registration is off by default")

	a := postRegister(t, h, signedRegister(p.ProductSecret, "PREG000001", "d1"))
	assert.Equal(t, RegNotAllowed, a.Code)

	_, err = c.SetDynreg(ctx, "PREG000001", DynregSettings{Mode: "sometimes"})
	require.Error(t, err)
	_, err = c.SetDynreg(ctx, "PREG000001", DynregSettings{Mode: DynregAutocreate})
	require.NoError(t, err)

	tests := []struct {
		name string
		body []byte
		want int
	}{
		{"garbage", []byte("deviceName=x"), RegBadParam},
		{"bad name", signedRegister(p.ProductSecret, "PREG000001", "a/b"), RegBadParam},
		{"unknown product", signedRegister(p.ProductSecret, "PNONE00001", "d1"), RegNoProduct},
		{"wrong secret", signedRegister("AAAAAAAAAAAAAAAAAAAAAAAA", "PREG000001", "d1"), RegBadSignature},
		{"autocreate", signedRegister(p.ProductSecret, "PREG000001", "d1"), RegOK},
		{"again", signedRegister(p.ProductSecret, "PREG000001", "d1"), RegAlreadyActivated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := postRegister(t, h, tt.body)
			assert.Equal(t, tt.want, a.Code, a.Message)
			if tt.want != RegOK {
				return
			}
			data, err := base64.StdEncoding.DecodeString(a.Payload)
			require.NoError(t, err)
			block, err := aes.NewCipher([]byte(p.ProductSecret[:16]))
			require.NoError(t, err)
			cipher.NewCBCDecrypter(block, []byte("0000000000000000")).CryptBlocks(data, data)
			var plain struct {
				EncryptionType int    `json:"encryptionType"`
				PSK            string `json:"psk"`
			}
			require.NoError(t, json.Unmarshal(data[:a.Len], &plain))
			d, err := h.Store().Device("PREG000001", "d1")
			require.NoError(t, err)
			assert.Equal(t, 2, plain.EncryptionType)
			assert.Equal(t, d.Secret, plain.PSK)
		})
	}

	// Settings and activations persist across a restart.
	require.NoError(t, h.Close())
	h = startHub(t, dir)
	s, err = NewClient(h.AdminURL()).Dynreg(ctx, "PREG000001")
	require.NoError(t, err)
	assert.Equal(t, DynregSettings{Mode: DynregAutocreate, AuthMode: AuthKey}, s)
	assert.Equal(t, RegAlreadyActivated, postRegister(t, h, signedRegister(p.ProductSecret, "PREG000001", "d1")).Code)
}

func FuzzParseRegisterRequest(f *testing.F) {
	f.Add(signedRegister("secretsecretsecret123456", "PREG000001", "d1"))
	f.Add([]byte(`{"deviceName":"","nonce":0}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseRegisterRequest(body)
		if err == nil {
			assert.NoError(t, ValidateProductID(r.ProductID))
			assert.NoError(t, ValidateDeviceName(r.DeviceName))
		}
	})
}
