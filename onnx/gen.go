// Package onnx holds the ONNX protobuf types (generated from onnx.proto) and the model I/O around
// them: loading from a path or bytes, external data, and atomic saving.
package onnx

//go:generate protoc --go_out=. --go_opt=paths=source_relative onnx.proto
