package ops

import "testing"

// BenchmarkFloat32Unary times the float32 activation and softmax kernels that run on package
// vecmath (GB/s of input read + output written, one thread).
func BenchmarkFloat32Unary(b *testing.B) {
	x := benchInput([]int{64, 4096})
	rows := benchInput([]int{256, 197})        // attention-score rows as in ViT
	planes := benchInput([]int{2, 21, 64, 64}) // class scores of a segmentation map, axis 1
	for _, c := range []struct {
		op      string
		version int
		attrs   kattr
	}{
		{"Exp", 13, nil}, {"Erf", 13, nil}, {"Tanh", 13, nil}, {"Sigmoid", 13, nil},
		{"Gelu", 20, nil}, {"Gelu", 20, kattr{"approximate": "tanh"}}, {"HardSwish", 14, nil},
		{"Softmax", 13, nil}, {"LogSoftmax", 13, nil}, {"Softmax", 13, kattr{"axis": int64(1)}},
	} {
		name := c.op
		in := x
		switch {
		case c.op == "Gelu" && c.attrs != nil:
			name += "_tanh"
		case c.attrs != nil:
			name += "_axis1"
			in = planes
		case c.op == "Softmax" || c.op == "LogSoftmax":
			in = rows
		}
		b.Run(name, func(b *testing.B) { benchKernel(b, c.op, c.version, c.attrs, 2*4*in.Len(), in) })
	}
}
