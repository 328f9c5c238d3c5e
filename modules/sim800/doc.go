// Package sim800 is the AT dialect of the SIMCom SIM800 (SIM800L, SIM800C,
// SIM800H): 2G GSM/GPRS modules with SIMCom's older TCP/IP application —
// AT+CSTT/AT+CIICR/AT+CIFSR to bring the context up, multi-IP mode
// (AT+CIPMUX=1, connection numbers 0..5), AT+CIPSTART, AT+CIPSEND with a
// length, manual receive with AT+CIPRXGET — not the NETOPEN/CIPOPEN set of
// the SIM7500/SIM7600 that drivers/at/simcom speaks.
//
// Importing the package registers the driver "at.sim800" (and lets the
// "at" driver detect the module), so that one blank import adds it to a
// program: cmd/iotd-sim800 is the stock iotd plus that import, and
// cmd/iotd-driver-sim800 serves the same driver as a plugin.
//
// It is written against drivers/at/modem's exported Dialect contract only,
// as the built-in dialects are; drivers/at/atsim's "sim800" personality
// (and its testdata/sim800.md, which cites the AT manual, the TCP/IP
// application note and drivers written against real modules) is what the
// tests and `iotd conformance` run it against.
//
// What the module makes a host do, and how this dialect does it:
//
//   - AT+CIFSR answers the bare IP address and no OK; the dialect sends
//     "AT+CIFSR;E0", whose ATE0 adds the final result the engine waits for.
//   - Multi-IP results carry the connection number: "0, SEND OK",
//     "0, CLOSE OK" are final results (Traits.Finals, one per number, with
//     and without the space that the manual and real modules disagree
//     on); "0, CONNECT OK" is the second phase of AT+CIPSTART.
//   - The stack is a one-way state machine (IP INITIAL → START → GPRSACT →
//     STATUS) that only AT+CIPSHUT resets, and AT+CIPMUX/AT+CIPRXGET are
//     accepted only before it moves: Attach always starts with AT+CIPSHUT.
//     It runs only when no socket of ours is open (first bring-up, reboot,
//     bearer loss), so the shut costs nothing but the context's
//     reactivation.
//   - "+PDP: DEACT" is the only word of a lost bearer: every connection is
//     gone and the stack stays in PDP DEACT until AT+CIPSHUT.
//   - "<n>, CONNECT FAIL" says the same for a refused port and a name that
//     does not resolve; the dialect asks AT+CDNSGIP after a failed open to
//     a name, so that the two map to driver.ErrRefused and
//     driver.ErrUnreachable.
package sim800
