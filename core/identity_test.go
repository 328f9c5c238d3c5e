package core

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testSecretText is the fixtures' device secret, base64 of testSecretRaw.
const (
	testSecretRaw  = "iotd-test-secret-0123"
	testSecretText = "aW90ZC10ZXN0LXNlY3JldC0wMTIz"
	testProdSecret = "Zp2Sx8QLxa1fUEPyrgdIbk3B"
)

func validKeyDevice() *DeviceInfo {
	return &DeviceInfo{
		AuthMode:      AuthKey,
		ProductID:     "S3EUVBRJLB",
		DeviceName:    "test_device",
		KeyDeviceInfo: KeyDeviceInfo{DeviceSecret: testSecretText},
	}
}

// copyFixture copies testdata/<dir>/device_info.json into a fresh directory
// and returns the copy's path.
func copyFixture(t *testing.T, dir string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", dir, "device_info.json"))
	require.NoError(t, err)
	p := filepath.Join(t.TempDir(), "device_info.json")
	require.NoError(t, os.WriteFile(p, data, 0o600))
	return p
}

func configErr(t *testing.T, err error) *ConfigError {
	t.Helper()
	require.Error(t, err)
	var ce *ConfigError
	require.True(t, errors.As(err, &ce), "want *ConfigError, got %T: %v", err, err)
	return ce
}

func TestLoadDeviceInfoCSDKFile(t *testing.T) {
	// The C SDK template's layout (odd spacing, blank lines, no final
	// newline) with values filled in; cert fields keep their placeholders
	// because a KEY user never touches them.
	d, err := LoadDeviceInfo(filepath.Join("testdata", "c_sdk", "device_info.json"))
	require.NoError(t, err)
	assert.Equal(t, "KEY", d.AuthMode)
	assert.Equal(t, "china", d.Region)
	assert.Equal(t, "S3EUVBRJLB", d.ProductID)
	assert.Equal(t, "test_device", d.DeviceName)
	assert.Equal(t, "S3EUVBRJLBtest_device", d.ClientID())
	assert.True(t, d.HasProductSecret())
	assert.False(t, d.IsCert())
	key, err := d.SecretKey()
	require.NoError(t, err)
	assert.Equal(t, []byte(testSecretRaw), key)
	assert.Equal(t, []SubDevice{{SubProductID: "S3EUVBRJLC", SubDevName: "sub_dev1"}}, d.SubDevices())
	assert.Equal(t, "", d.CAFile())
}

func TestLoadDeviceInfoPythonSubdevList(t *testing.T) {
	d, err := LoadDeviceInfo(filepath.Join("testdata", "python_sdk", "device_info.json"))
	require.NoError(t, err)
	assert.Equal(t, "gateway01", d.DeviceName)
	require.NotNil(t, d.SubDev)
	assert.Equal(t, 3, d.SubDev.SubdevNum)
	assert.Len(t, d.SubDev.SubdevList, 3)
	assert.Equal(t, []SubDevice{
		{SubProductID: "S3EUVBRJLC", SubDevName: "sub_dev1"},
		{SubProductID: "S3EUVBRJLC", SubDevName: "sub_dev2"},
	}, d.SubDevices(), "the empty template entry is skipped")
	assert.Equal(t, "", d.CAFile(), "a placeholder CA file is no CA file")
}

func TestLoadDeviceInfoTemplateRejected(t *testing.T) {
	_, err := LoadDeviceInfo(filepath.Join("testdata", "c_sdk_template", "device_info.json"))
	ce := configErr(t, err)
	assert.Equal(t, "productId", ce.Field)
	assert.Equal(t, `device_info.json: productId: "PRODUCT_ID" is a placeholder: the file still holds the SDK template's placeholders; fill in the values from the IoT Hub console`, err.Error())
	assert.Equal(t, CodeDevInfo, CodeOf(err))
}

