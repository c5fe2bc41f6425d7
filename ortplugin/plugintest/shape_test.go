package plugintest

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/actswap/actswap/internal/graphtest"
	"github.com/actswap/actswap/internal/ortc"
	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/rewrite"
	"github.com/actswap/actswap/tensor"
)

// The plugin's ops declare Y with X's shape (onnxruntime's custom-op shape inference), so that
// onnxruntime folds the shape arithmetic downstream of a site as it does on the original model
// (vit_tiny's attention reshapes, B, N, C = x.shape; x.reshape(B, N, 3, H, C/H): 22 Shape,
// Gather, Unsqueeze and Concat nodes per block ran at every call without it). Each case feeds a
// site's output Y to Shape, and reads it one of three ways: the whole shape as the graph output;
// through that reshape pattern (Gather 0 and 1, Unsqueeze, Concat with constants, Reshape of Y);
// or dimension 0 alone. Where the dimensions read are known (values, a name, or the fresh name
// the plugin gives an unnamed dimension) none of those kernels may run; where they are not (an
// unnamed batch read alone, any rank) they must run and give the input's real shape — an
// unknown dimension must not become a value, nor an unknown shape a scalar.
func TestPluginInfersShapes(t *testing.T) {
	lib, plugin := setup(t)
	const (
		whole   = iota // Shape(Y)
		reshape        // Reshape(Y, Concat(Unsqueeze(Gather(Shape(Y), 0)), Unsqueeze(Gather(…, 1)), [2, 4]))
		batch          // Gather(Shape(Y), 0)
	)
	cases := []struct {
		name   string
		dims   []any
		read   int
		folded bool // no Shape, Gather, Unsqueeze or Concat kernel may run (or must one?)
	}{
		{"static", []any{2, 3, 8}, whole, true},
		{"symbolic batch/reshape", []any{"batch", 3, 8}, reshape, true},
		{"unnamed batch/reshape", []any{nil, 3, 8}, reshape, true},
		{"unnamed batch/batch", []any{nil, 3, 8}, batch, false},
		{"unknown rank", []any{graphtest.AnyRank}, whole, false},
	}
	x := graphtest.RandF32(graphtest.Seeded(4), 2, 2, 3, 8)
	for _, fam := range onnxops.Families {
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s/%s", fam, c.name), func(t *testing.T) {
				b := graphtest.New("shapes", 17)
				in := b.Input("x", tensor.Float32, c.dims...)
				y := b.Op("Relu", []string{in})
				s := b.Op("Shape", []string{y})
				out, dt, want := s, tensor.Int64, []int{2, 3, 8}
				switch c.read {
				case reshape:
					dim := func(i int64) string {
						return b.Op("Unsqueeze", []string{b.Op("Gather", []string{s, b.ConstScalarI64(i)}), b.ConstI64(0)})
					}
					shape := b.Op("Concat", []string{dim(0), dim(1), b.ConstI64(2, 4)}, graphtest.A("axis", int64(0)))
					out, dt, want = b.Op("Reshape", []string{y, shape}), tensor.Float32, []int{2, 3, 2, 4}
				case batch:
					out, want = b.Op("Gather", []string{s, b.ConstI64(0)}), []int{2}
				}
				b.Output(out, dt)
				m, rep, err := rewrite.Apply(b.Model(), rewrite.Options{To: fam})
				if err != nil {
					t.Fatal(err)
				}
				if len(rep.Replaced) != 1 {
					t.Fatalf("replaced %d sites, want 1", len(rep.Replaced))
				}
				sess, err := lib.NewSession(save(t, m, "shapes.onnx"), ortc.Options{IntraOpThreads: 1, CustomOpsLibrary: plugin,
					ProfilePrefix: filepath.Join(t.TempDir(), "profile")})
				if err != nil {
					t.Fatal(err)
				}
				defer sess.Close()
				got, err := sess.Run(map[string]*tensor.Tensor{"x": x})
				if err != nil {
					t.Fatal(err)
				}
				file, err := sess.EndProfiling()
				if err != nil {
					t.Fatal(err)
				}
				_, nodes := kernelTimes(t, file, 1)
				var shape []int // the values of Shape or Gather, or the reshaped tensor's shape
				switch o := got[out]; {
				case o == nil:
				case c.read == reshape:
					shape = o.Shape
				case o.DType == tensor.Int64:
					for _, d := range o.I64() {
						shape = append(shape, int(d))
					}
				}
				if !slices.Equal(shape, want) {
					t.Errorf("shape %v, want %v", shape, want)
				}
				// A static shape folds the whole graph: Y has no consumer left and the site goes.
				if wantRuns := map[bool]int{false: 1, true: 0}[c.read == whole && c.folded]; nodes[string(fam)] != wantRuns {
					t.Errorf("the plugin's %s kernel ran in %d nodes, want %d (%v)", fam, nodes[string(fam)], wantRuns, nodes)
				}
				ran := nodes["Shape"] + nodes["Gather"] + nodes["Unsqueeze"] + nodes["Concat"]
				if c.folded && ran != 0 {
					t.Errorf("%d Shape/Gather/Unsqueeze/Concat kernels ran: onnxruntime did not know Y's shape (%v)", ran, nodes)
				}
				if !c.folded && nodes["Shape"] != 1 {
					t.Errorf("%d Shape kernels ran, want 1: an unknown shape or dimension was declared (%v)", nodes["Shape"], nodes)
				}
			})
		}
	}
}
