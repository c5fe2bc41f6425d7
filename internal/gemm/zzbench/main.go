package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"time"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/runtime"
)

func main() {
	model := flag.String("m", "resnet18", "")
	n := flag.Int("n", 20, "")
	prof := flag.String("prof", "", "")
	threads := flag.Int("t", 1, "")
	flag.Parse()
	dir := filepath.Join("/work/shared/models", *model)
	m, err := onnx.LoadFile(filepath.Join(dir, "model.onnx"))
	if err != nil {
		panic(err)
	}
	s, err := runtime.NewSession(m, runtime.WithThreads(*threads))
	if err != nil {
		panic(err)
	}
	inputs, _, err := s.ReadDataSet(filepath.Join(dir, "test_data_set_0"))
	if err != nil {
		panic(err)
	}
	s.Run(inputs)
	if *prof != "" {
		f, _ := os.Create(*prof)
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	var ts []float64
	for i := 0; i < *n; i++ {
		t0 := time.Now()
		if _, err := s.Run(inputs); err != nil {
			panic(err)
		}
		ts = append(ts, float64(time.Since(t0).Microseconds())/1000)
	}
	sort.Float64s(ts)
	fmt.Printf("%s threads=%d median %.1f ms min %.1f ms\n", *model, *threads, ts[len(ts)/2], ts[0])
}