func TestLoadDeviceInfoMissingFile(t *testing.T) {
	_, err := LoadDeviceInfo(filepath.Join(t.TempDir(), "dev.json"))
	ce := configErr(t, err)
	assert.Equal(t, "dev.json", ce.Source)
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestLoadDeviceInfoCertPaths(t *testing.T) {
	tests := []struct {
		name  string
		place func(t *testing.T, dir string) (cert, key string) // creates files, returns expected paths
		err   string                                            // expected error text with DIR for the directory
	}{
		{
			name: "next to device_info.json",
			place: func(t *testing.T, dir string) (string, string) {
				return touch(t, dir, "cert_device_cert.crt"), touch(t, dir, "cert_device_private.key")
			},
		},
		{
			name: "in certs/ beside it (C SDK convention)",
			place: func(t *testing.T, dir string) (string, string) {
				return touch(t, dir, "certs/cert_device_cert.crt"), touch(t, dir, "certs/cert_device_private.key")
			},
		},
		{
			name: "next to it wins over certs/",
			place: func(t *testing.T, dir string) (string, string) {
				touch(t, dir, "certs/cert_device_cert.crt")
				return touch(t, dir, "cert_device_cert.crt"), touch(t, dir, "certs/cert_device_private.key")
			},
		},
		{
			name: "missing key",
			place: func(t *testing.T, dir string) (string, string) {
				return touch(t, dir, "cert_device_cert.crt"), ""
			},
			err: `device_info.json: cert_deviceinfo.devPrivateKeyFile: file "cert_device_private.key" not found (looked for DIR/cert_device_private.key and DIR/certs/cert_device_private.key); put it there or write its absolute path`,
		},
		{
			name: "cert is a directory",
			place: func(t *testing.T, dir string) (string, string) {
				require.NoError(t, os.Mkdir(filepath.Join(dir, "cert_device_cert.crt"), 0o700))
				return "", ""
			},
			err: `device_info.json: cert_deviceinfo.devCertFile: DIR/cert_device_cert.crt is not a regular file`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := copyFixture(t, "c_sdk_cert")
			dir := filepath.Dir(p)
			cert, key := tt.place(t, dir)
			d, err := LoadDeviceInfo(p)
			if tt.err != "" {
				configErr(t, err)
				assert.Equal(t, strings.ReplaceAll(tt.err, "DIR", dir), err.Error())
				return
			}
			require.NoError(t, err)
			assert.True(t, d.IsCert())
			assert.Equal(t, cert, d.CertFile())
			assert.Equal(t, key, d.KeyFile())
			assert.Equal(t, "cert_device_cert.crt", d.CertDeviceInfo.DevCertFile, "the written name is kept for saving")
			_, err = d.SecretKey()
			assert.Error(t, err, "a CERT device has no secret")
		})
	}
}

func TestLoadDeviceInfoAbsoluteCertPath(t *testing.T) {
	elsewhere := t.TempDir()
	cert := touch(t, elsewhere, "c.crt")
	key := touch(t, elsewhere, "k.key")
	d := &DeviceInfo{AuthMode: "cert", ProductID: "S3EUVBRJLB", DeviceName: "d1",
		CertDeviceInfo: CertDeviceInfo{DevCertFile: cert, DevPrivateKeyFile: key}}
	p := filepath.Join(t.TempDir(), "device_info.json")
	require.NoError(t, SaveDeviceInfo(p, d))
	got, err := LoadDeviceInfo(p)
	require.NoError(t, err)
	assert.Equal(t, cert, got.CertFile())
	assert.Equal(t, key, got.KeyFile())
	assert.Equal(t, "cert", got.AuthMode, "auth_mode is written back as given")
	assert.Equal(t, AuthCert, got.Mode())
}

func touch(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o700))
	require.NoError(t, os.WriteFile(p, []byte("test"), 0o600))
	return p
}

