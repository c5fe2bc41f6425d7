package calibrate_test

import (
	"fmt"
	"log"

	"github.com/actswap/actswap/calibrate"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/runtime"
)

// Calibrate a bundled classifier's GELUs as PWLU from sample rows, then compare the calibrated
// model with the original on rows the fit never saw.
func Example() {
	original, err := onnx.LoadFile("../models/digits_mlp_gelu/model.onnx")
	if err != nil {
		log.Fatal(err)
	}
	s, err := runtime.NewSession(original)
	if err != nil {
		log.Fatal(err)
	}
	inputs := calibrate.SpecsFromSession(s)
	open := func(path string) calibrate.Reader {
		r, err := calibrate.OpenData(path, inputs, calibrate.ReaderOptions{})
		if err != nil {
			log.Fatal(err)
		}
		return r
	}
	calib, test := open("../models/digits_data/calib_x.npy"), open("../models/digits_data/test_x.npy")
	defer calib.Close()
	defer test.Close()

	res, err := calibrate.Calibrate(original, calib, calibrate.Options{To: onnxops.FamilyPWLU, Threads: 1})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(res.Sites), "sites calibrated")

	cmp, err := calibrate.Compare(original, res.Model, test, nil, 1)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("held-out top-1 agreement at least 99%:", cmp.Top1Agreement >= 0.99)
	// Output:
	// 2 sites calibrated
	// held-out top-1 agreement at least 99%: true
}
