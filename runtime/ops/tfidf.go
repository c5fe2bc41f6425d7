package ops

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/actswap/actswap/tensor"
)

// TfIdfVectorizer (opset 9) counts, per row of tokens, the n-grams of its pool: n consecutive
// tokens taken every skip+1 positions (skip ≤ max_skip_count, min_gram_length ≤ n ≤
// max_gram_length; a unigram is counted once per position, not once per skip). Counts land in
// the n-gram's ngram_indexes column and become TF (counts), IDF (weight where the count is
// nonzero) or TFIDF (count·weight).

func init() {
	Register(DefaultDomain, "TfIdfVectorizer", 9, newTfIdfVectorizer)
}

type tfidf struct {
	minN, maxN, maxSkip int
	mode                string
	grams               map[string]int // n-gram key → output column
	weights             []float64      // per pool n-gram, by column
	width               int
}

// gramKey joins tokens with a separator no token text can contain unescaped.
func gramKey(tokens []string) string { return strings.Join(tokens, "\x00") }

func newTfIdfVectorizer(n *Node) (Kernel, error) {
	t := &tfidf{minN: int(n.AttrInt("min_gram_length", 0)), maxN: int(n.AttrInt("max_gram_length", 0)),
		maxSkip: int(n.AttrInt("max_skip_count", 0)), mode: n.AttrString("mode", ""), grams: map[string]int{}}
	if t.minN < 1 || t.maxN < t.minN || t.maxSkip < 0 {
		return nil, fmt.Errorf("TfIdfVectorizer: gram lengths %d…%d and max_skip_count %d are invalid", t.minN, t.maxN, t.maxSkip)
	}
	if t.mode != "TF" && t.mode != "IDF" && t.mode != "TFIDF" {
		return nil, fmt.Errorf("TfIdfVectorizer: mode %q is not TF, IDF or TFIDF", t.mode)
	}
	var pool []string
	if n.HasAttr("pool_strings") {
		pool = n.AttrStrings("pool_strings", nil)
	} else {
		for _, v := range n.AttrInts("pool_int64s", nil) {
			pool = append(pool, strconv.FormatInt(v, 10))
		}
	}
	counts := n.AttrInts("ngram_counts", nil)
	indexes := n.AttrInts("ngram_indexes", nil)
	weights := n.AttrFloats("weights", nil)
	gram := 0 // index of the n-gram within the pool
	for i, start := range counts {
		end := int64(len(pool))
		if i+1 < len(counts) {
			end = counts[i+1]
		}
		size := int64(i + 1)
		if start < 0 || end > int64(len(pool)) || start > end || (end-start)%size != 0 {
			return nil, fmt.Errorf("TfIdfVectorizer: ngram_counts %v do not split a pool of %d tokens", counts, len(pool))
		}
		for p := start; p < end; p += size {
			if gram >= len(indexes) {
				return nil, fmt.Errorf("TfIdfVectorizer: ngram_indexes has %d entries, the pool more n-grams", len(indexes))
			}
			col := int(indexes[gram])
			if col < 0 {
				return nil, fmt.Errorf("TfIdfVectorizer: negative ngram index %d", col)
			}
			t.grams[gramKey(pool[p:p+size])] = col
			t.width = max(t.width, col+1)
			gram++
		}
	}
	t.weights = make([]float64, t.width)
	for i := range t.weights {
		t.weights[i] = 1
	}
	for g, col := range indexes {
		if g < len(weights) && int(col) < t.width {
			t.weights[col] = float64(weights[g])
		}
	}
	return t, nil
}

func (t *tfidf) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if err := needInputs(in, 1); err != nil {
		return nil, fmt.Errorf("TfIdfVectorizer: %w", err)
	}
	x := in[0]
	var tokens []string
	if s, ok := x.Data.([]string); ok {
		tokens = s
	} else {
		ints, err := toInt64s(x)
		if err != nil {
			return nil, fmt.Errorf("TfIdfVectorizer: %w", err)
		}
		tokens = make([]string, len(ints))
		for i, v := range ints {
			tokens[i] = strconv.FormatInt(v, 10)
		}
	}
	rows, cols := 1, 0
	var shape []int
	switch len(x.Shape) {
	case 1:
		cols, shape = x.Shape[0], []int{t.width}
	case 2:
		rows, cols, shape = x.Shape[0], x.Shape[1], []int{x.Shape[0], t.width}
	default:
		return nil, fmt.Errorf("TfIdfVectorizer: input %v is not [C] or [N, C]", x.Shape)
	}
	y := make([]float64, rows*t.width)
	gram := make([]string, 0, t.maxN)
	for r := 0; r < rows; r++ {
		row, counts := tokens[r*cols:(r+1)*cols], y[r*t.width:(r+1)*t.width]
		for skip := 0; skip <= t.maxSkip; skip++ {
			for start := range row {
				gram = gram[:0]
				for n := 1; n <= t.maxN; n++ {
					at := start + (n-1)*(skip+1)
					if at >= len(row) {
						break
					}
					gram = append(gram, row[at])
					if n < t.minN || n == 1 && skip > 0 {
						continue
					}
					if col, ok := t.grams[gramKey(gram)]; ok {
						counts[col]++
					}
				}
			}
		}
		for c, v := range counts {
			switch {
			case t.mode == "IDF" && v > 0:
				counts[c] = t.weights[c]
			case t.mode == "TFIDF":
				counts[c] = v * t.weights[c]
			}
		}
	}
	out := ctx.Alloc(tensor.Float32, shape)
	if err := storeFloats(y, out); err != nil {
		return nil, err
	}
	return ctx.Result(out), nil
}