func TestValidateErrors(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name   string
		mutate func(d *DeviceInfo)
		field  string
		msg    string
	}{
		{"auth_mode missing", func(d *DeviceInfo) { d.AuthMode = "" }, "auth_mode",
			`missing: set "KEY" (device secret) or "CERT" (certificate)`},
		{"auth_mode wrong", func(d *DeviceInfo) { d.AuthMode = "PSK" }, "auth_mode",
			`"PSK" is not valid: use "KEY" or "CERT"`},
		{"productId missing", func(d *DeviceInfo) { d.ProductID = "" }, "productId", "missing"},
		{"productId placeholder", func(d *DeviceInfo) { d.ProductID = "YOUR_PRODUCT_ID" }, "productId",
			`"YOUR_PRODUCT_ID" is a placeholder: the file still holds the SDK template's placeholders; fill in the values from the IoT Hub console`},
		{"productId too long", func(d *DeviceInfo) { d.ProductID = "ABCDEFGHIJK" }, "productId", "11 characters, the limit is 10"},
		{"productId bad char", func(d *DeviceInfo) { d.ProductID = "AB/C" }, "productId",
			`character '/' at offset 2 is not allowed; use letters, digits, '_' and '-'`},
		{"deviceName missing", func(d *DeviceInfo) { d.DeviceName = "" }, "deviceName", "missing"},
		{"deviceName too long", func(d *DeviceInfo) { d.DeviceName = long(53) }, "deviceName", "53 characters, the limit is 48"},
		{"deviceName semicolon", func(d *DeviceInfo) { d.DeviceName = "a;b" }, "deviceName",
			`character ';' at offset 1 is not allowed; use letters, digits, ':', '_' and '-'`},
		{"deviceName non-ASCII and long", func(d *DeviceInfo) { d.DeviceName = strings.Repeat("设", 20) }, "deviceName",
			`character '设' at offset 0 is not allowed; use letters, digits, ':', '_' and '-'`},
		{"deviceSecret missing", func(d *DeviceInfo) { d.KeyDeviceInfo.DeviceSecret = "" }, "key_deviceinfo.deviceSecret",
			"missing: a KEY device needs the base64 device secret shown in the console"},
		{"deviceSecret placeholder", func(d *DeviceInfo) { d.KeyDeviceInfo.DeviceSecret = "YOUR_IOT_PSK" }, "key_deviceinfo.deviceSecret",
			`"YOUR_IOT_PSK" is a placeholder: the file still holds the SDK template's placeholders; fill in the values from the IoT Hub console`},
		{"deviceSecret too long", func(d *DeviceInfo) { d.KeyDeviceInfo.DeviceSecret = strings.Repeat("QUFB", 17) }, "key_deviceinfo.deviceSecret",
			"68 characters, the limit is 64"},
		{"deviceSecret illegal char", func(d *DeviceInfo) { d.KeyDeviceInfo.DeviceSecret = "aW9*ZC10" }, "key_deviceinfo.deviceSecret",
			"not valid base64 (illegal character at offset 3)"},
		{"deviceSecret truncated", func(d *DeviceInfo) { d.KeyDeviceInfo.DeviceSecret = "aW90ZC1" }, "key_deviceinfo.deviceSecret",
			"not valid base64 (truncated or badly padded at offset 4; copy the whole secret)"},
		{"cert file missing", func(d *DeviceInfo) { d.AuthMode = AuthCert }, "cert_deviceinfo.devCertFile",
			"missing: a CERT device needs its certificate and private key file names"},
		{"key file placeholder", func(d *DeviceInfo) {
			d.AuthMode = AuthCert
			d.CertDeviceInfo = CertDeviceInfo{DevCertFile: "c.crt", DevPrivateKeyFile: "YOUR_DEVICE_PRIVATE_KEY_FILE_NAME"}
		}, "cert_deviceinfo.devPrivateKeyFile",
			`"YOUR_DEVICE_PRIVATE_KEY_FILE_NAME" is a placeholder: the file still holds the SDK template's placeholders; fill in the values from the IoT Hub console`},
		{"cert file name too long", func(d *DeviceInfo) {
			d.AuthMode = AuthCert
			d.CertDeviceInfo = CertDeviceInfo{DevCertFile: long(129), DevPrivateKeyFile: "k.key"}
		}, "cert_deviceinfo.devCertFile", "129 characters, the limit is 128"},
		{"CA file name too long", func(d *DeviceInfo) {
			d.AuthMode = AuthCert
			d.CertDeviceInfo = CertDeviceInfo{DevCertFile: "c.crt", DevPrivateKeyFile: "k.key", DevCaFile: long(130)}
		}, "cert_deviceinfo.devCaFile", "130 characters, the limit is 128"},
		{"productSecret too long", func(d *DeviceInfo) { d.ProductSecret = long(33) }, "productSecret", "33 characters, the limit is 32"},
		{"subdev name missing", func(d *DeviceInfo) { d.SubDev = &SubDev{SubProductID: "S3EUVBRJLC"} }, "subDev.sub_devName", "missing"},
		{"subdev list entry too long", func(d *DeviceInfo) {
			d.SubDev = &SubDev{SubdevList: []SubDevice{{"S3EUVBRJLC", "ok"}, {"S3EUVBRJLC", long(49)}}}
		}, "subDev.subdev_list[1].sub_devName", "49 characters, the limit is 48"},
		{"subdev_num negative", func(d *DeviceInfo) { d.SubDev = &SubDev{SubdevNum: -1} }, "subDev.subdev_num", "-1 is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := validKeyDevice()
			tt.mutate(d)
			err := d.Validate()
			ce := configErr(t, err)
			assert.Equal(t, "device_info.json", ce.Source)
			assert.Equal(t, tt.field, ce.Field)
			assert.Equal(t, "device_info.json: "+tt.field+": "+tt.msg, err.Error())
		})
	}
}

