package actkernel

//go:generate go run ./asm -out kernels_amd64.s -stubs kernels_amd64_stubs.go -pkg actkernel
