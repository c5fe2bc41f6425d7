package calibrate

import (
	"fmt"
	"image"
	_ "image/jpeg" // decoders for the image-folder reader
	_ "image/png"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/image/draw"

	"github.com/actswap/actswap/runtime"
	"github.com/actswap/actswap/tensor"
)

// protoSetReader yields one batch per backend-test data set: input_K.pb feeds the K-th input.
type protoSetReader struct {
	dir    string
	sets   []string
	inputs []InputSpec
	next   int
}

func (r *protoSetReader) Next() (map[string]*tensor.Tensor, error) {
	if r.next >= len(r.sets) {
		return nil, io.EOF
	}
	set := r.sets[r.next]
	r.next++
	values, _, err := runtime.ReadDataSetTensors(set, specNameList(r.inputs), nil)
	if err != nil {
		return nil, err
	}
	out := map[string]*tensor.Tensor{}
	for k, spec := range r.inputs {
		if err := checkTensorFits(runtime.InputFile(set, k), spec, values[k]); err != nil {
			return nil, err
		}
		out[spec.Name] = values[k]
	}
	return out, nil
}

func (r *protoSetReader) Reset() error { r.next = 0; return nil }
func (r *protoSetReader) Close() error { return nil }

// checkTensorFits checks a whole tensor against an input's declared type and shape.
func checkTensorFits(file string, spec InputSpec, t *tensor.Tensor) error {
	if t.DType != spec.DType {
		return fmt.Errorf("%s: %v%v does not fit input %s", file, t.DType, t.Shape, spec)
	}
	if spec.Shape == nil {
		return nil
	}
	ok := len(spec.Shape) == len(t.Shape)
	for i := 0; ok && i < len(t.Shape); i++ {
		ok = spec.Shape[i] < 0 || spec.Shape[i] == t.Shape[i]
	}
	if !ok {
		return fmt.Errorf("%s: shape %v does not fit input %s", file, t.Shape, spec)
	}
	return nil
}

var imageExts = map[string]bool{".png": true, ".jpg": true, ".jpeg": true}

// imageFiles lists the PNG and JPEG files under dir, recursively, in lexical order.
func imageFiles(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && imageExts[strings.ToLower(filepath.Ext(path))] {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	sort.Strings(files)
	return files, nil
}

// imageReader decodes, resizes (bilinear) and normalises images into NCHW float32 batches:
// value = (pixel/255 − mean[c]) / std[c], with 1 channel (luma) or 3 (RGB) as the model asks.
type imageReader struct {
	files            []string
	spec             InputSpec
	batch            int
	channels, height int
	width            int
	mean, std        []float64
	next             int
}

func newImageReader(dir string, files []string, inputs []InputSpec, opts ReaderOptions) (*imageReader, error) {
	if len(inputs) != 1 {
		return nil, fmt.Errorf("%s: an image folder feeds one input, the model has %d (%s)", dir, len(inputs), specNames(inputs))
	}
	spec := inputs[0]
	if spec.DType != tensor.Float32 {
		return nil, fmt.Errorf("%s: images are read as float32, input %s wants otherwise", dir, spec)
	}
	if spec.Shape != nil && len(spec.Shape) != 4 {
		return nil, fmt.Errorf("%s: images are read as N×C×H×W, input %s has rank %d", dir, spec, len(spec.Shape))
	}
	r := &imageReader{files: files, spec: spec, batch: opts.Batch, channels: 3, height: opts.Size[0], width: opts.Size[1]}
	if spec.Shape != nil {
		if spec.Shape[0] > 0 {
			r.batch = spec.Shape[0]
		}
		if c := spec.Shape[1]; c > 0 {
			r.channels = c
		}
		if r.height <= 0 {
			r.height = spec.Shape[2]
		}
		if r.width <= 0 {
			r.width = spec.Shape[3]
		}
	}
	if r.channels != 1 && r.channels != 3 {
		return nil, fmt.Errorf("%s: input %s wants %d channels; images give 1 or 3", dir, spec, r.channels)
	}
	if r.height <= 0 || r.width <= 0 {
		return nil, fmt.Errorf("%s: input %s has no fixed height and width; give ReaderOptions.Size", dir, spec)
	}
	var err error
	if r.mean, err = perChannel("mean", opts.Mean, r.channels, 0); err != nil {
		return nil, err
	}
	if r.std, err = perChannel("std", opts.Std, r.channels, 1); err != nil {
		return nil, err
	}
	for _, s := range r.std {
		if s == 0 {
			return nil, fmt.Errorf("image std must not be 0")
		}
	}
	return r, nil
}

// perChannel expands a one-value or per-channel list.
func perChannel(what string, vals []float64, c int, def float64) ([]float64, error) {
	switch len(vals) {
	case 0:
		out := make([]float64, c)
		for i := range out {
			out[i] = def
		}
		return out, nil
	case 1:
		return perChannel(what, nil, c, vals[0])
	case c:
		return vals, nil
	}
	return nil, fmt.Errorf("image %s has %d values; the input has %d channels", what, len(vals), c)
}

func (r *imageReader) Next() (map[string]*tensor.Tensor, error) {
	if r.next >= len(r.files) {
		return nil, io.EOF
	}
	files := r.files[r.next:min(r.next+r.batch, len(r.files))]
	r.next += len(files)
	plane := r.height * r.width
	out := tensor.Zeros(tensor.Float32, []int{len(files), r.channels, r.height, r.width})
	data := out.F32()
	dst := image.NewRGBA(image.Rect(0, 0, r.width, r.height))
	for i, file := range files {
		if err := r.decodeInto(file, dst); err != nil {
			return nil, fmt.Errorf("input %q: %w", r.spec.Name, err)
		}
		base := i * r.channels * plane
		for y := range r.height {
			for x := range r.width {
				px := dst.Pix[y*dst.Stride+4*x:]
				rgb := [3]float64{float64(px[0]) / 255, float64(px[1]) / 255, float64(px[2]) / 255}
				if r.channels == 1 {
					luma := 0.299*rgb[0] + 0.587*rgb[1] + 0.114*rgb[2]
					data[base+y*r.width+x] = float32((luma - r.mean[0]) / r.std[0])
					continue
				}
				for c := range 3 {
					data[base+c*plane+y*r.width+x] = float32((rgb[c] - r.mean[c]) / r.std[c])
				}
			}
		}
	}
	return map[string]*tensor.Tensor{r.spec.Name: out}, nil
}

func (r *imageReader) decodeInto(file string, dst *image.RGBA) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	draw.BiLinear.Scale(dst, dst.Bounds(), img, img.Bounds(), draw.Src, nil)
	return nil
}

func (r *imageReader) Reset() error { r.next = 0; return nil }
func (r *imageReader) Close() error { return nil }
