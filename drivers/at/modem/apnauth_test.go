package modem_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/drivers/at/atsim"
	"github.com/iotd/iotd/drivers/at/modem"
	"github.com/iotd/iotd/drivers/at/ublox"
)

// The u-blox dialect gives the APN's user and password to the module
// (AT+UAUTHREQ, password first on the SARA-R410M that atsim plays) before
// it activates the context, so that a network that wants them attaches; a
// refusal fails the bring-up with ErrAttach naming "user"/"password", and
// the password shows in no error.
func TestUBloxAPNAuth(t *testing.T) {
	const user, password = "iot-user", "apn-pa55"
	for _, tc := range []struct {
		name      string
		sim       atsim.Config
		cfg       modem.Config
		wantErr   bool
		errSays   string
		uauthreq  string // the command the sim must have seen, "" for none
		noSecrets []string
	}{
		{name: "right credentials", sim: atsim.Config{APNUser: user, APNPassword: password},
			cfg: modem.Config{APN: "private.apn", User: user, Password: password}, uauthreq: `AT+UAUTHREQ=1,3,"apn-pa55","iot-user"`},
		{name: "credentials the network does not want", sim: atsim.Config{},
			cfg: modem.Config{APN: "internet", User: user, Password: password}, uauthreq: `AT+UAUTHREQ=1,3,"apn-pa55","iot-user"`},
		{name: "no credentials, none wanted", cfg: modem.Config{APN: "internet"}},
		{name: "wrong password", sim: atsim.Config{APNUser: user, APNPassword: password},
			cfg: modem.Config{APN: "private.apn", User: user, Password: "not-the-one"}, wantErr: true,
			errSays: `the network refused the APN's "user"/"password"`, noSecrets: []string{"not-the-one"}},
		{name: "no credentials, some wanted", sim: atsim.Config{APNUser: user, APNPassword: password},
			cfg: modem.Config{APN: "private.apn"}, wantErr: true, errSays: `set the APN's "user" and "password"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.sim.Dialect = atsim.DialectUBlox
			sim := startSim(t, tc.sim)
			m, err := openModem(t, ublox.Name, sim, tc.cfg)
			cmds := sim.Commands()
			sent := slices.IndexFunc(cmds, func(c string) bool { return strings.HasPrefix(c, "AT+UAUTHREQ") })
			if tc.uauthreq != "" {
				require.GreaterOrEqual(t, sent, 0, "AT+UAUTHREQ sent")
				assert.Equal(t, tc.uauthreq, cmds[sent])
				act := slices.Index(cmds, "AT+CGACT=1,1")
				require.GreaterOrEqual(t, act, 0)
				assert.Less(t, sent, act, "the credentials go in before the activation")
			} else if tc.cfg.User == "" && tc.cfg.Password == "" {
				assert.Negative(t, sent, "no AT+UAUTHREQ without credentials")
			}
			if !tc.wantErr {
				require.NoError(t, err)
				assert.Equal(t, ublox.Name, m.Info().Dialect)
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, modem.ErrAttach)
			var se *modem.SetupError
			require.ErrorAs(t, err, &se)
			assert.Contains(t, err.Error(), tc.errSays)
			assert.Contains(t, err.Error(), "149", "the module's refusal")
			for _, s := range tc.noSecrets {
				assert.NotContains(t, err.Error(), s)
			}
		})
	}
}
