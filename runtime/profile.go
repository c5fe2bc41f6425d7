package runtime

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"
)

// Profile accumulates the time each node's kernel takes over the runs of a context made by
// WithProfile, as onnxruntime's session profiling does: where a model's time goes, by node and
// by operator. Fused nodes count under the node that absorbed the others.
type Profile struct {
	mu    sync.Mutex
	nodes map[string]*NodeTime
}

// NodeTime is one node's (or, from ByOpType, one operator's) share of the profiled runs.
type NodeTime struct {
	Node   string        `json:"node,omitempty"`
	OpType string        `json:"op_type"`
	Calls  int           `json:"calls"`
	Total  time.Duration `json:"total_ns"`
}

type profileKey struct{}

// WithProfile returns a context whose runs (RunContext) add their node times to p.
func WithProfile(ctx context.Context, p *Profile) context.Context {
	return context.WithValue(ctx, profileKey{}, p)
}

func profileOf(ctx context.Context) *Profile {
	p, _ := ctx.Value(profileKey{}).(*Profile)
	return p
}

func (p *Profile) add(node, opType string, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.nodes == nil {
		p.nodes = map[string]*NodeTime{}
	}
	t := p.nodes[node]
	if t == nil {
		t = &NodeTime{Node: node, OpType: opType}
		p.nodes[node] = t
	}
	t.Calls++
	t.Total += d
}

// Nodes returns every profiled node, the most time first.
func (p *Profile) Nodes() []NodeTime {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]NodeTime, 0, len(p.nodes))
	for _, t := range p.nodes {
		out = append(out, *t)
	}
	return sortByTime(out)
}

// ByOpType sums the node times per operator, the most time first.
func (p *Profile) ByOpType() []NodeTime {
	sums := map[string]*NodeTime{}
	for _, t := range p.Nodes() {
		s := sums[t.OpType]
		if s == nil {
			s = &NodeTime{OpType: t.OpType}
			sums[t.OpType] = s
		}
		s.Calls += t.Calls
		s.Total += t.Total
	}
	out := make([]NodeTime, 0, len(sums))
	for _, s := range sums {
		out = append(out, *s)
	}
	return sortByTime(out)
}

// Total is the time of all profiled kernels.
func (p *Profile) Total() time.Duration {
	var sum time.Duration
	for _, t := range p.Nodes() {
		sum += t.Total
	}
	return sum
}

func sortByTime(ts []NodeTime) []NodeTime {
	slices.SortFunc(ts, func(a, b NodeTime) int {
		return cmp.Or(cmp.Compare(b.Total, a.Total), cmp.Compare(a.Node+a.OpType, b.Node+b.OpType))
	})
	return ts
}
