// Package v2pb holds the generated types and service stubs of the Open Inference Protocol V2 gRPC
// API (proto package "inference").
package v2pb

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative inference.proto model_config.proto
