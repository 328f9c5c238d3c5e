// Package bench holds benchmarks that compare iotd against a peer measured in
// the same run, so that the ratio, not the absolute number, is what a reader
// compares across machines. They run only with -bench:
//
//	go test ./bench -run '^$' -bench . -benchtime 5000x
//
// The broker is mosquitto when it is installed, else an in-process
// mochi-mqtt broker.
//
// Metrics: "iotd-msgs/s" and "paho-msgs/s" are publishes confirmed per
// second (QoS 0: written to the socket; QoS 1: PUBACK received) through
// bus.CloudPublish → uplink → broker and through a bare paho client;
// "iotd/paho-ratio" divides the first by the second. BenchmarkConnectToReady
// reports the time from Link dial to CONNACK against a bare paho Connect.
package bench
