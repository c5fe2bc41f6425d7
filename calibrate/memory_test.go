package calibrate

import (
	"io"
	"math/rand/v2"
	goruntime "runtime"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/tensor"
)

const synthWidth = 64

// synthModel is y = Relu(x·W) with x: float32[batch, 64], built by hand so the test needs no files.
func synthModel() *onnx.ModelProto {
	r := rand.New(rand.NewPCG(3, 4))
	w := make([]float32, synthWidth*synthWidth)
	for i := range w {
		w[i] = float32(r.NormFloat64() / 8)
	}
	vi := func(name string) *onnx.ValueInfoProto {
		return &onnx.ValueInfoProto{Name: proto.String(name), Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{
			TensorType: &onnx.TypeProto_Tensor{ElemType: proto.Int32(int32(tensor.Float32)), Shape: &onnx.TensorShapeProto{
				Dim: []*onnx.TensorShapeProto_Dimension{
					{Value: &onnx.TensorShapeProto_Dimension_DimParam{DimParam: "batch"}},
					{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: synthWidth}},
				}}}}}}
	}
	return &onnx.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}},
		Graph: &onnx.GraphProto{
			Name:        proto.String("synthetic"),
			Input:       []*onnx.ValueInfoProto{vi("x")},
			Output:      []*onnx.ValueInfoProto{vi("y")},
			Initializer: []*onnx.TensorProto{tensor.ToProto(tensor.New([]int{synthWidth, synthWidth}, w), "W")},
			Node: []*onnx.NodeProto{
				{Name: proto.String("mm"), OpType: proto.String("MatMul"), Input: []string{"x", "W"}, Output: []string{"h"}},
				{Name: proto.String("act"), OpType: proto.String("Relu"), Input: []string{"h"}, Output: []string{"y"}},
			},
		},
	}
}

// synthReader generates batches on the fly, so that data size costs no memory by itself.
type synthReader struct {
	batches, next int
	rng           *rand.Rand
}

func (r *synthReader) Next() (map[string]*tensor.Tensor, error) {
	if r.next >= r.batches {
		return nil, io.EOF
	}
	r.next++
	x := make([]float32, 256*synthWidth)
	for i := range x {
		x[i] = float32(r.rng.NormFloat64())
	}
	return map[string]*tensor.Tensor{"x": tensor.New([]int{256, synthWidth}, x)}, nil
}

func (r *synthReader) Reset() error { r.next, r.rng = 0, rand.New(rand.NewPCG(5, 6)); return nil }
func (r *synthReader) Close() error { return nil }

// peakLiveHeap calibrates on n batches and returns the largest live heap seen after any batch.
func peakLiveHeap(t *testing.T, m *onnx.ModelProto, batches int) uint64 {
	t.Helper()
	var peak uint64
	var ms goruntime.MemStats
	opts := Options{To: onnxops.FamilyPWLU, PerChannel: true, Sequential: false, OnBatch: func(int) {
		goruntime.GC()
		goruntime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapAlloc)
	}}
	res, err := Calibrate(m, &synthReader{batches: batches}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Sites[0].Stats.Count; got != int64(batches*256*synthWidth) {
		t.Fatalf("saw %d values, want %d", got, batches*256*synthWidth)
	}
	return peak
}

// TestCalibrationMemoryIsBounded streams 10× more data and requires the peak live heap to grow by
// less than 20%: statistics are fixed-size, and only one batch is held at a time.
func TestCalibrationMemoryIsBounded(t *testing.T) {
	m := synthModel()
	peakLiveHeap(t, m, 2) // warm caches (kernel tables, pools) so both runs start alike
	small := peakLiveHeap(t, m, 8)
	large := peakLiveHeap(t, m, 80)
	t.Logf("peak live heap: %d KiB for 8 batches, %d KiB for 80", small>>10, large>>10)
	if float64(large) > 1.2*float64(small) {
		t.Errorf("peak live heap grew from %d to %d bytes (> 20%%) with 10× the data", small, large)
	}
}
