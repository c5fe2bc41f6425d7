package rewrite_test

import (
	"fmt"
	"log"
	"math"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/rewrite"
	"github.com/actswap/actswap/runtime"
	"github.com/actswap/actswap/tensor"
)

// Rewrite the GELUs of a bundled classifier to PWLU with the uncalibrated defaults, then run the
// original and the rewritten model on the same input with actswap's runtime and compare them.
func Example() {
	original, err := onnx.LoadFile("../models/digits_mlp_gelu/model.onnx")
	if err != nil {
		log.Fatal(err)
	}
	rewritten, report, err := rewrite.Apply(original, rewrite.Options{To: onnxops.FamilyPWLU})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d sites found, %d replaced by %s\n", len(report.Found), len(report.Replaced), report.To)

	x, _, err := tensor.ReadProtoFile("../models/digits_mlp_gelu/test_data_set_0/input_0.pb")
	if err != nil {
		log.Fatal(err)
	}
	var outs [2][]float32
	for i, m := range []*onnx.ModelProto{original, rewritten} {
		s, err := runtime.NewSession(m, runtime.WithThreads(1))
		if err != nil {
			log.Fatal(err)
		}
		res, err := s.Run(map[string]*tensor.Tensor{s.Inputs()[0].Name: x})
		if err != nil {
			log.Fatal(err)
		}
		outs[i] = res[s.Outputs()[0].Name].F32()
	}
	worst := 0.0
	for i := range outs[0] {
		worst = math.Max(worst, math.Abs(float64(outs[0][i]-outs[1][i])))
	}
	fmt.Println("outputs agree within 0.1:", worst < 0.1)
	// Output:
	// 2 sites found, 2 replaced by PWLU
	// outputs agree within 0.1: true
}
