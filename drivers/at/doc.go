// Package at is iotd's AT command engine: it talks to a modem over any
// io.ReadWriter (usually a drivers/serial Port) and knows nothing of a
// particular vendor. Three layers build on each other:
//
//   - at (this package): commands, responses, URCs, raw data, resync;
//   - [github.com/iotd/iotd/drivers/at/modem]: bring-up, registration,
//     the data context, reboot recovery and sockets as driver.Conn, on
//     top of a Dialect, and the at.* drivers;
//   - the dialects, one package each (drivers/at/esp, quectel, simcom,
//     ublox; drivers/at/builtin imports all four), which use only the
//     exported contract of the two packages above — as a vendor's own
//     module does.
//
// One reader goroutine owns the byte stream. It splits it into lines (CR or
// LF ends a line; empty lines and NUL bytes are dropped), recognises prompts
// that have no line end (">", "> ", "@") while a command waits for one, and
// switches to reading exactly N raw bytes when a handler says so, so that
// socket data containing CR, LF, "OK", NUL or Ctrl-Z passes intact.
//
// Every line goes to exactly one place, in this order:
//
//  1. the echo of the pending command (skipped);
//  2. a two-phase waiter ([Command.Await]) whose prefix it matches;
//  3. while the module echoes and the pending command's echo has not come
//     yet: nothing is the command's (a final result is dropped, a URC goes
//     to its handler, anything else is dropped);
//  4. the pending command, when the line starts with the command's response
//     prefix ("+CSQ" for "AT+CSQ");
//  5. the pending command as its final result (OK, ERROR, +CME ERROR: n,
//     +CMS ERROR: n, NO CARRIER, BUSY, NO ANSWER, NO DIALTONE, and the
//     vendor finals of [Options.Finals]); a final with no pending command
//     is dropped;
//  6. a URC handler registered with [Engine.HandleURC] (longest prefix wins),
//     wherever the line arrives, including in the middle of a response;
//  7. the pending command as an information line;
//  8. otherwise it is logged at debug level and dropped.
//
// Only an exact final completes a command: a line that merely contains
// "ERROR" is not an error (the C SDK's substring match is a known bug).
//
// Commands are serialised: concurrent callers of [Engine.Do] queue, each
// with its own timeout, and an error names the command (without its
// arguments, which may hold secrets). A two-phase command (OK now, result
// URC later) releases the line after its final result and waits for the URC
// with its own deadline while other commands run.
//
// Answers belong to their command: a final result that no command is
// waiting for is never kept for the next one. Whenever an answer may be on
// its way that belongs to no command (a command abandoned after a timeout,
// ESC or "+++" written, a final result nobody waited for, a reboot), the
// engine marks the line out of step and, before the next command, runs a
// resync exchange whose answer it recognises with echo on or off: ATE1,
// then a numbered sentinel command whose echo it waits for (sync.go
// explains why this works on every module), then ATE0 again if echo was
// off. [Engine.Resync] runs it on demand.
package at
