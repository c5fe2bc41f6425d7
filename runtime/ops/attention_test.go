package ops

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/actswap/actswap/tensor"
)

// TestAttentionGQACausal checks grouped-query causal attention with a KV cache against the
// formula evaluated in float64 (the backend suite covers the attribute combinations).
func TestAttentionGQACausal(t *testing.T) {
	t.Parallel()
	const batch, qHeads, kvHeads, qLen, past, dim = 2, 4, 2, 3, 2, 5
	r := rand.New(rand.NewPCG(17, 18))
	q := randTensor(r, batch, qHeads, qLen, dim)
	k := randTensor(r, batch, kvHeads, qLen, dim)
	v := randTensor(r, batch, kvHeads, qLen, dim)
	pk := randTensor(r, batch, kvHeads, past, dim)
	pv := randTensor(r, batch, kvHeads, past, dim)
	kern, err := newAttention(convTestNode("Attention", map[string]any{"is_causal": 1}, 6))
	if err != nil {
		t.Fatal(err)
	}
	outs, err := kern.Run(NewContext(2), []*tensor.Tensor{q, k, v, nil, pk, pv})
	if err != nil {
		t.Fatal(err)
	}
	total := past + qLen
	key := func(b, h, j int) []float32 { // row j of the concatenated cache
		if j < past {
			return pk.F32()[((b*kvHeads+h)*past+j)*dim:][:dim]
		}
		return k.F32()[((b*kvHeads+h)*qLen+j-past)*dim:][:dim]
	}
	value := func(b, h, j int) []float32 {
		if j < past {
			return pv.F32()[((b*kvHeads+h)*past+j)*dim:][:dim]
		}
		return v.F32()[((b*kvHeads+h)*qLen+j-past)*dim:][:dim]
	}
	y := outs[0].F32()
	for b := 0; b < batch; b++ {
		for h := 0; h < qHeads; h++ {
			kvh := h / (qHeads / kvHeads)
			for i := 0; i < qLen; i++ {
				qi := q.F32()[((b*qHeads+h)*qLen+i)*dim:][:dim]
				w := make([]float64, total)
				var sum float64
				for j := 0; j <= i+past; j++ {
					var dot float64
					for d := 0; d < dim; d++ {
						dot += float64(qi[d]) * float64(key(b, kvh, j)[d])
					}
					w[j] = math.Exp(dot / math.Sqrt(dim))
					sum += w[j]
				}
				for d := 0; d < dim; d++ {
					var want float64
					for j := range w {
						want += w[j] / sum * float64(value(b, kvh, j)[d])
					}
					got := y[((b*qHeads+h)*qLen+i)*dim+d]
					if math.Abs(float64(got)-want) > 1e-5 {
						t.Fatalf("y[%d,%d,%d,%d] = %g, want %g", b, h, i, d, got, want)
					}
				}
			}
		}
	}
	if !tensor.SameShape(outs[1].Shape, []int{batch, kvHeads, total, dim}) {
		t.Errorf("present_key shape %v", outs[1].Shape)
	}
}

func TestSoftmaxRowFullyMasked(t *testing.T) {
	t.Parallel()
	row := []float32{float32(math.Inf(-1)), float32(math.Inf(-1))}
	softmaxRow(row)
	if row[0] != 0 || row[1] != 0 {
		t.Errorf("fully masked row = %v, want zeros", row)
	}
}
