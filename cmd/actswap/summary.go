package main

import (
	"strings"

	"github.com/actswap/actswap/onnx"
)

// summaryInfo is what `actswap inspect` reports about a model. Its JSON form is part of the CLI's
// contract, so the tags are fixed.
type summaryInfo struct {
	IRVersion        int64            `json:"ir_version"`
	Producer         string           `json:"producer"` // "name version", as the exporter recorded it
	Opsets           map[string]int64 `json:"opsets"`   // domain → version; the default domain is ""
	Inputs           []valueSummary   `json:"inputs"`   // graph inputs that are not initializers
	Outputs          []valueSummary   `json:"outputs"`
	Nodes            int              `json:"nodes"`     // nodes of the main graph
	OpCounts         map[string]int   `json:"op_counts"` // main-graph op types; other domains as "domain:Op"
	Initializers     int              `json:"initializers"`
	InitializerBytes int64            `json:"initializer_bytes"`
	Functions        []string         `json:"functions"` // model-local functions as "domain:name"
	// Activations are the sites the rewrite stage finds (absent when it cannot read the model).
	Activations []inspectActivation `json:"activations,omitempty"`
}

// valueSummary describes one graph input or output.
type valueSummary struct {
	Name  string `json:"name"`
	DType string `json:"dtype"`
	// Shape holds an int64 per known dimension, the parameter name (string) per symbolic one and
	// nil per unknown one; a nil Shape means the rank itself is unknown.
	Shape []any `json:"shape"`
}

// summarize collects the facts `actswap inspect` prints. It never fails: missing fields show as
// zero values.
func summarize(m *onnx.ModelProto) summaryInfo {
	g := m.GetGraph()
	s := summaryInfo{
		IRVersion:    m.GetIrVersion(),
		Producer:     strings.TrimSpace(m.GetProducerName() + " " + m.GetProducerVersion()),
		Opsets:       map[string]int64{},
		Inputs:       []valueSummary{},
		Outputs:      []valueSummary{},
		Nodes:        len(g.GetNode()),
		OpCounts:     map[string]int{},
		Initializers: len(g.GetInitializer()) + len(g.GetSparseInitializer()),
		Functions:    []string{},
	}
	for _, o := range m.GetOpsetImport() {
		s.Opsets[onnx.CanonicalDomain(o.GetDomain())] = o.GetVersion()
	}
	isInit := map[string]bool{}
	for _, t := range g.GetInitializer() {
		isInit[t.GetName()] = true
		s.InitializerBytes += onnx.TensorBytes(t)
	}
	for _, sp := range g.GetSparseInitializer() {
		isInit[sp.GetValues().GetName()] = true
		s.InitializerBytes += onnx.TensorBytes(sp.GetValues()) + onnx.TensorBytes(sp.GetIndices())
	}
	for _, v := range g.GetInput() {
		if !isInit[v.GetName()] {
			s.Inputs = append(s.Inputs, summarizeValue(v))
		}
	}
	for _, v := range g.GetOutput() {
		s.Outputs = append(s.Outputs, summarizeValue(v))
	}
	for _, n := range g.GetNode() {
		s.OpCounts[onnx.OpKey(n.GetDomain(), n.GetOpType())]++
	}
	for _, f := range m.GetFunctions() {
		s.Functions = append(s.Functions, f.GetDomain()+":"+f.GetName())
	}
	return s
}

func summarizeValue(v *onnx.ValueInfoProto) valueSummary {
	vs := valueSummary{Name: v.GetName(), DType: onnx.TypeString(v.GetType())}
	var shape *onnx.TensorShapeProto
	if tt := v.GetType().GetTensorType(); tt != nil {
		shape = tt.GetShape()
	} else if st := v.GetType().GetSparseTensorType(); st != nil {
		shape = st.GetShape()
	}
	if shape != nil {
		vs.Shape = make([]any, len(shape.GetDim()))
		for i, d := range shape.GetDim() {
			switch x := d.GetValue().(type) {
			case *onnx.TensorShapeProto_Dimension_DimValue:
				vs.Shape[i] = x.DimValue
			case *onnx.TensorShapeProto_Dimension_DimParam:
				vs.Shape[i] = x.DimParam
			}
		}
	}
	return vs
}
