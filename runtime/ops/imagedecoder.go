package ops

import (
	"bufio"
	"bytes"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // ImageDecoder's formats register with image.Decode
	_ "image/png"
	"io"
	"strconv"

	_ "golang.org/x/image/bmp"
	_ "golang.org/x/image/tiff"
	_ "golang.org/x/image/webp"

	"github.com/actswap/actswap/tensor"
)

// ImageDecoder (opset 20) decodes an encoded image held in a uint8 tensor to [H, W, 3] (RGB or
// BGR) or [H, W, 1] (Grayscale, ITU-R 601 luma rounded as PIL does). Formats: PNG and JPEG from
// the standard library, BMP, TIFF and WebP from golang.org/x/image, binary PNM (P5/P6) here.
// JPEG 2000 has no Go decoder and is refused.

func init() {
	Register(DefaultDomain, "ImageDecoder", 20, newImageDecoder)
}

func newImageDecoder(n *Node) (Kernel, error) {
	format := n.AttrString("pixel_format", "RGB")
	if format != "RGB" && format != "BGR" && format != "Grayscale" {
		return nil, fmt.Errorf("ImageDecoder: pixel_format %q is not RGB, BGR or Grayscale", format)
	}
	return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if err := needInputs(in, 1); err != nil {
			return nil, fmt.Errorf("ImageDecoder: %w", err)
		}
		data, ok := in[0].Data.([]uint8)
		if !ok {
			return nil, fmt.Errorf("ImageDecoder: encoded_stream is %v, want uint8", in[0].DType)
		}
		img, err := decodeImage(data)
		if err != nil {
			return nil, fmt.Errorf("ImageDecoder: %w", err)
		}
		b := img.Bounds()
		h, w := b.Dy(), b.Dx()
		ch := 3
		if format == "Grayscale" {
			ch = 1
		}
		out := ctx.Alloc(tensor.Uint8, []int{h, w, ch})
		y := out.Data.([]uint8)
		for r := 0; r < h; r++ {
			for c := 0; c < w; c++ {
				p := color.NRGBAModel.Convert(img.At(b.Min.X+c, b.Min.Y+r)).(color.NRGBA)
				o := (r*w + c) * ch
				switch format {
				case "RGB":
					y[o], y[o+1], y[o+2] = p.R, p.G, p.B
				case "BGR":
					y[o], y[o+1], y[o+2] = p.B, p.G, p.R
				default:
					if g, isGray := img.At(b.Min.X+c, b.Min.Y+r).(color.Gray); isGray {
						y[o] = g.Y
					} else {
						y[o] = uint8((19595*uint32(p.R) + 38470*uint32(p.G) + 7471*uint32(p.B) + 1<<15) >> 16)
					}
				}
			}
		}
		return ctx.Result(out), nil
	}), nil
}

func decodeImage(data []byte) (image.Image, error) {
	if len(data) >= 2 && data[0] == 'P' && (data[1] == '5' || data[1] == '6') {
		return decodePNM(data)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("cannot decode the image (PNG, JPEG, BMP, TIFF, WebP and binary PNM are supported): %w", err)
	}
	return img, nil
}

// decodePNM reads binary PGM (P5) and PPM (P6) with a maximum value up to 255.
func decodePNM(data []byte) (image.Image, error) {
	r := bufio.NewReader(bytes.NewReader(data))
	magic := make([]byte, 2)
	if _, err := io.ReadFull(r, magic); err != nil {
		return nil, err
	}
	var fields [3]int
	for i := range fields {
		v, err := pnmInt(r)
		if err != nil {
			return nil, fmt.Errorf("PNM header: %w", err)
		}
		fields[i] = v
	}
	w, h, maxVal := fields[0], fields[1], fields[2]
	if w <= 0 || h <= 0 || maxVal <= 0 || maxVal > 255 || w > 1<<15 || h > 1<<15 {
		return nil, fmt.Errorf("PNM header: %dx%d, maximum %d not supported", w, h, maxVal)
	}
	ch := 3
	if magic[1] == '5' {
		ch = 1
	}
	pix := make([]byte, w*h*ch)
	if _, err := io.ReadFull(r, pix); err != nil {
		return nil, fmt.Errorf("PNM pixels: %w", err)
	}
	scale := func(v byte) uint8 { return uint8((int(v)*255 + maxVal/2) / maxVal) }
	if ch == 1 {
		img := image.NewGray(image.Rect(0, 0, w, h))
		for i, v := range pix {
			img.Pix[i] = scale(v)
		}
		return img, nil
	}
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < w*h; i++ {
		img.Pix[4*i], img.Pix[4*i+1], img.Pix[4*i+2], img.Pix[4*i+3] = scale(pix[3*i]), scale(pix[3*i+1]), scale(pix[3*i+2]), 255
	}
	return img, nil
}

// pnmInt reads one header number, skipping whitespace and # comments, and the single whitespace
// byte after it.
func pnmInt(r *bufio.Reader) (int, error) {
	var digits []byte
	for {
		c, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		switch {
		case c == '#' && len(digits) == 0:
			if _, err := r.ReadString('\n'); err != nil {
				return 0, err
			}
		case c >= '0' && c <= '9':
			digits = append(digits, c)
		case len(digits) > 0:
			return strconv.Atoi(string(digits))
		case c != ' ' && c != '\t' && c != '\n' && c != '\r':
			return 0, fmt.Errorf("unexpected byte %q", c)
		}
	}
}