func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(d *DeviceInfo)
	}{
		{"plain", func(d *DeviceInfo) {}},
		{"lowercase auth_mode", func(d *DeviceInfo) { d.AuthMode = "key" }},
		{"limits exactly", func(d *DeviceInfo) {
			d.ProductID = "ABCDEFGHIJ"
			d.DeviceName = strings.Repeat("d", 48)
			d.KeyDeviceInfo.DeviceSecret = base64.StdEncoding.EncodeToString(make([]byte, 48)) // 64 chars
			d.ProductSecret = strings.Repeat("p", 32)
		}},
		{"device name with colon and dash", func(d *DeviceInfo) { d.DeviceName = "aa:bb-cc_dd" }},
		{"placeholder product secret ignored", func(d *DeviceInfo) { d.ProductSecret = "YOUR_PRODUCT_SECRET" }},
		{"placeholder sub-device ignored", func(d *DeviceInfo) {
			d.SubDev = &SubDev{SubProductID: "YOUR_SUBDEV_PRODUCT_ID", SubDevName: "YOUR_SUBDEV_DEVICE_NAME"}
		}},
		{"KEY device ignores cert placeholders", func(d *DeviceInfo) {
			d.CertDeviceInfo = CertDeviceInfo{DevCertFile: "YOUR_DEVICE_CERT_FILE_NAME", DevPrivateKeyFile: strings.Repeat("x", 300)}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := validKeyDevice()
			tt.mutate(d)
			assert.NoError(t, d.Validate())
		})
	}
}

