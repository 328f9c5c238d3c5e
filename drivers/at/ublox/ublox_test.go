package ublox

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/iotd/iotd/drivers/at"
	"github.com/iotd/iotd/drivers/at/modem"
)

// AT+UAUTHREQ takes <username>,<password> as the manuals show, except on
// SARA-R4 (and LARA-R6) firmware, which takes the password first.
func TestUAuthReqOrder(t *testing.T) {
	c := modem.Config{User: "user", Password: "pass"}
	for model, want := range map[string]string{
		"SARA-R410M-02B": `AT+UAUTHREQ=1,3,"pass","user"`,
		"SARA-R412M-02B": `AT+UAUTHREQ=1,3,"pass","user"`,
		"SARA-R422M8S":   `AT+UAUTHREQ=1,3,"pass","user"`,
		"LARA-R6001D":    `AT+UAUTHREQ=1,3,"pass","user"`,
		"SARA-R510M8S":   `AT+UAUTHREQ=1,3,"user","pass"`,
		"SARA-R500S":     `AT+UAUTHREQ=1,3,"user","pass"`,
		"":               `AT+UAUTHREQ=1,3,"user","pass"`,
	} {
		assert.Equal(t, want, uauthreq(model, c), model)
	}
	assert.Equal(t, `AT+UAUTHREQ=1,3,"","pass"`, uauthreq("SARA-R5", modem.Config{Password: "pass"}), "a password alone")
}

func TestAuthRefused(t *testing.T) {
	assert.True(t, authRefused(&at.CMEError{Code: 149}))
	assert.True(t, authRefused(&at.CMEError{Code: -1, Text: "PDP authentication failure"}))
	assert.False(t, authRefused(&at.CMEError{Code: 30}))
	assert.False(t, authRefused(&at.CMEError{Code: -1, Text: "no network service"}))
	assert.False(t, authRefused(at.ErrError))
	assert.False(t, authRefused(errors.New("timeout")))
}
