package gemm

// kernelGeneric is the portable micro-kernel: the same contract as the assembly kernel6x16 over
// slices. C[0:mr, 0:nr] (row stride ldc) gets Σ_p a[p·mr+i]·b[p·nr+j], added when accumulate.
func kernelGeneric(k int, a, b, c []float32, ldc int, accumulate bool) {
	var acc [mr][nr]float32
	for p := 0; p < k; p++ {
		addOuter(&acc, (*[mr]float32)(a[p*mr:p*mr+mr]), (*[nr]float32)(b[p*nr:p*nr+nr]))
	}
	storeTile(&acc, c, ldc, accumulate)
}

// kernelGenericIndirect is kernelGeneric with row p of the B panel at b[offs[p]:].
func kernelGenericIndirect(k int, a, b []float32, offs []int, c []float32, ldc int, accumulate bool) {
	var acc [mr][nr]float32
	for p := 0; p < k; p++ {
		addOuter(&acc, (*[mr]float32)(a[p*mr:p*mr+mr]), (*[nr]float32)(b[offs[p]:offs[p]+nr]))
	}
	storeTile(&acc, c, ldc, accumulate)
}

// addOuter adds the outer product of a column of A and a row of B to the tile.
func addOuter(acc *[mr][nr]float32, ap *[mr]float32, bp *[nr]float32) {
	for i := 0; i < mr; i++ {
		ai := ap[i]
		row := &acc[i]
		for q := 0; q < nr; q++ {
			row[q] += ai * bp[q]
		}
	}
}

// storeTile writes the tile to C (rows ldc apart), or adds it when accumulate.
func storeTile(acc *[mr][nr]float32, c []float32, ldc int, accumulate bool) {
	for i := 0; i < mr; i++ {
		dst := c[i*ldc : i*ldc+nr]
		if accumulate {
			for q := range dst {
				dst[q] += acc[i][q]
			}
		} else {
			copy(dst, acc[i][:])
		}
	}
}

// rowKernelGeneric is rowKernel in Go.
func rowKernelGeneric(k int, a, b, c []float32, accumulate bool) {
	var acc [nr]float32
	for p := range k {
		v := a[p]
		for j, w := range b[p*nr : (p+1)*nr] {
			acc[j] += v * w
		}
	}
	for j := range acc {
		if accumulate {
			c[j] += acc[j]
		} else {
			c[j] = acc[j]
		}
	}
}