func TestParseDeviceInfoMalformed(t *testing.T) {
	good, err := os.ReadFile(filepath.Join("testdata", "c_sdk", "device_info.json"))
	require.NoError(t, err)
	tests := []struct {
		name  string
		data  string
		field string
		msg   string
	}{
		{"truncated", string(good[:120]), "",
			"not valid JSON: truncated at line 5, column 44 (byte offset 120); a closing brace or quote is missing"},
		{"missing comma", "{\n  \"auth_mode\": \"KEY\"\n  \"productId\": \"X\"\n}", "",
			"not valid JSON at line 3, column 3 (byte offset 25): invalid character '\"' after object key:value pair"},
		{"trailing garbage", `{"auth_mode":"KEY"} x`, "",
			"not valid JSON at line 1, column 21 (byte offset 20): invalid character 'x' after top-level value"},
		{"empty", "  \n", "", "the file is empty; it must hold a JSON object"},
		{"array", `[1,2]`, "", "must be a JSON object {...}, found an array"},
		{"productId number", `{"auth_mode":"KEY","productId":123}`, "productId", "must be a string, found a number"},
		{"key_deviceinfo string", `{"auth_mode":"KEY","key_deviceinfo":"abc"}`, "key_deviceinfo", "must be an object, found a string"},
		{"secret bool", `{"key_deviceinfo":{"deviceSecret":true}}`, "key_deviceinfo.deviceSecret", "must be a string, found a boolean"},
		{"subdev_num string", `{"subDev":{"subdev_num":"3"}}`, "subDev.subdev_num", "must be a whole number, found a string"},
		{"subdev_list object", `{"subDev":{"subdev_list":{}}}`, "subDev.subdev_list", "must be an array, found an object"},
		{"subdev_list entry", `{"subDev":{"subdev_list":[{},7]}}`, "subDev.subdev_list[1]", "must be an object, found a number"},
		{"too big", "{" + strings.Repeat(" ", maxDeviceInfoSize) + "}", "", "more than 65536 bytes; is this a device_info.json?"},
		{"case-different key is not the key", `{"auth_mode":"KEY","ProductId":"S3EUVBRJLB","deviceName":"d","key_deviceinfo":{"deviceSecret":"QUFB"}}`,
			"productId", "missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseDeviceInfo([]byte(tt.data), "")
			ce := configErr(t, err)
			assert.Equal(t, tt.field, ce.Field)
			want := "device_info.json: " + tt.msg
			if tt.field != "" {
				want = "device_info.json: " + tt.field + ": " + tt.msg
			}
			assert.Equal(t, want, err.Error())
			assert.NotContains(t, err.Error(), "\n", "one line")
		})
	}
}

