package calibrate

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/actswap/actswap/tensor"
)

// Gate is a quality gate on a comparison: per output, the largest relative L2 error and the
// smallest top-1 agreement a rewritten model may have. The key "" applies to every output that has
// no limit of its own.
type Gate struct {
	MaxRelL2     map[string]float64 `json:"max_rel_l2,omitempty"`
	MinAgreement map[string]float64 `json:"min_agreement,omitempty"`
}

// Empty says whether the gate checks nothing.
func (g Gate) Empty() bool { return len(g.MaxRelL2) == 0 && len(g.MinAgreement) == 0 }

// GateCheck is one limit checked against one output.
type GateCheck struct {
	Output string             `json:"output"`
	Metric string             `json:"metric"` // "rel_l2_err" or "top1_agreement"
	Limit  float64            `json:"limit"`
	Value  tensor.JSONFloat64 `json:"value"`
	Passed bool               `json:"passed"`
	// On names the rows checked: "held_out" or "in_sample" (when no row was held out).
	On string `json:"on"`
}

func (c GateCheck) String() string {
	op, verdict := "≤", "passed"
	if c.Metric == "top1_agreement" {
		op = "≥"
	}
	if !c.Passed {
		verdict = "FAILED"
	}
	return fmt.Sprintf("%s: output %q %s %s = %.4g, limit %s %.4g", verdict, c.Output, strings.ReplaceAll(c.On, "_", "-"), c.Metric, c.Value, op, c.Limit)
}

// ParseGateLimits reads a gate flag's value: "L" for every output, or "NAME=L,NAME=L" (with
// optionally a bare "L" among them for the outputs not named). Limits must be finite and, for
// agreement (unit), in [0, 1].
func ParseGateLimits(flag, value string, unit bool) (map[string]float64, error) {
	if strings.TrimSpace(value) == "" {
		return nil, nil
	}
	limits := map[string]float64{}
	for _, part := range strings.Split(value, ",") {
		name, num := "", strings.TrimSpace(part)
		if i := strings.LastIndex(num, "="); i >= 0 {
			name, num = strings.TrimSpace(num[:i]), strings.TrimSpace(num[i+1:])
			if name == "" {
				return nil, fmt.Errorf("%s %q: empty output name before '='", flag, value)
			}
		}
		v, err := strconv.ParseFloat(num, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || (unit && v > 1) {
			want := "a finite number ≥ 0"
			if unit {
				want = "a fraction in [0, 1]"
			}
			return nil, fmt.Errorf("%s %q: %q is not %s", flag, value, num, want)
		}
		if _, dup := limits[name]; dup {
			return nil, fmt.Errorf("%s %q: output %q has two limits", flag, value, name)
		}
		limits[name] = v
	}
	return limits, nil
}

// Check applies the gate to a comparison whose rows are named by on ("held_out", "in_sample").
// A limit for an output the model does not have is an error, so a typo cannot pass silently.
func (g Gate) Check(c *Comparison, on string) ([]GateCheck, error) {
	known := map[string]bool{}
	for _, o := range c.Outputs {
		known[o.Name] = true
	}
	for _, limits := range []map[string]float64{g.MaxRelL2, g.MinAgreement} {
		for _, name := range sortedKeys(limits) {
			if name != "" && !known[name] {
				return nil, fmt.Errorf("quality gate names output %q; the model's outputs are %s", name, strings.Join(sortedKeys(known), ", "))
			}
		}
	}
	var checks []GateCheck
	for _, o := range c.Outputs {
		if limit, ok := limitFor(g.MaxRelL2, o.Name); ok {
			// NaN never passes: !(NaN ≤ limit).
			checks = append(checks, GateCheck{Output: o.Name, Metric: "rel_l2_err", Limit: limit, Value: tensor.JSONFloat64(o.RelL2), Passed: o.RelL2 <= limit, On: on})
		}
		if limit, ok := limitFor(g.MinAgreement, o.Name); ok {
			checks = append(checks, GateCheck{Output: o.Name, Metric: "top1_agreement", Limit: limit, Value: tensor.JSONFloat64(o.Top1Agreement), Passed: o.Top1Agreement >= limit, On: on})
		}
	}
	return checks, nil
}

func limitFor(limits map[string]float64, output string) (float64, bool) {
	if v, ok := limits[output]; ok {
		return v, true
	}
	v, ok := limits[""]
	return v, ok
}

// GateFailed says whether any check failed.
func GateFailed(checks []GateCheck) bool {
	for _, c := range checks {
		if !c.Passed {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
