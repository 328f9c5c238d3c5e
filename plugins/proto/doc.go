// Package proto holds the wire protocol between iotd and an out-of-process
// driver plugin: driver.proto and the Go code protoc generates from it. The
// generated files are committed; `make generate` (or `go generate
// ./plugins/proto`) rebuilds them with protoc from Debian's
// protobuf-compiler and protoc-gen-go / protoc-gen-go-grpc installed with
// `go install`.
package proto

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative driver.proto