func TestParseDeviceInfoTolerates(t *testing.T) {
	tests := []struct {
		name string
		data string
	}{
		{"BOM", "\xef\xbb\xbf" + `{"auth_mode":"KEY","productId":"S3EUVBRJLB","deviceName":"d","key_deviceinfo":{"deviceSecret":"QUFB"}}`},
		{"nulls and unknown keys", `{"auth_mode":"KEY","productId":"S3EUVBRJLB","deviceName":"d","productSecret":null,"subDev":null,
			"x":[1,{"y":2}],"key_deviceinfo":{"deviceSecret":"QUFB","extra":1}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := ParseDeviceInfo([]byte(tt.data), "dev.json")
			require.NoError(t, err)
			assert.Equal(t, "S3EUVBRJLBd", d.ClientID())
		})
	}
}

func TestSaveDeviceInfoFreshLayout(t *testing.T) {
	d := validKeyDevice()
	d.Region = "china"
	d.ProductSecret = testProdSecret
	d.SubDev = &SubDev{SubProductID: "S3EUVBRJLC", SubDevName: "sub1"}
	p := filepath.Join(t.TempDir(), "device_info.json")
	require.NoError(t, SaveDeviceInfo(p, d))
	got, err := os.ReadFile(p)
	require.NoError(t, err)
	want := `{
    "auth_mode": "KEY",
    "region": "china",
    "productId": "S3EUVBRJLB",
    "productSecret": "` + testProdSecret + `",
    "deviceName": "test_device",
    "key_deviceinfo": {
        "deviceSecret": "` + testSecretText + `"
    },
    "cert_deviceinfo": {
        "devCertFile": "",
        "devPrivateKeyFile": ""
    },
    "subDev": {
        "sub_productId": "S3EUVBRJLC",
        "sub_devName": "sub1"
    }
}
`
	assert.Equal(t, want, string(got))
	st, err := os.Stat(p)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
}

func TestSaveDeviceInfoRoundTripPreservesUnknownKeys(t *testing.T) {
	src := `{
  "comment": "kept",
  "auth_mode": "key",
  "productId": "S3EUVBRJLB",
  "deviceName": "gw",
  "key_deviceinfo": {"deviceSecret": "QUFB", "vendor_slot": 3},
  "subDev": {
    "subdev_num": 2,
    "subdev_list": [
      {"sub_productId": "S3EUVBRJLC", "sub_devName": "a", "note": "first"},
      {"sub_productId": "S3EUVBRJLC", "sub_devName": "b"}
    ],
    "future": {"nested": [true, null]}
  },
  "httpDomainHost": "ap-guangzhou.gateway.tencentdevices.com"
}`
	p := filepath.Join(t.TempDir(), "device_info.json")
	require.NoError(t, os.WriteFile(p, []byte(src), 0o644))
	d, err := LoadDeviceInfo(p)
	require.NoError(t, err)

	d.KeyDeviceInfo.DeviceSecret = testSecretText
	d.SubDev.SubdevList[0].SubDevName = "a2"
	require.NoError(t, SaveDeviceInfo(p, d))

	st, err := os.Stat(p)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "a rewrite makes the file private")

	got, err := LoadDeviceInfo(p)
	require.NoError(t, err)
	assert.Equal(t, "key", got.AuthMode)
	assert.Equal(t, testSecretText, got.KeyDeviceInfo.DeviceSecret)
	assert.Equal(t, []SubDevice{{"S3EUVBRJLC", "a2"}, {"S3EUVBRJLC", "b"}}, got.SubDevices())

	data, err := os.ReadFile(p)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(data, &m))
	assert.Equal(t, "kept", m["comment"])
	assert.Equal(t, "ap-guangzhou.gateway.tencentdevices.com", m["httpDomainHost"])
	assert.Equal(t, map[string]any{"deviceSecret": testSecretText, "vendor_slot": 3.0}, m["key_deviceinfo"])
	sub := m["subDev"].(map[string]any)
	assert.Equal(t, map[string]any{"nested": []any{true, nil}}, sub["future"])
	assert.Equal(t, "first", sub["subdev_list"].([]any)[0].(map[string]any)["note"])

	// The user's key order stays: "comment" first, "httpDomainHost" last,
	// cert_deviceinfo (new) after it.
	s := string(data)
	assert.Less(t, strings.Index(s, `"comment"`), strings.Index(s, `"auth_mode"`))
	assert.Less(t, strings.Index(s, `"subDev"`), strings.Index(s, `"httpDomainHost"`))
	assert.Less(t, strings.Index(s, `"httpDomainHost"`), strings.Index(s, `"cert_deviceinfo"`))
	assert.Contains(t, s, "\n    \"comment\": \"kept\",\n", "4-space indent")

	// Removing a known key removes it; unknown neighbours stay.
	got.SubDev = nil
	require.NoError(t, SaveDeviceInfo(p, got))
	data, err = os.ReadFile(p)
	require.NoError(t, err)
	assert.NotContains(t, string(data), "subDev")
	assert.Contains(t, string(data), "httpDomainHost")
}

func TestSaveDeviceInfoCSDKFileUnchangedValues(t *testing.T) {
	p := copyFixture(t, "c_sdk")
	d, err := LoadDeviceInfo(p)
	require.NoError(t, err)
	require.NoError(t, SaveDeviceInfo(p, d))
	again, err := LoadDeviceInfo(p)
	require.NoError(t, err)
	assert.Equal(t, publicFields(d), publicFields(again))
	data, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Contains(t, string(data), `"devCertFile": "YOUR_DEVICE_CERT_FILE_NAME"`, "untouched fields are written back as they were")
}

func publicFields(d *DeviceInfo) DeviceInfo {
	return DeviceInfo{AuthMode: d.AuthMode, ProductID: d.ProductID, ProductSecret: d.ProductSecret,
		DeviceName: d.DeviceName, Region: d.Region, KeyDeviceInfo: d.KeyDeviceInfo,
		CertDeviceInfo: d.CertDeviceInfo, SubDev: d.SubDev}
}

func TestSaveDeviceInfoFailureKeepsOldFile(t *testing.T) {
	old := []byte(`{"old": true}`)
	t.Run("invalid identity", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "device_info.json")
		require.NoError(t, os.WriteFile(p, old, 0o600))
		d := validKeyDevice()
		d.DeviceName = strings.Repeat("n", 49)
		err := SaveDeviceInfo(p, d)
		assert.Equal(t, "device_info.json: deviceName: 49 characters, the limit is 48", err.Error())
		assertFile(t, p, old)
	})
	t.Run("temporary file cannot be created", func(t *testing.T) {
		// A 250-byte name exists, but the temporary name beside it exceeds
		// NAME_MAX: a failure even root cannot bypass.
		p := filepath.Join(t.TempDir(), strings.Repeat("d", 245)+".json")
		require.NoError(t, os.WriteFile(p, old, 0o600))
		err := SaveDeviceInfo(p, validKeyDevice())
		require.Error(t, err)
		assert.Contains(t, err.Error(), "core: save device info: ")
		assertFile(t, p, old)
		entries, err := os.ReadDir(filepath.Dir(p))
		require.NoError(t, err)
		assert.Len(t, entries, 1, "no temporary file left behind")
	})
	t.Run("unwritable directory", func(t *testing.T) {
		dir := t.TempDir()
		p := filepath.Join(dir, "device_info.json")
		require.NoError(t, os.WriteFile(p, old, 0o600))
		require.NoError(t, os.Chmod(dir, 0o500))
		t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
		if f, err := os.Create(filepath.Join(dir, "probe")); err == nil {
			f.Close()
			t.Skip("running with privileges that ignore directory permissions")
		}
		err := SaveDeviceInfo(p, validKeyDevice())
		require.Error(t, err)
		assert.ErrorIs(t, err, os.ErrPermission)
		assertFile(t, p, old)
	})
}

func assertFile(t *testing.T, p string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got))
}

func TestDeviceInfoRedaction(t *testing.T) {
	d := validKeyDevice()
	d.ProductSecret = testProdSecret
	var logged bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logged, nil))
	logger.Info("identity", "dev", d, "devValue", *d, "key", d.KeyDeviceInfo)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("identity", "dev", d)

	outputs := map[string]string{
		"String":       d.String(),
		"%v":           fmt.Sprintf("%v", d),
		"%+v":          fmt.Sprintf("%+v", d),
		"%#v":          fmt.Sprintf("%#v", d),
		"%s value":     fmt.Sprintf("%s", *d),
		"%+v value":    fmt.Sprintf("%+v", *d),
		"%d value":     fmt.Sprintf("%d", *d),
		"%x value":     fmt.Sprintf("%x", *d),
		"key %+v":      fmt.Sprintf("%+v", d.KeyDeviceInfo),
		"key %#v":      fmt.Sprintf("%#v", d.KeyDeviceInfo),
		"in a struct":  fmt.Sprintf("%+v", struct{ D DeviceInfo }{*d}),
		"in a slice":   fmt.Sprintf("%v", []*DeviceInfo{d}),
		"slog":         logged.String(),
		"error string": fmt.Sprint(d.Validate()),
	}
	for name, out := range outputs {
		t.Run(name, func(t *testing.T) {
			assert.NotContains(t, out, testSecretText)
			assert.NotContains(t, out, testProdSecret)
		})
	}
	assert.Equal(t, "DeviceInfo{auth_mode=KEY productId=S3EUVBRJLB deviceName=test_device deviceSecret=<redacted> productSecret=<redacted>}", d.String())
	assert.Contains(t, logged.String(), `"deviceName":"test_device"`, "the log still says which device")
}

func TestValidateTopic(t *testing.T) {
	tests := []struct {
		name  string
		topic string
		err   string
	}{
		{"ok", "S3EUVBRJLB/test_device/data", ""},
		{"exactly 128", strings.Repeat("t", 128), ""},
		{"empty", "", "core: topic is empty"},
		{"too long", strings.Repeat("t", 129), "core: topic is 129 bytes, the limit is 128"},
		{"bad utf8", "a/\xff", "core: topic is not valid UTF-8"},
		{"nul", "a\x00b", "core: topic contains a NUL byte"},
		{"wildcard", "a/+/b", `core: topic "a/+/b" contains a wildcard ('+' or '#'); a topic to publish to must not`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateTopic(tt.topic)
			if tt.err == "" {
				assert.NoError(t, err)
				return
			}
			assert.EqualError(t, err, tt.err)
		})
	}
}
