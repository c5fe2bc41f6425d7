package half

//go:generate go run ./asm -out convert_amd64.s -stubs convert_amd64_stubs.go -pkg half
