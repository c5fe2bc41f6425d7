//go:build !amd64 || noasm

package half

import (
	"github.com/actswap/actswap/internal/simd"
	"github.com/actswap/actswap/tensor"
)

func toFloat32Asm(simd.Level, []float32, []tensor.Float16Bits) int { return 0 }

func fromFloat32Asm(simd.Level, []tensor.Float16Bits, []float32) int { return 0 }
