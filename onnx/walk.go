package onnx

// forEachTensor calls fn for every TensorProto stored in the model: graph initializers (dense and
// sparse), tensor-valued node attributes, and the same inside subgraphs, model-local functions and
// training graphs. It stops at the first error.
func forEachTensor(m *ModelProto, fn func(*TensorProto) error) error {
	w := tensorWalker{fn: fn}
	w.graph(m.GetGraph())
	for _, f := range m.GetFunctions() {
		w.nodes(f.GetNode())
		for _, a := range f.GetAttributeProto() {
			w.attribute(a)
		}
	}
	for _, ti := range m.GetTrainingInfo() {
		w.graph(ti.GetInitialization())
		w.graph(ti.GetAlgorithm())
	}
	return w.err
}

type tensorWalker struct {
	fn  func(*TensorProto) error
	err error
}

func (w *tensorWalker) tensor(t *TensorProto) {
	if t != nil && w.err == nil {
		w.err = w.fn(t)
	}
}

func (w *tensorWalker) sparse(s *SparseTensorProto) {
	if s != nil {
		w.tensor(s.GetValues())
		w.tensor(s.GetIndices())
	}
}

func (w *tensorWalker) graph(g *GraphProto) {
	if g == nil {
		return
	}
	for _, t := range g.GetInitializer() {
		w.tensor(t)
	}
	for _, s := range g.GetSparseInitializer() {
		w.sparse(s)
	}
	w.nodes(g.GetNode())
}

func (w *tensorWalker) nodes(nodes []*NodeProto) {
	for _, n := range nodes {
		for _, a := range n.GetAttribute() {
			w.attribute(a)
		}
	}
}

func (w *tensorWalker) attribute(a *AttributeProto) {
	w.tensor(a.GetT())
	for _, t := range a.GetTensors() {
		w.tensor(t)
	}
	w.sparse(a.GetSparseTensor())
	for _, s := range a.GetSparseTensors() {
		w.sparse(s)
	}
	w.graph(a.GetG())
	for _, g := range a.GetGraphs() {
		w.graph(g)
	}
}
