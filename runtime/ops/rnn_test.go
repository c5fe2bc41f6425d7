package ops_test

import (
	"testing"

	"github.com/actswap/actswap/internal/graphtest"
	"github.com/actswap/actswap/tensor"
)

// TestRecurrentAgainstOnnxruntime runs RNN, GRU and LSTM nodes in the configurations exporters
// and hand-written models use (bidirectional, reverse, sequence_lens, initial states, peepholes,
// clip, linear_before_reset, non-default activations) in actswap and
// onnxruntime. onnxruntime refuses layout 1 (batch-first); the backend suite's batchwise cases
// cover it, and its 12 recurrent cases the defaults, against ONNX's data.
func TestRecurrentAgainstOnnxruntime(t *testing.T) {
	t.Parallel()
	const seq, batch, in, hid = 4, 3, 5, 6
	type rc struct {
		name   string
		op     string
		dirs   int
		layout int
		attrs  []graphtest.Attr
		lens   bool
		init   bool
		peep   bool
	}
	cases := []rc{
		{name: "lstm_bidirectional_lens_init", op: "LSTM", dirs: 2, lens: true, init: true,
			attrs: []graphtest.Attr{graphtest.A("direction", "bidirectional")}},
		{name: "lstm_peepholes_clip", op: "LSTM", dirs: 1, peep: true, init: true,
			attrs: []graphtest.Attr{graphtest.A("clip", float32(0.7))}},
		{name: "gru_reverse_lens", op: "GRU", dirs: 1, lens: true, init: true,
			attrs: []graphtest.Attr{graphtest.A("direction", "reverse")}},
		{name: "gru_linear_before_reset_bi", op: "GRU", dirs: 2, lens: true,
			attrs: []graphtest.Attr{graphtest.A("direction", "bidirectional"), graphtest.A("linear_before_reset", 1)}},
		{name: "rnn_relu_bi", op: "RNN", dirs: 2, init: true,
			attrs: []graphtest.Attr{graphtest.A("direction", "bidirectional"), graphtest.A("activations", []string{"Relu", "Tanh"})}},
		{name: "gru_hardsigmoid", op: "GRU", dirs: 1,
			attrs: []graphtest.Attr{graphtest.A("activations", []string{"HardSigmoid", "Tanh"}), graphtest.A("activation_alpha", []float32{0.3}), graphtest.A("activation_beta", []float32{0.4})}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := graphtest.Seeded(uint64(len(tc.name)))
			gates := map[string]int{"RNN": 1, "GRU": 3, "LSTM": 4}[tc.op]
			b := graphtest.New(tc.name, 14)
			xShape := []int{seq, batch, in}
			state := []int{tc.dirs, batch, hid}
			if tc.layout == 1 {
				xShape, state = []int{batch, seq, in}, []int{batch, tc.dirs, hid}
			}
			feeds := map[string]*tensor.Tensor{"x": graphtest.RandF32(r, 1, xShape...)}
			b.Input("x", tensor.Float32, xShape[0], xShape[1], xShape[2])
			ins := []string{"x", b.F32([]int{tc.dirs, gates * hid, in}, graphtest.RandF32s(r, 0.5, tc.dirs*gates*hid*in)...),
				b.F32([]int{tc.dirs, gates * hid, hid}, graphtest.RandF32s(r, 0.5, tc.dirs*gates*hid*hid)...),
				b.F32([]int{tc.dirs, 2 * gates * hid}, graphtest.RandF32s(r, 0.5, tc.dirs*2*gates*hid)...), "", "", "", ""}
			if tc.lens {
				ins[4] = b.Init("", tensor.New([]int{batch}, []int32{4, 2, 3}))
			}
			if tc.init {
				ins[5] = b.F32(state, graphtest.RandF32s(r, 1, tensor.NumElements(state))...)
				if tc.op == "LSTM" {
					ins[6] = b.F32(state, graphtest.RandF32s(r, 1, tensor.NumElements(state))...)
				}
			}
			if tc.peep {
				ins[7] = b.F32([]int{tc.dirs, 3 * hid}, graphtest.RandF32s(r, 0.5, tc.dirs*3*hid)...)
			}
			for len(ins) > 0 && ins[len(ins)-1] == "" {
				ins = ins[:len(ins)-1]
			}
			nOut := 2
			if tc.op == "LSTM" {
				nOut = 3
			}
			attrs := append([]graphtest.Attr{graphtest.A("hidden_size", hid)}, tc.attrs...)
			for _, o := range b.Node("", tc.op, ins, nOut, attrs...) {
				b.Output(o, tensor.Float32, graphtest.AnyRank)
			}
			graphtest.AgreeWithORT(t, b.Model(), tc.name, feeds, runActswap, graphtest.RTol, graphtest.ATol)
		})
	}
}
