package calibrate

import (
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/rewrite"
	"github.com/actswap/actswap/tensor"
)

// SensitivityRows bounds the rows MeasureSensitivity reads per site: it runs the model twice per
// site, and a few hundred rows rank the sites well enough.
const SensitivityRows = 256

// SiteSensitivity is how much one site alone moves the model's outputs: the original model with
// only this site replaced (by its calibrated parameters), compared with the original. A site with
// a large share of the end-to-end error is the one to leave alone (--exclude) or refit.
type SiteSensitivity struct {
	// RelL2 is the largest relative L2 error over the outputs, ‖swapped − original‖/‖original‖.
	RelL2         float64 `json:"rel_l2_err"`
	Top1Agreement float64 `json:"top1_agreement"`
	Rows          int     `json:"rows"`
}

// MeasureSensitivity measures, for every site of res, the end-to-end error of orig with only that
// site swapped, on at most SensitivityRows rows of data, and sets the site's Sensitivity. Sites are found in orig by their node name (a refitted model's "<node>/actswap_<family>"
// names the original node too); one that orig lacks is an error naming it.
func MeasureSensitivity(orig *onnx.ModelProto, res *Result, data Reader, threads int) error {
	m := nameAnonymousNodes(orig)
	found, err := rewrite.Find(m)
	if err != nil {
		return err
	}
	byNode := map[string]rewrite.Site{}
	for _, s := range found {
		byNode[s.Node] = s
	}
	limited := &rowLimit{Reader: data, limit: SensitivityRows}
	out := make([]SiteSensitivity, len(res.Sites))
	// Every site is measured before any is set, so an error leaves res as it was.
	for i, r := range res.Sites {
		s, ok := byNode[r.Node]
		if !ok {
			s, ok = byNode[strings.TrimSuffix(r.Node, "/actswap_"+strings.ToLower(string(r.Family)))]
		}
		if !ok {
			return fmt.Errorf("site %q is not an activation site of the original model", r.Node)
		}
		single, _, err := applyFits(m, []rewrite.Site{s}, map[string]rewrite.SiteParams{s.Node: siteParams(r)}, map[string]onnxops.Family{s.Node: r.Family}, Options{Threads: threads})
		if err != nil {
			return fmt.Errorf("site %q alone: %w", r.Node, err)
		}
		cmp, err := Compare(m, single, limited, nil, threads)
		if err != nil {
			return fmt.Errorf("site %q alone: %w", r.Node, err)
		}
		worst := 0.0
		for _, o := range cmp.Outputs {
			if math.IsNaN(o.RelL2) || o.RelL2 > worst {
				worst = o.RelL2
			}
		}
		out[i] = SiteSensitivity{RelL2: worst, Top1Agreement: cmp.Top1Agreement, Rows: cmp.Rows}
	}
	for i := range res.Sites {
		res.Sites[i].Sensitivity = &out[i]
	}
	return nil
}

// rowLimit reads the first batches of a Reader, up to and including the batch that reaches limit
// rows.
type rowLimit struct {
	Reader
	limit, read int
}

func (r *rowLimit) Reset() error {
	r.read = 0
	return r.Reader.Reset()
}

func (r *rowLimit) Next() (map[string]*tensor.Tensor, error) {
	if r.read >= r.limit {
		return nil, io.EOF
	}
	batch, err := r.Reader.Next()
	if err != nil {
		return nil, err
	}
	rows := 0
	for _, t := range batch {
		if len(t.Shape) > 0 {
			rows = t.Shape[0]
		}
		break
	}
	r.read += max(rows, 1)
	return batch, nil
}
