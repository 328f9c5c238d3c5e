// Package atsim is a virtual AT modem on a pseudo-terminal, for testing the
// AT drivers (drivers/at) without hardware.
//
// [Start] opens a pty, puts its slave in raw mode and serves AT commands on
// the master; a driver opens [Modem.Path] as a serial port (drivers/serial,
// tarm/serial) exactly as it would open /dev/ttyUSB2. One of six
// personalities answers, following AT-MODEMS.md §1.3–1.7 and §2.1:
//
//   - "quectel": BG96 (QICSGP/QIACT, QIOPEN with the +QIOPEN result URC,
//     buffer access mode with +QIURC: "recv" and AT+QIRD, or direct push
//     mode with +QIURC: "recv",id,len and the data, QISEND with "> ");
//   - "esp": ESP-AT v2 (CWMODE/CWJAP, CIPMUX, CIPSTART, CIPSEND with
//     "OK" then ">", "Recv N bytes", "SEND OK", active +IPD,id,len:data or
//     passive mode chosen by CIPRECVMODE or CIPRECVTYPE with CIPRECVDATA);
//   - "simcom": SIM7600 (NETOPEN, CIPOPEN, CIPSEND with ">", push with
//     +IPD or +RECEIVE headers, or CIPRXGET=1 manual mode);
//   - "ublox": SARA-R4/R5 (CGACT or UPSD/UPSDA, UAUTHREQ with a network
//     that wants Config.APNUser/APNPassword, USOCR/USOCO sync and async,
//     USOWR with "@", +UUSORD/USORD, +UUSOCL);
//   - "tencent": an ESP8266 with Tencent's TC AT firmware, ESP-AT plus the
//     TC commands: the module's own MQTT client (a real TLS connection to
//     Config.Tencent.Broker) and OTA download; testdata/tencent.md lists
//     the commands as simulated, with their sources;
//   - "sim800": SIM800 (2G GPRS) in multi-IP mode: the CSTT/CIICR/CIFSR
//     state machine of AT+CIPSTATUS, CIPSTART with "<n>, CONNECT OK",
//     CIPSEND with "> " and "<n>, SEND OK" (or DATA ACCEPT), manual
//     receive with CIPRXGET or push with +RECEIVE, CIPCLOSE, CIPSHUT and
//     +PDP: DEACT; testdata/sim800.md lists the commands with their
//     sources.
//
// Every socket the driver opens is a real TCP (or UDP) connection from the
// simulator to the host and port asked for (Config.Dial), so data, back
// pressure and the peer's close are real. Socket data is binary-safe.
//
// Faults ([Fault]) can be set at start or injected at run time: output cut
// into small fragments, URCs between the lines of a response, a reboot, a
// stall, garbage bytes between responses, a lost send prompt and the loss
// of the data bearer (PDP context or Wi-Fi); and what a host that crashed
// leaves behind: a command half typed in the module's buffer, sockets still
// held (the module refuses their ids as a real one does), a module that
// answers ERROR to a line that is no command (the ESP personality always
// does, as ESP-AT), a reboot on a chosen command. All randomness comes from
// Config.Seed, so a failing test can be replayed. Config.Baud paces the
// line like a real UART.
//
// Not simulated: module TLS (QSSL, CCH, USOSEC, ESP "SSL"), server and
// transparent/passthrough modes, SMS and calls; the commands answer an
// error. Every command the simulator does not know answers ERROR (or
// +CME ERROR: 4 with AT+CMEE set, on the cellular dialects).
//
// [Modem.Stats] counts bytes and commands so a test can check what a
// driver did (for example that it never sent more than the module's limit
// in one send command).
package atsim
